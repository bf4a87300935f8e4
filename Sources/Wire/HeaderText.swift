/// Header values without their optional white space (RFC 9110 OWS: spaces
/// and tabs). Foundation's `trimmingCharacters(in:)` goes through NSString:
/// a measurable part of the coordinator's time on a path every result takes.
public enum HeaderText {
    public static func trimmed(_ value: String) -> Substring {
        let utf8 = value.utf8
        guard let first = utf8.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }),
              let last = utf8.lastIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return "" }
        return value[first...last]
    }
}

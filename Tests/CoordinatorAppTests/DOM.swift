import Foundation

// MARK: - Reading the DOM

/// Just enough of the serialized DOM to read the dashboard's hooks
/// (`data-field`, `data-value`, ...). Chromium serializes attributes in
/// double quotes, in source order.
enum DOM {
    /// An attribute value as the serializer writes it.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\u{A0}", with: "&nbsp;")
    }

    /// The start tags with `attribute="value"`, or with `attribute` at all.
    static func tags(in html: String, with attribute: String, _ value: String? = nil) -> [String] {
        let needle = " \(attribute)=\"" + (value.map { $0 + "\"" } ?? "")
        var found: [String] = []
        var rest = html[...]
        while let hit = rest.range(of: needle) {
            guard let start = html[..<hit.lowerBound].lastIndex(of: "<"),
                  let end = html[hit.upperBound...].firstIndex(of: ">") else { break }
            found.append(String(html[start...end]))
            rest = html[hit.upperBound...]
        }
        return found
    }

    /// An attribute's value in one start tag.
    static func attribute(_ name: String, of tag: String) -> String? {
        guard let range = tag.range(of: " \(name)=\"") else { return nil }
        return String(tag[range.upperBound...].prefix { $0 != "\"" })
    }

    /// `data-value` of the first element with `data-field="field"`.
    static func value(_ field: String, in html: String) -> String? {
        tags(in: html, with: "data-field", field).first.flatMap { attribute("data-value", of: $0) }
    }

    static func double(_ field: String, in html: String) -> Double? { value(field, in: html).flatMap(Double.init) }

    /// The text of the first element with `data-field="field"`, up to its next tag.
    static func text(_ field: String, in html: String) -> String? {
        guard let hit = html.range(of: " data-field=\"\(field)\""),
              let end = html[hit.upperBound...].firstIndex(of: ">") else { return nil }
        return String(html[html.index(after: end)...].prefix { $0 != "<" })
    }

    /// A polyline's number of points.
    static func pointCount(_ tag: String) -> Int {
        (attribute("points", of: tag) ?? "").split(separator: " ").count
    }

    /// From the element with `id="id"` to the end of its `</section>` (sections do not nest on these pages).
    static func section(_ id: String, in html: String) -> String? {
        element("section", with: "id", id, in: html)
    }

    /// The element `<name ... attribute="value" ...>` up to its first closing tag.
    static func element(_ name: String, with attribute: String, _ value: String, in html: String) -> String? {
        guard let hit = html.range(of: " \(attribute)=\"\(value)\""),
              let start = html[..<hit.lowerBound].range(of: "<\(name)", options: .backwards),
              let end = html[hit.upperBound...].range(of: "</\(name)>")
        else { return nil }
        return String(html[start.lowerBound..<end.upperBound])
    }
}

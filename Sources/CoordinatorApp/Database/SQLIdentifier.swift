/// PostgreSQL identifier quoting, for names that cannot be bound as parameters (databases,
/// roles in DDL).
enum SQLIdentifier {
    /// `name` as a double-quoted identifier: `my"db` → `"my""db"`.
    static func quoted(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

import Foundation

/// The dashboard's HTML building blocks: escaping, URL path segments, and the
/// few elements every page repeats (figures with machine-readable values,
/// scrollable tables).
enum HTML {
    /// `text` made safe as element content and as a quoted attribute value:
    /// `& < > " '` become character references, and control characters HTML
    /// forbids (all C0 controls but tab, line feed and carriage return, and
    /// DEL) become U+FFFD.
    static func escape(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
            case "'": out.append(contentsOf: "&#39;".unicodeScalars)
            case "\t", "\n", "\r": out.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: out.append("\u{FFFD}")
            default: out.append(scalar)
            }
        }
        return String(out)
    }

    /// `text` as one URL path segment: everything but RFC 3986's unreserved
    /// characters percent-encoded, so a `/`, `?` or `#` in a name stays in it.
    static func pathSegment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// A link to `/workers/<name>` showing the name.
    static func workerLink(_ name: String) -> String {
        "<a href=\"/workers/\(escape(pathSegment(name)))\">\(escape(name))</a>"
    }

    /// A link to `/runs/<id>` showing `text`.
    static func runLink(_ runID: Int, _ text: String) -> String {
        "<a href=\"/runs/\(runID)\">\(escape(text))</a>"
    }

    /// A figure the browser test can read: `data-field` names it,
    /// `data-value` holds the exact number, the content is `text` for people.
    static func figure(_ field: String, value: String, text: String, tag: String = "span") -> String {
        "<\(tag) data-field=\"\(escape(field))\" data-value=\"\(escape(value))\">\(escape(text))</\(tag)>"
    }

    static func figure(_ field: String, _ value: Int, tag: String = "span") -> String {
        figure(field, value: String(value), text: DashboardFormat.integer(value), tag: tag)
    }

    /// A labelled figure tile of a `.stats` grid; a `wide` one (long text)
    /// spans the grid's width in smaller type.
    static func stat(_ label: String, _ figure: String, note: String = "", wide: Bool = false) -> String {
        let note = note.isEmpty ? "" : "<span class=\"note\">\(note)</span>"
        return "<div class=\"stat\(wide ? " wide" : "")\"><span class=\"label\">\(escape(label))</span>"
            + "<span class=\"value\">\(figure)</span>\(note)</div>"
    }

    /// A column heading; numeric columns are right-aligned.
    struct Column {
        var title: String
        var numeric = false

        static func text(_ title: String) -> Column { Column(title: title) }
        static func number(_ title: String) -> Column { Column(title: title, numeric: true) }
    }

    /// A table in a horizontally scrollable wrapper (wide tables stay readable
    /// on a phone). `rows` are complete `<tr>` elements.
    static func table(_ columns: [Column], rows: [String], field: String, caption: String? = nil) -> String {
        let head = columns.map { "<th scope=\"col\"\($0.numeric ? " class=\"num\"" : "")>\(escape($0.title))</th>" }.joined()
        let caption = caption.map { "<caption>\(escape($0))</caption>" } ?? ""
        return "<div class=\"table-wrap\"><table data-field=\"\(escape(field))\">\(caption)<thead><tr>\(head)</tr></thead>"
            + "<tbody>\(rows.joined(separator: "\n"))</tbody></table></div>"
    }

    /// A table cell: `content` is HTML already; numeric cells are right-aligned.
    static func cell(_ content: String, numeric: Bool = false, field: String? = nil) -> String {
        let field = field.map { " data-field=\"\(escape($0))\"" } ?? ""
        return "<td\(numeric ? " class=\"num\"" : "")\(field)>\(content)</td>"
    }

    /// A cell holding a name, which may wrap (long names do not widen the table).
    static func nameCell(_ content: String) -> String { "<td class=\"name\">\(content)</td>" }

    /// A `<time>` element: `text` shown, the ISO time in `datetime` and as a tooltip.
    static func time(_ date: Date, text: String) -> String {
        let iso = DashboardFormat.timestamp(date)
        return "<time datetime=\"\(iso)\" title=\"\(iso)\">\(escape(text))</time>"
    }
}

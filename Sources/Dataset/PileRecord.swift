import Foundation

/// One Pile-style JSON line: `{"text": "...", "meta": {"pile_set_name": "..."}}`.
/// Other fields are ignored; `meta` is optional.
struct PileRecord: Equatable {
    var text: String
    var pileSetName: String?

    /// Why a JSON line could not be used; reported with its file and line number.
    enum Malformation: Error, Equatable, CustomStringConvertible {
        case notJSON
        case notAnObject
        case missingText
        case textNotAString

        var description: String {
            switch self {
            case .notJSON: return "not valid JSON"
            case .notAnObject: return "not a JSON object"
            case .missingText: return "no \"text\" field"
            case .textNotAString: return "\"text\" is not a string"
            }
        }
    }

    /// Parses one line (already stripped of invalid UTF-8 and NUL bytes). Pure.
    static func parse(_ line: [UInt8]) -> Result<PileRecord, Malformation> {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed])
        } catch {
            return .failure(.notJSON)
        }
        guard let dictionary = object as? [String: Any] else { return .failure(.notAnObject) }
        guard let textValue = dictionary["text"] else { return .failure(.missingText) }
        // Foundation on Linux bridges JSON numbers to NSNumber, never to String,
        // so this rejects `"text": 5` as well as arrays and null.
        guard let text = textValue as? String else { return .failure(.textNotAString) }
        let meta = dictionary["meta"] as? [String: Any]
        return .success(PileRecord(text: text, pileSetName: meta?["pile_set_name"] as? String))
    }
}

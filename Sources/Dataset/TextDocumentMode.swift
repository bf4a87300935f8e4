/// How a `.txt` input becomes documents.
public enum TextDocumentMode: String, Sendable, Codable, CaseIterable {
    /// Every run of lines between blank lines is one document (the default:
    /// plain-text corpora separate documents, or at least passages, this way).
    case paragraphs
    /// The whole file is one document.
    case file
}

import Foundation
import Hummingbird
import Wire

/// Where the coordinator looks for a file or directory of the repository that
/// it needs at run time (`migrations/`, `openapi.yaml`).
public enum RepositoryResource {
    /// The places `name` is looked for, in order: in the current directory,
    /// then next to the executable and in each of its parent directories (so
    /// a binary in `.build/debug/` finds the repository's copy). No duplicates.
    public static func candidates(named name: String, currentDirectory: URL, executable: URL?) -> [URL] {
        var result = [currentDirectory.appendingPathComponent(name)]
        if var directory = executable?.deletingLastPathComponent() {
            while true {
                result.append(directory.appendingPathComponent(name))
                let parent = directory.deletingLastPathComponent()
                if parent.path == directory.path || directory.path == "/" { break }
                directory = parent
            }
        }
        var seen = Set<String>()
        return result.map(\.standardizedFileURL).filter { seen.insert($0.path).inserted }
    }
}

/// The coordinator's OpenAPI description (the repository's `openapi.yaml`),
/// read once when the routes are built.
public struct OpenAPIDocument: Sendable {
    public static let fileName = "openapi.yaml"
    public static let contentType = "application/yaml"

    /// The file's bytes; nil when it was not found or could not be read.
    public let contents: Data?
    /// Where it was looked for (the first readable one was used).
    public let searched: [String]

    public init(contents: Data?, searched: [String]) {
        self.contents = contents
        self.searched = searched
    }

    /// Reads the first regular file among ``RepositoryResource/candidates(named:currentDirectory:executable:)``.
    public static func load(
        currentDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
        executable: URL? = Bundle.main.executableURL?.resolvingSymlinksInPath()
    ) -> OpenAPIDocument {
        let candidates = RepositoryResource.candidates(named: fileName, currentDirectory: currentDirectory,
                                                       executable: executable)
        var searched: [String] = []
        for candidate in candidates {
            searched.append(candidate.path)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let data = FileManager.default.contents(atPath: candidate.path)
            else { continue }
            return OpenAPIDocument(contents: data, searched: searched)
        }
        return OpenAPIDocument(contents: nil, searched: searched)
    }

    /// `200` with the file, or `404 not_found` saying where it was looked for.
    func response() throws -> Response {
        guard let contents else {
            return try WireResponse.error(
                .notFound, code: "not_found",
                "\(Self.fileName) was not found when the server started; looked in: \(searched.joined(separator: ", "))")
        }
        return Response(status: .ok, headers: [.contentType: Self.contentType],
                        body: .init(byteBuffer: ByteBuffer(bytes: contents)))
    }
}

extension CoordinatorRoutes {
    /// `GET /openapi.yaml` (no token), from the file found now.
    func registerOpenAPI(on router: Router<CoordinatorContext>) {
        let document = OpenAPIDocument.load()
        if document.contents == nil {
            coordinator.logger.warning("\(OpenAPIDocument.fileName) not found (looked in: \(document.searched.joined(separator: ", "))); GET /openapi.yaml will answer 404")
        }
        Self.registerOpenAPI(on: router, document: document)
    }

    /// `GET /openapi.yaml` serving `document`.
    public static func registerOpenAPI(on router: Router<CoordinatorContext>, document: OpenAPIDocument) {
        router.get("openapi.yaml") { _, _ in try document.response() }
    }
}

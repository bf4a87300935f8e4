import ArgumentParser
import CoordinatorApp
import Foundation
import Wire

/// `koinon-coordinator worker list|ban|unban`: the operator's view of the
/// workers and their trust (`GET /v1/workers`, `POST /v1/workers/{id}/ban`,
/// `/unban`; operator token).
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "List workers with their trust, ban and unban them.",
        subcommands: [List.self, Ban.self, Unban.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the workers: trust, strikes, results, last seen.")
        @OptionGroup var target: CoordinatorTarget
        @Flag(help: "Print the raw JSON instead of a table.") var json = false

        func run() async throws {
            let data = try await target.session { try await $0.json(.GET, "/v1/workers") }
            if json {
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let workers = try WorkerCommand.decode([OperatorWorkerSummary].self, data, what: "GET /v1/workers")
            print(WorkerCommand.table(workers, now: Date()), terminator: "")
        }
    }

    struct Ban: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ban a worker: it is refused from now on, and its results not yet applied are dropped.")
        @Argument(help: "The worker's id (a full UUID, or a prefix of one as `worker list` shows it).") var id: String
        @Option(help: "Why (kept with the ban, shown to the operator).") var reason: String
        @OptionGroup var target: CoordinatorTarget

        func run() async throws {
            let answer = try await target.session { api in
                let worker = try await WorkerCommand.resolve(id, api)
                let body = try WireProtocol.makeEncoder().encode(BanWorkerRequest(reason: reason))
                return try WorkerCommand.decode(BanWorkerResponse.self,
                                                try await api.json(.POST, "/v1/workers/\(worker.uuidString.lowercased())/ban", body: body),
                                                what: "the ban")
            }
            print("banned worker \(answer.workerID.uuidString.lowercased()) (trust: \(answer.trust)); "
                  + "dropped \(answer.droppedResults) result(s) not yet applied")
        }
    }

    struct Unban: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a worker's ban.")
        @Argument(help: "The worker's id (a full UUID, or a prefix of one as `worker list` shows it).") var id: String
        @OptionGroup var target: CoordinatorTarget

        func run() async throws {
            let answer = try await target.session { api in
                let worker = try await WorkerCommand.resolve(id, api)
                return try WorkerCommand.decode(BanWorkerResponse.self,
                                                try await api.json(.POST, "/v1/workers/\(worker.uuidString.lowercased())/unban"),
                                                what: "the unban")
            }
            print("unbanned worker \(answer.workerID.uuidString.lowercased()) (trust: \(answer.trust))")
        }
    }

    /// A full UUID as it is; a prefix through the worker list (it must match exactly one worker).
    static func resolve(_ text: String, _ api: OperatorAPI) async throws -> UUID {
        if let id = UUID(uuidString: text) { return id }
        let prefix = text.lowercased()
        guard prefix.count >= 4, prefix.allSatisfy({ $0.isHexDigit || $0 == "-" }) else {
            throw OperatorCommandError("'\(text)' is not a worker id: give the UUID, or at least its first 4 hex digits")
        }
        let workers = try decode([OperatorWorkerSummary].self, try await api.json(.GET, "/v1/workers"), what: "GET /v1/workers")
        let matches = workers.filter { $0.workerID.uuidString.lowercased().hasPrefix(prefix) }
        switch matches.count {
        case 1: return matches[0].workerID
        case 0: throw OperatorCommandError("no worker's id starts with \(text) (see `koinon-coordinator worker list`)")
        default:
            throw OperatorCommandError("\(text) matches \(matches.count) workers ("
                                       + matches.map { "\($0.workerID.uuidString.lowercased()) \($0.name)" }.joined(separator: ", ")
                                       + "): give more of the id")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ data: Data, what: String) throws -> T {
        do { return try WireProtocol.makeDecoder().decode(T.self, from: data) } catch {
            throw OperatorCommandError("\(what): the coordinator's answer is not what this command expects (\(error))")
        }
    }

    /// The workers as a plain-text table, then the reasons of bans and quarantines.
    static func table(_ workers: [OperatorWorkerSummary], now: Date) -> String {
        guard !workers.isEmpty else { return "No workers yet.\n" }
        let headers = ["ID", "NAME", "OWNER", "ADDRESS", "TRUST", "CONSECUTIVE VALID", "STRIKES", "ACCEPTED", "REJECTED", "LAST SEEN"]
        let rows = workers.map { w in
            [String(w.workerID.uuidString.lowercased().prefix(8)), w.name, w.owner.isEmpty ? "-" : w.owner,
             w.address.isEmpty ? "-" : w.address, w.trust, "\(w.consecutiveValid)", "\(w.strikes)", "\(w.acceptedUnits)",
             "\(w.rejectedResults)", ago(w.lastSeen, now: now)]
        }
        var out = StatusTable.table(headers, rightAligned: [5, 6, 7, 8], rows)
        let notes = workers.compactMap { w -> String? in
            let id = String(w.workerID.uuidString.lowercased().prefix(8))
            if let reason = w.banReason, w.trust == "banned" { return "  \(id) banned: \(StatusTable.printable(reason))" }
            if let until = w.quarantinedUntil, w.trust == "quarantined" {
                return "  \(id) quarantined until \(WireTimestamp.string(from: until))"
            }
            return nil
        }
        if !notes.isEmpty { out += "\n" + notes.joined(separator: "\n") + "\n" }
        return out
    }

    /// "12 s ago", "5 min ago", "3 h ago", "2 d ago".
    static func ago(_ date: Date, now: Date) -> String {
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        switch seconds {
        case ..<60: return "\(seconds) s ago"
        case ..<3600: return "\(seconds / 60) min ago"
        case ..<86_400: return "\(seconds / 3600) h ago"
        default: return "\(seconds / 86_400) d ago"
        }
    }
}

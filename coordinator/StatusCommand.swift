import ArgumentParser
import CoordinatorApp
import Foundation
import Wire

/// `koinon-coordinator status`: the run's figures as tables in the terminal.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show runs, progress, workers and rejections (the figures of /v1/status) as tables.")
    @OptionGroup var target: CoordinatorTarget
    @Flag(help: "Print the raw /v1/status JSON instead of tables.") var json = false

    func run() async throws {
        let data = try await target.session { try await $0.json(.GET, "/v1/status") }
        if json {
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let status: StatusResponse
        do { status = try WireProtocol.makeDecoder().decode(StatusResponse.self, from: data) } catch {
            throw ValidationError("\(target.coordinator)/v1/status did not answer a Koinon status: \(error)")
        }
        print(StatusTable.render(status), terminator: "")
    }
}

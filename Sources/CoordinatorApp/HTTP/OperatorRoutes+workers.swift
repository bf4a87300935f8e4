import Foundation
import Hummingbird
import Wire

/// Worker administration (operator token): list, ban, unban.
extension CoordinatorRoutes {
    func registerWorkerAdministration(on group: RouterGroup<CoordinatorContext>) {
        group.get("workers", use: listWorkers)
        group.post("workers/:worker/ban", use: banWorker)
        group.post("workers/:worker/unban", use: unbanWorker)
    }

    @Sendable func listWorkers(_ request: Request, context: CoordinatorContext) async throws -> Response {
        try WireResponse.json(try await coordinator.trust.list(policy: coordinator.settings.trust, now: Date()))
    }

    @Sendable func banWorker(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let worker = try Self.workerID(context)
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        let reason: String
        if buffer.readableBytes == 0 {
            reason = ""
        } else {
            do { reason = try WireProtocol.decoder.decode(BanWorkerRequest.self, from: Data(buffer: buffer)).reason } catch {
                throw HTTPError(.badRequest, message: "the body is not a BanWorkerRequest: \(error)")
            }
        }
        guard reason.unicodeScalars.count <= 500,
              !reason.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw HTTPError(.badRequest, message: "the reason must be at most 500 characters, without control characters")
        }
        guard let answer = try await coordinator.ban(worker: worker, reason: reason) else {
            return try WireResponse.error(.notFound, code: "not_found", "no such worker")
        }
        return try WireResponse.json(answer)
    }

    @Sendable func unbanWorker(_ request: Request, context: CoordinatorContext) async throws -> Response {
        guard let answer = try await coordinator.unban(worker: Self.workerID(context)) else {
            return try WireResponse.error(.notFound, code: "not_found", "no such worker")
        }
        return try WireResponse.json(answer)
    }

    static func workerID(_ context: CoordinatorContext) throws -> UUID {
        guard let text = context.parameters.get("worker"), let id = UUID(uuidString: text) else {
            throw HTTPError(.badRequest, message: "worker id must be a UUID")
        }
        return id
    }
}

import Foundation
import Kernels

/// What the worker says once at start: who it is, what computes, where it
/// reports to. The run is announced later, with the first unit leased.
public struct StartupBanner: Sendable, Equatable {
    public var version: String
    /// "cpu, avx512 kernels"
    public var backend: String
    /// "OpenBLAS SkylakeX", with a note when a faster core exists.
    public var blasCore: String
    public var threads: Int
    public var coordinator: String
    public var name: String
    public var cacheDirectory: String
    public var cacheLimitBytes: Int64

    public init(version: String = WorkerVersion.current, backend: String, blasCore: String, threads: Int, coordinator: String,
                name: String, cacheDirectory: String, cacheLimitBytes: Int64) {
        self.version = version
        self.backend = backend
        self.blasCore = blasCore
        self.threads = threads
        self.coordinator = coordinator
        self.name = name
        self.cacheDirectory = cacheDirectory
        self.cacheLimitBytes = cacheLimitBytes
    }

    /// The banner for this process's CPU backend.
    public init(backend: CPUBackend, coordinator: String, name: String, cacheDirectory: URL, cacheLimitBytes: Int64) {
        var core = "OpenBLAS \(BLASRuntime.coreName)"
        if let better = BLASRuntime.recommendedCore {
            core += " (slow path: this CPU supports \(better); set OPENBLAS_CORETYPE=\(better))"
        }
        self.init(backend: "cpu, \(Self.simdLevel(fromBLASSummary: BLASRuntime.summary) ?? "unknown") kernels", blasCore: core,
                  threads: backend.threads, coordinator: coordinator, name: name, cacheDirectory: cacheDirectory.path,
                  cacheLimitBytes: cacheLimitBytes)
    }

    /// The SIMD level of the element-wise kernels, from `BLASRuntime.summary`
    /// ("OpenBLAS core X, kernels avx512" → "avx512").
    static func simdLevel(fromBLASSummary summary: String) -> String? {
        guard let r = summary.range(of: ", kernels ", options: .backwards) else { return nil }
        let level = summary[r.upperBound...].trimmingCharacters(in: .whitespaces)
        return level.isEmpty ? nil : level
    }

    public var title: String { "Koinon worker \(version)" }

    /// Label and value, in display order.
    public var rows: [(label: String, value: String)] {
        [
            ("backend", backend),
            ("BLAS core", blasCore),
            ("threads", "\(threads)"),
            ("coordinator", coordinator),
            ("name", name),
            ("cache", "\(cacheDirectory) (limit \(ByteSize.format(cacheLimitBytes)))"),
        ]
    }

    /// For a terminal: the title, then the rows with their values aligned.
    public var text: String {
        let pad = rows.map(\.label.count).max() ?? 0
        return ([title] + rows.map { "  " + $0.label + String(repeating: " ", count: pad - $0.label.count + 2) + $0.value })
            .joined(separator: "\n") + "\n"
    }

    /// For logs: the title, then one "label: value" line per row.
    public var logLines: [String] {
        [title] + rows.map { "\($0.label): \($0.value)" }
    }
}

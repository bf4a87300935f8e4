import CBLAS
import CKernels
import Foundation

/// OpenBLAS set-up. Debian's OpenBLAS 0.3.21 does not recognise some AVX-512
/// CPUs and falls back to its "Prescott" kernels (about 7x slower sgemm). The
/// core type can only be chosen through `OPENBLAS_CORETYPE`, which OpenBLAS
/// reads once when the library is loaded, so a process that wants the fast
/// path sets it and re-executes itself before doing anything else.
public enum BLASRuntime {
    /// Environment variable set on the re-executed process, so it never loops.
    static let reexecMarker = "KOINON_BLAS_REEXEC"

    /// OpenBLAS's core names from slowest to fastest for these CPUs.
    static let coreRank = ["prescott", "nehalem", "sandybridge", "haswell", "skylakex", "cooperlake"]

    /// The core the loaded OpenBLAS runs, e.g. "SkylakeX".
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name).trimmingCharacters(in: .whitespaces)
    }

    /// OpenBLAS's build configuration string, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ...".
    public static var configuration: String {
        guard let config = openblas_get_config() else { return "unknown" }
        return String(cString: config).trimmingCharacters(in: .whitespaces)
    }

    /// The core this CPU should use, when better than what OpenBLAS picked itself.
    public static var recommendedCore: String? {
        guard let wanted = kn_recommended_openblas_core().map({ String(cString: $0) }) else { return nil }
        let rank = { (name: String) in coreRank.firstIndex(of: name.lowercased()) ?? -1 }
        return rank(wanted) > rank(coreName) ? wanted : nil
    }

    /// Call first thing in `main`. If OpenBLAS picked a slower core than this
    /// CPU supports and the user did not choose one, re-executes the current
    /// program with `OPENBLAS_CORETYPE` set. Returns (only) when no re-exec
    /// was needed or it failed; the reason is in `startupNote`.
    public static func ensureFastCore() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env[reexecMarker] == nil,
              let core = recommendedCore else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(reexecMarker, "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Only reached if exec failed: carry on with the slow kernels.
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv(reexecMarker)
    }

    /// Threads OpenBLAS uses for one matrix product.
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }

    /// One line for logs: "OpenBLAS core SkylakeX (OpenBLAS 0.3.21 ...), SIMD avx512".
    public static var summary: String {
        var line = "OpenBLAS core \(coreName)"
        if let better = recommendedCore {
            line += " (slow path: this CPU supports \(better); set OPENBLAS_CORETYPE=\(better))"
        }
        return line + ", kernels \(String(cString: kn_simd_level()))"
    }
}

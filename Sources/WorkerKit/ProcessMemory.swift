import Foundation

/// Peak resident memory of this process in bytes: `VmHWM` from
/// /proc/self/status. (getrusage's ru_maxrss is not used: across exec it
/// keeps the peak of the process that started this one, e.g. a Python
/// benchmark driver, and the worker re-executes itself at start.)
public func peakResidentBytes() -> Int {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
       let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
       let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
        return kib * 1024
    }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
}

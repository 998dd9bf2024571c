import Foundation

/// When a started `spansight` is ready for a stop signal: a signal sent before its handlers are
/// installed ends it by the default action, which a test would misread as a failed clean stop
/// (on a loaded machine, start-up can take longer than any fixed sleep).
enum ProcessReadiness {
    /// Waits, up to `limit` seconds, until process `pid` catches SIGINT and SIGTERM (the
    /// `SigCgt` mask of /proc/PID/status). False if it never does or has gone.
    @discardableResult
    static func waitForStopHandlers(_ pid: Int32, limit: Double = 30) -> Bool {
        let wanted: UInt64 = 1 << (UInt64(SIGINT) - 1) | 1 << (UInt64(SIGTERM) - 1)
        let end = Date().addingTimeInterval(limit)
        while Date() < end {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
            if let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
               let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16),
               mask & wanted == wanted {
                return true
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }
}

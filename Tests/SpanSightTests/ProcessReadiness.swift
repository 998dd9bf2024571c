import Foundation

/// When a started `spansight` is ready for a stop signal: a signal sent before its handlers are
/// installed ends it by the default action, which a test would misread as a failed clean stop
/// (on a loaded machine, start-up can take longer than any fixed sleep).
enum ProcessReadiness {
    /// Waits, up to `limit` seconds, until process `pid` catches SIGINT and SIGTERM (and the
    /// signals in `also`: the `SigCgt` mask of /proc/PID/status). False if it never does or
    /// has gone. `live` catches them once its captures are open and its privileges dropped.
    @discardableResult
    static func waitForStopHandlers(_ pid: Int32, limit: Double = 30, also: [Int32] = []) -> Bool {
        var wanted: UInt64 = 1 << (UInt64(SIGINT) - 1) | 1 << (UInt64(SIGTERM) - 1)
        for s in also { wanted |= 1 << (UInt64(s) - 1) }
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

/// Runs a command quietly (output discarded); its exit status, -1 if it could not start.
@discardableResult
func quietly(_ args: [String]) -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    do { try p.run() } catch { return -1 }
    p.waitUntilExit()
    return p.terminationStatus
}

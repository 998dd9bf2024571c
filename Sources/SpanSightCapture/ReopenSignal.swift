#if canImport(Glibc)
import Glibc
#endif

/// SIGHUP for a long-running capture: as for Suricata and Zeek, it asks to reopen the output
/// files (logrotate moves them, then signals). The handler only records the request; the
/// capture loop reopens between packets. A poll waiting for packets returns on the signal
/// (Linux never restarts poll), so an idle sensor reopens at once.
public enum ReopenSignal {
    nonisolated(unsafe) private static var pending: sig_atomic_t = 0

    /// Catches SIGHUP from now on (instead of ending the process).
    public static func install() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in ReopenSignal.pending = 1 }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGHUP, &action, nil)
    }

    /// True once per SIGHUP received since the last call (several signals before it: once).
    public static func take() -> Bool {
        guard pending != 0 else { return false }
        pending = 0
        return true
    }
}

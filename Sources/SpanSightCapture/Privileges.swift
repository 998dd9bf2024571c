// UNSAFE: reads the passwd record getpwnam returns (its pointee), at once, before any other
// call could reuse it.
import CPcap

#if canImport(Glibc)
import Glibc
#endif

/// Giving up privileges once the capture is open: a sensor needs root (or CAP_NET_RAW) only
/// to open its capture sockets, never to read from them or to write its outputs.
public enum Privileges {
    /// What `drop` did, for the summary and the tests.
    public enum Outcome: Equatable, Sendable {
        /// A root process now runs as this user (uid, gid), with no capabilities.
        case switched(user: String, uid: UInt32, gid: UInt32)
        /// An unprivileged process (file capabilities) cleared its capabilities.
        case capabilitiesCleared
        /// Root kept on purpose (`--user root`).
        case keptRoot
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Root: switches to `user` (its groups, then its gid, then its uid; no capability
    /// survives the switch) and forbids any later gain of privileges. Not root: clears every
    /// capability the process holds (from `setcap cap_net_raw,cap_net_admin=eip`), and `user`
    /// must be nil or the current user. `user` "root" keeps root. `handOver` runs as root just
    /// before the switch, with the user's uid and gid (to give it the files it keeps writing).
    public static func drop(to user: String?, handOver: (UInt32, UInt32) -> Void = { _, _ in }) throws(Failure) -> Outcome {
        let euid = geteuid()
        if euid == 0 {
            guard let name = user else { throw Failure(description: "no user to switch to") }
            if name == "root" { return .keptRoot }
            guard let pw = getpwnam(name) else {
                throw Failure(description: "--user \(name): no such user")
            }
            let uid = pw.pointee.pw_uid, gid = pw.pointee.pw_gid
            if uid == 0 { return .keptRoot }
            handOver(uid, gid)
            _ = CPcap_clearKeepCapabilities()
            guard initgroups(name, gid) == 0 else { throw failure("cannot set the groups of \(name)") }
            guard setgid(gid) == 0 else { throw failure("cannot switch to group \(gid)") }
            guard setuid(uid) == 0 else { throw failure("cannot switch to user \(name)") }
            // A switch that can be undone has not happened.
            guard setuid(0) != 0, geteuid() == uid, getuid() == uid else {
                throw Failure(description: "switching to user \(name) did not hold")
            }
            _ = CPcap_noNewPrivileges()
            return .switched(user: name, uid: uid, gid: gid)
        }
        if let name = user, name != "root" {
            guard let pw = getpwnam(name), pw.pointee.pw_uid == euid else {
                throw Failure(description: "--user \(name): only root can switch users (this process runs as uid \(euid))")
            }
        }
        guard CPcap_dropCapabilities() == 0 else { throw failure("cannot clear capabilities") }
        _ = CPcap_noNewPrivileges()
        return .capabilitiesCleared
    }

    /// The account a root sensor switches to by default, when it exists.
    public static let defaultUser = "spansight"

    /// True when `name` is an account on this system.
    public static func userExists(_ name: String) -> Bool { getpwnam(name) != nil }

    /// True when the process runs as root.
    public static var isRoot: Bool { geteuid() == 0 }

    private static func failure(_ what: String) -> Failure {
        Failure(description: "\(what): \(String(cString: strerror(errno)))")
    }
}

import Foundation
import SpanSightTestSupport
import XCTest

/// Network namespaces a test makes for a sensor (issue 19): a source namespace and a sensor
/// namespace joined by `pairs` veth pairs (source side `src[i]`, sensor side `mirror[i]`), up,
/// IPv6 off (no neighbour discovery chatter), no addresses, no routes; the sensor's loopback up
/// (its metrics, a Redis server beside it). In the source namespace tcpreplay (Debian's) plays
/// a fixture onto the wire; the sensor side is the mirrored port. Nothing leaves the
/// namespaces. Removed by `remove` (or when the value goes away).
final class NetworkLab {
    let source: String, sensor: String
    let src: [String], mirror: [String]
    private var removed = false
    nonisolated(unsafe) private static var made = 0

    /// Skips (XCTSkip) without root, iproute2 or tcpreplay, or when namespaces cannot be made.
    init(pairs: Int) throws {
        guard getuid() == 0 else { throw XCTSkip("sensor tests need root (network namespaces, capture): skipped") }
        guard quietly(["ip", "-V"]) == 0 else { throw XCTSkip("iproute2 (ip) is not installed: skipped") }
        guard quietly(["tcpreplay", "-V"]) == 0 else { throw XCTSkip("tcpreplay is not installed (scripts/install-deps.sh installs it): skipped") }
        let tag = "sv\(getpid() % 10_000)\(Self.made)"
        Self.made += 1
        source = "\(tag)s"; sensor = "\(tag)m"
        src = (0..<pairs).map { "\(tag)s\($0)" }; mirror = (0..<pairs).map { "\(tag)m\($0)" }
        var cmds = [["ip", "netns", "add", source], ["ip", "netns", "add", sensor],
                    ["ip", "-n", sensor, "link", "set", "lo", "up"]]
        for i in 0..<pairs {
            let (s, m) = (src[i], mirror[i])
            cmds += [["ip", "link", "add", s, "type", "veth", "peer", "name", m],
                     ["ip", "link", "set", s, "netns", source], ["ip", "link", "set", m, "netns", sensor],
                     ["ip", "netns", "exec", source, "sysctl", "-qw", "net.ipv6.conf.\(s).disable_ipv6=1"],
                     ["ip", "netns", "exec", sensor, "sysctl", "-qw", "net.ipv6.conf.\(m).disable_ipv6=1"],
                     ["ip", "-n", source, "link", "set", s, "up"], ["ip", "-n", sensor, "link", "set", m, "up"]]
        }
        for cmd in cmds where quietly(cmd) != 0 {
            remove()
            throw XCTSkip("cannot set up namespaces (\(cmd.joined(separator: " "))): skipped")
        }
    }

    deinit { remove() }

    func remove() {
        guard !removed else { return }
        removed = true
        _ = quietly(["ip", "netns", "del", source])
        _ = quietly(["ip", "netns", "del", sensor])
    }

    /// Plays `capture` onto `src[pair]` at `pps` packets a second; tcpreplay's exit status.
    func replay(_ capture: URL, pair: Int = 0, pps: Int = 400) -> Int32 {
        quietly(["ip", "netns", "exec", source, "tcpreplay", "-q", "-i", src[pair], "--pps", "\(pps)", capture.path])
    }
}

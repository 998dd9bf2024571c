import Foundation
import SpanSightTestSupport
import XCTest

/// `spansight live` on a veth pair between two network namespaces this test creates (no route
/// out, traffic only between them), stopped by SIGINT; and on `lo` with a filter that matches
/// nothing (an idle link: only listening, nothing sent).
final class LiveCaptureTests: XCTestCase {
    func sh(_ args: [String]) -> Int32 { quietly(args) }

    struct LiveRun { var status: Int32; var seconds: Double; var stderr: String; var events: [[String: Any]]; var killed: Bool }

    /// `spansight live ARGS --output FILE`: SIGINT after `interruptAfter` seconds (nil: none);
    /// killed (and `killed` set) if still running `limit` seconds after the start.
    func live(_ args: [String], interruptAfter: Double? = nil, limit: Double = 15) throws -> LiveRun {
        let dir = FileManager.default.temporaryDirectory
        let out = dir.appendingPathComponent("spansight-idle-\(getpid())-\(UUID().uuidString).json")
        let err = dir.appendingPathComponent("spansight-idle-\(getpid())-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: err.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = ["live"] + args + ["--output", out.path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: err)
        var start = Date()
        try p.run()
        if let i = interruptAfter {
            // Timed from when it can be stopped: start-up on a loaded machine is not the run.
            _ = ProcessReadiness.waitForStopHandlers(p.processIdentifier)
            start = Date()
            Thread.sleep(forTimeInterval: i)
            p.interrupt()
        }
        let killed = !p.waitUntilExit(within: limit - Date().timeIntervalSince(start))
        let seconds = Date().timeIntervalSince(start)
        let events = ((try? String(contentsOf: out, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        return LiveRun(status: p.terminationStatus, seconds: seconds, stderr: stderr, events: events, killed: killed)
    }

    /// A filter no packet on `lo` matches: the link is idle for the capture.
    let nothing = "host 192.0.2.77 and tcp port 5999"

    /// On an idle link, `--duration` ends the run on time (the capture does not wait for a packet).
    func testDurationEndsTheRunOnAnIdleLink() throws {
        guard getuid() == 0 else { throw XCTSkip("live capture on lo needs root: skipped") }
        for extra in [[], ["--immediate"]] {
            let r = try live(["--interface", "lo", "--filter", nothing, "--duration", "2"] + extra)
            XCTAssertFalse(r.killed, "\(extra): still running after 15 s")
            XCTAssertEqual(r.status, 0, "\(extra): \(r.stderr)")
            XCTAssertLessThan(r.seconds, 5, "\(extra): --duration 2 took \(r.seconds) s")
            XCTAssertGreaterThanOrEqual(r.seconds, 1.9, "\(extra)")
            XCTAssertTrue(r.stderr.contains("0 packets"), r.stderr)
        }
    }

    /// On an idle link, `--stats-interval 1` writes a stats event every second, and SIGINT
    /// still stops cleanly (final stats event, summary, exit 0).
    func testStatsIntervalOnAnIdleLink() throws {
        guard getuid() == 0 else { throw XCTSkip("live capture on lo needs root: skipped") }
        let r = try live(["--interface", "lo", "--filter", nothing, "--stats-interval", "1"], interruptAfter: 3.3)
        XCTAssertFalse(r.killed, "SIGINT did not stop it")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertLessThan(r.seconds, 5.5)
        XCTAssertTrue(r.stderr.contains("packets"), "summary printed: \(r.stderr)")
        let stats = r.events.filter { $0["event_type"] as? String == "stats" }
        XCTAssertGreaterThanOrEqual(stats.count, 3, "at least two periodic stats events in 3.3 s, then the final one")
        // Dated by the wall clock while no packet comes (not the epoch, not one frozen time).
        let stamps = stats.compactMap { $0["timestamp"] as? String }
        XCTAssertEqual(Set(stamps).count, stamps.count, "\(stamps)")
        XCTAssertFalse(stamps.contains { $0.hasPrefix("1970") }, "\(stamps)")
    }

    func testLiveCaptureSeesTrafficBetweenNamespacesAndStopsCleanlyOnSIGINT() throws {
        guard getuid() == 0 else { throw XCTSkip("live capture test needs root (network namespaces): skipped") }
        guard sh(["ip", "-V"]) == 0 else { throw XCTSkip("iproute2 (ip) is not installed: skipped") }
        let tag = "ss\(getpid() % 100_000)"
        let (nsA, nsB, vA, vB) = ("\(tag)a", "\(tag)b", "\(tag)va", "\(tag)vb")
        defer { _ = sh(["ip", "netns", "del", nsA]); _ = sh(["ip", "netns", "del", nsB]) }
        for cmd in [["ip", "netns", "add", nsA], ["ip", "netns", "add", nsB],
                    ["ip", "link", "add", vA, "type", "veth", "peer", "name", vB],
                    ["ip", "link", "set", vA, "netns", nsA], ["ip", "link", "set", vB, "netns", nsB],
                    ["ip", "-n", nsA, "addr", "add", "10.231.77.1/24", "dev", vA],
                    ["ip", "-n", nsB, "addr", "add", "10.231.77.2/24", "dev", vB],
                    ["ip", "-n", nsA, "link", "set", vA, "up"], ["ip", "-n", nsB, "link", "set", vB, "up"],
                    ["ip", "-n", nsA, "link", "set", "lo", "up"], ["ip", "-n", nsB, "link", "set", "lo", "up"]] {
            guard sh(cmd) == 0 else { throw XCTSkip("cannot set up namespaces (\(cmd.joined(separator: " "))): skipped") }
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("spansight-live-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: out) }

        // A TCP server in B answering each request (as a Modbus server would, on 5020).
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["ip", "netns", "exec", nsB, "python3", "-c", """
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("10.231.77.2", 5020)); s.listen(1); s.settimeout(20)
            c, _ = s.accept()
            while True:
                d = c.recv(4096)
                if not d: break
                c.sendall(b"ack:" + d)
            c.close()
            """]
        try server.run()

        let spansight = Process()
        spansight.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        spansight.arguments = ["ip", "netns", "exec", nsA, CLITests.binary.path, "live", "--interface", vA,
                               "--immediate", "--filter", "tcp port 5020", "--stats-interval", "1", "--duration", "30", "--output", out.path,
                               "--sensor-name", "span-sensor-1"]
        let err = Pipe()
        spansight.standardError = err
        try spansight.run()
        // `ip netns exec` execs the tool in place: the same process, ready once it catches SIGINT.
        XCTAssertTrue(ProcessReadiness.waitForStopHandlers(spansight.processIdentifier), "spansight never installed its stop handlers")
        Thread.sleep(forTimeInterval: 1.5)

        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        client.arguments = ["ip", "netns", "exec", nsA, "python3", "-c", """
            import socket, time
            for _ in range(50):
                try:
                    c = socket.create_connection(("10.231.77.2", 5020), timeout=2); break
                except OSError: time.sleep(0.1)
            for i in range(5):
                c.sendall(b"req%d" % i); c.recv(100); time.sleep(0.05)
            c.close()
            """]
        try client.run()
        client.waitUntilExit()
        server.waitUntilExit()
        Thread.sleep(forTimeInterval: 1.0)
        spansight.interrupt()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        spansight.waitUntilExit()
        XCTAssertEqual(client.terminationStatus, 0)
        XCTAssertEqual(spansight.terminationStatus, 0, "SIGINT is a clean stop: \(stderr)")
        XCTAssertTrue(stderr.contains("packets"), "summary printed: \(stderr)")

        let events = try String(contentsOf: out, encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let flows = events.filter { $0["event_type"] as? String == "flow" }
        XCTAssertEqual(flows.count, 1, "one TCP connection crossed the veth")
        // Suricata's envelope in live: the interface and the sensor on every event, no file name.
        for e in events {
            XCTAssertEqual(e["in_iface"] as? String, vA, "in_iface on \(e["event_type"] ?? "?")")
            XCTAssertEqual(e["host"] as? String, "span-sensor-1")
            XCTAssertNil(e["pcap_filename"])
        }
        let f = flows.first
        XCTAssertEqual(f?["src_ip"] as? String, "10.231.77.1")
        XCTAssertEqual(f?["dest_ip"] as? String, "10.231.77.2")
        XCTAssertEqual(f?["dest_port"] as? Int, 5020)
        let flow = f?["flow"] as? [String: Any]
        let tcp = f?["tcp"] as? [String: Any]
        XCTAssertEqual(tcp?["payload_bytes_toserver"] as? Int, 20, "5 requests of 4 bytes")
        XCTAssertEqual(tcp?["payload_bytes_toclient"] as? Int, 40, "5 answers of 8 bytes")
        // Frame bytes: at least Ethernet, IPv4 and TCP headers (54 bytes) a packet, plus payload.
        let pkts = flow?["pkts_toserver"] as? Int ?? 0
        XCTAssertGreaterThanOrEqual(flow?["bytes_toserver"] as? Int ?? 0, 54 * pkts + 20)
        XCTAssertEqual(flow?["client_by"] as? String, "syn")
        XCTAssertEqual((f?["tcp"] as? [String: Any])?["state"] as? String, "closed")
        let stats = events.filter { $0["event_type"] as? String == "stats" }
        XCTAssertGreaterThanOrEqual(stats.count, 2, "periodic stats events, then the final one")
        let capture = (stats.last?["stats"] as? [String: Any])?["capture"] as? [String: Any]
        XCTAssertNotNil(capture?["kernel_drops"] as? Int, "pcap_stats drop counters reported")
        XCTAssertGreaterThan(capture?["kernel_packets"] as? Int ?? 0, 0)
    }
}

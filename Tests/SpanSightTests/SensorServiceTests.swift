import Foundation
import SpanSightTestSupport
import XCTest

/// `spansight live` as a long-running sensor (issue 19), on real interfaces: network namespaces
/// this test creates, joined by veth pairs with no route out. In the source namespace
/// tcpreplay (Debian's) plays a fixture capture onto the wire at a bounded rate; in the sensor
/// namespace the other end of the pair is the mirrored port. Nothing leaves the namespaces,
/// and the sensor itself never transmits.
final class SensorServiceTests: XCTestCase {
    /// The capture played: pymodbus client and server, 3 connections, 118 packets.
    let fixture = TestPaths.fixtures.appendingPathComponent("modbus-pymodbus.pcap")
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("spansight-sensor-\(getpid())")

    @discardableResult
    func sh(_ args: [String]) -> Int32 { quietly(args) }

    /// The namespaces of a test (`NetworkLab`), removed by `tearDown`.
    typealias Lab = NetworkLab
    private var labs: [NetworkLab] = []

    func makeLab(pairs: Int) throws -> Lab {
        let lab = try NetworkLab(pairs: pairs)
        labs.append(lab)
        return lab
    }

    override func setUpWithError() throws {
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        // Writable by the unprivileged user a sensor switches to (a reopen creates files here).
        chmod(work.path, 0o777)
    }

    override func tearDown() {
        for lab in labs { lab.remove() }
        labs = []
        try? FileManager.default.removeItem(at: work)
    }

    /// Plays `capture` onto `interface` of the source namespace at `pps` packets a second.
    func replay(_ lab: Lab, _ capture: URL, on interface: String, pps: Int = 400) -> Int32 {
        lab.replay(capture, pair: lab.src.firstIndex(of: interface) ?? 0, pps: pps)
    }

    /// A sensor on the mirror side: `spansight live ARGS --output FILE`, ready (captures open,
    /// privileges dropped, signal handlers in place) when this returns.
    func startSensor(_ lab: Lab, _ args: [String], output: URL) throws -> (Process, URL) {
        let err = work.appendingPathComponent("sensor-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ip", "netns", "exec", lab.sensor, CLITests.binary.path, "live"] + args
            + ["--filter", "tcp port 502", "--output", output.path, "--duration", "120"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        addTeardownBlock { if p.isRunning { p.terminate() } }
        XCTAssertTrue(ProcessReadiness.waitForStopHandlers(p.processIdentifier, also: [SIGHUP]), "the sensor never became ready")
        return (p, err)
    }

    func events(_ file: URL) -> [[String: Any]] {
        ((try? String(contentsOf: file, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Lines in `file` that are not one whole JSON object (a torn write would show here).
    func brokenLines(_ file: URL) -> Int {
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        if !text.isEmpty && !text.hasSuffix("\n") { return 1 }
        return text.split(separator: "\n").filter { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) == nil }.count
    }

    func count(_ type: String, _ file: URL) -> Int { events(file).filter { $0["event_type"] as? String == type }.count }

    /// The Modbus events `read` finds in the fixture: what one replay must give.
    func modbusEventsInFixture() throws -> Int {
        let out = work.appendingPathComponent("reference.json")
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = ["read", "-q", "--no-inventory", "--eve-types", "modbus", "-o", out.path, fixture.path]
        try p.run()
        p.waitUntilExit()
        let n = count("modbus", out)
        XCTAssertGreaterThan(n, 40, "the fixture's 46 requests")
        return n
    }

    /// Waits until `file` holds `n` events of `type` (or `limit` seconds pass); the seconds it took.
    func waitFor(_ n: Int, _ type: String, in file: URL, limit: Double) -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < limit {
            if count(type, file) >= n { return Date().timeIntervalSince(start) }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return nil
    }

    func stop(_ p: Process, _ err: URL) -> String {
        p.interrupt()
        XCTAssertTrue(p.waitUntilExit(within: 20), "SIGINT did not stop the sensor")
        XCTAssertEqual(p.terminationStatus, 0)
        return (try? String(contentsOf: err, encoding: .utf8)) ?? ""
    }

    /// Events reach the file within the flush interval while the sensor runs, with periodic
    /// stats off (flushing never waits for a stats event, nor for a full buffer).
    func testEventsAreWrittenWithinTheFlushIntervalOnAQuietLink() throws {
        let lab = try makeLab(pairs: 1)
        let expected = try modbusEventsInFixture()
        let out = work.appendingPathComponent("eve.json")
        let (p, err) = try startSensor(lab, ["-i", lab.mirror[0], "--stats-interval", "0", "--flush-interval", "1", "--no-inventory", "--user", "root"], output: out)
        XCTAssertEqual(replay(lab, fixture, on: lab.src[0]), 0, "tcpreplay failed")
        // The last packets were on the wire when tcpreplay returned: 1 s of flush interval and
        // the kernel's 200 ms block timeout, with slack for a loaded machine.
        let took = waitFor(expected, "modbus", in: out, limit: 10)
        XCTAssertNotNil(took, "after 10 s the file held \(count("modbus", out)) of \(expected) modbus events")
        if let t = took { XCTAssertLessThan(t, 3.0, "events waited \(t) s with --flush-interval 1") }
        XCTAssertTrue(p.isRunning, "written while the sensor runs, not at its end")
        let stderr = stop(p, err)
        XCTAssertEqual(count("modbus", out), expected, stderr)
        XCTAssertEqual(count("flow", out), 3, "the fixture's 3 connections")
    }

    /// logrotate's way: move the file away, SIGHUP; the sensor writes a new file at once and no
    /// event is lost or torn. Run as an unprivileged user after the switch (`--user nobody`),
    /// which owns the events file and the new one.
    func testSIGHUPReopensTheEventsFileAfterAMoveAndLosesNoEvent() throws {
        let lab = try makeLab(pairs: 1)
        let expected = try modbusEventsInFixture()
        let out = work.appendingPathComponent("eve.json")
        let rotated = work.appendingPathComponent("eve.json.1")
        let (p, err) = try startSensor(lab, ["-i", lab.mirror[0], "--stats-interval", "1", "--flush-interval", "1", "--no-inventory", "--user", "nobody"], output: out)
        XCTAssertEqual(replay(lab, fixture, on: lab.src[0]), 0)
        XCTAssertNotNil(waitFor(expected, "modbus", in: out, limit: 10), "first replay not written")
        // Rotation while the sensor keeps writing (stats every second), then the second replay.
        XCTAssertEqual(rename(out.path, rotated.path), 0)
        p.processIdentifier.hup()
        XCTAssertNotNil(waitFor(1, "stats", in: out, limit: 10), "no new file after SIGHUP")
        // The same conversations from other addresses (a replay of the same packets would be
        // retransmissions of data already seen).
        let again = work.appendingPathComponent("again.pcap")
        XCTAssertEqual(sh(["tcprewrite", "--seed=7", "--fixcsum", "-i", fixture.path, "-o", again.path]), 0)
        XCTAssertEqual(replay(lab, again, on: lab.src[0]), 0)
        XCTAssertNotNil(waitFor(expected, "modbus", in: out, limit: 10), "second replay not written to the new file")
        let stderr = stop(p, err)
        XCTAssertFalse(stderr.contains("cannot reopen"), stderr)
        XCTAssertEqual(count("modbus", rotated), expected, "the rotated file has the first replay, whole")
        XCTAssertEqual(count("modbus", out), expected, "the new file has the second")
        XCTAssertEqual(count("modbus", rotated) + count("modbus", out), 2 * expected, "events before plus after equal the total")
        XCTAssertEqual(brokenLines(rotated), 0)
        XCTAssertEqual(brokenLines(out), 0)
        // The final stats event, in the new file, counts both replays' packets.
        let last = events(out).last { $0["event_type"] as? String == "stats" }
        let decoder = (last?["stats"] as? [String: Any])?["decoder"] as? [String: Any]
        XCTAssertEqual(decoder?["pkts"] as? Int, 2 * 116, "both replays' TCP packets (the filter leaves out 2 ARP): \(stderr)")
        var st = stat()
        XCTAssertEqual(stat(out.path, &st), 0)
        XCTAssertEqual(st.st_uid, 65534, "the new file is the sensor's user's")
    }

    /// A root sensor switches to `--user` once its capture is open: uid, gid and groups are the
    /// user's, no capability is left (effective, permitted, bounding aside), no later gain of
    /// privileges; and it still captures.
    func testARootSensorDropsToItsUserAndKeepsNoCapability() throws {
        let lab = try makeLab(pairs: 1)
        let expected = try modbusEventsInFixture()
        let out = work.appendingPathComponent("eve.json")
        // With the metrics server on: its thread too (capabilities and no_new_privs are per thread).
        let (p, err) = try startSensor(lab, ["-i", lab.mirror[0], "--stats-interval", "0", "--no-inventory", "--user", "nobody", "--metrics-port", "0"], output: out)
        Thread.sleep(forTimeInterval: 0.3)
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(p.processIdentifier)/task")
        XCTAssertGreaterThanOrEqual(tasks.count, 2, "the capture thread and the metrics thread")
        for task in tasks {
            let status = try String(contentsOfFile: "/proc/\(p.processIdentifier)/task/\(task)/status", encoding: .utf8)
            func field(_ name: String) -> String {
                status.split(separator: "\n").first { $0.hasPrefix(name + ":") }.map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) } ?? "?"
            }
            let who = "thread \(task) (\(field("Name")))"
            XCTAssertEqual(field("Uid").split(whereSeparator: \.isWhitespace), ["65534", "65534", "65534", "65534"], "\(who): real, effective, saved, fs uid")
            XCTAssertEqual(field("Gid").split(whereSeparator: \.isWhitespace), ["65534", "65534", "65534", "65534"], who)
            XCTAssertFalse(field("Groups").split(whereSeparator: \.isWhitespace).contains("0"), "\(who): no root group left: \(field("Groups"))")
            XCTAssertEqual(field("CapEff"), "0000000000000000", who)
            XCTAssertEqual(field("CapPrm"), "0000000000000000", who)
            XCTAssertEqual(field("CapAmb"), "0000000000000000", who)
            XCTAssertEqual(field("NoNewPrivs"), "1", who)
        }
        XCTAssertEqual(replay(lab, fixture, on: lab.src[0]), 0)
        XCTAssertNotNil(waitFor(expected, "modbus", in: out, limit: 10), "capture after the switch")
        _ = stop(p, err)
        // A user that does not exist is one error line, before any packet.
        let bad = Process()
        bad.executableURL = CLITests.binary
        bad.arguments = ["live", "-i", "lo", "--filter", "host 192.0.2.77", "--duration", "5", "--user", "no-such-user-spansight", "-q"]
        let pipe = Pipe()
        bad.standardError = pipe
        bad.standardOutput = FileHandle.nullDevice
        try bad.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        bad.waitUntilExit()
        XCTAssertEqual(bad.terminationStatus, 1)
        XCTAssertEqual(text, "spansight: error: --user no-such-user-spansight: no such user\n")
    }

    /// The shipped unit's way: started unprivileged with CAP_NET_RAW and CAP_NET_ADMIN as
    /// ambient capabilities (setpriv, as systemd's AmbientCapabilities), the sensor opens its
    /// capture and then clears every capability in every thread.
    func testAnUnprivilegedSensorClearsItsCapabilitiesInEveryThread() throws {
        let lab = try makeLab(pairs: 1)
        guard sh(["setpriv", "--version"]) == 0 else { throw XCTSkip("setpriv (util-linux) is not installed: skipped") }
        let out = work.appendingPathComponent("eve.json")
        let err = work.appendingPathComponent("unpriv.err")
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ip", "netns", "exec", lab.sensor, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                       "--inh-caps=+net_raw,+net_admin", "--ambient-caps=+net_raw,+net_admin",
                       CLITests.binary.path, "live", "-i", lab.mirror[0], "--filter", "tcp port 502", "--stats-interval", "0",
                       "--no-inventory", "--metrics-port", "0", "--duration", "60", "-o", out.path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        addTeardownBlock { if p.isRunning { p.terminate() } }
        XCTAssertTrue(ProcessReadiness.waitForStopHandlers(p.processIdentifier, also: [SIGHUP]), "never ready: \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
        Thread.sleep(forTimeInterval: 0.3)
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(p.processIdentifier)/task")
        XCTAssertGreaterThanOrEqual(tasks.count, 2)
        for task in tasks {
            let status = try String(contentsOfFile: "/proc/\(p.processIdentifier)/task/\(task)/status", encoding: .utf8)
            for (name, want) in [("CapEff", "0000000000000000"), ("CapPrm", "0000000000000000"), ("CapAmb", "0000000000000000"), ("NoNewPrivs", "1")] {
                let got = status.split(separator: "\n").first { $0.hasPrefix(name + ":") }.map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) }
                XCTAssertEqual(got, want, "thread \(task): \(name)")
            }
        }
        XCTAssertEqual(replay(lab, fixture, on: lab.src[0]), 0)
        XCTAssertNotNil(waitFor(40, "modbus", in: out, limit: 10), "it captures after clearing them")
        _ = stop(p, err)
    }

    /// Two mirrored ports, one sensor: each direction of every connection arrives on its own
    /// interface (as from a TAP's two outputs) and the flow table joins them.
    func testTwoInterfacesFeedOneFlowTable() throws {
        let lab = try makeLab(pairs: 2)
        let expected = try modbusEventsInFixture()
        // The fixture split by direction: requests (to port 502) and answers (from it).
        let toServer = work.appendingPathComponent("to-server.pcap"), toClient = work.appendingPathComponent("to-client.pcap")
        XCTAssertEqual(sh(["tcpdump", "-r", fixture.path, "-w", toServer.path, "tcp dst port 502"]), 0)
        XCTAssertEqual(sh(["tcpdump", "-r", fixture.path, "-w", toClient.path, "tcp src port 502"]), 0)
        let out = work.appendingPathComponent("eve.json")
        let (p, err) = try startSensor(lab, ["-i", lab.mirror[0], "-i", lab.mirror[1], "--stats-interval", "0", "--no-inventory", "--user", "root"], output: out)
        // Both halves at once, each at its recorded pace (the capture lasts 1.6 s).
        let a = Process(), b = Process()
        for (proc, file, iface) in [(a, toServer, lab.src[0]), (b, toClient, lab.src[1])] {
            proc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            proc.arguments = ["ip", "netns", "exec", lab.source, "tcpreplay", "-q", "-i", iface, file.path]
            proc.standardOutput = FileHandle.nullDevice
            proc.standardError = FileHandle.nullDevice
        }
        try a.run(); try b.run()
        a.waitUntilExit(); b.waitUntilExit()
        XCTAssertEqual(a.terminationStatus, 0); XCTAssertEqual(b.terminationStatus, 0)
        Thread.sleep(forTimeInterval: 1.5)
        let stderr = stop(p, err)
        let all = events(out)
        let flows = all.filter { $0["event_type"] as? String == "flow" }
        XCTAssertEqual(flows.count, 3, "3 connections, each one flow from two interfaces: \(stderr)")
        for f in flows {
            let flow = f["flow"] as? [String: Any]
            XCTAssertGreaterThan(flow?["pkts_toserver"] as? Int ?? 0, 0)
            XCTAssertGreaterThan(flow?["pkts_toclient"] as? Int ?? 0, 0)
            XCTAssertEqual(f["dest_port"] as? Int, 502, "the server side known from both halves")
        }
        let pkts = flows.reduce(0) { $0 + (($1["flow"] as? [String: Any])?["pkts_toserver"] as? Int ?? 0) + (($1["flow"] as? [String: Any])?["pkts_toclient"] as? Int ?? 0) }
        XCTAssertEqual(pkts, 116, "every TCP packet of both halves in the flows (the fixture's other 2 are ARP)")
        let ifaces = Set(all.compactMap { $0["in_iface"] as? String })
        XCTAssertTrue(ifaces.isSubset(of: Set(lab.mirror)) && !ifaces.isEmpty, "\(ifaces)")
        // A transaction's event is built when its response arrives: the answers' port.
        XCTAssertEqual(Set(all.filter { $0["event_type"] as? String == "modbus" }.compactMap { $0["in_iface"] as? String }), [lab.mirror[1]])
        XCTAssertGreaterThanOrEqual(all.filter { $0["event_type"] as? String == "modbus" }.count, expected - 3,
                                    "pairing across two ports may differ only where a reply overtook its request")
        XCTAssertTrue(stderr.contains("    \(lab.mirror[0]): received"), "a summary line per interface: \(stderr)")
    }

    /// A sensor that cannot keep up (stopped while the source plays, a small kernel buffer)
    /// counts the kernel's drops in `stats` and says so once on standard error.
    func testKernelDropsAreCountedAndWarned() throws {
        let lab = try makeLab(pairs: 1)
        let out = work.appendingPathComponent("eve.json")
        let (p, err) = try startSensor(lab, ["-i", lab.mirror[0], "--stats-interval", "1", "--no-inventory", "--user", "root", "--buffer-size", "65536"], output: out)
        kill(p.processIdentifier, SIGSTOP)
        let played = sh(["ip", "netns", "exec", lab.source, "tcpreplay", "-q", "-i", lab.src[0], "--topspeed", "--loop", "40", fixture.path])
        kill(p.processIdentifier, SIGCONT)
        XCTAssertEqual(played, 0)
        XCTAssertNotNil(waitFor(2, "stats", in: out, limit: 10))
        let stderr = stop(p, err)
        let stats = events(out).filter { $0["event_type"] as? String == "stats" }
        let capture = (stats.last?["stats"] as? [String: Any])?["capture"] as? [String: Any]
        let drops = capture?["kernel_drops"] as? Int ?? 0
        let received = capture?["kernel_packets"] as? Int ?? 0
        XCTAssertGreaterThan(drops, 0, "40 x 116 packets into a 64 KiB buffer nobody read: \(stderr)")
        XCTAssertGreaterThanOrEqual(received, 40 * 116 - drops, "the kernel saw every TCP packet played")
        let decoder = (stats.last?["stats"] as? [String: Any])?["decoder"] as? [String: Any]
        XCTAssertEqual((decoder?["pkts"] as? Int ?? 0) + drops, received, "what was not dropped was analysed")
        let warnings = stderr.split(separator: "\n").filter { $0.contains("the capture is dropping packets") }
        XCTAssertEqual(warnings.count, 1, "one warning when drops start: \(stderr)")
    }

    /// What an SQLite store holds, read by Python's own sqlite3 (another reader, as an
    /// `assets --db` beside the sensor would be): integrity, hosts, runs.
    func store(_ db: URL) -> (ok: Bool, hosts: Int, runs: Int)? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1], timeout=10)
            q = lambda s: c.execute(s).fetchone()[0]
            print(q("pragma integrity_check"), q("select count(*) from hosts"), q("select count(*) from runs"))
            """, db.path]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let words = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(whereSeparator: \.isWhitespace)
        p.waitUntilExit()
        guard p.terminationStatus == 0, words.count == 3, let h = Int(words[1]), let r = Int(words[2]) else { return nil }
        return (words[0] == "ok", h, r)
    }

    /// `--persist-interval`: the inventory is saved while the sensor runs, each save one
    /// transaction; killed (SIGKILL) at any moment, the store is the last complete save, and
    /// a restarted sensor goes on from it.
    func testTheStoreSurvivesSIGKILLAndARestartGoesOnFromIt() throws {
        let lab = try makeLab(pairs: 1)
        // The hosts one replay gives (the capture's addresses), from `read` into a store of its own.
        let reference = work.appendingPathComponent("reference.db")
        let r = Process()
        r.executableURL = CLITests.binary
        r.arguments = ["read", "-q", "--db", reference.path, "-o", "/dev/null", fixture.path]
        try r.run(); r.waitUntilExit()
        let hosts = try XCTUnwrap(store(reference)?.hosts)
        XCTAssertGreaterThan(hosts, 1)

        let db = work.appendingPathComponent("sensor.db")
        let out = work.appendingPathComponent("eve.json")
        // A new store, created by the root process as it loads, then handed to the user it
        // switches to (with SQLite's journal files).
        let args = ["-i", lab.mirror[0], "--stats-interval", "0", "--user", "nobody", "--db", db.path, "--persist-interval", "1"]
        var (p, _) = try startSensor(lab, args, output: out)
        XCTAssertEqual(replay(lab, fixture, on: lab.src[0]), 0)
        // Saved while running (no end of run yet).
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && (store(db)?.hosts ?? 0) < hosts { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertEqual(store(db)?.hosts, hosts, "the inventory saved within the persist interval")
        // Killed at an arbitrary moment of its one-second save cycle.
        Thread.sleep(forTimeInterval: Double.random(in: 0...1.2))
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let killed = try XCTUnwrap(store(db), "the store opens after SIGKILL")
        XCTAssertTrue(killed.ok, "integrity_check after SIGKILL")
        XCTAssertEqual(killed.hosts, hosts, "the last complete save")
        XCTAssertEqual(killed.runs, 0, "periodic saves record no run; the killed run never ended")

        // Restarted on the same store: other conversations (other addresses) add their hosts.
        let again = work.appendingPathComponent("again.pcap")
        XCTAssertEqual(sh(["tcprewrite", "--seed=11", "--fixcsum", "-i", fixture.path, "-o", again.path]), 0)
        var err: URL
        (p, err) = try startSensor(lab, args, output: out)
        XCTAssertEqual(replay(lab, again, on: lab.src[0]), 0)
        Thread.sleep(forTimeInterval: 1.5)
        let stderr = stop(p, err)
        let after = try XCTUnwrap(store(db))
        XCTAssertTrue(after.ok)
        XCTAssertEqual(after.hosts, 2 * hosts, "what the first run saved plus the second's: \(stderr)")
        XCTAssertEqual(after.runs, 1, "the run that ended")
    }

    /// Frames of a classic pcap, in order (Python reads it: an independent reader).
    func frames(_ pcap: URL) -> [String]? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", """
            import struct, sys
            d = open(sys.argv[1], "rb").read()
            magic = struct.unpack("<I", d[:4])[0]
            assert magic in (0xa1b2c3d4, 0xa1b23c4d), hex(magic)
            o = 24
            while o < len(d):
                _, _, cap, _ = struct.unpack("<IIII", d[o:o + 16])
                print(d[o + 16:o + 16 + cap].hex())
                o += 16 + cap
            """, pcap.path]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return p.terminationStatus == 0 ? text.split(separator: "\n").map(String.init) : nil
    }

    /// `live --alert-pcap DIR`: each alerted flow gets its own pcap, from the ring of recent
    /// packets (its handshake included) and then as its packets come; together the same
    /// frames `read --alert-pcap` takes from the file, each flow's in order.
    func testLiveAlertEvidenceFromThePacketRing() throws {
        let lab = try makeLab(pairs: 1)
        let offline = work.appendingPathComponent("offline.pcap")
        let r = Process()
        r.executableURL = CLITests.binary
        r.arguments = ["read", "-q", "--no-inventory", "--alert-pcap", offline.path, "-o", "/dev/null", fixture.path]
        try r.run(); r.waitUntilExit()
        let expected = try XCTUnwrap(frames(offline))
        XCTAssertGreaterThan(expected.count, 50, "the fixture's alerted flows")

        let dir = work.appendingPathComponent("evidence")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        chmod(dir.path, 0o777)
        let out = work.appendingPathComponent("eve.json")
        let (p, err) = try startSensor(lab, ["-i", lab.mirror[0], "--stats-interval", "0", "--no-inventory", "--user", "nobody",
                                             "--alert-pcap", dir.path], output: out)
        XCTAssertEqual(replay(lab, fixture, on: lab.src[0]), 0)
        Thread.sleep(forTimeInterval: 1.5)
        let stderr = stop(p, err)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        let alerted = Set(events(out).filter { $0["event_type"] as? String == "alert" }.compactMap { ($0["flow_id"] as? NSNumber)?.uint64Value })
        XCTAssertFalse(alerted.isEmpty, stderr)
        XCTAssertEqual(Set(files), Set(alerted.map { "flow-\($0).pcap" }), "one pcap per alerted flow, named by its flow_id, nothing else left")
        var all: [String] = []
        for f in files {
            let got = try XCTUnwrap(frames(dir.appendingPathComponent(f)), f)
            // In the order of the file read offline (a subsequence of it).
            var k = expected.startIndex
            for frame in got {
                guard let at = expected[k...].firstIndex(of: frame) else { XCTFail("\(f): a frame out of order or not in the flow"); break }
                k = at + 1
            }
            all += got
        }
        XCTAssertEqual(all.sorted(), expected.sorted(), "every frame of every alerted flow, handshakes included: \(stderr)")
        XCTAssertTrue(stderr.contains("alert evidence: \(files.count) pcaps (\(expected.count) packets)"), stderr)
        XCTAssertFalse(stderr.contains("packets of"), "no line of `read`'s evidence: \(stderr)")
    }

    /// A flow that alerts and never ends (a Modbus session open for days): its file is
    /// finished, so visible, `--alert-flow-seconds` after it started, while the sensor runs.
    func testEvidenceOfAFlowThatStaysOpenIsFinishedWhileTheSensorRuns() throws {
        let lab = try makeLab(pairs: 1)
        let sweep = TestPaths.fixtures.appendingPathComponent("detect-modbus-attack-fc-sweep.pcap")
        let dir = work.appendingPathComponent("evidence")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        chmod(dir.path, 0o777)
        let out = work.appendingPathComponent("eve.json")
        let (p, err) = try startSensor(lab, ["-i", lab.mirror[0], "--stats-interval", "0", "--no-inventory", "--user", "nobody",
                                             "--alert-pcap", dir.path, "--alert-flow-seconds", "1"], output: out)
        XCTAssertEqual(replay(lab, sweep, on: lab.src[0], pps: 1000), 0)
        var files: [String] = []
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && files.isEmpty {
            files = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { !$0.hasPrefix(".") }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertTrue(p.isRunning)
        XCTAssertEqual(files.count, 1, "the sweep's flow (no FIN in the capture), finished while it is still open")
        if let f = files.first { XCTAssertGreaterThan(frames(dir.appendingPathComponent(f))?.count ?? 0, 10) }
        _ = stop(p, err)
        let after = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(after, files, "nothing hidden or temporary left")
    }

    /// `live --write-pcap DIR`: a rolling capture of every packet, a new file per
    /// `--rotate-megabytes`, at most `--rotate-files` kept (the oldest overwritten).
    func testRollingCaptureRotatesAndKeepsTheNewestFiles() throws {
        let lab = try makeLab(pairs: 1)
        let dir = work.appendingPathComponent("rolling")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        chmod(dir.path, 0o777)
        let out = work.appendingPathComponent("eve.json")
        let (p, err) = try startSensor(lab, ["-i", lab.mirror[0], "--stats-interval", "0", "--no-inventory", "--no-flow-events", "--eve-types", "stats",
                                             "--user", "nobody", "--write-pcap", dir.path, "--rotate-megabytes", "1", "--rotate-files", "3"], output: out)
        // About 4.5 MiB of frames and record headers: at least 5 files started.
        XCTAssertEqual(sh(["ip", "netns", "exec", lab.source, "tcpreplay", "-q", "-i", lab.src[0], "--pps", "40000", "--loop", "400", fixture.path]), 0)
        Thread.sleep(forTimeInterval: 1.5)
        let stderr = stop(p, err)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(files, ["capture-0.pcap", "capture-1.pcap", "capture-2.pcap"], "three kept: \(stderr)")
        var recorded = 0
        for f in files {
            let url = dir.appendingPathComponent(f)
            let frames = try XCTUnwrap(self.frames(url), "\(f) is a pcap")
            XCTAssertFalse(frames.isEmpty)
            recorded += frames.count
            let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
            XCTAssertLessThanOrEqual(size, 1 << 20, "\(f): at most --rotate-megabytes")
        }
        let stats = events(out).last { $0["event_type"] as? String == "stats" }
        let analysed = ((stats?["stats"] as? [String: Any])?["decoder"] as? [String: Any])?["pkts"] as? Int ?? 0
        let summary = try XCTUnwrap(stderr.split(separator: "\n").first { $0.contains("recorded: ") }, stderr)
        let words = summary.split(separator: " ")
        let total = Int(words[1]) ?? -1, opened = Int(words[4]) ?? -1
        XCTAssertEqual(total, analysed, "every analysed packet recorded: \(summary)")
        XCTAssertGreaterThanOrEqual(opened, 5, "rotated past the three kept: \(summary)")
        XCTAssertLessThan(recorded, total, "the oldest files were overwritten")

        // Restarted, it goes on after the newest file (overwriting the oldest, not the newest).
        let dates = try files.map { try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent($0).path)[.modificationDate] as? Date ?? .distantPast }
        let newest = files[dates.indices.max { dates[$0] < dates[$1] }!]
        let next = "capture-\((Int(newest.dropFirst(8).dropLast(5))! + 1) % 3).pcap"
        let before = try Dictionary(uniqueKeysWithValues: files.map { ($0, try Data(contentsOf: dir.appendingPathComponent($0))) })
        let (q, qerr) = try startSensor(lab, ["-i", lab.mirror[0], "--stats-interval", "0", "--no-inventory", "--no-flow-events", "--eve-types", "stats",
                                              "--user", "nobody", "--write-pcap", dir.path, "--rotate-megabytes", "1", "--rotate-files", "3"], output: out)
        XCTAssertEqual(replay(lab, fixture, on: lab.src[0]), 0)
        Thread.sleep(forTimeInterval: 1.5)
        _ = stop(q, qerr)
        for f in files {
            let now = try Data(contentsOf: dir.appendingPathComponent(f))
            if f == next { XCTAssertNotEqual(now, before[f], "\(f), after the newest \(newest), takes the new packets") }
            else { XCTAssertEqual(now, before[f], "\(f) kept") }
        }
        XCTAssertEqual(frames(dir.appendingPathComponent(next))?.count, 116, "one replay's TCP packets")
    }

    /// `--metrics-port`: the counters as Prometheus metrics on the sensor's loopback, scraped
    /// from inside its namespace while it runs.
    func testPrometheusMetricsOnLoopback() throws {
        let lab = try makeLab(pairs: 1)
        let out = work.appendingPathComponent("eve.json")
        let (p, err) = try startSensor(lab, ["-i", lab.mirror[0], "--stats-interval", "0", "--no-inventory", "--user", "nobody", "--metrics-port", "0"], output: out)
        let said = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        let port = try XCTUnwrap(said.split(separator: "\n").first { $0.hasPrefix("spansight: metrics on http://127.0.0.1:") }
            .flatMap { Int($0.split(separator: ":").last?.split(separator: "/").first ?? "") }, said)
        XCTAssertEqual(replay(lab, fixture, on: lab.src[0]), 0)
        Thread.sleep(forTimeInterval: 1.5)
        func scrape(_ path: String) -> (Int, String) {
            let q = Process()
            q.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            q.arguments = ["ip", "netns", "exec", lab.sensor, "python3", "-c", """
                import sys, urllib.request, urllib.error
                try:
                    r = urllib.request.urlopen("http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2]), timeout=5)
                    print(r.status); print(r.read().decode())
                except urllib.error.HTTPError as e:
                    print(e.code)
                """, "\(port)", path]
            let pipe = Pipe()
            q.standardOutput = pipe
            try? q.run()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            q.waitUntilExit()
            let lines = text.split(separator: "\n", maxSplits: 1)
            return (Int(lines.first ?? "") ?? -1, lines.count > 1 ? String(lines[1]) : "")
        }
        let (status, body) = scrape("/metrics")
        XCTAssertEqual(status, 200)
        let samples = Dictionary(body.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { line -> (String, Double)? in
            let parts = line.split(separator: " ")
            return parts.count == 2 ? (String(parts[0]), Double(parts[1]) ?? -1) : nil
        }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(samples["spansight_packets_total"], 116, "the replay's TCP packets: \(body)")
        XCTAssertEqual(samples["spansight_flows_total"], 3)
        XCTAssertEqual(samples["spansight_kernel_packets_total{interface=\"\(lab.mirror[0])\"}"], 116)
        XCTAssertEqual(samples["spansight_kernel_drops_total{interface=\"\(lab.mirror[0])\"}"], 0)
        XCTAssertNotNil(samples["spansight_memory_bytes{kind=\"flows\"}"])
        XCTAssertTrue(body.contains("# TYPE spansight_packets_total counter"), body)
        XCTAssertEqual(scrape("/other").0, 404)
        _ = stop(p, err)
    }

    /// Detection's lasting state, the alert risk of each asset, is saved with the inventory:
    /// the next run (or a restarted sensor) starts from it, and a run without detection
    /// leaves it as it was.
    func testAlertRiskIsKeptInTheStoreAcrossRuns() throws {
        let assets = work.appendingPathComponent("assets.json")
        func run(_ db: URL, _ args: [String]) throws {
            let p = Process()
            p.executableURL = CLITests.binary
            p.arguments = ["read", "-q", "--no-flow-events", "-o", "/dev/null", "--db", db.path, "--assets", assets.path] + args
            try p.run(); p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, "\(args)")
        }
        /// The PLC's "N alerts, highest risk R" reason, as (N, R).
        func plcAlerts() throws -> (Int, Int)? {
            let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: assets)) as? [String: Any]
            let list = doc?["assets"] as? [[String: Any]] ?? []
            let plc = list.first { (($0["addresses"] as? [[String: Any]]) ?? []).contains { $0["ip"] as? String == "10.77.0.20" } }
            guard let r = (plc?["risk_reasons"] as? [String])?.first(where: { $0.contains(" alerts, highest risk ") }) else { return nil }
            let words = r.split(separator: " ")
            return (Int(words[0]) ?? -1, Int(words.last ?? "") ?? -1)
        }
        let attack = TestPaths.fixtures.appendingPathComponent("detect-modbus-attack-laptop.pcap").path
        let normal = TestPaths.fixtures.appendingPathComponent("detect-modbus-normal.pcap").path
        // Each capture alone, each into a store of its own.
        try run(work.appendingPathComponent("a.db"), ["--alerts", attack])
        let a = try XCTUnwrap(try plcAlerts(), "the attack alerts about the PLC")
        try run(work.appendingPathComponent("b.db"), ["--alerts", normal])
        let b = try plcAlerts() ?? (0, 0)
        // One store: the attack, a run without detection, then the normal capture.
        let db = work.appendingPathComponent("risk.db")
        try run(db, ["--alerts", attack])
        try run(db, [normal])
        try run(db, ["--alerts", normal])
        let both = try XCTUnwrap(try plcAlerts())
        XCTAssertEqual(both.0, a.0 + b.0, "the attack's alerts carried over two runs, one without detection")
        XCTAssertEqual(both.1, max(a.1, b.1), "the highest risk is the highest of both")
    }

    /// `--config FILE` gives the same run as its options on the command line; the command
    /// line wins; a bad file is one error line.
    func testConfigFileOptions() throws {
        let config = work.appendingPathComponent("sensor.yaml")
        try """
            # a sensor's settings
            interface: [lo]
            filter: "host 192.0.2.77 and tcp port 5999"
            duration: 30
            stats-interval: 1
            immediate: true
            no-promiscuous: false
            user: root
            sensor-name: yes
            eve-types: -modbus
            """.write(to: config, atomically: true, encoding: .utf8)
        guard getuid() == 0 else { throw XCTSkip("live capture on lo needs root: skipped") }
        let out = work.appendingPathComponent("eve.json")
        let p = Process()
        p.executableURL = CLITests.binary
        // The command line's --duration replaces the file's.
        p.arguments = ["live", "--config", config.path, "--duration", "2", "-o", out.path, "-q"]
        let pipe = Pipe()
        p.standardError = pipe
        try p.run()
        let stderr = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(p.waitUntilExit(within: 15), "--duration 2 from the command line")
        XCTAssertEqual(p.terminationStatus, 0, stderr)
        let stats = events(out).filter { $0["event_type"] as? String == "stats" }
        XCTAssertGreaterThanOrEqual(stats.count, 2, "stats-interval 1 from the file")
        XCTAssertEqual(Set(stats.compactMap { $0["host"] as? String }), ["yes"], "YAML 1.1's yes is a value, not a flag")
        XCTAssertEqual(Set(stats.compactMap { $0["in_iface"] as? String }), ["lo"])

        for (text, message) in [("interface: [lo\n", "not YAML"), ("- lo\n", "must be a mapping"),
                                ("interface:\n  name: lo\n", "takes a value or a list of values"),
                                ("user: a\nuser: b\n", "duplicated key")] {
            try text.write(to: config, atomically: true, encoding: .utf8)
            let bad = Process()
            bad.executableURL = CLITests.binary
            bad.arguments = ["live", "--config", config.path]
            let e = Pipe()
            bad.standardError = e
            bad.standardOutput = FileHandle.nullDevice
            try bad.run()
            let said = String(decoding: e.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            bad.waitUntilExit()
            XCTAssertEqual(bad.terminationStatus, 1, text)
            XCTAssertEqual(said.split(separator: "\n").count, 1, "one line: \(said)")
            XCTAssertTrue(said.hasPrefix("spansight: error: --config \(config.path): ") && said.contains(message), said)
        }
    }
}

private extension Int32 {
    func hup() { kill(self, SIGHUP) }
}

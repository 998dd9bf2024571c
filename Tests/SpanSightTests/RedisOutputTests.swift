import Foundation
import SpanSightTestSupport
import XCTest

/// A real redis-server (Debian's) on loopback: a free port, a temporary directory, an
/// append-only file synced on every write (so a restart keeps what it confirmed), optionally
/// inside a network namespace the test made. Stopped by `stop` (SIGTERM, a clean shutdown).
final class RedisServer {
    let port: Int
    let directory: URL
    let namespace: String?
    private var process: Process?

    static var installed: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server") && FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-cli") }

    /// `port` nil: in a fresh namespace any port is free (6379); on the host, one the kernel
    /// just handed out.
    init(namespace: String? = nil, onPort port: Int? = nil) throws {
        guard Self.installed else { throw XCTSkip("redis-server is not installed (scripts/install-deps.sh installs it): skipped") }
        self.namespace = namespace
        self.port = port ?? (namespace == nil ? Self.freePort() : 6379)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("spansight-redis-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private var prefix: [String] { namespace.map { ["ip", "netns", "exec", $0] } ?? [] }

    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = prefix + ["redis-server", "--port", "\(port)", "--bind", "127.0.0.1", "--dir", directory.path,
                                "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                                "--logfile", directory.appendingPathComponent("redis.log").path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let limit = Date().addingTimeInterval(10)
        while Date() < limit {
            if cli(["PING"]).trimmingCharacters(in: .whitespacesAndNewlines) == "PONG" { return }
            usleep(50_000)
        }
        XCTFail("redis-server did not answer on port \(port)")
    }

    func stop() {
        guard let p = process, p.isRunning else { return }
        p.terminate()
        _ = p.waitUntilExit(within: 10)
        process = nil
    }

    /// redis-cli's raw answer to one command (one value per line).
    func cli(_ args: [String]) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = prefix + ["redis-cli", "-p", "\(port)", "--raw"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return "" }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    func lines(_ args: [String]) -> [String] { cli(args).split(separator: "\n").map(String.init) }
    func length(_ command: String, _ key: String) -> Int { Int(cli([command, key]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 }
    /// A list's elements, head first.
    func list(_ key: String) -> [String] { lines(["LRANGE", key, "0", "-1"]) }
    /// A stream's values of `field`, oldest first (XRANGE prints id, field, value per entry).
    func stream(_ key: String, field: String = "eve") -> [String] {
        let l = lines(["XRANGE", key, "-", "+"])
        return stride(from: 0, to: l.count - 2, by: 3).compactMap { l[$0 + 1] == field ? l[$0 + 2] : nil }
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// `--output redis://...` (issue 21) against a real redis-server: every Suricata mode carries
/// exactly the events the file gets, a server that is absent, late or restarted loses nothing
/// within the buffer, and what is beyond it is counted.
final class RedisOutputTests: XCTestCase {
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("spansight-redis-tests-\(getpid())")

    override func setUpWithError() throws {
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        chmod(work.path, 0o777)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: work) }

    struct Run { var status: Int32; var stderr: String }

    /// `spansight ARGS` with standard output discarded.
    func spansight(_ args: [String]) throws -> Run {
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = args
        p.environment = ["TZ": "UTC", "LC_ALL": "C", "PATH": "/usr/bin:/bin"]
        let err = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stderr: String(decoding: data, as: UTF8.self))
    }

    func fileLines(_ url: URL) -> [String] {
        ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func fixture(_ name: String) -> String { TestPaths.fixtures.appendingPathComponent(name).path }

    /// Where two event lists first differ (nil when equal): short enough to read in a failure.
    func firstMismatch(_ got: [String], _ want: [String]) -> String? {
        if let i = (0..<min(got.count, want.count)).first(where: { got[$0] != want[$0] }) { return "event \(i) differs: \(got[i].prefix(300)) vs \(want[i].prefix(300))" }
        return got.count == want.count ? nil : "\(got.count) events, expected \(want.count)"
    }

    /// The summary's counters for a target: (sent, dropped, rejected, reconnects).
    func summary(_ stderr: String, _ label: String) -> (Int, Int, Int, Int)? {
        guard let line = stderr.split(separator: "\n").first(where: { $0.contains("redis \(label): sent") }) else { return nil }
        let n = line.split(whereSeparator: { !$0.isNumber }).suffix(4).compactMap { Int($0) }
        return n.count == 4 ? (n[0], n[1], n[2], n[3]) : nil
    }

    /// The subscriber of a channel: redis-cli SUBSCRIBE, its raw output in a file.
    func subscribe(_ redis: RedisServer, _ channel: String) throws -> (Process, URL) {
        let out = work.appendingPathComponent("sub-\(channel).txt")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        p.arguments = ["-p", "\(redis.port)", "--raw", "SUBSCRIBE", channel]
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = FileHandle.nullDevice
        try p.run()
        addTeardownBlock { if p.isRunning { p.terminate() } }
        let limit = Date().addingTimeInterval(10)
        while Date() < limit, redis.lines(["PUBSUB", "NUMSUB", channel]).last != "1" { usleep(20_000) }
        XCTAssertEqual(redis.lines(["PUBSUB", "NUMSUB", channel]).last, "1", "the subscriber never subscribed")
        return (p, out)
    }

    /// Every mode carries the file's events, one each, unchanged: LPUSH (newest at the head),
    /// RPUSH and XADD in order, PUBLISH to a subscriber; the file is the same with Redis beside
    /// it as without, and the stats event counts each target.
    func testEveryModeCarriesExactlyTheFilesEvents() throws {
        let redis = try RedisServer()
        let (sub, subOut) = try subscribe(redis, "ch")
        let plain = work.appendingPathComponent("plain.json"), both = work.appendingPathComponent("both.json")
        let input = fixture("detect-modbus-normal.pcap")
        XCTAssertEqual(try spansight(["read", "-q", "-o", plain.path, input]).status, 0)
        let base = "redis://127.0.0.1:\(redis.port)"
        let r = try spansight(["read", "-o", both.path, "-o", "\(base)/ev", "-o", "\(base)/r?mode=rpush", "-o", "\(base)/ch?mode=channel",
                               "-o", "\(base)/st?mode=stream", "-o", "\(base)/trim?mode=xadd&maxlen=10", input])
        XCTAssertEqual(r.status, 0, r.stderr)
        let events = fileLines(both), alone = fileLines(plain)
        XCTAssertGreaterThan(events.count, 200)
        // Beside Redis the file is the same but for the last stats event, which counts the targets.
        XCTAssertEqual(events.count, alone.count)
        XCTAssertNil(firstMismatch(Array(events.dropLast()), Array(alone.dropLast())), "a Redis output beside the file changes nothing else in it")
        var lastStats = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(events.last!.utf8)) as? [String: Any])
        var counters = try XCTUnwrap(lastStats["stats"] as? [String: Any])
        counters["output"] = nil
        lastStats["stats"] = counters
        XCTAssertEqual(lastStats as NSDictionary, try JSONSerialization.jsonObject(with: Data(alone.last!.utf8)) as? NSDictionary)
        XCTAssertNil(firstMismatch(Array(redis.list("ev").reversed()), events), "LPUSH: the newest event at the head")
        XCTAssertNil(firstMismatch(redis.list("r"), events), "RPUSH: in order")
        XCTAssertNil(firstMismatch(redis.stream("st"), events), "XADD: in order, the event in the field eve")
        let trimmed = redis.length("XLEN", "trim")
        XCTAssertTrue(trimmed >= 10 && trimmed < events.count, "MAXLEN ~ 10 trims the stream (approximately): \(trimmed) entries")
        let limit = Date().addingTimeInterval(10)
        var published: [String] = []
        while Date() < limit {
            // redis-cli prints each message as: message, channel, payload.
            let l = fileLines(subOut)
            published = stride(from: 0, to: max(0, l.count - 2), by: 1).compactMap { l[$0] == "message" && l[$0 + 1] == "ch" ? l[$0 + 2] : nil }
            if published.count >= events.count { break }
            usleep(50_000)
        }
        sub.terminate()
        XCTAssertNil(firstMismatch(published, events), "PUBLISH: every event to the subscriber, in order")
        for label in ["ev", "r", "ch", "st", "trim"] {
            let c = summary(r.stderr, "127.0.0.1:\(redis.port)/\(label)")
            XCTAssertEqual(c?.0, events.count, "summary of \(label): \(r.stderr)")
            XCTAssertEqual(c?.1, 0)
        }
        // The final stats event (the last line) names every target.
        let stats = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(events.last!.utf8)) as? [String: Any])
        let targets = try XCTUnwrap(((stats["stats"] as? [String: Any])?["output"] as? [String: Any])?["redis"] as? [String: Any])
        XCTAssertEqual(Set(targets.keys), Set(["ev", "r", "ch", "st", "trim"].map { "127.0.0.1:\(redis.port)/\($0)" }))
        // Written before the run's last flush, it counts what was handed on until then (here
        // nothing: the fixture's events fit in one flush), with every counter present.
        for case let t as [String: Any] in targets.values {
            XCTAssertEqual(Set(t.keys), ["sent", "dropped", "rejected", "pending", "pending_bytes", "reconnects", "connected"])
            XCTAssertEqual(t["dropped"] as? Int, 0)
            XCTAssertEqual(t["rejected"] as? Int, 0)
        }
    }

    /// No server: the run analyses everything, writes the file, and counts every event as
    /// dropped (a warning, the summary, one error line, exit 1); a buffer smaller than the events
    /// drops them as it fills.
    func testAnAbsentServerIsCountedNotFatal() throws {
        let port = RedisServer.freePort()
        let file = work.appendingPathComponent("alone.json")
        // Several MiB of events, so the 64 KiB buffer fills before the end and the last stats
        // event (written before the final flush) already counts drops.
        let big = work.appendingPathComponent("big.pcap")
        XCTAssertEqual(try spansight(["synth", "--packets", "20000", big.path]).status, 0)
        let inputs = [big.path] + ["dnp3-opendnp3.pcap", "hl7-mllp-python-hl7.pcap", "dicom-pynetdicom.pcap"].map(fixture)
        let r = try spansight(["read", "-o", file.path, "-o", "redis://127.0.0.1:\(port)/ev?buffer=64K&drain=0.5"] + inputs)
        XCTAssertEqual(r.status, 1, r.stderr)
        let events = fileLines(file).count
        XCTAssertGreaterThan(events, 5000)
        let c = try XCTUnwrap(summary(r.stderr, "127.0.0.1:\(port)/ev"), r.stderr)
        XCTAssertEqual(c.0, 0)
        XCTAssertEqual(c.1, events, "every event counted as dropped")
        XCTAssertTrue(r.stderr.contains("cannot connect"), r.stderr)
        XCTAssertTrue(r.stderr.contains("the buffer of 64 KiB is full (the server is unreachable)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("spansight: error: redis 127.0.0.1:\(port)/ev: \(events) of \(events) events not delivered"), r.stderr)
        // The final stats event counts the drops so far (those of the full buffer).
        let last = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(fileLines(file).last!.utf8)) as? [String: Any])
        let t = try XCTUnwrap((((last["stats"] as? [String: Any])?["output"] as? [String: Any])?["redis"] as? [String: Any])?["127.0.0.1:\(port)/ev"] as? [String: Any])
        XCTAssertGreaterThan(t["dropped"] as? Int ?? 0, 0)
        XCTAssertEqual(t["connected"] as? Bool, false)
    }

    /// A bad Redis URL is a usage error that names the URL without its password.
    func testABadURLNeverShowsThePassword() throws {
        let r = try spansight(["read", "-o", "redis://user:hunter2@127.0.0.1:0/ev", fixture("modbus-pymodbus.pcap")])
        XCTAssertEqual(r.status, 64, r.stderr)
        XCTAssertFalse(r.stderr.contains("hunter2"), r.stderr)
        XCTAssertTrue(r.stderr.contains("redis://user:***@127.0.0.1:0/ev"), r.stderr)
    }

    /// A server that comes up after the run started receives everything the buffer held.
    func testALateServerReceivesTheBufferedEvents() throws {
        let port = RedisServer.freePort()
        let file = work.appendingPathComponent("late.json")
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = ["read", "-q", "-o", file.path, "-o", "redis://127.0.0.1:\(port)/ev?drain=30", fixture("detect-modbus-normal.pcap")]
        p.standardError = FileHandle.nullDevice
        try p.run()
        Thread.sleep(forTimeInterval: 1.0)
        XCTAssertTrue(p.isRunning, "the run waits for the server within the drain deadline")
        let redis = try RedisServer(onPort: port)
        XCTAssertTrue(p.waitUntilExit(within: 30))
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(Array(redis.list("ev").reversed()), fileLines(file))
    }

    /// `live` with Redis restarted in the middle (issue 21): in the sensor's namespace a
    /// redis-server on its loopback; the fixture is played, the server stopped, another capture
    /// played while it is down, the server started again from its append-only file. Every
    /// event the file holds reaches Redis (at least once: one whose reply was lost with the
    /// connection may be there twice), none that the file lacks, nothing dropped.
    func testLiveSensorLosesNothingWhenRedisRestarts() throws {
        let lab = try NetworkLab(pairs: 1)
        defer { lab.remove() }
        let redis = try RedisServer(namespace: lab.sensor)
        let file = work.appendingPathComponent("live.json")
        let err = work.appendingPathComponent("live.err")
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ip", "netns", "exec", lab.sensor, CLITests.binary.path, "live", "-i", lab.mirror[0],
                       "--filter", "tcp port 502", "--no-inventory", "--flush-interval", "1", "--stats-interval", "0", "--duration", "120",
                       "-o", file.path, "-o", "redis://127.0.0.1:\(redis.port)/ev?mode=rpush&drain=20"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        addTeardownBlock { if p.isRunning { p.terminate() } }
        XCTAssertTrue(ProcessReadiness.waitForStopHandlers(p.processIdentifier, also: [SIGHUP]), "the sensor never became ready")
        let fixture = TestPaths.fixtures.appendingPathComponent("modbus-pymodbus.pcap")
        XCTAssertEqual(lab.replay(fixture), 0)
        func waitUntil(_ limit: Double, _ done: () -> Bool) -> Bool {
            let end = Date().addingTimeInterval(limit)
            while Date() < end { if done() { return true }; usleep(100_000) }
            return done()
        }
        XCTAssertTrue(waitUntil(20) { let n = fileLines(file).count; return n > 40 && redis.length("LLEN", "ev") == n }, "the first replay reaches the file and Redis")
        let first = fileLines(file).count
        redis.stop()
        // Other conversations (a replay of the same one would be retransmissions: no events).
        XCTAssertEqual(lab.replay(TestPaths.fixtures.appendingPathComponent("detect-modbus-normal.pcap"), pps: 1000), 0)
        XCTAssertTrue(waitUntil(20) { fileLines(file).count > first + 100 }, "the second replay reaches the file while Redis is down")
        Thread.sleep(forTimeInterval: 1.5)
        try redis.start()
        XCTAssertTrue(waitUntil(30) { Set(redis.list("ev")).count >= fileLines(file).count }, "the buffered events reach Redis after the restart")
        p.interrupt()
        XCTAssertTrue(p.waitUntilExit(within: 30))
        let stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationStatus, 0, stderr)
        let events = fileLines(file), stored = redis.list("ev")
        XCTAssertEqual(Set(stored), Set(events), "the same events in Redis as in the file")
        XCTAssertGreaterThanOrEqual(stored.count, events.count)
        XCTAssertLessThanOrEqual(stored.count - events.count, 512, "duplicates only from one pipelined batch whose replies were lost")
        let c = try XCTUnwrap(summary(stderr, "127.0.0.1:\(redis.port)/ev"), stderr)
        XCTAssertEqual(c.1, 0, "nothing dropped: \(stderr)")
        XCTAssertGreaterThanOrEqual(c.3, 1, "a reconnect: \(stderr)")
        XCTAssertTrue(stderr.contains("connected again"), stderr)
    }
}

import Foundation
import SpanSightTestSupport
import XCTest

/// A real PostgreSQL server (Debian's) for the test: a cluster made by initdb in a temporary
/// directory (as the `postgres` user when the tests run as root, since PostgreSQL refuses
/// root), trust authentication for the user `spansight`, listening on 127.0.0.1 only at a
/// free port, optionally inside a network namespace the test made. `stop` is a fast shutdown.
final class PostgresServer {
    let port: Int
    let directory: URL
    let namespace: String?
    let bin: URL
    private var process: Process?

    static var binDirectory: URL? {
        let root = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).compactMap(Int.init).sorted()
        guard let v = versions.last else { return nil }
        let bin = root.appendingPathComponent("\(v)/bin")
        return FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path) ? bin : nil
    }

    var url: String { "postgresql://spansight@127.0.0.1:\(port)/postgres" }
    var data: String { directory.appendingPathComponent("data").path }

    init(namespace: String? = nil) throws {
        guard let bin = Self.binDirectory, FileManager.default.isExecutableFile(atPath: "/usr/bin/psql") else {
            throw XCTSkip("PostgreSQL is not installed (scripts/install-deps.sh installs postgresql): skipped")
        }
        self.bin = bin
        self.namespace = namespace
        port = namespace == nil ? RedisServer.freePort() : 5432
        directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("spansight-pg-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if getuid() == 0 {
            guard let pw = getpwnam("postgres") else { throw XCTSkip("running as root without a postgres user to run the server as: skipped") }
            chown(directory.path, pw.pointee.pw_uid, pw.pointee.pw_gid)
        }
        let initdb = launch(["\(bin.path)/initdb", "-D", data, "-U", "spansight", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        initdb.waitUntilExit()
        guard initdb.terminationStatus == 0 else { throw XCTSkip("initdb failed (status \(initdb.terminationStatus)): skipped") }
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Starts a command as the server's user (setpriv execs it: no process in between, so a
    /// signal to the Process reaches the server), in the namespace when there is one.
    func launch(_ command: [String]) -> Process {
        var args = command
        if getuid() == 0 { args = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] + args }
        if let namespace { args = ["ip", "netns", "exec", namespace] + args }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.currentDirectoryURL = directory
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try? p.run()
        return p
    }

    /// The server in the foreground, its log in the directory; ready when psql gets an answer.
    func start() throws {
        let p = launch(["\(bin.path)/postgres", "-D", data, "-p", "\(port)", "-k", directory.path, "-c", "listen_addresses=127.0.0.1",
                        "-c", "fsync=off", "-c", "max_connections=50", "-c", "logging_collector=off"])
        process = p
        let limit = Date().addingTimeInterval(30)
        while Date() < limit {
            if query("SELECT 1") == ["1"] { return }
            guard p.isRunning else { break }
            usleep(100_000)
        }
        throw XCTSkip("the PostgreSQL server did not start: skipped")
    }

    /// A fast shutdown (SIGINT): sessions are ended, the data kept.
    func stop() {
        guard let p = process, p.isRunning else { return }
        p.interrupt()
        _ = p.waitUntilExit(within: 30)
        process = nil
    }

    /// psql's unaligned answer, one row a line, columns separated by `|`.
    func query(_ sql: String) -> [String] {
        var args = ["psql", "-X", "-q", "-At", "-h", "127.0.0.1", "-p", "\(port)", "-U", "spansight", "-d", "postgres", "-c", sql]
        if let namespace { args = ["ip", "netns", "exec", namespace] + args }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.environment = ["PGCONNECT_TIMEOUT": "5", "PATH": "/usr/bin:/bin"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return [] }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

/// The fleet store (issue 21) on a real PostgreSQL: sensors writing at once lose nothing,
/// sites keep overlapping address plans apart, a server that goes away is caught up.
final class PostgresStoreTests: XCTestCase {
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("spansight-pg-tests-\(getpid())")

    override func setUpWithError() throws {
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        chmod(work.path, 0o777)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: work) }

    func spansight(_ args: [String], in namespace: String? = nil) throws -> ToolProcess.Result { try ToolProcess.run(args, in: namespace) }
    func start(_ args: [String], quiet: Bool) throws -> (process: Process, out: Pipe, err: Pipe) { try ToolProcess.start(args, quiet: quiet) }

    func fixture(_ name: String) -> String { TestPaths.fixtures.appendingPathComponent(name).path }

    /// Packets per asset id of a successful `assets ... --format json`.
    func packets(_ r: ToolProcess.Result) throws -> [String: Int] {
        XCTAssertEqual(r.status, 0, r.stderr)
        return ToolProcess.packets(r.stdout)
    }

    /// Four sensors (`--sensor-name`) replay different captures at once into one PostgreSQL
    /// site and one Redis list. The site holds every host once with the sum of what each
    /// sensor saw, a sighting per sensor, every run; Redis holds every sensor's events.
    func testFourSensorsAtOnceIntoOnePostgresAndOneRedis() throws {
        let pg = try PostgresServer()
        let redis = try RedisServer()
        let big = work.appendingPathComponent("big.pcap")
        XCTAssertEqual(try spansight(["synth", "--packets", "20000", big.path]).status, 0)
        let inputs = [[big.path, fixture("modbus-pymodbus.pcap")], [big.path, fixture("dnp3-opendnp3.pcap")],
                      [big.path, fixture("dicom-pynetdicom.pcap")], [big.path, fixture("hl7-mllp-python-hl7.pcap")]]
        var alone: [String: Int] = [:]
        for (n, files) in inputs.enumerated() {
            let db = work.appendingPathComponent("alone-\(n).sqlite").path
            XCTAssertEqual(try spansight(["read", "-q", "-o", "/dev/null", "--db", db] + files).status, 0)
            alone.merge(try packets(try spansight(["assets", "--db", db, "--format", "json"])), uniquingKeysWith: +)
        }
        let runs = try inputs.enumerated().map { n, files in
            try start(["read", "--db", pg.url, "--site", "plant", "--sensor-name", "sensor-\(n)",
                       "-o", "redis://127.0.0.1:\(redis.port)/fleet?mode=rpush"] + files, quiet: true)
        }
        var events = 0
        for r in runs {
            let err = String(decoding: r.err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            r.process.waitUntilExit()
            XCTAssertEqual(r.process.terminationStatus, 0, err)
            // The summary's "redis HOST:PORT/fleet: sent N, dropped 0, ...".
            let line = err.split(separator: "\n").first { $0.contains("redis 127.0.0.1") && $0.contains(": sent ") }
            let sent = line.flatMap { $0.range(of: ": sent ").map { $0.upperBound } }.map { line![$0...].prefix { $0.isNumber } }
            XCTAssertNotNil(sent, err)
            events += Int(sent ?? "") ?? 0
        }
        XCTAssertEqual(try packets(try spansight(["assets", "--db", pg.url, "--site", "plant", "--format", "json"])), alone,
                       "every sensor's packets, per asset")
        XCTAssertEqual(pg.query("SELECT count(*) FROM runs WHERE site = 'plant'"), ["4"])
        XCTAssertEqual(pg.query("SELECT sensor FROM sightings WHERE site = 'plant' AND ip = '10.77.0.20' ORDER BY sensor"),
                       (0..<4).map { "sensor-\($0)" }, "the lab PLC's sighting by each sensor")
        XCTAssertEqual(pg.query("SELECT count(*) FROM (SELECT ip FROM hosts WHERE site = 'plant' GROUP BY ip HAVING count(*) > 1) d"), ["0"])
        XCTAssertGreaterThan(events, 4 * 1000)
        XCTAssertEqual(redis.length("LLEN", "fleet"), events, "every sensor's events in the one list")
        // The roles each sensor's protocol gave the lab PLC are all there.
        let roles = Set(pg.query("SELECT role FROM roles WHERE site = 'plant' AND ip = '10.77.0.20'"))
        XCTAssertTrue(["modbus.server", "dnp3.outstation", "dicom.scp", "hl7.receiver"].allSatisfy(roles.contains), "\(roles)")
    }

    /// Two sites that use the same addresses: each site's inventory has only its own traffic.
    func testTwoSitesWithTheSameAddressesStayApart() throws {
        let pg = try PostgresServer()
        XCTAssertEqual(try spansight(["read", "-q", "-o", "/dev/null", "--db", pg.url, "--site", "plant-a", fixture("modbus-pymodbus.pcap")]).status, 0)
        XCTAssertEqual(try spansight(["read", "-q", "-o", "/dev/null", "--db", pg.url, "--site", "hospital-b", fixture("dicom-pynetdicom.pcap")]).status, 0)
        XCTAssertEqual(pg.query("SELECT site, role FROM roles WHERE ip = '10.77.0.20' ORDER BY site, role"),
                       ["hospital-b|dicom.scp", "plant-a|modbus.server"])
        let a = try spansight(["assets", "--db", pg.url, "--site", "plant-a", "--format", "json"])
        let b = try spansight(["assets", "--db", pg.url, "--site", "hospital-b", "--format", "json"])
        let aText = String(decoding: a.stdout, as: UTF8.self), bText = String(decoding: b.stdout, as: UTF8.self)
        XCTAssertTrue(aText.contains("modbus.server") && !aText.contains("dicom"), aText)
        XCTAssertTrue(bText.contains("dicom.scp") && !bText.contains("modbus"), bText)
        XCTAssertEqual(try packets(a).values.reduce(0, +), try packets(try spansight(["assets", "--format", "json", fixture("modbus-pymodbus.pcap")])).values.reduce(0, +))
        // A SQLite store keeps sites apart the same way.
        let file = work.appendingPathComponent("sites.sqlite").path
        XCTAssertEqual(try spansight(["read", "-q", "-o", "/dev/null", "--db", file, "--site", "plant-a", fixture("modbus-pymodbus.pcap")]).status, 0)
        XCTAssertEqual(try spansight(["read", "-q", "-o", "/dev/null", "--db", file, "--site", "hospital-b", fixture("dicom-pynetdicom.pcap")]).status, 0)
        XCTAssertEqual(String(decoding: try spansight(["assets", "--db", file, "--site", "plant-a", "--format", "json"]).stdout, as: UTF8.self), aText)
    }

    /// An unreachable server: `read` fails at once with one line; a bad URL likewise.
    func testAnUnreachableServerIsOneLine() throws {
        let port = RedisServer.freePort()
        let r = try spansight(["read", "-q", "-o", "/dev/null", "--db", "postgresql://spansight:secret@127.0.0.1:\(port)/postgres", fixture("modbus-pymodbus.pcap")])
        XCTAssertEqual(r.status, 1)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("spansight: error: postgresql://spansight:***@127.0.0.1:\(port)/postgres: "), r.stderr)
        XCTAssertFalse(r.stderr.contains("secret"), "the password is never printed")
        let q = try spansight(["read", "-q", "-o", "/dev/null", "--db", "postgresql://spansight@127.0.0.1:\(port)/postgres?password=other-secret", fixture("modbus-pymodbus.pcap")])
        XCTAssertEqual(q.status, 1)
        XCTAssertFalse(q.stderr.contains("other-secret"), q.stderr)
        XCTAssertTrue(q.stderr.contains("password=***"), q.stderr)
    }

    /// The PHI rule in the fleet store: an HL7 capture's patient (PID: name, MRN, birth date,
    /// address, phone) appears in no row of any table, with or without a pseudonym key (the
    /// SQLite file is searched the same way by HL7PHITests).
    func testNoPatientDataInTheFleetStore() throws {
        let pg = try PostgresServer()
        let key = work.appendingPathComponent("key")
        try Data("0123456789abcdef0123456789abcdef".utf8).write(to: key)
        for (site, extra) in [("plain", [String]()), ("keyed", ["--pseudonym-key", key.path])] {
            let r = try spansight(["read", "-q", "-o", "/dev/null", "--alerts", "--db", pg.url, "--site", site] + extra +
                                  [fixture("hl7-mllp-python-hl7.pcap"), fixture("detect-hl7-attack-foreign.pcap")])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let tables = pg.query("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        XCTAssertTrue(tables.contains("identities") && tables.contains("sightings"), "\(tables)")
        var rows: [String] = []
        for table in tables { rows += pg.query("SELECT t::text FROM \(table) t") }
        XCTAssertTrue(rows.contains { $0.contains("SENDAPP") }, "the store holds the HL7 applications")
        for token in ["DOE", "JANE", "123456", "19800101", "TEST STREET", "SPRINGFIELD", "62701", "555-0100"] {
            XCTAssertFalse(rows.contains { $0.contains(token) }, "patient token \(token) in the store: \(rows.filter { $0.contains(token) })")
        }
    }

    /// A statement the server refuses in the middle of a pipelined save: the save is rolled
    /// back whole (no row of it stays) and the run ends with one error line naming it.
    func testARefusedRowRollsTheWholeSaveBack() throws {
        let pg = try PostgresServer()
        XCTAssertEqual(try spansight(["read", "-q", "-o", "/dev/null", "--db", pg.url, "--site", "first", fixture("modbus-pymodbus.pcap")]).status, 0)
        _ = pg.query("ALTER TABLE edges ADD CONSTRAINT no_dicom CHECK (service <> 'dicom')")
        let r = try spansight(["read", "-q", "-o", "/dev/null", "--db", pg.url, "--site", "second", fixture("dicom-pynetdicom.pcap")])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("no_dicom"), r.stderr)
        XCTAssertEqual(pg.query("SELECT count(*) FROM hosts WHERE site = 'second'"), ["0"], "nothing of the failed save")
        XCTAssertEqual(pg.query("SELECT count(*) FROM hosts WHERE site = 'first'"), ["2"])
    }

    /// `live` with PostgreSQL stopped in the middle: saves fail (one warning), the sensor
    /// goes on; when the server is back the next save holds everything, and at the end the
    /// store has exactly the sensor's own inventory.
    func testALiveSensorCatchesUpWhenPostgresReturns() throws {
        let lab = try NetworkLab(pairs: 1)
        defer { lab.remove() }
        let pg = try PostgresServer(namespace: lab.sensor)
        let report = work.appendingPathComponent("assets.json")
        let err = work.appendingPathComponent("live.err")
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ip", "netns", "exec", lab.sensor, CLITests.binary.path, "live", "-i", lab.mirror[0], "--filter", "tcp",
                       "--persist-interval", "1", "--stats-interval", "0", "--duration", "120", "-o", "/dev/null",
                       "--db", pg.url, "--site", "ward", "--sensor-name", "ward-sensor", "--assets", report.path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        addTeardownBlock { if p.isRunning { p.terminate() } }
        XCTAssertTrue(ProcessReadiness.waitForStopHandlers(p.processIdentifier, also: [SIGHUP]), "the sensor never became ready")
        func waitUntil(_ limit: Double, _ done: () -> Bool) -> Bool {
            let end = Date().addingTimeInterval(limit)
            while Date() < end { if done() { return true }; usleep(200_000) }
            return done()
        }
        // Roles are known as soon as a conversation is recognised (packet counts only when a flow ends).
        func stored() -> Int { Int(pg.query("SELECT count(*) FROM roles WHERE site = 'ward'").first ?? "") ?? -1 }
        XCTAssertEqual(lab.replay(TestPaths.fixtures.appendingPathComponent("modbus-pymodbus.pcap")), 0)
        XCTAssertTrue(waitUntil(20) { stored() > 0 }, "a periodic save reaches the server: \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
        let before = stored()
        pg.stop()
        XCTAssertEqual(lab.replay(TestPaths.fixtures.appendingPathComponent("dicom-pynetdicom.pcap")), 0)
        Thread.sleep(forTimeInterval: 2.5)
        XCTAssertTrue(((try? String(contentsOf: err, encoding: .utf8)) ?? "").contains("periodic save failed"))
        try pg.start()
        XCTAssertTrue(waitUntil(20) { stored() > before }, "the next save after the restart carries what the failed ones held")
        p.interrupt()
        XCTAssertTrue(p.waitUntilExit(within: 30))
        let stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationStatus, 0, stderr)
        XCTAssertTrue(stderr.contains("periodic save succeeded again after"), stderr)
        // The store has what the sensor itself reported: no gain lost, none counted twice.
        let own = ToolProcess.packets(try Data(contentsOf: report))
        XCTAssertEqual(try packets(try spansight(["assets", "--db", pg.url, "--site", "ward", "--format", "json"], in: lab.sensor)), own)
        XCTAssertTrue(own.values.reduce(0, +) > 0)
        XCTAssertEqual(Set(pg.query("SELECT role FROM roles WHERE site = 'ward' AND ip = '10.77.0.20'")), ["modbus.server", "dicom.scp"])
    }
}

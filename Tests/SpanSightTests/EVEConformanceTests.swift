import Foundation
import SpanSightTestSupport
import XCTest

/// Events fit Suricata's EVE: every event of every fixture and corpus capture validates
/// against Suricata's own schema (../shared/suricata/schema.json, read at test time) with our
/// additional fields allowed, Suricata's fields are where a parser written for Suricata looks,
/// and golden replays pin every field of every event.
final class EVEConformanceTests: XCTestCase {
    static var binary: URL { CLITests.binary }
    static var schema: URL? {
        let u = TestPaths.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/suricata/schema.json")
        return FileManager.default.fileExists(atPath: u.path) ? u : nil
    }

    /// Runs the tool, standard output to a file; returns the status and the output's path.
    @discardableResult
    static func run(_ args: [String], to out: URL) throws -> Int32 {
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        p.currentDirectoryURL = TestPaths.packageRoot
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = FileHandle.nullDevice
        var env = ProcessInfo.processInfo.environment
        env["TZ"] = "UTC"; env["LC_ALL"] = "C"
        p.environment = env
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Every capture the checks run over: fixtures, then the corpus when present.
    static var captures: [URL] {
        var files = TestPaths.fixtureFiles()
        for folder in ["modbus", "dnp3", "hl7", "dicom", "mixed"] { files += TestPaths.corpusFiles(folder) }
        return files
    }

    /// All events of all captures: read with `--alerts`, and the detection fixtures also
    /// against a baseline learned from the normal capture.
    static func allEvents(_ dir: URL) throws -> URL {
        let all = dir.appendingPathComponent("all.ndjson")
        _ = FileManager.default.createFile(atPath: all.path, contents: nil)
        let sink = try FileHandle(forWritingTo: all)
        defer { try? sink.close() }
        let baseline = dir.appendingPathComponent("baseline.json")
        let learn = Process()
        learn.executableURL = binary
        learn.arguments = ["learn", TestPaths.fixtures.appendingPathComponent("detect-modbus-normal.pcap").path, "--baseline", baseline.path]
        learn.standardOutput = FileHandle.nullDevice
        learn.standardError = FileHandle.nullDevice
        try learn.run(); learn.waitUntilExit()
        XCTAssertEqual(learn.terminationStatus, 0, "learn")
        let out = dir.appendingPathComponent("one.ndjson")
        for url in captures {
            var runs = [["read", url.path, "--alerts", "--sensor-name", "conformance"]]
            if url.lastPathComponent.hasPrefix("detect-") { runs.append(["read", url.path, "--baseline", baseline.path, "--sensor-name", "conformance"]) }
            for args in runs {
                let status = try run(args, to: out)
                XCTAssertTrue(status == 0 || status == 3, "\(args): exit \(status)")
                sink.write(try Data(contentsOf: out))
            }
        }
        return all
    }

    func testEveryEventValidatesAgainstSuricatasSchema() throws {
        guard let schema = Self.schema else { throw XCTSkip("../shared/suricata/schema.json is absent: EVE schema check skipped") }
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import jsonschema"]
        check.standardError = FileHandle.nullDevice
        try check.run(); check.waitUntilExit()
        guard check.terminationStatus == 0 else { throw XCTSkip("python3 module jsonschema is absent (pip install jsonschema): EVE schema check skipped") }
        if TestPaths.corpus == nil { print("../shared/corpus is absent: the schema check runs on the fixtures only") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("eve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let all = try Self.allEvents(dir)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", TestPaths.packageRoot.appendingPathComponent("scripts/eve-validate.py").path, schema.path, all.path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let report = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "events that do not fit Suricata's schema:\n\(report)")
        let last = report.split(separator: "\n").last.map(String.init) ?? ""
        print("EVE schema: \(last)")
        let events = Int(last.split(separator: " ").first ?? "0") ?? 0
        XCTAssertGreaterThan(events, 1000, "the run wrote events")

        // Suricata's fields where a parser written for Suricata looks for them.
        var seen: [String: Int] = [:]
        for line in try String(contentsOf: all, encoding: .utf8).split(separator: "\n") {
            guard let e = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let type = e["event_type"] as? String else { XCTFail("not an event: \(line.prefix(200))"); continue }
            seen[type, default: 0] += 1
            XCTAssertEqual(e["host"] as? String, "conformance", "host on \(type)")
            XCTAssertNotNil(e["pcap_filename"], "pcap_filename on \(type)")
            if e["src_port"] != nil { XCTAssertNotNil(e["community_id"], "community_id on \(type)") }
            switch type {
            case "modbus":
                let m = e["modbus"] as? [String: Any] ?? [:]
                XCTAssertNotNil(m["id"]); XCTAssertNotNil(e["tx_id"])
                for side in ["request", "response"] {
                    guard let s = m[side] as? [String: Any] else { continue }
                    for k in ["transaction_id", "unit_id", "function_raw", "function_code", "access_type", "category", "error_flags"] {
                        XCTAssertNotNil(s[k], "modbus.\(side).\(k)")
                    }
                }
            case "dnp3":
                let d = e["dnp3"] as? [String: Any] ?? [:]
                XCTAssertNotNil(d["type"], "dnp3.type")
                if d["type"] as? String != "link" {
                    XCTAssertNotNil(d["control"], "dnp3.control"); XCTAssertNotNil(d["src"], "dnp3.src")
                    XCTAssertNotNil((d["application"] as? [String: Any])?["complete"], "dnp3.application.complete")
                    XCTAssertNotNil(e["tx_id"], "dnp3 tx_id")
                }
            case "alert":
                let a = e["alert"] as? [String: Any] ?? [:]
                XCTAssertEqual(a["gid"] as? Int, 1)
                XCTAssertNotNil(a["rev"])
                let sid = a["signature_id"] as? Int ?? 0
                XCTAssertTrue((1_000_000...1_999_999).contains(sid), "signature_id \(sid) in the local range")
                XCTAssertNotNil(a["metadata"]); XCTAssertNotNil(a["target"])
                XCTAssertNotNil(e["src_ip"], "alert src_ip"); XCTAssertNotNil(e["dest_ip"], "alert dest_ip")
                XCTAssertNil(a["aggregated"], "aggregates are alert_summary events")
                // A command that fired carries its transaction's object, as Suricata's alerts do.
                if a["category"] as? String == "dangerous-operation", let app = e["app_proto"] as? String, app == "modbus" || app == "dnp3" {
                    let object = e[app] as? [String: Any]
                    XCTAssertNotNil(object?["request"] ?? object?["response"], "\(app) object in \(a["signature"] ?? "?")")
                    if app == "modbus" { XCTAssertNotNil((object?["request"] as? [String: Any])?["function_code"]) }
                }
                if e["src_port"] != nil { XCTAssertNotNil(e["flow"], "alert-time flow object") }
            case "flow":
                let f = e["flow"] as? [String: Any] ?? [:]
                for k in ["alerted", "tx_cnt", "age", "duration", "state", "reason"] { XCTAssertNotNil(f[k], "flow.\(k)") }
            case "stats":
                let s = e["stats"] as? [String: Any] ?? [:]
                XCTAssertNotNil(s["uptime"])
                let tcp = s["tcp"] as? [String: Any] ?? [:]
                for k in ["reassembly_gap", "overlap", "reassembly_memuse"] { XCTAssertNotNil(tcp[k], "stats.tcp.\(k)") }
                let app = s["app_layer"] as? [String: Any] ?? [:]
                XCTAssertNotNil(app["flow"]); XCTAssertNotNil(app["tx"])
                XCTAssertNotNil((s["detect"] as? [String: Any])?["alert"])
            case "anomaly":
                let a = e["anomaly"] as? [String: Any] ?? [:]
                XCTAssertEqual(a["type"] as? String, "applayer")
                let event = a["event"] as? String ?? "", name = a["name"] as? String ?? ""
                // A parser's anomaly, or a probe's refusal (Suricata's detection layer) on a flow
                // no dissector claimed.
                if event.hasPrefix("probe_rejected_") {
                    XCTAssertEqual(a["layer"] as? String, "proto_detect")
                    XCTAssertNil(e["app_proto"], name)
                } else {
                    XCTAssertEqual(a["layer"] as? String, "proto_parser")
                }
                XCTAssertFalse(event.contains("."), "bare event name: \(event)")
                XCTAssertEqual("\(a["app_proto"] as? String ?? "").\(event)", name)
            default:
                break
            }
        }
        for type in ["modbus", "dnp3", "hl7", "dicom", "flow", "stats", "alert", "anomaly", "asset"] {
            XCTAssertGreaterThan(seen[type, default: 0], 0, "no \(type) event was checked")
        }
        print("EVE conformance: " + seen.keys.sorted().map { "\($0) \(seen[$0]!)" }.joined(separator: ", "))
    }

    /// `--eve-types` writes exactly the types asked for; `-type` drops one; an unknown type is
    /// a usage error (one line, exit 64) before anything runs.
    func testEveTypesSelectsWhatIsWritten() throws {
        let fixture = TestPaths.fixtures.appendingPathComponent("detect-modbus-attack-fc-sweep.pcap").path
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("evetypes-\(UUID().uuidString).ndjson")
        defer { try? FileManager.default.removeItem(at: out) }
        func types(_ args: [String]) throws -> [String: Int] {
            XCTAssertEqual(try Self.run(["read", fixture, "--alerts"] + args, to: out), 0, "\(args)")
            var seen: [String: Int] = [:]
            for line in try String(contentsOf: out, encoding: .utf8).split(separator: "\n") {
                let e = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                seen[e?["event_type"] as? String ?? "?", default: 0] += 1
            }
            return seen
        }
        let all = try types([])
        XCTAssertGreaterThan(all["modbus", default: 0], 0)
        XCTAssertGreaterThan(all["anomaly", default: 0], 0)
        XCTAssertEqual(Set(try types(["--eve-types", "alert,flow,stats"]).keys), ["alert", "flow", "stats"])
        var withoutModbus = all
        withoutModbus.removeValue(forKey: "modbus")
        XCTAssertEqual(try types(["--eve-types=-modbus"]), withoutModbus, "only the modbus events go")
        XCTAssertEqual(try types(["--eve-types", "all,-modbus"]), withoutModbus)
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = ["read", fixture, "--eve-types", "alert,bogus"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 64)
        XCTAssertTrue(message.contains("unknown event type 'bogus'"), message)
    }

    // MARK: golden replays

    /// A replay's line as written: nothing varies by run (`stats.uptime` is packet time when
    /// reading files), so lines are compared byte for byte (key order, number formats, escapes).
    static func canonical(_ line: Substring) throws -> String { String(line) }

    /// Each folder of Tests/Golden holds `args` (the command line, one argument a line, run in
    /// the package root) and `expected.ndjson` (its events, canonical). UPDATE_GOLDEN=1
    /// rewrites the expectations (re-bless) instead of comparing.
    func testGoldenReplays() throws {
        let root = TestPaths.packageRoot.appendingPathComponent("Tests/Golden")
        let cases = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
            .filter { FileManager.default.fileExists(atPath: root.appendingPathComponent($0).appendingPathComponent("args").path) }
        XCTAssertGreaterThan(cases.count, 10, "golden cases")
        let update = ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1"
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("golden-\(UUID().uuidString).ndjson")
        defer { try? FileManager.default.removeItem(at: out) }
        for name in cases {
            let dir = root.appendingPathComponent(name)
            let args = try String(contentsOf: dir.appendingPathComponent("args"), encoding: .utf8)
                .split(separator: "\n").map(String.init).filter { !$0.isEmpty && !$0.hasPrefix("#") }
            let status = try Self.run(args, to: out)
            XCTAssertTrue(status == 0 || status == 3, "\(name): exit \(status)")
            let got = try String(contentsOf: out, encoding: .utf8).split(separator: "\n").map(Self.canonical).joined(separator: "\n") + "\n"
            let expectedURL = dir.appendingPathComponent("expected.ndjson")
            if update {
                try got.write(to: expectedURL, atomically: true, encoding: .utf8)
                continue
            }
            guard let expected = try? String(contentsOf: expectedURL, encoding: .utf8) else {
                XCTFail("\(name): no expected.ndjson (UPDATE_GOLDEN=1 blesses it)"); continue
            }
            if got != expected {
                let g = got.split(separator: "\n"), x = expected.split(separator: "\n")
                let i = (0..<min(g.count, x.count)).first { g[$0] != x[$0] } ?? min(g.count, x.count)
                XCTFail("\(name): events differ from expected.ndjson (\(g.count) vs \(x.count) lines) at line \(i + 1):\n got: \(i < g.count ? String(g[i].prefix(400)) : "(none)")\nwant: \(i < x.count ? String(x[i].prefix(400)) : "(none)")\n(UPDATE_GOLDEN=1 re-blesses after a reviewed change)")
            }
        }
    }
}

import Foundation
import SpanSightEngine
import SpanSightHL7
import SpanSightTestSupport
import XCTest

/// The python-hl7 fixtures and the corpus capture: every message type, trigger event, control
/// id and MSA code against tshark (run now, with `-d tcp.port==N,hl7` off port 2575), and the
/// PHI proof over the whole NDJSON output of `spansight read`.
final class HL7CorpusTests: XCTestCase {
    typealias Multiset = [String: Int]

    /// (capture, MLLP server port) for the fixtures and, when present, the corpus.
    static var captures: [(URL, UInt16)] {
        var list: [(URL, UInt16)] = []
        for f in TestPaths.fixtureFiles(prefix: "hl7-") {
            list.append((f, f.lastPathComponent.contains("6661") ? 6661 : 2575))
        }
        for f in TestPaths.corpusFiles("hl7") { list.append((f, 6661)) }
        return list
    }

    /// tshark's reading: messages as "type/trigger/MSH-10" and acknowledgments as "MSA-1/MSA-2".
    static func tsharkReading(_ url: URL, port: UInt16) -> (messages: Multiset, acks: Multiset)? {
        let decodeAs = port == HL7.port ? [] : ["-d", "tcp.port==\(port),hl7"]
        guard let out = TShark.run(url, decodeAs + ["-Y", "hl7", "-T", "fields", "-e", "hl7.message.type",
                                                    "-e", "hl7.event.type", "-e", "hl7.segment"]) else { return nil }
        var messages: Multiset = [:], acks: Multiset = [:]
        for line in out.split(separator: "\n") {
            let cols = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard cols.count >= 3 else { continue }
            // tshark prints each segment's CR as the two characters `\r`, segments joined by ",".
            let segments = cols[2].components(separatedBy: "\\r")
            let msh = segments[0].split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            messages["\(cols[0])/\(cols[1])/\(msh.count > 9 ? msh[9] : "")", default: 0] += 1
            for s in segments {
                let seg = s.hasPrefix(",") ? String(s.dropFirst()) : s
                guard seg.hasPrefix("MSA|") else { continue }
                let f = seg.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                acks["\(f.count > 1 ? f[1] : "")/\(f.count > 2 ? f[2] : "")", default: 0] += 1
            }
        }
        return (messages, acks)
    }

    static func ourReading(_ run: CaptureRun) -> (messages: Multiset, acks: Multiset) {
        var messages: Multiset = [:], acks: Multiset = [:]
        for e in run.events(ofType: "hl7") {
            guard let h = e["hl7"] as? [String: Any] else { continue }
            if let id = h["control_id"] as? String {
                messages["\(h["message_type"] as? String ?? "")/\(h["trigger_event"] as? String ?? "")/\(id)", default: 0] += 1
            }
            if let a = h["ack"] as? [String: Any] {
                messages["\(a["message_type"] as? String ?? "")/\(a["trigger_event"] as? String ?? "")/\(a["message_control_id"] as? String ?? "")", default: 0] += 1
                acks["\(a["code"] as? String ?? "")/\(a["control_id"] as? String ?? "")", default: 0] += 1
            }
        }
        return (messages, acks)
    }

    func testAgainstTShark() throws {
        guard TShark.path != nil else { throw XCTSkip("tshark not installed") }
        let captures = Self.captures
        guard !captures.isEmpty else { throw XCTSkip("fixtures/hl7-*.pcap absent") }
        if TestPaths.corpus == nil { print("hl7: corpus absent (../shared/corpus or SPANSIGHT_CORPUS): fixtures only") }
        var total = 0
        var types = Set<String>(), codes = Set<String>()
        for (url, port) in captures {
            let name = url.lastPathComponent
            guard let theirs = Self.tsharkReading(url, port: port) else { XCTFail("tshark failed on \(name)"); continue }
            let run = try CaptureRunner.run(url, dissectors: [HL7.entry])
            let ours = Self.ourReading(run)
            XCTAssertFalse(ours.messages.isEmpty, name)
            XCTAssertEqual(ours.messages, theirs.messages, "\(name): message type/trigger/control id")
            XCTAssertEqual(ours.acks, theirs.acks, "\(name): MSA-1/MSA-2")
            // Every message is paired with its ACK; nothing is unanswered or unexpected.
            let statuses = run.events(ofType: "hl7").compactMap { ($0["hl7"] as? [String: Any])?["status"] as? String }
            XCTAssertEqual(Set(statuses), ["acknowledged"], name)
            let anomalies = run.events(ofType: "anomaly").compactMap { ($0["anomaly"] as? [String: Any])?["name"] as? String }
            XCTAssertEqual(anomalies, [], name)
            // The flow is recognised on any port, by its bytes.
            let apps = run.events(ofType: "flow").compactMap { $0["app_proto"] as? String }
            XCTAssertEqual(apps, ["hl7"], name)
            total += ours.messages.values.reduce(0, +)
            types.formUnion(ours.messages.keys.map { String($0.split(separator: "/", omittingEmptySubsequences: false).prefix(2).joined(separator: "^")) })
            codes.formUnion(ours.acks.keys.map { String($0.prefix(2)) })
        }
        print("hl7 coverage: \(total) messages, types \(types.sorted()), ack codes \(codes.sorted())")
    }

    /// The fixture's ADT^A08 rejected with AE carries an ERR; the A99 is rejected with AR.
    func testFixtureDetails() throws {
        let url = TestPaths.fixtures.appendingPathComponent("hl7-mllp-python-hl7.pcap")
        guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("fixture absent") }
        let run = try CaptureRunner.run(url, dissectors: [HL7.entry])
        let events = run.events(ofType: "hl7").compactMap { $0["hl7"] as? [String: Any] }
        XCTAssertEqual(events.map { "\($0["message_type"] as? String ?? "")^\($0["trigger_event"] as? String ?? "") \(($0["ack"] as? [String: Any])?["code"] as? String ?? "")" },
                       ["ADT^A01 AA", "ORU^R01 AA", "ADT^A08 AE", "ADT^A99 AR"])
        XCTAssertEqual(events[1]["segments"] as? [String], ["MSH", "PID", "OBR", "OBX", "OBX"])
        let err = (events[3]["ack"] as? [String: Any])?["error"] as? [String: Any]
        XCTAssertEqual(err?["location"] as? String, "MSH^1^9^1^2")
        XCTAssertEqual(err?["code"] as? String, "201")
        XCTAssertEqual(err?["text"] as? String, "Unsupported event code")
        for e in events {
            XCTAssertEqual(e["sending_application"] as? String, "SENDAPP")
            XCTAssertEqual(e["receiving_facility"] as? String, "RECVFAC")
            XCTAssertEqual(e["version"] as? String, "2.5")
            XCTAssertNotNil((e["ack"] as? [String: Any])?["latency_ms"] as? Double)
        }
    }

    // MARK: PHI

    static var binary: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("spansight")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        return TestPaths.packageRoot.appendingPathComponent(".build/debug/spansight")
    }

    /// Exit status and standard output of `spansight read ARGS`.
    func spansight(_ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = ["read", "--quiet", "--no-progress"] + args
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("spansight-hl7-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out) }
        let handle = try FileHandle(forWritingTo: out)
        p.standardOutput = handle
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        try handle.close()
        return (p.terminationStatus, String(decoding: try Data(contentsOf: out), as: UTF8.self))
    }

    /// The values of the capture's segments other than MSH, MSA, ERR and EVN (from the tshark
    /// truth dump): each field, component and subcomponent of 3+ characters with a letter, or
    /// of 5+ digits, minus the values that also occur in MSH/MSA/ERR/EVN (such as SENDFAC,
    /// the assigning authority of PID-3 and MSH-4's facility).
    static func phiValues(_ truth: URL) -> Set<String> {
        guard let table = TSVTable(url: truth) else { return [] }
        var phi = Set<String>(), allowed = Set<String>()
        for row in table.rows {
            for s in table.value(row, "hl7.segment").components(separatedBy: "\\r") {
                let seg = s.hasPrefix(",") ? String(s.dropFirst()) : s
                guard seg.count >= 3 else { continue }
                let id = String(seg.prefix(3))
                var values = Set<String>()
                for field in seg.split(separator: "|").dropFirst() {
                    values.insert(String(field))
                    for part in field.split(whereSeparator: { "^~&".contains($0) }) { values.insert(String(part)) }
                }
                if ["MSH", "MSA", "ERR", "EVN"].contains(id) { allowed.formUnion(values) } else { phi.formUnion(values) }
            }
        }
        return phi.subtracting(allowed).filter { v in
            let t = v.trimmingCharacters(in: .whitespaces)
            return (t.count >= 3 && t.contains(where: \.isLetter)) || (t.count >= 5 && t.allSatisfy(\.isNumber))
        }
    }

    func testNoPHIInAnyOutput() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            return XCTFail("spansight binary not built: run `swift build --build-tests` first")
        }
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("spansight-hl7-key-\(getpid())")
        try Data("c0ffee-test-key-of-32-bytes-long\n".utf8).write(to: keyFile)
        defer { try? FileManager.default.removeItem(at: keyFile) }
        var checked = 0
        for (url, _) in Self.captures {
            let name = url.lastPathComponent
            let truth = name.hasPrefix("hl7-")
                ? TestPaths.fixtures.appendingPathComponent("truth/" + url.deletingPathExtension().lastPathComponent + ".tsv")
                : (TestPaths.corpus ?? url).appendingPathComponent("truth/\(name).tsv")
            var phi = Self.phiValues(truth)
            // Named in the issue (they are also in the truth: a check of the check).
            phi.formUnion(name.hasPrefix("hl7-") ? ["DOE^JANE", "123456", "1 TEST STREET", "SPRINGFIELD"]
                                                 : ["MOUSE^MICKEY", "135769", "123 Main St."])
            XCTAssertGreaterThan(phi.count, 10, "\(name): PHI values from \(truth.lastPathComponent)")
            for args in [[url.path], ["--hl7-pseudonym-key", keyFile.path, url.path]] {
                let (status, output) = try spansight(args)
                XCTAssertEqual(status, 0, args.joined(separator: " "))
                XCTAssertTrue(output.contains("\"event_type\":\"hl7\""), name)
                for v in phi where output.contains(v) {
                    XCTFail("\(name) \(args.count > 1 ? "with key" : "default"): PHI value \(v) in the output")
                }
                if args.count > 1 { XCTAssertTrue(output.contains("\"patient_pseudonyms\""), name) }
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 4)
    }

    /// An unreadable or short key file is a usage error (exit 64), before any packet.
    func testPseudonymKeyOptionIsChecked() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            return XCTFail("spansight binary not built: run `swift build --build-tests` first")
        }
        let fixture = TestPaths.fixtures.appendingPathComponent("hl7-mllp-python-hl7.pcap").path
        let short = FileManager.default.temporaryDirectory.appendingPathComponent("spansight-hl7-short-\(getpid())")
        try Data("short\n".utf8).write(to: short)
        defer { try? FileManager.default.removeItem(at: short) }
        for key in ["/nonexistent/key", short.path] {
            let (status, output) = try spansight(["--hl7-pseudonym-key", key, fixture])
            XCTAssertEqual(status, 64, key)
            XCTAssertEqual(output, "", key)
        }
    }
}

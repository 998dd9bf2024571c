import Foundation
import SpanSightDICOM
import SpanSightEngine
import SpanSightTestSupport
import XCTest

/// Cross-checks with tshark 4.0 on the pynetdicom fixtures (fixtures/README.md): every PDU
/// type, AE title, presentation context (id, abstract syntax, transfer syntaxes, result),
/// reject and abort field, and every DIMSE command (command field, message id, affected SOP
/// class, status) equals tshark's reading. tshark runs at test time with
/// `-o dicom.tag_tree:TRUE` (without it the command elements are text only, not fields) and,
/// off port 104, `-d tcp.port==N,dicom`.
final class DICOMFixtureTests: XCTestCase {
    typealias Multiset = [String: Int]

    /// What one side (ours or tshark's) read from one flow.
    struct FlowView: Equatable {
        var pduTypes: Multiset = [:]
        var aeTitles: [String] = []
        var requestContexts: [String] = []
        var acceptContexts: [String] = []
        var rejects: [String] = []
        var aborts: [String] = []
        var commands: Multiset = [:]
    }

    static func flowKey(_ a: Int, _ b: Int) -> String { [a, b].sorted().map(String.init).joined(separator: "-") }

    static let fields = ["tcp.srcport", "tcp.dstport", "dicom.pdu.type", "dicom.assoc.ae.called", "dicom.assoc.ae.calling",
                         "dicom.assoc.reject.result", "dicom.assoc.reject.source", "dicom.assoc.reject.reason",
                         "dicom.assoc.abort.source", "dicom.assoc.abort.reason", "dicom.pctx.id", "dicom.pctx.result",
                         "dicom.pctx.abss.syntax", "dicom.pctx.xfer.syntax", "dicom.tag", "dicom.tag.vr",
                         "dicom.tag.value.16u", "dicom.tag.value.str"]

    /// Value representations tshark shows as `dicom.tag.value.str`.
    static let stringVRs: Set<String> = ["AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UI", "UT", "UC", "UR"]

    /// "Name (1.2.3)" (syntaxes) or "1.2.3 (Name)" (element values) -> "1.2.3".
    static func uid(_ s: Substring) -> String {
        if let first = s.first, first.isNumber { return String(s.prefix { $0 != " " }) }
        guard let open = s.lastIndex(of: "("), s.hasSuffix(")") else { return String(s) }
        return String(s[s.index(after: open)..<s.index(before: s.endIndex)])
    }

    static func command(_ field: Int, _ id: Int, _ sop: String, _ status: Int?) -> String {
        guard let status else { return String(format: "rq 0x%04x id=%d %@", field, id, sop) }
        let st = status == 0xFF00 || status == 0xFF01 ? "pending" : String(format: "0x%04x", status)
        return String(format: "rsp 0x%04x id=%d %@ %@", field, id, sop, st)
    }

    static func theirs(_ url: URL, port: Int?) throws -> [String: FlowView] {
        var args = ["-o", "dicom.tag_tree:TRUE"]
        if let port { args += ["-d", "tcp.port==\(port),dicom"] }
        args += ["-Y", "dicom", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-E", "separator=/t"]
        for f in fields { args += ["-e", f] }
        guard let out = TShark.run(url, args) else { throw XCTSkip("tshark not installed") }
        var flows: [String: FlowView] = [:]
        for line in out.split(separator: "\n") {
            let c = line.split(separator: "\t", omittingEmptySubsequences: false).map { $0.split(separator: "|", omittingEmptySubsequences: false) }
            guard c.count == fields.count, let sp = Int(c[0].first ?? ""), let dp = Int(c[1].first ?? "") else { continue }
            var v = flows[flowKey(sp, dp)] ?? FlowView()
            for t in c[2] where !t.isEmpty { v.pduTypes[String(Int(t.dropFirst(2), radix: 16) ?? -1), default: 0] += 1 }
            let types = c[2].compactMap { Int($0.dropFirst(2), radix: 16) }
            if !c[3][0].isEmpty {
                v.aeTitles.append("\(c[3][0].trimmingCharacters(in: .whitespaces))<-\(c[4][0].trimmingCharacters(in: .whitespaces))")
            }
            if types.contains(1) {
                v.requestContexts.append(zip(c[10], c[12]).map { "\($0.0.dropFirst(2)) \(uid($0.1))" }.joined(separator: ",")
                                         + " ts=" + c[13].map { uid($0) }.joined(separator: ","))
            }
            if types.contains(2) {
                v.acceptContexts.append((0..<c[10].count).map { i in
                    "\(c[10][i].dropFirst(2)) r=\(Int(c[11][i].dropFirst(2), radix: 16) ?? -1) \(i < c[13].count ? uid(c[13][i]) : "")"
                }.joined(separator: ","))
            }
            if !c[5][0].isEmpty { v.rejects.append("\(c[5][0])/\(c[6][0])/\(c[7][0])") }
            if !c[8][0].isEmpty { v.aborts.append("\(c[8][0])/\(c[9][0])") }
            // Walk the elements: US values and string values are listed in tag order.
            var us = c[16].makeIterator(), str = c[17].makeIterator()
            var cmd: (field: Int?, id: Int?, responded: Int?, status: Int?, sop: String) = (nil, nil, nil, nil, "")
            func flush() {
                if let f = cmd.field {
                    let s = command(f, (f & 0x8000 != 0 ? cmd.responded : cmd.id) ?? -1, cmd.sop, f & 0x8000 != 0 ? cmd.status ?? -1 : nil)
                    v.commands[s, default: 0] += 1
                }
                cmd = (nil, nil, nil, nil, "")
            }
            var previous = -1
            for (tagText, vr) in zip(c[14], c[15]) where !tagText.isEmpty {
                let tag = Int(tagText.dropFirst(2), radix: 16) ?? -1
                let u = vr == "US" ? us.next().flatMap { Int($0) } : nil
                let s = Self.stringVRs.contains(String(vr)) ? str.next().map { uid($0) } : nil
                let inCommand = tag >> 16 == 0
                if inCommand && (previous < 0 || previous >> 16 != 0 || tag <= previous) { flush() }
                previous = tag
                guard inCommand else { continue }
                switch tag & 0xFFFF {
                case 0x0002: cmd.sop = s ?? ""
                case 0x0100: cmd.field = u
                case 0x0110: cmd.id = u
                case 0x0120: cmd.responded = u
                case 0x0900: cmd.status = u
                default: break
                }
            }
            flush()
            flows[flowKey(sp, dp)] = v
        }
        return flows
    }

    static func ours(_ run: CaptureRun) -> [String: FlowView] {
        var flows: [String: FlowView] = [:]
        for e in run.events(ofType: "dicom") {
            guard let d = e["dicom"] as? [String: Any], let sp = e["src_port"] as? Int, let dp = e["dest_port"] as? Int else { continue }
            var v = flows[flowKey(sp, dp)] ?? FlowView()
            let names = ["a_associate_rq", "a_associate_ac", "a_associate_rj", "p_data_tf", "a_release_rq", "a_release_rp", "a_abort"]
            for (i, n) in names.enumerated() {
                if let k = (d["pdu_counts"] as? [String: Any])?[n] as? Int { v.pduTypes[String(i + 1), default: 0] += k }
            }
            let contexts = d["presentation_contexts"] as? [[String: Any]] ?? []
            if let called = d["called_ae"] as? String, let calling = d["calling_ae"] as? String {
                // tshark reads both titles from the AC too.
                v.aeTitles.append("\(called)<-\(calling)")
                if (d["pdu_counts"] as? [String: Any])?["a_associate_ac"] != nil { v.aeTitles.append("\(called)<-\(calling)") }
                let proposed = contexts.filter { $0["proposed_transfer_syntaxes"] != nil }
                v.requestContexts.append(proposed.map { String(format: "%02x", $0["id"] as? Int ?? -1) + " \($0["abstract_syntax"] as? String ?? "")" }
                    .joined(separator: ",") + " ts=" + proposed.flatMap { ($0["proposed_transfer_syntaxes"] as? [[String: Any]] ?? []).map { $0["uid"] as? String ?? "" } }
                    .joined(separator: ","))
            }
            let answered = contexts.filter { $0["result_raw"] != nil }
            if !answered.isEmpty {
                v.acceptContexts.append(answered.map {
                    String(format: "%02x", $0["id"] as? Int ?? -1) + " r=\($0["result_raw"] as? Int ?? -1) \($0["transfer_syntax"] as? String ?? "")"
                }.joined(separator: ","))
            }
            if let r = d["reject"] as? [String: Any] {
                v.rejects.append("\(r["result_raw"] as? Int ?? -1)/\(r["source_raw"] as? Int ?? -1)/\(r["reason_raw"] as? Int ?? -1)")
            }
            if let a = d["abort"] as? [String: Any] { v.aborts.append("\(a["source_raw"] as? Int ?? -1)/\(a["reason_raw"] as? Int ?? -1)") }
            for op in d["dimse"] as? [[String: Any]] ?? [] {
                let field = op["command_raw"] as? Int ?? -1, id = op["message_id"] as? Int ?? -1
                let sop = op["affected_sop_class"] as? String ?? ""
                if op["state"] as? String != "unmatched_response" { v.commands[command(field, id, sop, nil), default: 0] += 1 }
                let pending = op["pending_responses"] as? Int ?? 0
                let responses = op["responses"] as? Int ?? 0
                if pending > 0 { v.commands[command(field | 0x8000, id, sop, 0xFF00), default: 0] += pending }
                if responses > pending, let st = op["status_raw"] as? Int {
                    v.commands[command(field | 0x8000, id, sop, st), default: 0] += responses - pending
                }
            }
            flows[flowKey(sp, dp)] = v
        }
        return flows
    }

    func testPynetdicomFixturesAgainstTShark() throws {
        let files = TestPaths.fixtureFiles(prefix: "dicom-")
        guard !files.isEmpty else { throw XCTSkip("fixtures/dicom-*.pcap absent") }
        var pdus = 0, commands = 0
        for f in files {
            let port = f.lastPathComponent.contains("port4242") ? 4242 : nil
            let theirs = try Self.theirs(f, port: port)
            let run = try CaptureRunner.run(f, dissectors: [DICOM.entry])
            let ours = Self.ours(run)
            XCTAssertFalse(theirs.isEmpty, f.lastPathComponent)
            XCTAssertEqual(Set(ours.keys), Set(theirs.keys), f.lastPathComponent)
            for (flow, t) in theirs {
                let o = ours[flow] ?? FlowView()
                XCTAssertEqual(o.pduTypes, t.pduTypes, "\(f.lastPathComponent) \(flow) PDU types")
                XCTAssertEqual(o.aeTitles, t.aeTitles, "\(f.lastPathComponent) \(flow) AE titles")
                XCTAssertEqual(o.requestContexts, t.requestContexts, "\(f.lastPathComponent) \(flow) proposed contexts")
                XCTAssertEqual(o.acceptContexts, t.acceptContexts, "\(f.lastPathComponent) \(flow) accepted contexts")
                XCTAssertEqual(o.rejects, t.rejects, "\(f.lastPathComponent) \(flow) reject")
                XCTAssertEqual(o.aborts, t.aborts, "\(f.lastPathComponent) \(flow) abort")
                XCTAssertEqual(o.commands, t.commands, "\(f.lastPathComponent) \(flow) DIMSE commands")
                pdus += t.pduTypes.values.reduce(0, +)
                commands += t.commands.values.reduce(0, +)
            }
            // Nothing in these captures is malformed.
            XCTAssertEqual(run.events(ofType: "anomaly").count, 0, f.lastPathComponent)
        }
        print("dicom fixture coverage: \(pdus) PDUs, \(commands) DIMSE command sets equal to tshark's")
    }

    /// The fixture's patient (fixtures/README.md) and the stored data set's values never reach
    /// the output: data sets are counted and sized only.
    func testNoPHIFromDataSets() throws {
        let f = TestPaths.fixtures.appendingPathComponent("dicom-pynetdicom.pcap")
        guard FileManager.default.fileExists(atPath: f.path) else { throw XCTSkip("fixture absent") }
        let run = try CaptureRunner.run(f, dissectors: [DICOM.entry])
        let all = run.lines.joined(separator: "\n")
        for secret in ["TEST^FIXTURE", "FIX-0001", "19700101", "ACC0001", "ACC0002", "CT CHEST FIXTURE", "CT HEAD FIXTURE",
                       "REF^FIXTURE", "2.25.317000000000000000000000000000000001", "SpanSight Fixture"] {
            XCTAssertFalse(all.contains(secret), secret)
        }
        let d = run.events(ofType: "dicom").compactMap { $0["dicom"] as? [String: Any] }
        let store = (d.first?["dimse"] as? [[String: Any]])?.first { $0["command"] as? String == "C-STORE" }
        XCTAssertEqual(store?["request_datasets"] as? Int, 1)
        XCTAssertEqual(store?["affected_sop_instance"] as? String, "2.25.317000000000000000000000000000001001")
        let find = (d.first?["dimse"] as? [[String: Any]])?.first { $0["command"] as? String == "C-FIND" }
        XCTAssertEqual(find?["pending_responses"] as? Int, 2)
        XCTAssertEqual(find?["response_datasets"] as? Int, 2)
        XCTAssertEqual(d.map { $0["result"] as? String ?? "" }, ["accepted", "rejected", "aborted"])
    }
}

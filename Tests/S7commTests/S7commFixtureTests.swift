import Foundation
import SpanSightEngine
@testable import SpanSightS7comm
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// The python-snap7 2.1.0 (libsnap7) fixtures (fixtures/README.md): every S7 PDU and COTP
/// connect TPDU SpanSight writes, compared field by field with what tshark 4.0 dissects (tshark
/// run here, with an empty configuration), and with the client's own transcript
/// (fixtures/logs/s7comm-snap7*.client.txt). Disagreements are pinned with their cause.
final class S7commFixtureTests: XCTestCase {
    typealias Multiset = [String: Int]

    static let fixtures = ["s7comm-snap7.pcap", "s7comm-snap7-port1102.pcap"]

    /// tshark fields, in this order, one row per frame.
    static let fields = [
        "frame.number", "tcp.srcport", "tcp.dstport", "cotp.type", "cotp.tpdu_size", "cotp.src-tsap", "cotp.dst-tsap",
        "s7comm.header.rosctr", "s7comm.header.pduref", "s7comm.header.parlg", "s7comm.header.datlg",
        "s7comm.header.errcls", "s7comm.header.errcod", "s7comm.param.func", "s7comm.param.errcod",
        "s7comm.param.pdu_length", "s7comm.param.maxamq_calling", "s7comm.param.maxamq_called", "s7comm.param.itemcount",
        "s7comm.param.item.area", "s7comm.param.item.db", "s7comm.param.item.address", "s7comm.param.item.transp_size",
        "s7comm.param.item.length", "s7comm.data.returncode", "s7comm.data.length",
        "s7comm.param.userdata.type", "s7comm.param.userdata.funcgroup", "s7comm.param.userdata.subfunc",
        "s7comm.param.userdata.seq_num", "s7comm.param.userdata.lastdataunit",
        "s7comm.data.userdata.szl_id", "s7comm.data.userdata.szl_index",
        "s7comm.param.pistart.servicename", "s7comm.param.blockcontrol.filename",
    ]

    static func flowKey(_ a: Int, _ b: Int) -> String { [a, b].sorted().map(String.init).joined(separator: "-") }
    static func hex(_ v: Int, _ width: Int) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// A PDU as a comparable line: "name=value" pairs of the fields both sides give, in a fixed order.
    struct PDUKey {
        var parts: [(String, String)] = []
        mutating func add(_ k: String, _ v: String?) { if let v, !v.isEmpty { parts.append((k, v)) } }
        var text: String { parts.map { "\($0)=\($1)" }.joined(separator: " ") }
    }

    /// tshark's PDUs per flow (one S7 PDU or COTP TPDU per frame in these captures).
    static func theirs(_ url: URL, decodeAs port: Int?) throws -> [String: Multiset] {
        var args = ["-Y", "tpkt", "-T", "fields", "-E", "header=y", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
        if let port { args = ["-d", "tcp.port==\(port),tpkt"] + args }
        for f in fields { args += ["-e", f] }
        guard let out = TShark.run(url, args) else { throw XCTSkip("tshark absent") }
        let rows = out.split(separator: "\n").dropFirst().map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        var result: [String: Multiset] = [:]
        for r in rows where r.count == fields.count {
            func v(_ name: String) -> String { r[fields.firstIndex(of: name)!] }
            let flow = flowKey(Int(v("tcp.srcport")) ?? 0, Int(v("tcp.dstport")) ?? 0)
            var k = PDUKey()
            if v("s7comm.header.rosctr").isEmpty {
                // A COTP connect TPDU (tshark's type is the code's high nibble).
                k.add("cotp", v("cotp.type"))
                k.add("tpdu_size", v("cotp.tpdu_size"))
                k.add("src_tsap", v("cotp.src-tsap"))
                k.add("dst_tsap", v("cotp.dst-tsap"))
                result[flow, default: [:]][k.text, default: 0] += 1
                continue
            }
            let rosctr = v("s7comm.header.rosctr")
            for name in ["rosctr", "pduref", "parlg", "datlg", "errcls", "errcod"] { k.add(name, v("s7comm.header.\(name)")) }
            k.add("func", v("s7comm.param.func"))
            k.add("param_errcod", v("s7comm.param.errcod"))
            k.add("pdu_length", v("s7comm.param.pdu_length"))
            k.add("amq", v("s7comm.param.maxamq_calling").isEmpty ? nil : v("s7comm.param.maxamq_calling") + "/" + v("s7comm.param.maxamq_called"))
            k.add("itemcount", v("s7comm.param.itemcount"))
            for f in ["area", "db", "address", "transp_size", "length"] { k.add("item_\(f)", v("s7comm.param.item.\(f)")) }
            let rcs = v("s7comm.data.returncode").split(separator: ",").map(String.init)
            let lens = v("s7comm.data.length").split(separator: ",").map(String.init)
            k.add("rc", rcs.joined(separator: ","))
            // Value lengths of the items that carry one (tshark also writes a length for failed
            // items, which no value follows: the field's 4 for return code 0x0A, else 0).
            let function = v("s7comm.param.func")
            if rosctr == "7" {
                k.add("data_len", lens.joined(separator: ","))
            } else if function == "0x04" || function == "0x05" {
                let ok = zip(rcs, lens).filter { $0.0 == "0xff" || $0.0 == "0x00" }.map(\.1)
                k.add("data_len", ok.joined(separator: ","))
            }
            for f in ["type", "funcgroup", "subfunc", "seq_num", "lastdataunit"] { k.add("ud_\(f)", v("s7comm.param.userdata.\(f)")) }
            k.add("szl_id", v("s7comm.data.userdata.szl_id"))
            k.add("szl_index", v("s7comm.data.userdata.szl_index"))
            k.add("pi_service", v("s7comm.param.pistart.servicename"))
            k.add("filename", v("s7comm.param.blockcontrol.filename"))
            result[flow, default: [:]][k.text, default: 0] += 1
        }
        return result
    }

    static func cotpKey(_ c: [String: Any]) -> String {
        var k = PDUKey()
        k.add("cotp", hex((c.int("pdu_type_raw") ?? 0) >> 4, 2))
        k.add("tpdu_size", c.int("tpdu_size").map(String.init))
        k.add("src_tsap", c.str("calling_tsap").map { "0x" + $0 })
        k.add("dst_tsap", c.str("called_tsap").map { "0x" + $0 })
        return k.text
    }

    static func s7Key(_ p: [String: Any]) -> String {
        var k = PDUKey()
        let rosctr = p.int("rosctr_raw") ?? 0
        k.add("rosctr", String(rosctr))
        k.add("pduref", p.int("pdu_ref").map(String.init))
        k.add("parlg", p.int("param_length").map(String.init))
        k.add("datlg", p.int("data_length").map(String.init))
        k.add("errcls", p.int("error_class").map { hex($0, 2) })
        k.add("errcod", p.int("error_code").map { hex($0, 2) })
        k.add("func", p.int("function_raw").map { hex($0, 2) })
        k.add("param_errcod", p.int("param_error_code").map { hex($0, 4) })
        // tshark also writes a non-zero header error (class and code) as s7comm.param.errcod.
        if let c = p.int("error_class"), let e = p.int("error_code"), c | e != 0 { k.add("param_errcod", hex(c << 8 | e, 4)) }
        k.add("pdu_length", p.int("pdu_length").map(String.init))
        if let a = p.int("max_amq_calling"), let b = p.int("max_amq_called") { k.add("amq", "\(a)/\(b)") }
        k.add("itemcount", p.int("item_count").map(String.init))
        let items = p.arr("items") ?? []
        let job = rosctr == 1
        if job {
            k.add("item_area", items.map { hex($0.int("area_raw") ?? 0, 2) }.joined(separator: ","))
            k.add("item_db", items.map { String($0.int("db") ?? 0) }.joined(separator: ","))
            k.add("item_address", items.map { item -> String in
                let parts = (item.str("address") ?? "").split(separator: ".").compactMap { Int($0) }
                return hex(parts.count == 2 ? parts[0] * 8 + parts[1] : parts.first ?? 0, 6)
            }.joined(separator: ","))
            k.add("item_transp_size", items.map { String($0.int("transport_size_raw") ?? 0) }.joined(separator: ","))
            k.add("item_length", items.map { String($0.int("count") ?? 0) }.joined(separator: ","))
        }
        let function = p.int("function_raw") ?? -1
        if rosctr == 7 {
            k.add("rc", p.int("return_code_raw").map { hex($0, 2) })
            if p.int("return_code_raw") != nil { k.add("data_len", String((p.int("data_length") ?? 0) - 4)) }
        } else if job && function == 5 {
            k.add("rc", items.map { _ in "0x00" }.joined(separator: ","))
            k.add("data_len", items.compactMap { $0.int("data_length").map(String.init) }.joined(separator: ","))
        } else if !job && (function == 4 || function == 5) {
            k.add("rc", items.map { hex($0.int("return_code_raw") ?? 0, 2) }.joined(separator: ","))
            k.add("data_len", items.compactMap { $0.int("length").map(String.init) }.joined(separator: ","))
        }
        if rosctr == 7 {
            k.add("ud_type", p.int("type_raw").map(String.init))
            k.add("ud_funcgroup", p.int("function_group_raw").map(String.init))
            k.add("ud_subfunc", p.int("subfunction_raw").map(String.init))
            k.add("ud_seq_num", p.int("sequence_number").map(String.init))
            if let last = p["last_data_unit"] as? Bool { k.add("ud_lastdataunit", last ? "0x00" : "0x01") }
        }
        k.add("szl_id", p.int("szl_id").map { hex($0, 4) })
        k.add("szl_index", p.int("szl_index").map { hex($0, 4) })
        k.add("pi_service", p.str("pi_service"))
        // tshark writes the block ids of _INSE / _DELE as s7comm.param.blockcontrol.filename.
        k.add("filename", p.str("filename") ?? p.arr("blocks").map { $0.compactMap { $0.str("name") }.joined(separator: ",") })
        return k.text
    }

    /// SpanSight's PDUs per flow, from its events.
    static func ours(_ run: CaptureRun) -> [String: Multiset] {
        var result: [String: Multiset] = [:]
        for e in run.events(ofType: "s7comm") {
            guard let s = e["s7comm"] as? [String: Any], let sp = e["src_port"] as? Int, let dp = e["dest_port"] as? Int else { continue }
            let flow = flowKey(sp, dp)
            if let c = s.obj("cotp") {
                for side in ["request", "response", "notification"] {
                    if let t = c.obj(side) { result[flow, default: [:]][cotpKey(t), default: 0] += 1 }
                }
                continue
            }
            for side in ["request", "response", "notification"] {
                if let p = s.obj(side) { result[flow, default: [:]][s7Key(p), default: 0] += 1 }
            }
        }
        return result
    }

    static func differences(_ a: [String: Multiset], _ b: [String: Multiset]) -> [String] {
        var out: [String] = []
        for flow in Set(a.keys).union(b.keys).sorted() {
            let x = a[flow] ?? [:], y = b[flow] ?? [:]
            for k in Set(x.keys).union(y.keys).sorted() {
                let d = (x[k] ?? 0) - (y[k] ?? 0)
                if d > 0 { out.append("\(flow) ours+\(d): \(k)") }
                if d < 0 { out.append("\(flow) tshark+\(-d): \(k)") }
            }
        }
        return out
    }

    func fixture(_ name: String) throws -> URL {
        let u = TestPaths.fixtures.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: u.path) else { throw XCTSkip("fixtures/\(name) absent") }
        return u
    }

    /// Known, explained differences per capture (none so far: every field compared agrees).
    static let expected: [String: [String]] = [:]

    /// Every PDU of both captures as tshark dissects it, field by field.
    func testEveryPDUAgreesWithTShark() throws {
        var total = 0
        var rosctrs = Set<Int>(), functions = Set<Int>(), userdata = Set<String>(), areas = Set<String>(), rcs = Set<Int>()
        for name in Self.fixtures {
            let url = try fixture(name)
            let run = try CaptureRunner.run(url, dissectors: [S7comm.entry])
            let theirs = try Self.theirs(url, decodeAs: name.contains("port1102") ? 1102 : nil)
            let ours = Self.ours(run)
            XCTAssertEqual(Self.differences(ours, theirs), Self.expected[name] ?? [], name)
            XCTAssertFalse(ours.isEmpty, name)
            total += ours.values.reduce(0) { $0 + $1.values.reduce(0, +) }
            for e in run.events(ofType: "s7comm") {
                guard let s = e["s7comm"] as? [String: Any] else { continue }
                for side in ["request", "response", "notification"] {
                    guard let p = s.obj(side) else { continue }
                    if let r = p.int("rosctr_raw") { rosctrs.insert(r) }
                    if let f = p.int("function_raw") { functions.insert(f) }
                    if let f = p.str("function"), p.int("rosctr_raw") == 7 { userdata.insert(f) }
                    for item in p.arr("items") ?? [] {
                        if let a = item.str("area") { areas.insert(a) }
                        if let rc = item.int("return_code_raw") { rcs.insert(rc) }
                    }
                }
            }
        }
        print("s7comm fixture coverage: \(total) PDUs; ROSCTR \(rosctrs.sorted()); job functions "
              + "\(functions.sorted().map { Self.hex($0, 2) }); userdata \(userdata.sorted()); "
              + "areas \(areas.sorted()); item return codes \(rcs.sorted().map { Self.hex($0, 2) })")
    }

    /// snap7's deviations from the protocol, which SpanSight reports and tshark does not judge.
    func testSnap7Quirks() throws {
        let run = try CaptureRunner.run(try fixture("s7comm-snap7.pcap"), dissectors: [S7comm.entry])
        let anomalies = run.events(ofType: "anomaly").compactMap { ($0["anomaly"] as? [String: Any])?["name"] as? String }
        // Frame 99: the snap7 server answers the failed get_block_info (OB1, PDU reference 1024)
        // with the PDU reference of the previous answer (768), and sends 78 bytes after the 26
        // its header declares. The PDU reference pairs a response with its request, so it is
        // unsolicited, and the request is logged unanswered at the flow's end (tshark pairs no
        // userdata; it dissects the same fields, which testEveryPDUAgreesWithTShark compares).
        // Failed read items: snap7 writes the length 4 where no value follows. A failed item
        // carries no value, so SpanSight (like tshark) reads none and the next item stays
        // aligned: no item-count anomaly.
        XCTAssertEqual(anomalies.sorted(), ["s7comm.trailing_bytes", "s7comm.unanswered_request", "s7comm.unsolicited_response"])
        let unanswered = run.events(ofType: "s7comm").compactMap { $0["s7comm"] as? [String: Any] }.filter { $0.str("status") == "unanswered" }
        XCTAssertEqual(unanswered.compactMap { $0.obj("request")?.int("pdu_ref") }, [1024])
        XCTAssertEqual(unanswered.first?.obj("request")?.str("block_type"), "OB")
    }

    /// The identification, reads and writes the client printed (its transcript), as SpanSight logs them.
    func testAgreesWithTheClientTranscript() throws {
        for name in Self.fixtures {
            let url = try fixture(name)
            let log = TestPaths.fixtures.appendingPathComponent("logs/" + name.replacingOccurrences(of: ".pcap", with: ".client.txt"))
            guard let text = try? String(contentsOf: log, encoding: .utf8) else { XCTFail("no transcript for \(name)"); continue }
            let lines = text.split(separator: "\n").map(String.init)
            let observer = Collector()
            let run = try CaptureRunner.run(url, dissectors: [S7comm.entry], prepare: { engine, _ in engine.observer = observer })
            let tx = run.events(ofType: "s7comm").compactMap { e -> (Int, [String: Any])? in
                guard let s = e["s7comm"] as? [String: Any], let sp = e["src_port"] as? Int else { return nil }
                return (sp, s)
            }
            // Negotiated PDU sizes and TSAPs per connection.
            for l in lines where l.contains(": connect ") {
                guard let sport = Int(l.components(separatedBy: "source port ").last?.prefix(5) ?? ""),
                      let pdu = Int(l.components(separatedBy: "negotiated PDU ").last ?? "") else { XCTFail(l); continue }
                let mine = tx.filter { $0.0 == sport }.map(\.1)
                XCTAssertEqual(mine.first { $0.obj("request")?.str("function") == "setup_communication" }?.obj("response")?.int("pdu_length"),
                               pdu, l)
                let cr = mine.first?.obj("cotp")?.obj("request")
                if l.contains("TSAPs local 0x1000 remote 0x0301") {
                    XCTAssertEqual(cr?.str("calling_tsap"), "1000")
                    XCTAssertEqual(cr?.str("called_tsap"), "0301")
                } else if let slot = Int(l.components(separatedBy: "slot ").last?.prefix(1) ?? "") {
                    XCTAssertEqual(cr?.int("called_slot"), slot, l)
                    XCTAssertEqual(cr?.int("called_rack"), 0, l)
                }
            }
            // get_cpu_info (SZL 0x001C) and get_order_code (SZL 0x0011): the identities.
            for l in lines where l.hasPrefix("get_cpu_info") {
                for (key, field) in [("s7comm.module_type", "ModuleTypeName"), ("s7comm.serial_number", "SerialNumber"),
                                     ("s7comm.as_name", "ASName"), ("s7comm.copyright", "Copyright"), ("s7comm.module_name", "ModuleName")] {
                    let value = l.components(separatedBy: "\(field)='").last?.components(separatedBy: "'").first
                    XCTAssertEqual(observer.values[key], value.map { [$0] }, "\(name) \(key)")
                }
            }
            for l in lines where l.hasPrefix("get_order_code") {
                // python-snap7 prints as the version the last three bytes of the 0x0011 answer,
                // the end of its boot loader record (index 0x0081: "A", 32.9.9). The firmware is
                // the record of index 7 ("basic firmware": 'V', 3, 2, 6 in its version words),
                // which SpanSight reports as s7comm.firmware (and nothing for the boot loader).
                let code = l.components(separatedBy: "OrderCode='").last?.components(separatedBy: "'").first
                XCTAssertEqual(observer.values["s7comm.order_code"], code.map { [$0.trimmingCharacters(in: .whitespaces)] })
                XCTAssertTrue(l.hasSuffix("version 32.9.9"), l)
                XCTAssertEqual(observer.values["s7comm.firmware"], ["V3.2.6"])
            }
            // Reads and writes of the first connection, in order, against single-item jobs.
            let sport = name.contains("port1102") ? 40311 : 40301
            func jobs(_ f: String) -> [[String: Any]] {
                tx.filter { $0.0 == sport && $0.1.obj("request")?.str("function") == f && $0.1.obj("request")?.int("item_count") == 1 }.map(\.1)
            }
            var reads = jobs("read_var"), writes = jobs("write_var")
            for l in lines.prefix(while: { !$0.hasPrefix("conn1: disconnect") }) {
                let parts = l.components(separatedBy: " -> ")
                guard parts.count == 2 else { continue }
                let (what, result) = (parts[0], parts[1])
                func errorName() -> String { result.contains("Item not available") ? "object_does_not_exist" : "address_out_of_range" }
                if what.hasPrefix("db_read") || what.hasPrefix("read_area") || what.hasPrefix("ct_read") {
                    guard !reads.isEmpty else { XCTFail("\(name): no read for \(l)"); break }
                    let item = reads.removeFirst().obj("response")?.arr("items")?.first
                    if result.hasPrefix("ERROR") {
                        XCTAssertEqual(item?.str("return_code"), errorName(), l)
                        continue
                    }
                    let n = Int(result.components(separatedBy: " bytes").first ?? "") ?? 0
                    let bytes = result.components(separatedBy: "bytes: ").last?.replacingOccurrences(of: " ", with: "") ?? ""
                    let got = item?.str("data") ?? ""
                    XCTAssertEqual(got, String(bytes.prefix(got.count)), l)
                    XCTAssertEqual(got.count, min(2 * S7commJSON.maxDataBytes, bytes.count, 2 * (item?.int("length") ?? 0)), l)
                    // A read larger than the PDU allows is several jobs.
                    var have = item?.int("length") ?? 0
                    while have < n, !reads.isEmpty { have += reads.removeFirst().obj("response")?.arr("items")?.first?.int("length") ?? 0 }
                    XCTAssertEqual(have, n, l)
                } else if what.hasPrefix("db_write") || what.hasPrefix("write_area") || what.hasPrefix("ct_write") {
                    guard !writes.isEmpty else { XCTFail("\(name): no write for \(l)"); break }
                    let first = writes.removeFirst()
                    let rc = first.obj("response")?.arr("items")?.first?.str("return_code")
                    if result.hasPrefix("ERROR") {
                        XCTAssertEqual(rc, errorName(), l)
                        continue
                    }
                    XCTAssertEqual(rc, "success", l)
                    var have = first.obj("request")?.arr("items")?.first?.int("count") ?? 0
                    while what.contains("x512") && have < 512, !writes.isEmpty {
                        have += writes.removeFirst().obj("request")?.arr("items")?.first?.int("count") ?? 0
                    }
                    if what.hasPrefix("db_write DB1 20") {
                        XCTAssertEqual(first.obj("request")?.arr("items")?.first?.str("data"), "deadbeef")
                    }
                }
            }
            XCTAssertEqual(reads.count, 0, "\(name): reads left over")
            XCTAssertEqual(writes.count, 0, "\(name): writes left over")
            XCTAssertEqual(observer.roles, ["client s7comm.client", "server s7comm.server"], name)
            guard name == "s7comm-snap7.pcap" else { continue }
            let requests = tx.compactMap { $0.1.obj("request") }
            XCTAssertEqual(requests.first { $0.str("function") == "set_clock" }?.str("time"), "2024-01-02T10:15:00.000000+0000")
            let pi = requests.filter { $0.str("function") == "plc_control" || $0.str("function") == "plc_stop" }
            XCTAssertEqual(pi.map { "\($0.str("function") ?? "") \($0.str("pi_service") ?? "") \($0.str("arguments") ?? "")" },
                           ["plc_stop P_PROGRAM ", "plc_control P_PROGRAM C ", "plc_stop P_PROGRAM ", "plc_control P_PROGRAM ",
                            "plc_control _GARB ", "plc_control _MODU EP", "plc_control _DELE "])
            XCTAssertEqual(observer.commands.filter { $0.hasPrefix("plc_") && !$0.hasPrefix("plc_password") },
                           ["plc_stop control", "plc_start control", "plc_stop control", "plc_start control",
                            "plc_compress_memory control", "plc_copy_ram_to_rom file", "plc_delete_block file"])
            // The refused upload (protection level): an ack with error 0xD241, an outcome.
            XCTAssertTrue(observer.outcomes.contains("s7comm.error \(0xD241)"), "\(observer.outcomes)")
        }
    }

    /// Collects identities, commands, roles (distinct) and outcomes as an observer of the engine.
    final class Collector: EngineObserver {
        var values: [String: [String]] = [:]
        var commands: [String] = []
        var roles: [String] = []
        var outcomes: [String] = []
        func observe(_ observation: Observation, flow: borrowing FlowRecord, timestampNanos: Int64, app: ProtocolModule?) {
            switch observation {
            case .identity(_, let key, let value):
                if !(values["\(key)"] ?? []).contains(value) { values["\(key)", default: []].append(value) }
            case .command(let c): commands.append("\(c.name) \(c.operation)")
            case .role(let side, let name): if !roles.contains("\(side) \(name)") { roles.append("\(side) \(name)") }
            case .outcome(_, let name, _, let code): outcomes.append("\(name) \(code)")
            default: break
            }
        }
        func flowEnded(_ flow: borrowing FlowRecord, app: ProtocolModule?, operations: UInt16) {}
    }
}

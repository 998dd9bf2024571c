import XCTest
import SpanSightDICOM
import SpanSightDNP3
import SpanSightEngine
import SpanSightHL7
import SpanSightModbus
import SpanSightTestSupport
import SpanSightWire

/// The memory budget (issue 16 §1): the charged bytes are what the sessions hold (checked
/// against the allocator's own counters), every share stays within its limit whatever the
/// traffic, shedding is fair, and what is shed is counted and said.
final class MemoryBudgetTests: XCTestCase {
    // MARK: traffic

    /// TCP conversations driven into an engine, with sequence numbers kept per flow.
    final class Traffic {
        let engine: Engine
        let output: EventOutput
        var micros: Int64 = 1_764_158_400_000_000
        var seq: [Int: (UInt32, UInt32)] = [:]

        init(_ dissectors: [DissectorEntry], budget: Int, events: Bool = true, configure: (inout EngineConfig) -> Void = { _ in }) {
            var c = EngineConfig()
            c.dissectors = dissectors
            c.memoryBudget = budget
            configure(&c)
            output = events ? EventOutput.inMemory() : EventOutput.disabled()
            engine = Engine(config: c, output: output)
            _ = engine.setLinkType(dlt: 1)
        }

        func client(_ flow: Int) -> String { "10.\(20 + flow / 65_000).\(flow / 250 % 250).\(flow % 250 + 1)" }
        func port(_ flow: Int) -> UInt16 { UInt16(20_000 + flow % 40_000) }

        func feed(_ frame: [UInt8]) {
            micros += 20
            frame.withUnsafeBytes { engine.process($0, wireLength: frame.count, timestampNanos: micros * 1000) }
        }

        func open(_ flow: Int, port server: UInt16) {
            seq[flow] = (1000, 5000)
            feed(PacketBuilder.tcp(src: client(flow), sport: port(flow), dst: "10.0.0.1", dport: server, seq: 999, flags: PacketBuilder.syn, payload: []))
            feed(PacketBuilder.tcp(src: "10.0.0.1", sport: server, dst: client(flow), dport: port(flow), seq: 4999, ack: 1000,
                                   flags: PacketBuilder.syn | PacketBuilder.ackFlag, payload: []))
        }

        func send(_ flow: Int, port server: UInt16, fromClient: Bool = true, _ payload: [UInt8]) {
            guard var s = seq[flow] else { return }
            if fromClient {
                feed(PacketBuilder.tcp(src: client(flow), sport: port(flow), dst: "10.0.0.1", dport: server, seq: s.0, ack: s.1,
                                       flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: payload))
                s.0 &+= UInt32(payload.count)
            } else {
                feed(PacketBuilder.tcp(src: "10.0.0.1", sport: server, dst: client(flow), dport: port(flow), seq: s.1, ack: s.0,
                                       flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: payload))
                s.1 &+= UInt32(payload.count)
            }
            seq[flow] = s
        }

        func events(_ type: String) -> [[String: Any]] {
            output.lines.compactMap { line in
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      o["event_type"] as? String == type else { return nil }
                return o
            }
        }
    }

    /// A Modbus/TCP read-holding-registers request (MBAP + PDU, 12 bytes).
    static func modbusRequest(_ tid: Int) -> [UInt8] {
        PacketBuilder.be16(UInt16(tid & 0xFFFF)) + [0, 0, 0, 6, 1, 3, 0, 0, 0, 10]
    }

    /// Its response: ten registers (MBAP length 23, byte count 20).
    static func modbusResponse(_ tid: Int) -> [UInt8] {
        PacketBuilder.be16(UInt16(tid & 0xFFFF)) + [0, 0, 0, 23, 1, 3, 20] + [UInt8](repeating: 7, count: 20)
    }

    /// An HL7 message header in MLLP framing, without its end block (a frame that never ends).
    static let hl7Start: [UInt8] = [0x0B] + Array("MSH|^~\\&|LAB|HOSP|EHR|HOSP|20250101000000||ORU^R01|1|P|2.5\r".utf8)
    static let hl7Segment: [UInt8] = Array(("OBX|1|NM|GLU||" + String(repeating: "9", count: 900) + "\r").utf8)

    static func mean(_ heap: Int, _ charged: Int) -> String { "freed \(heap) B, charged \(charged) B" }

    // MARK: options and shares

    func testSizesAndShares() throws {
        XCTAssertEqual(MemoryBudget.parseSize("512M"), 512 << 20)
        XCTAssertEqual(MemoryBudget.parseSize("2G"), 2 << 30)
        XCTAssertEqual(MemoryBudget.parseSize("64MiB"), 64 << 20)
        XCTAssertEqual(MemoryBudget.parseSize("1048576"), 1 << 20)
        XCTAssertNil(MemoryBudget.parseSize("12X"))
        XCTAssertNil(MemoryBudget.parseSize("-5M"))
        XCTAssertNil(MemoryBudget.parseSize("99999999999999G"))
        let s = try XCTUnwrap(MemoryBudget.shares(total: 512 << 20))
        XCTAssertEqual(s.total, 512 << 20, "the shares add up to the budget")
        XCTAssertEqual(s.appLayer, 256 << 20)
        XCTAssertEqual(s.reassembly, 128 << 20)
        XCTAssertEqual(s.perFlow, 4 << 20)
        // Explicit sizes come out of the app layer; too much of them is refused.
        XCTAssertEqual(MemoryBudget.shares(total: 512 << 20, reassembly: 64 << 20)?.appLayer, 320 << 20)
        XCTAssertNil(MemoryBudget.shares(total: 512 << 20, reassembly: 400 << 20))
        var c = EngineConfig()
        XCTAssertEqual(c.effectiveMaxFlows, min(262_144, (64 << 20) / FlowTable.bytesPerFlow))
        c.memoryBudget = 16 << 20
        XCTAssertEqual(c.effectiveMaxFlows, (2 << 20) / FlowTable.bytesPerFlow)
        c.maxFlows = 1000
        XCTAssertEqual(c.effectiveMaxFlows, 1000)
    }

    // MARK: charged bytes are what is held

    /// Opens `flows` conversations of one protocol that leave state behind (open requests,
    /// partial PDUs), then ends them: the heap bytes freed when the sessions end must be the
    /// bytes they were charged (the allocator's counters, not our arithmetic), and nothing
    /// may stay charged.
    func checkAccounting(_ name: String, _ entry: DissectorEntry, port: UInt16, flows: Int,
                         _ drive: (Traffic, Int) -> Void, file: StaticString = #filePath, line: UInt = #line) {
        let t = Traffic([entry], budget: 512 << 20, events: false)
        for f in 0..<flows { t.open(f, port: port) }
        for f in 0..<flows { drive(t, f) }
        let charged = t.engine.budget.appLayerUsed
        XCTAssertGreaterThan(charged, flows * 256, "\(name): the traffic left state to account for", file: file, line: line)
        let before = heapBytesInUse()
        t.engine.finish()
        let freed = before - heapBytesInUse()
        XCTAssertEqual(t.engine.budget.appLayerUsed, 0, "\(name): every charge given back when the sessions end", file: file, line: line)
        // Within 10 %, and 512 bytes a flow of state not charged (a session's small arrays).
        XCTAssertLessThanOrEqual(abs(freed - charged), charged / 10 + flows * 512,
                                 "\(name): \(Self.mean(freed, charged)) for \(flows) flows", file: file, line: line)
    }

    /// What is charged depends on the traffic, never on the heap's history: a golden `stats`
    /// event once differed in CI because charges came from malloc_usable_size. A session
    /// object costs its class's instance size as glibc rounds a request (16 bytes of class
    /// header + 8 of `Int` = 24; + 7 more words and a byte = 81, rounded to 88), the same
    /// after the heap was churned; buffers charge their reserved size.
    func testChargesDoNotDependOnHeapHistory() {
        final class OneWord { var a = 1 }
        final class Odd { var a = 1; var b = (1, 2, 3, 4, 5, 6, 7); var c: UInt8 = 0 }
        XCTAssertEqual(heapSize(of: OneWord()), 24)
        XCTAssertEqual(heapSize(of: Odd()), 88)
        var churn: [[UInt8]] = []
        for i in 0..<2000 { churn.append([UInt8](repeating: 0, count: 40 + (i * 37) % 300)) }
        for i in stride(from: 0, to: churn.count, by: 3) { churn[i] = [] }
        let sizes = (0..<200).map { _ in heapSize(of: Odd()) }
        XCTAssertEqual(Set(sizes), [88])
        XCTAssertEqual(reservedSize(for: 0, floor: 64), 64)
        XCTAssertEqual(reservedSize(for: 65, floor: 64), 128)
        XCTAssertEqual(reservedSize(for: 1025, floor: 1024), 2048)
        // Each dissector's session, fed the same bytes, charges the same on every run.
        let starts: [(DissectorEntry, UInt16, [UInt8])] = [
            (Modbus.entry, 502, Self.modbusRequest(1)), (HL7.entry, 2575, Self.hl7Start),
            (DNP3.entry, 20000, DNP3Frames.segment(sequence: 0, first: true)),
            (DICOM.entry, 104, DICOMFrames.associateStart(length: 60_000)),
        ]
        for (entry, port, bytes) in starts {
            let charges = (0..<3).map { _ -> Int in
                let t = Traffic([entry], budget: 512 << 20, events: false)
                t.open(0, port: port)
                t.send(0, port: port, bytes)
                return t.engine.budget.appLayerUsed
            }
            XCTAssertGreaterThan(charges[0], 0, "\(entry.name)")
            XCTAssertEqual(Set(charges).count, 1, "\(entry.name): \(charges)")
        }
    }

    func testChargedBytesAreHeldBytes() {
        checkAccounting("modbus", Modbus.entry, port: 502, flows: 200) { t, f in
            for r in 0..<300 { t.send(f, port: 502, Self.modbusRequest(r)) }
            t.send(f, port: 502, Array(Self.modbusRequest(9999).prefix(7)))
        }
        checkAccounting("hl7", HL7.entry, port: 2575, flows: 50) { t, f in
            t.send(f, port: 2575, Self.hl7Start)
            for _ in 0..<40 { t.send(f, port: 2575, Self.hl7Segment) }
        }
        checkAccounting("dnp3", DNP3.entry, port: 20000, flows: 100) { t, f in
            for s in 0..<40 { t.send(f, port: 20000, DNP3Frames.segment(sequence: s, first: s == 0)) }
        }
        checkAccounting("dicom", DICOM.entry, port: 104, flows: 100) { t, f in
            t.send(f, port: 104, DICOMFrames.associateStart(length: 60_000))
            for _ in 0..<20 { t.send(f, port: 104, [UInt8](repeating: 0x20, count: 1400)) }
        }
    }

    // MARK: bounded whatever the traffic

    /// Unanswered Modbus requests over many flows under a small budget: the app layer never
    /// passes its share, state is shed (counted, with an anomaly on each flow shed), and no
    /// request is lost silently: each has its `modbus` event.
    func testFloodStaysWithinBudgetAndEveryRequestIsLogged() throws {
        let t = Traffic([Modbus.entry], budget: 16 << 20)
        let flows = 100, requests = 1100
        for f in 0..<flows { t.open(f, port: 502) }
        for r in 0..<requests {
            for f in 0..<flows { t.send(f, port: 502, Self.modbusRequest(r)) }
        }
        let b = t.engine.budget
        XCTAssertLessThanOrEqual(b.appLayerPeak, b.shares.appLayer, "app layer within its share")
        XCTAssertGreaterThan(b.shedItems[MemoryKind.transactions.rawValue], 0)
        t.engine.finish()
        XCTAssertEqual(t.events("modbus").count, flows * requests, "every request has its event, shed or not")
        let memcap = t.events("anomaly").filter { ($0["anomaly"] as? [String: Any])?["name"] as? String == "applayer.memcap" }
        XCTAssertFalse(memcap.isEmpty)
        for a in memcap.map({ $0["anomaly"] as? [String: Any] ?? [:] }) where a["cause"] as? String == "budget" {
            XCTAssertGreaterThan(a["items"] as? Int ?? 0, 0, "a flow shed says how much")
            XCTAssertGreaterThan(a["bytes"] as? Int ?? 0, 0)
        }
        let capped = memcap.filter { ($0["anomaly"] as? [String: Any])?["cause"] as? String == "flow_cap" }
        XCTAssertEqual(Set(capped.compactMap { $0["src_port"] as? Int }).count, capped.count, "a flow's refusal is said once")
        t.engine.emitStats()
        let stats = try XCTUnwrap(t.events("stats").last?["stats"] as? [String: Any])
        let memory = try XCTUnwrap(stats["memory"] as? [String: Any])
        XCTAssertEqual(memory["budget"] as? Int, 16 << 20)
        let tx = try XCTUnwrap(memory["transactions"] as? [String: Any])
        XCTAssertEqual(tx["shed"] as? Int, Int(b.shedItems[MemoryKind.transactions.rawValue]))
    }

    /// One flow flooding requests is held at its per-flow cap: it sheds its own oldest, and
    /// the other flows keep every open request until its response comes.
    func testOneFloodingFlowCannotEvictTheOthers() {
        let t = Traffic([Modbus.entry], budget: 32 << 20)
        let quiet = 20
        for f in 0...quiet { t.open(f, port: 502) }
        for f in 1...quiet { for r in 0..<50 { t.send(f, port: 502, Self.modbusRequest(r)) } }
        for r in 0..<50_000 { t.send(0, port: 502, Self.modbusRequest(r)) }
        for f in 1...quiet { for r in 0..<50 { t.send(f, port: 502, fromClient: false, Self.modbusResponse(r)) } }
        t.engine.finish()
        let b = t.engine.budget
        XCTAssertGreaterThan(b.perFlowCapHits, 0, "the flooding flow reached its cap")
        let byFlow = Dictionary(grouping: t.events("modbus"), by: { $0["src_port"] as? Int ?? -1 })
        for f in 1...quiet {
            let events = byFlow[Int(t.port(f))] ?? []
            XCTAssertEqual(events.count, 50)
            XCTAssertTrue(events.allSatisfy { (($0["modbus"] as? [String: Any])?["response"]) != nil },
                          "flow \(f): every request answered, none shed")
        }
    }

    /// Many small idle flows filling the share do not starve a busy one: what is shed is the
    /// least recently active flows' state.
    func testManySmallFlowsDoNotStarveABusyOne() {
        let t = Traffic([Modbus.entry], budget: 16 << 20)
        t.open(0, port: 502)
        var tid = 0
        for f in 1...3000 {
            t.open(f, port: 502)
            for r in 0..<20 { t.send(f, port: 502, Self.modbusRequest(r)) }
            // The busy flow keeps 200 requests open and answers the oldest as new ones come.
            t.send(0, port: 502, Self.modbusRequest(tid))
            if tid >= 200 { t.send(0, port: 502, fromClient: false, Self.modbusResponse(tid - 200)) }
            tid += 1
        }
        for r in (tid - 200)..<tid { t.send(0, port: 502, fromClient: false, Self.modbusResponse(r)) }
        XCTAssertGreaterThan(t.engine.budget.shedItems[MemoryKind.transactions.rawValue], 0, "the small flows filled the share")
        t.engine.finish()
        let busy = t.events("modbus").filter { $0["src_port"] as? Int == Int(t.port(0)) }
        XCTAssertEqual(busy.count, tid)
        XCTAssertEqual(busy.filter { (($0["modbus"] as? [String: Any])?["response"]) == nil }.count, 0,
                       "the busy flow lost no open request")
    }

    /// Frames that never end (HL7) and fragments never finished (DNP3), under a small budget.
    func testUnendingFramesStayWithinBudget() {
        let hl7 = Traffic([HL7.entry], budget: 16 << 20, events: false)
        for f in 0..<100 { hl7.open(f, port: 2575); hl7.send(f, port: 2575, Self.hl7Start) }
        for _ in 0..<300 { for f in 0..<100 { hl7.send(f, port: 2575, Self.hl7Segment) } }
        XCTAssertLessThanOrEqual(hl7.engine.budget.appLayerPeak, hl7.engine.budget.shares.appLayer)
        XCTAssertGreaterThan(hl7.engine.budget.refusalCount + hl7.engine.budget.shedItems[MemoryKind.pdus.rawValue], 0)

        let dnp3 = Traffic([DNP3.entry], budget: 16 << 20, events: false)
        for f in 0..<400 { dnp3.open(f, port: 20000) }
        for s in 0..<60 { for f in 0..<400 { dnp3.send(f, port: 20000, DNP3Frames.segment(sequence: s, first: s == 0, source: UInt16(f % 4))) } }
        XCTAssertLessThanOrEqual(dnp3.engine.budget.appLayerPeak, dnp3.engine.budget.shares.appLayer)
    }
}

/// DNP3 link frames with correct CRCs carrying transport segments of one fragment.
enum DNP3Frames {
    static func crc(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var c: UInt16 = 0
        for b in bytes {
            c ^= UInt16(b)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xA6BC : c >> 1 }
        }
        c = ~c
        return [UInt8(c & 0xFF), UInt8(c >> 8)]
    }

    /// A frame from master `source` to outstation 10: FIR on the first segment, never FIN,
    /// 200 bytes of user data after the transport octet.
    static func segment(sequence: Int, first: Bool, source: UInt16 = 1) -> [UInt8] {
        let data = [UInt8((first ? 0x40 : 0) | (sequence & 0x3F))] + [UInt8](repeating: 0x55, count: 200)
        var header: [UInt8] = [0x05, 0x64, UInt8(5 + data.count), 0xC4, 10, 0, UInt8(source & 0xFF), UInt8(source >> 8)]
        header += crc(header[...])
        var frame = header
        var i = 0
        while i < data.count {
            let block = data[i..<min(i + 16, data.count)]
            frame += block + crc(block)
            i += 16
        }
        return frame
    }
}

/// DICOM PDUs that never complete.
enum DICOMFrames {
    /// An A-ASSOCIATE-RQ header announcing `length` bytes, protocol version 1 and AE titles
    /// (the start of a PDU whose rest never comes whole).
    static func associateStart(length: UInt32) -> [UInt8] {
        var pdu: [UInt8] = [0x01, 0x00] + PacketBuilder.be32(length) + [0x00, 0x01, 0x00, 0x00]
        pdu += Array("PACS_MAIN       ".utf8) + Array("MODALITY01      ".utf8) + [UInt8](repeating: 0, count: 32)
        return pdu
    }
}

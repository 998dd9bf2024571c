import XCTest
import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
@testable import SpanSightDNP3

final class DNP3StreamTests: XCTestCase {
    /// A conversation: read (class 0123) answered by analog and binary points; a write of the
    /// time split over three transport segments; garbage and a bad-CRC header in the client
    /// stream; a direct operate CROB answered; an unsolicited response with a binary event.
    static var clientStream: [UInt8] {
        var c = DNP3Build.request([0xC1, 0x01, 0x3C, 0x02, 0x06, 0x3C, 0x03, 0x06, 0x3C, 0x04, 0x06, 0x3C, 0x01, 0x06])
        c += DNP3Build.request([0xC2, 0x02, 0x32, 0x01, 0x07, 0x01, 0x10, 0x32, 0x54, 0x76, 0x98, 0x01], segment: 4)
        c += [0x01, 0x02, 0x03] + [0x05, 0x64, 0xFF, 0xC4, 0x0A, 0x00, 0x01, 0x00, 0x00, 0x00]
        c += DNP3Build.request([0xC3, 0x05, 0x0C, 0x01, 0x17, 0x01, 0x03, 0x01, 0x01, 0x64, 0, 0, 0, 0xC8, 0, 0, 0, 0])
        return c
    }

    static var serverStream: [UInt8] {
        var s = DNP3Build.response([0xC1, 0x81, 0x00, 0x00,
                                    0x1E, 0x01, 0x00, 0x00, 0x01, 0x01, 0x10, 0x00, 0x00, 0x00, 0x01, 0xFE, 0xFF, 0xFF, 0xFF,
                                    0x01, 0x02, 0x00, 0x05, 0x06, 0x81, 0x01])
        s += DNP3Build.response([0xC2, 0x81, 0x00, 0x00])
        s += DNP3Build.response([0xC3, 0x81, 0x00, 0x00, 0x0C, 0x01, 0x17, 0x01, 0x03, 0x01, 0x01, 0x64, 0, 0, 0, 0xC8, 0, 0, 0, 0])
        s += DNP3Build.response([0xF4, 0x82, 0x02, 0x00, 0x02, 0x02, 0x17, 0x01, 0x07, 0x81, 0x10, 0x32, 0x54, 0x76, 0x98, 0x01])
        return s
    }

    static func run(client: [[UInt8]], server: [[UInt8]]) -> [String] {
        DNP3Run.tcp(client.map { (true, $0) } + server.map { (false, $0) })
    }

    /// A request's command observation names its object headers ("g60v2 g60v3 ..."), written
    /// without a String per header; two- and three-digit groups and variations included.
    func testCommandObservationListsTheObjectHeaders() {
        final class Commands: EngineObserver {
            var details: [String?] = []
            func observe(_ o: Observation, flow: borrowing FlowRecord, timestampNanos: Int64, app: StaticString?) {
                if case .command(let c) = o { details.append(c.detail) }
            }
            func flowEnded(_ flow: borrowing FlowRecord, app: StaticString?, operations: UInt16) {}
        }
        let h = EngineHarness(dissectors: [DNP3.entry])
        let commands = Commands()
        h.engine.observer = commands
        // READ class 1, 2, 3, 0 data (g60v2..v4, v1; qualifier 0x06, all points), then READ g120v1
        // (a three-digit group).
        let read: [UInt8] = [0xC0, 0x01, 60, 2, 0x06, 60, 3, 0x06, 60, 4, 0x06, 60, 1, 0x06]
        let big: [UInt8] = [0xC1, 0x01, 120, 1, 0x06]
        h.feed(PacketBuilder.tcp(src: "10.0.0.1", sport: 40000, dst: "10.0.0.2", dport: 20000, seq: 1,
                                 flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: DNP3Build.request(read)))
        h.feed(PacketBuilder.tcp(src: "10.0.0.1", sport: 40000, dst: "10.0.0.2", dport: 20000,
                                 seq: 1 + UInt32(DNP3Build.request(read).count),
                                 flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: DNP3Build.request(big)))
        _ = h.finish()
        XCTAssertEqual(commands.details, ["g60v2 g60v3 g60v4 g60v1", "g120v1"])
    }

    func testConversationContent() {
        let lines = Self.run(client: [Self.clientStream], server: [Self.serverStream])
        XCTAssertEQ(DNP3Run.anomalies(lines), ["dnp3.header_lacks_magic", "dnp3.bad_link_crc"])
        let events = DNP3Run.dnp3(lines)
        XCTAssertEQ(events.map { $0["type"] as? String ?? "" }, ["response", "response", "response", "unsolicited_response"])
        // Read paired with its response; the response's points.
        let read = events[0]
        let reqApp = (read["request"] as? [String: Any])?["application"] as? [String: Any]
        XCTAssertEQ(reqApp?["function"] as? String, "read")
        XCTAssertEQ((reqApp?["objects"] as? [[String: Any]])?.map { $0["variation"] as? Int ?? -1 }, [2, 3, 4, 1])
        let rsp = read["response"] as? [String: Any]
        XCTAssertEQ(rsp?["src"] as? Int, 10)
        XCTAssertEQ((rsp?["control"] as? [String: Any])?["function"] as? String, "unconfirmed_user_data")
        let objs = (rsp?["application"] as? [String: Any])?["objects"] as? [[String: Any]] ?? []
        XCTAssertEQ(objs.count, 2)
        let analog = objs.first?["points"] as? [[String: Any]] ?? []
        XCTAssertEQ(analog.map { $0["value"] as? Int ?? 0 }, [16, -2])
        XCTAssertEQ(analog.map { $0["flags"] as? Int ?? 0 }, [1, 1])
        let binary = objs.last?["points"] as? [[String: Any]] ?? []
        XCTAssertEQ(binary.map { $0["index"] as? Int ?? 0 }, [5, 6])
        XCTAssertEQ(binary.map { $0["value"] as? Int ?? 0 }, [1, 0])
        // Write of g50v1 rebuilt from three transport segments.
        let write = (events[1]["request"] as? [String: Any])?["application"] as? [String: Any]
        let time = ((write?["objects"] as? [[String: Any]])?.first?["points"] as? [[String: Any]])?.first
        XCTAssertEQ(time?["timestamp"] as? Int, 0x0198_7654_3210)
        // CROB echoed.
        let crob = (((events[2]["response"] as? [String: Any])?["application"] as? [String: Any])?["objects"] as? [[String: Any]])?
            .first?["points"] as? [[String: Any]]
        XCTAssertEQ(crob?.first?["control_code"] as? Int, 1)
        XCTAssertEQ(crob?.first?["index"] as? Int, 3)
        XCTAssertEQ(crob?.first?["on_time"] as? Int, 100)
        XCTAssertEQ(crob?.first?["off_time"] as? Int, 200)
        // Unsolicited response: IIN names, g2v2 event with time.
        let uns = events[3]["response"] as? [String: Any]
        XCTAssertEQ((uns?["iin"] as? [String: Any])?["names"] as? [String], ["class_1_events"])
        XCTAssertEQ((uns?["iin"] as? [String: Any])?["raw"] as? Int, 0x0200)
        let ev = ((uns?["application"] as? [String: Any])?["objects"] as? [[String: Any]])?.first?["points"] as? [[String: Any]]
        XCTAssertEQ(ev?.first?["index"] as? Int, 7)
        XCTAssertEQ(ev?.first?["value"] as? Int, 1)
    }

    /// Same output whether each stream arrives whole, a byte at a time, or split at every offset.
    func testSplitsGiveSameOutput() {
        let c = Self.clientStream, s = Self.serverStream
        let whole = Self.run(client: [c], server: [s])
        XCTAssertFalse(whole.isEmpty)
        XCTAssertEQ(Self.run(client: c.map { [$0] }, server: s.map { [$0] }), whole, "byte by byte")
        for k in 1..<c.count {
            XCTAssertEQ(Self.run(client: [Array(c[0..<k]), Array(c[k...])], server: [s]), whole, "client split at \(k)")
        }
        for k in 1..<s.count {
            XCTAssertEQ(Self.run(client: [c], server: [Array(s[0..<k]), Array(s[k...])]), whole, "server split at \(k)")
        }
    }

    /// The UDP form of the conversation (one frame per datagram) logs the same transactions.
    func testUDPMatchesTCP() {
        let tcp = DNP3Run.dnp3(Self.run(client: [Self.clientStream], server: [Self.serverStream]))
        func frames(_ b: [UInt8]) -> [[UInt8]] {
            var out: [[UInt8]] = [], i = 0
            while i + 10 <= b.count {
                if b[i] == 0x05 && b[i + 1] == 0x64, b[i + 2] >= 5, DNP3CRC.crc(Array(b[i..<i + 8])) == UInt16(b[i + 8]) | UInt16(b[i + 9]) << 8 {
                    let n = DNP3LinkHeader.frameSize(length: b[i + 2])
                    out.append(Array(b[i..<min(b.count, i + n)])); i += n
                } else { i += 1 }
            }
            return out
        }
        let udp = DNP3Run.dnp3(DNP3Run.udp(frames(Self.clientStream).map { (true, $0) } + frames(Self.serverStream).map { (false, $0) }))
        XCTAssertEQ(udp.count, tcp.count)
        XCTAssertEQ(udp.map { $0["type"] as? String ?? "" }, tcp.map { $0["type"] as? String ?? "" })
    }

    func testTransportAnomalies() {
        // A non-FIR segment with nothing before it, then FIR seq 0 followed by seq 2.
        let app: [UInt8] = [0xC0, 0x01, 0x3C, 0x02, 0x06]
        let orphan = DNP3Build.frame(dst: 10, src: 1, control: 0xC4, userData: [0x85] + app)
        let first = DNP3Build.frame(dst: 10, src: 1, control: 0xC4, userData: [0x40] + app)
        let skipped = DNP3Build.frame(dst: 10, src: 1, control: 0xC4, userData: [0x82] + app)
        let lines = DNP3Run.tcp([(true, orphan + first + skipped)])
        XCTAssertEQ(DNP3Run.anomalies(lines), ["dnp3.transport_missing_fir", "dnp3.transport_out_of_sequence"])
        XCTAssertEQ(DNP3Run.dnp3(lines).count, 0)
    }

    func testTooLongReassemblyAndCaps() {
        var limits = DNP3Limits()
        limits.maxFragmentBytes = 600
        let entry = DNP3.makeEntry(limits: limits)
        let big = [0xC0, 0x02, 0x6E, 0xFF, 0x07, 0x03] + Array(repeating: UInt8(0x41), count: 3 * 255)
        let lines = DNP3Run.tcp([(true, DNP3Build.request(big))], entry: entry)
        XCTAssertEQ(DNP3Run.anomalies(lines), ["dnp3.too_long_reassembly"])
        // Point and object caps: g1v1 with 65535 points (sv-dnp3-max-points), 100 g60 headers.
        let points: [UInt8] = [0xC0, 0x02, 0x01, 0x01, 0x01, 0x00, 0x00, 0xFE, 0xFF] + Array(repeating: 0xFF, count: 8192)
        var headers: [UInt8] = [0xC1, 0x01]
        for _ in 0..<100 { headers += [0x3C, 0x01, 0x06] }
        let capped = DNP3Run.tcp([(true, DNP3Build.request(points) + DNP3Build.request(headers))])
        XCTAssertEQ(DNP3Run.anomalies(capped), ["dnp3.too_many_points", "dnp3.too_many_objects"])
        let reqs = DNP3Run.dnp3(capped).compactMap { ($0["request"] as? [String: Any])?["application"] as? [String: Any] }
        XCTAssertEQ(reqs.count, 2)
        // The big write was kept truncated (2048 octets) but its first points are logged.
        XCTAssertEQ(reqs[0]["truncated"] as? Bool, true)
        let obj = (reqs[0]["objects"] as? [[String: Any]])?.first
        XCTAssertEQ(obj?["point_count"] as? Int, 65535)
        XCTAssertEQ((obj?["points"] as? [Any])?.count, 256)
        XCTAssertEQ(obj?["points_truncated"] as? Bool, true)
        XCTAssertEQ((reqs[1]["objects"] as? [Any])?.count, 64)
    }

    func testTransactions() {
        // A confirm and a no-ack operate are logged at once; an unanswered read at the end;
        // a response nobody asked for on its own; 33 unanswered requests flood.
        var c = DNP3Build.request([0xC0, 0x00])
        c += DNP3Build.request([0xC1, 0x06, 0x0C, 0x01, 0x17, 0x01, 0x00, 0x01, 0x01, 0x64, 0, 0, 0, 0x64, 0, 0, 0, 0])
        c += DNP3Build.request([0xC2, 0x01, 0x3C, 0x01, 0x06])
        let s = DNP3Build.response([0xC9, 0x81, 0x80, 0x00])
        let lines = DNP3Run.tcp([(true, c), (false, s)])
        let events = DNP3Run.dnp3(lines)
        let summary = events.map { e -> String in
            let side = (e["request"] ?? e["response"]) as? [String: Any]
            return "\(e["type"] as? String ?? ""):\((side?["application"] as? [String: Any])?["function"] as? String ?? "")"
        }
        XCTAssertEQ(summary, ["request:confirm", "request:direct_operate_no_ack", "response:response", "request:read"])
        XCTAssertEQ(((events[2]["response"] as? [String: Any])?["iin"] as? [String: Any])?["names"] as? [String], ["device_restart"])
        var flood: [UInt8] = []
        for i in 0..<33 { flood += DNP3Build.request([0xC0 | UInt8(i % 16), 0x03, 0x0C, 0x01, 0x28, 0x01, 0x00, 0x01, 0x00,
                                                     0x03, 0x01, 0x64, 0, 0, 0, 0x64, 0, 0, 0, 0]) }
        let flooded = DNP3Run.tcp([(true, flood)])
        XCTAssertEQ(DNP3Run.anomalies(flooded), ["dnp3.flooded"])
        XCTAssertEQ(DNP3Run.dnp3(flooded).count, 33)
    }

    /// Garbage fragments never trap: every byte value at every position of a small response.
    func testGarbageApplicationBytes() {
        let base: [UInt8] = [0xC0, 0x81, 0x00, 0x00, 0x1E, 0x05, 0x00, 0x00, 0x01, 0x01, 0, 0, 0x80, 0x3F]
        var datagrams: [(Bool, [UInt8])] = []
        for i in 0..<base.count {
            for v in stride(from: 0, through: 255, by: 7) {
                var b = base
                b[i] = UInt8(v)
                datagrams.append((false, DNP3Build.response(b)))
            }
        }
        let lines = DNP3Run.udp(datagrams)
        XCTAssertFalse(lines.contains { $0.hasPrefix("INVALID") })
        XCTAssertGreaterThan(DNP3Run.dnp3(lines).count, 0)
    }
}

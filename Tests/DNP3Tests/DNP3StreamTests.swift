import Foundation
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
            func observe(_ o: Observation, flow: borrowing FlowRecord, timestampNanos: Int64, app: ProtocolModule?) {
                if case .command(let c) = o { details.append(c.detail) }
            }
            func flowEnded(_ flow: borrowing FlowRecord, app: ProtocolModule?, operations: UInt16) {}
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
        // One event per message, in Suricata's shape: each request's, then its response's.
        XCTAssertEQ(events.map { $0.string("type") ?? "" },
                    ["request", "response", "request", "response", "request", "response", "unsolicited_response"])
        XCTAssertEQ(events.map { $0.int("id") ?? -1 }, [0, 0, 1, 1, 2, 2, 3])
        XCTAssertEQ(events.map { $0.string("status") ?? "" },
                    ["complete", "complete", "complete", "complete", "complete", "complete", "unsolicited"])
        // Read paired with its response; the response's points.
        let read = events[0]
        let reqApp = read.object("application")
        XCTAssertEQ(reqApp?.string("function"), "read")
        XCTAssertEQ(reqApp?["complete"] as? Bool, true)
        XCTAssertEQ(reqApp?.objects("objects").map { $0.int("variation") ?? -1 }, [2, 3, 4, 1])
        // Class reads list no points: the key is left out, never an empty array.
        XCTAssertEQ(reqApp?.objects("objects").filter { $0["points"] != nil }.count, 0)
        XCTAssertEQ(read.int("src"), 1)
        XCTAssertEQ(read.object("control")?["pri"] as? Bool, true)
        XCTAssertEQ(read.object("control")?["dir"] as? Bool, true)
        XCTAssertNil(read["iin"])
        XCTAssertNil(read["latency_ms"])
        let rsp = events[1]
        XCTAssertEQ(rsp.int("src"), 10)
        XCTAssertEQ(rsp.int("dst"), 1)
        XCTAssertEQ(rsp.object("control")?.string("function"), "unconfirmed_user_data")
        XCTAssertEQ(rsp.object("control")?["dir"] as? Bool, false)
        // Requests in the fourth packet, responses in the fifth, 1 ms apart.
        XCTAssertEQ(events.compactMap { $0["latency_ms"] as? Double }, [1, 1, 1])
        // IIN 0: `iin` without `indicators` (Suricata's schema wants at least one).
        XCTAssertNil(rsp.object("iin")?["indicators"])
        XCTAssertEQ(rsp.object("iin")?.int("raw"), 0)
        let objs = rsp.object("application")?.objects("objects") ?? []
        XCTAssertEQ(objs.count, 2)
        // g30v1 start 0 stop 1: Suricata's count is the number of objects.
        XCTAssertEQ(objs.first?.int("count"), 2)
        let analog = objs.first?.objects("points") ?? []
        XCTAssertEQ(analog.map { $0.int("value") ?? 0 }, [16, -2])
        XCTAssertEQ(analog.map { $0.int("flags") ?? 0 }, [1, 1])
        XCTAssertEQ(analog.map { $0.int("online") ?? -1 }, [1, 1])
        XCTAssertEQ(analog.map { $0.int("over_range") ?? -1 }, [0, 0])
        XCTAssertNil(analog.first?["prefix"], "no prefix in a start-stop range")
        let binary = objs.last?.objects("points") ?? []
        XCTAssertEQ(binary.map { $0.int("index") ?? 0 }, [5, 6])
        XCTAssertEQ(binary.map { $0.int("state") ?? -1 }, [1, 0])
        XCTAssertEQ(binary.map { $0.int("online") ?? -1 }, [1, 1])
        XCTAssertEQ(binary.map { $0.int("chatter_filter") ?? -1 }, [0, 0])
        XCTAssertNil(binary.first?["value"], "binary state is `state`, not `value`")
        // Write of g50v1 rebuilt from three transport segments.
        let write = events[2].object("application")
        XCTAssertEQ(write?.string("function"), "write")
        let time = write?.objects("objects").first?.objects("points").first
        XCTAssertEQ(time?["timestamp"] as? Int, 0x0198_7654_3210)
        // CROB echoed (qualifier 0x17: a one-octet index prefix).
        let crob = events[5].object("application")?.objects("objects").first?.objects("points").first
        XCTAssertEQ(crob?.int("control_code"), 1)
        XCTAssertEQ(crob?.int("op_type"), 1)
        XCTAssertEQ(crob?.int("tcc"), 0)
        XCTAssertEQ(crob?.int("count"), 1)
        XCTAssertEQ(crob?.int("index"), 3)
        XCTAssertEQ(crob?.int("prefix"), 3)
        XCTAssertEQ(crob?.int("ontime"), 100)
        XCTAssertEQ(crob?.int("offtime"), 200)
        XCTAssertEQ(crob?.int("status_code"), 0)
        // Unsolicited response: IIN indicators, g2v2 event with time.
        let uns = events[6]
        XCTAssertEQ(uns.object("iin")?["indicators"] as? [String], ["class_1_events"])
        XCTAssertEQ(uns.object("iin")?.int("raw"), 0x0200)
        XCTAssertNil(uns["latency_ms"])
        let ev = uns.object("application")?.objects("objects").first?.objects("points").first
        XCTAssertEQ(ev?.int("index"), 7)
        XCTAssertEQ(ev?.int("prefix"), 7)
        XCTAssertEQ(ev?.int("state"), 1)
        XCTAssertEQ(ev?.int("timestamp"), 0x0198_7654_3210)
    }

    /// A request and its response: two events, the request's first, with the same
    /// transaction number in `dnp3.id` and the envelope's `tx_id`, each with its own direction.
    func testRequestAndResponseShareTxID() {
        let lines = Self.run(client: [Self.clientStream], server: [Self.serverStream])
        let events = DNP3Run.dnp3Events(lines)
        XCTAssertEQ(events.count, 7)
        for e in events {
            XCTAssertEQ(e.int("tx_id"), e.object("dnp3")?.int("id"))
            let type = e.object("dnp3")?.string("type")
            XCTAssertEQ(e.string("direction"), type == "request" ? "to_server" : "to_client", "\(type ?? "")")
        }
        XCTAssertEQ(events.map { $0.int("tx_id") ?? -1 }, [0, 0, 1, 1, 2, 2, 3])
        // Link-only frames are not transactions: no tx_id.
        let reset = DNP3Build.frame(dst: 10, src: 1, control: 0xC0, userData: [])
        let link = DNP3Run.dnp3Events(DNP3Run.tcp([(true, reset)]))
        XCTAssertEQ(link.count, 1)
        XCTAssertNil(link.first?["tx_id"])
        XCTAssertEQ(link.first?.string("direction"), "to_server")
        let d = link.first?.object("dnp3")
        XCTAssertEQ(d?.string("type"), "link")
        XCTAssertEQ(d?.int("src"), 1)
        XCTAssertEQ(d?.int("dst"), 10)
        XCTAssertEQ(d?.object("control")?["pri"] as? Bool, true)
        XCTAssertEQ(d?.object("control")?.int("function_code"), 0)
        XCTAssertEQ(d?.object("control")?.string("function"), "reset_link_states")
    }

    /// IIN indicators: Suricata's names, in its order (IIN1.7 down to IIN2.0), whatever the bits.
    func testIINIndicatorsOrderAndNames() {
        let all = DNP3Run.dnp3(DNP3Run.tcp([(false, DNP3Build.response([0xC0, 0x81, 0xFF, 0xFF]))]))
        XCTAssertEQ(all.first?.object("iin")?["indicators"] as? [String], [
            "device_restart", "device_trouble", "local_control", "need_time",
            "class_3_events", "class_2_events", "class_1_events", "all_stations",
            "reserved_1", "reserved_2", "config_corrupt", "already_executing",
            "event_buffer_overflow", "parameter_error", "object_unknown", "no_func_code_support",
        ])
        XCTAssertEQ(all.first?.object("iin")?.int("raw"), 0xFFFF)
        // IIN1.0 (all stations), IIN2.1 (object unknown), IIN2.7 (reserved).
        let some = DNP3Run.dnp3(DNP3Run.tcp([(false, DNP3Build.response([0xC0, 0x81, 0x01, 0x82]))]))
        XCTAssertEQ(some.first?.object("iin")?["indicators"] as? [String], ["all_stations", "reserved_1", "object_unknown"])
        XCTAssertEQ(some.first?.object("iin")?.int("raw"), 0x0182)
        for i in 0..<16 { XCTAssertNotEqual("\(DNP3Names.iinIndicator(i))", "unknown") }
    }

    /// No object header: `objects` is left out (Suricata's schema wants at least one item), and
    /// the fragment is complete.
    func testObjectsKeyAbsentWhenEmpty() {
        let lines = DNP3Run.tcp([(true, DNP3Build.request([0xC0, 0x0D])), (false, DNP3Build.response([0xC0, 0x81, 0x00, 0x00]))])
        let events = DNP3Run.dnp3(lines)
        XCTAssertEQ(events.map { $0.string("type") ?? "" }, ["request", "response"])
        for e in events {
            let app = e.object("application")
            XCTAssertNotNil(app)
            XCTAssertNil(app?["objects"], "\(e)")
            XCTAssertEQ(app?["complete"] as? Bool, true)
        }
        for line in lines where line.contains("\"event_type\":\"dnp3\"") {
            XCTAssertFalse(line.contains("\"objects\":[]"), line)
            XCTAssertFalse(line.contains("\"points\":[]"), line)
        }
    }

    /// Flag octets: every value, in every flag family, gives Suricata's bit names (flags bit 0
    /// first) with the right bits, and `flags` the octet itself.
    func testFlagBitsEveryOctet() {
        let common = ["online", "restart", "comm_lost", "remote_forced", "local_forced"]
        // (group, variation, octets after the flags, names of bits 5-7 or nil for 2-bit state)
        let families: [(UInt8, UInt8, Int, [String]?)] = [
            (1, 2, 0, ["chatter_filter", "reserved", "state"]),
            (3, 2, 0, nil),
            (10, 2, 0, ["reserved0", "reserved1", "state"]),
            (20, 1, 4, ["rollover", "discontinuity", "reserved0"]),
            (20, 3, 4, ["rollover", "reserved0", "reserved1"]),
            (21, 5, 10, ["rollover", "discontinuity", "reserved1"]),
            (30, 2, 2, ["over_range", "reference_err", "reserved0"]),
            (121, 1, 6, ["reserved0", "discontinuity", "reserved1"]),
        ]
        for (g, v, extra, high) in families {
            var app: [UInt8] = [0xC0, 0x81, 0x00, 0x00, g, v, 0x01, 0x00, 0x00, 0xFF, 0x00]
            for b in 0...255 { app += [UInt8(b)] + Array(repeating: 0, count: extra) }
            let points = DNP3Run.dnp3(DNP3Run.tcp([(false, DNP3Build.response(app))]))
                .first?.object("application")?.objects("objects").first?.objects("points") ?? []
            XCTAssertEQ(points.count, 256, "g\(g)v\(v)")
            for (b, point) in points.enumerated() {
                XCTAssertEQ(point.int("flags"), b, "g\(g)v\(v)")
                var expect: [String: Int] = [:]
                for (i, name) in common.enumerated() { expect[name] = (b >> i) & 1 }
                if let high {
                    for (i, name) in high.enumerated() { expect[name] = (b >> (5 + i)) & 1 }
                } else {
                    expect["chatter_filter"] = (b >> 5) & 1
                    expect["state"] = b >> 6
                }
                for (name, bit) in expect where point.int(name) != bit {
                    XCTFail("g\(g)v\(v) flags \(b): \(name) = \(String(describing: point[name])), want \(bit)")
                }
            }
        }
    }

    /// Floating-point points are written at full precision as JSON numbers: 1.234e-7 is not 0,
    /// a Float is written as its own shortest form (0.1, not 0.10000000149011612), NaN as null;
    /// integers stay integers, and `value` is a number in every point.
    func testFloatPointValuesAtFullPrecision() {
        func le<T: FixedWidthInteger>(_ x: T) -> [UInt8] { withUnsafeBytes(of: x.littleEndian) { Array($0) } }
        // g30v6 (flags, f64) points 0-3, g30v5 (flags, f32) points 0-2, g40v3 (flags, f32) point 0.
        var app: [UInt8] = [0xC0, 0x81, 0x00, 0x00, 30, 6, 0x00, 0, 3]
        for d in [1.234e-7, -2.5e300, 123456.789, Double.nan] { app += [0x01] + le(d.bitPattern) }
        app += [30, 5, 0x00, 0, 2]
        for f in [Float(0.1), Float(1.234e-7), Float(-3)] { app += [0x01] + le(f.bitPattern) }
        app += [40, 3, 0x00, 0, 0, 0x01] + le(Float(65536).bitPattern)
        let lines = DNP3Run.tcpLines([(false, DNP3Build.response(app))])
        let raw = lines.first { $0.contains("\"event_type\":\"dnp3\"") } ?? ""
        let objs = DNP3Run.dnp3(lines).first?.object("application")?.objects("objects") ?? []
        XCTAssertEQ(objs.count, 3)
        let f64 = objs.first?.objects("points").map { $0["value"] } ?? []
        XCTAssertEQ(f64.count, 4)
        XCTAssertEQ(f64[0] as? Double, 1.234e-7)
        XCTAssertEQ(f64[1] as? Double, -2.5e300)
        XCTAssertEQ(f64[2] as? Double, 123456.789)
        XCTAssertTrue(f64[3] is NSNull, "NaN: \(String(describing: f64[3]))")
        let f32 = objs[1].objects("points").map { ($0["value"] as? Double).map(Float.init) }
        XCTAssertEQ(f32, [Float(0.1), Float(1.234e-7), Float(-3)])
        // The text: shortest round-trip forms, JSON numbers (not strings).
        for text in ["\"value\":1.234e-07", "\"value\":-2.5e+300", "\"value\":123456.789", "\"value\":null",
                     "\"value\":0.1}", "\"value\":-3.0}", "\"value\":65536.0}"] {
            XCTAssertTrue(raw.contains(text), "\(text) in \(raw)")
        }
        for o in objs { for p in o.objects("points") { XCTAssertTrue(p["value"] is NSNumber || p["value"] is NSNull, "\(p)") } }
    }

    /// Same output whether each stream arrives whole, a byte at a time, split at every offset
    /// or in random pieces (`SplitInvariance`): the sink calls of a session (observing), and
    /// the events through the engine.
    func testSplitsGiveSameOutput() {
        let conv = [Delivery(direction: .toServer, bytes: Self.clientStream), Delivery(direction: .toClient, bytes: Self.serverStream)]
        let whole = SplitInvariance.verify(conv) { DNP3Session(limits: DNP3Limits(), udp: false) }
        XCTAssertEQ(whole.objects("dnp3").count, 7)
        XCTAssertEQ(whole.anomalies, ["dnp3.header_lacks_magic", "dnp3.bad_link_crc"])
        XCTAssertFalse(whole.observations.isEmpty, "observations compared too")
        let lines = SplitInvariance.verifyThroughEngine(DNP3.entry, conv, serverPort: DNP3Run.serverPort,
                                                        clientPort: DNP3Run.clientPort, splits: .init(randomRounds: 3))
        XCTAssertEQ(DNP3Run.dnp3(lines).count, 7)
    }

    /// The same on the TCP flows of the opendnp3 fixture, as the engine delivered them.
    func testFixtureFlowsAtEverySplit() throws {
        let flows = try SplitInvariance.verifyFixtureFlows(["dnp3-opendnp3.pcap"], entry: DNP3.entry) {
            DNP3Session(limits: DNP3Limits(), udp: false)
        }
        XCTAssertFalse(flows.isEmpty)
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
        let reqs = DNP3Run.dnp3(capped).filter { $0.string("type") == "request" }.compactMap { $0.object("application") }
        XCTAssertEQ(reqs.count, 2)
        // The big write was kept truncated (2048 octets) but its first points are logged.
        XCTAssertEQ(reqs[0]["truncated"] as? Bool, true)
        XCTAssertEQ(reqs[0]["complete"] as? Bool, false)
        XCTAssertEQ(reqs[1]["complete"] as? Bool, false)
        let obj = (reqs[0]["objects"] as? [[String: Any]])?.first
        XCTAssertEQ(obj?["count"] as? Int, 65535)
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
            "\(e.string("type") ?? ""):\(e.object("application")?.string("function") ?? "")"
        }
        XCTAssertEQ(summary, ["request:confirm", "request:direct_operate_no_ack", "response:response", "request:read"])
        // The read (third request, tx 2) is logged unanswered at the end; the response nobody
        // asked for has its own transaction.
        XCTAssertEQ(events.map { $0.int("id") ?? -1 }, [0, 1, 3, 2])
        XCTAssertEQ(events.map { $0.string("status") ?? "" }, ["complete", "complete", "unmatched_response", "unanswered"])
        XCTAssertEQ(events[2].object("iin")?["indicators"] as? [String], ["device_restart"])
        XCTAssertNil(events[2]["latency_ms"])
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

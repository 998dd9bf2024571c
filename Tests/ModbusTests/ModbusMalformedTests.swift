import Foundation
import SpanSightEngine
@testable import SpanSightModbus
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Malformed Modbus is never invisible (issue 16, section 2): a probe's refusal of bytes that
/// resemble Modbus is an anomaly, messages still incomplete when the flow ends and bytes skipped
/// out of sync are reported, resynchronisation takes exceptions of any function code, and an
/// event names the frame of the message it describes.
final class ModbusMalformedTests: XCTestCase {
    static let client = "10.0.0.1", server = "10.0.0.2"

    func probe(_ b: [UInt8], _ port502: Bool) -> ProbeResult { ByteView.with(b) { Modbus.probe($0, onModbusPort: port502) } }
    static func pidRefusal(_ v: Int) -> ProbeResult {
        .rejected(ProbeRejection("modbus.probe_rejected_protocol_id", field: "protocol_id", value: v))
    }
    static func lengthRefusal(_ v: Int) -> ProbeResult {
        .rejected(ProbeRejection("modbus.probe_rejected_length", field: "length", value: v))
    }

    /// What resembles Modbus (docs/modbus.md, Recognition), and what never does.
    func testProbeRefusals() {
        let a5 = adu(1, [0x03, 0, 0, 0, 1], protocolID: 5)
        for port in [true, false] {
            XCTAssertEqual(probe(a5, port), Self.pidRefusal(5), "a whole FC 3 ADU with protocol id 5, port \(port)")
            XCTAssertEqual(probe(a5 + adu(2, [0x03, 0, 0, 0, 1], protocolID: 5), port), Self.pidRefusal(5), "pipelined")
            XCTAssertEqual(probe(a5 + Array("GET / HTTP/1.1\r\n".utf8), port), .noMatch, "what follows is no header")
            XCTAssertEqual(probe(a5 + adu(2, [0x03, 0, 0, 0, 1], protocolID: 6), port), .noMatch, "another protocol id follows")
            XCTAssertEqual(probe(Array(a5[0..<9]), port), .needMore, "the ADU is not whole yet")
            XCTAssertEqual(probe(Array(a5[0..<5]), port), .needMore)
            // Two fields wrong (protocol id and length 256) is no resemblance.
            var twice = a5
            twice[4] = 0x01; twice[5] = 0x00
            XCTAssertEqual(probe(twice, port), .noMatch)
        }
        // Only a public code whose length fits it resembles Modbus; on the Modbus port also an
        // exception reply to any code.
        let user = adu(1, [0x41, 0, 0], protocolID: 5)
        XCTAssertEqual(probe(user, true), .noMatch)
        XCTAssertEqual(probe(user, false), .noMatch)
        XCTAssertEqual(probe(adu(1, [0xC1, 0x01], protocolID: 5), true), Self.pidRefusal(5))
        XCTAssertEqual(probe(adu(1, [0xC1, 0x01], protocolID: 5), false), .noMatch)
        XCTAssertEqual(probe(adu(1, [0x83, 0x02], protocolID: 5), false), Self.pidRefusal(5), "exception of a public code")
        for port in [true, false] {
            XCTAssertEqual(probe(adu(1, [0x03, 0, 0, 0, 1, 9], protocolID: 5), port), .noMatch, "FC 3 request of 6 bytes")
        }
        // What a Modbus server on 502 answers to a scanner: an exception echoing the scanner's
        // header (the corpus' negative capture, DCE-RPC bind answered by 05 00 0b 03 00 03 00 80 01).
        XCTAssertEqual(probe([0x05, 0x00, 0x0B, 0x03, 0x00, 0x03, 0x00, 0x80, 0x01], true), Self.pidRefusal(0x0B03))
        // Length 0, 1 or over 254 with protocol id 0: on the Modbus port only.
        let zero: [UInt8] = [0, 1, 0, 0, 0, 0, 1, 3, 0, 0, 0, 1]
        XCTAssertEqual(probe(zero, true), Self.lengthRefusal(0))
        XCTAssertEqual(probe(zero, false), .noMatch)
        XCTAssertEqual(probe([0, 1, 0, 0, 0x01, 0x2C, 1, 3, 0, 0, 0, 1], true), Self.lengthRefusal(300))
        XCTAssertEqual(probe([0, 1, 0, 0, 0, 1, 1, 3], true), Self.lengthRefusal(1))
        XCTAssertEqual(probe([0, 0, 0, 0, 0, 0, 0, 0, 0, 0], true), .noMatch, "zeros: function code 0 starts nothing here")
        XCTAssertEqual(probe([0, 1, 0, 0, 0, 0], true), .needMore, "the function code decides")
    }

    /// HTTP, TLS, SSH and the other protocols of the corpus' port-502 negative capture are
    /// never refused as Modbus, on any port; nor is random data off the Modbus port.
    func testOrdinaryTrafficIsNeverRefused() {
        let samples: [(String, [UInt8])] = [
            ("http", Array("GET / HTTP/1.1\r\nHost: 10.0.0.2:502\r\n\r\n".utf8)),
            ("http response", Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8)),
            ("ssh", Array("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".utf8)),
            ("tls client hello", [0x16, 0x03, 0x01, 0x00, 0x85, 0x01, 0x00, 0x00, 0x81, 0x03, 0x03] + [UInt8](repeating: 0x41, count: 130)),
            ("tls application data", [0x17, 0x03, 0x03, 0x40, 0x00] + [UInt8](repeating: 0x5A, count: 1200)),
            ("dce-rpc bind", [0x05, 0x00, 0x0B, 0x03, 0x10, 0x00, 0x00, 0x00, 0x48, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]),
            ("nfs call", [0x80, 0x00, 0x00, 0x28, 0x7E, 0x86, 0xAB, 0x4A, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0x86, 0xA3]),
            ("tpkt/cotp", [0x03, 0x00, 0x00, 0x2B, 0x26, 0xE0, 0x00, 0x00, 0x00, 0x00, 0x00] + Array("Cookie: mstshash=admin\r\n".utf8)),
            ("text probe", Array("MGLNDD_160.97.70.36_502\n".utf8)),
        ]
        for (name, bytes) in samples {
            for port in [true, false] {
                for n in stride(from: 8, through: bytes.count, by: 1) {
                    if case .rejected = probe(Array(bytes[0..<n]), port) { XCTFail("\(name), port 502: \(port), \(n) bytes") }
                }
            }
        }
        var rng = SplitMix(seed: 16)
        var refusedOff = 0
        for _ in 0..<20_000 {
            let n = Int.random(in: 8...300, using: &rng)
            let b = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if case .rejected = probe(b, false) { refusedOff += 1 }
        }
        XCTAssertEqual(refusedOff, 0, "random bytes off port 502")
    }

    // MARK: through the engine

    /// Runs one TCP connection (client:40001 -> server:`port`, handshake first: frames 1-3),
    /// `segments` in order; returns the events as objects and the engine.
    func conversation(port: UInt16 = 502, _ segments: [(Bool, [UInt8])], entries: [DissectorEntry] = [Modbus.entry],
                      finish: Bool = true) -> (events: [[String: Any]], engine: Engine) {
        let h = EngineHarness(dissectors: entries)
        var cseq: UInt32 = 1000, sseq: UInt32 = 5000
        h.feed(PacketBuilder.tcp(src: Self.client, sport: 40001, dst: Self.server, dport: port, seq: cseq, flags: PacketBuilder.syn))
        h.feed(PacketBuilder.tcp(src: Self.server, sport: port, dst: Self.client, dport: 40001, seq: sseq, ack: cseq + 1,
                                 flags: PacketBuilder.syn | PacketBuilder.ackFlag))
        cseq += 1; sseq += 1
        h.feed(PacketBuilder.tcp(src: Self.client, sport: 40001, dst: Self.server, dport: port, seq: cseq, ack: sseq, flags: PacketBuilder.ackFlag))
        for (fromClient, bytes) in segments {
            if fromClient {
                h.feed(PacketBuilder.tcp(src: Self.client, sport: 40001, dst: Self.server, dport: port, seq: cseq, ack: sseq,
                                         flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: bytes))
                cseq &+= UInt32(bytes.count)
            } else {
                h.feed(PacketBuilder.tcp(src: Self.server, sport: port, dst: Self.client, dport: 40001, seq: sseq, ack: cseq,
                                         flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: bytes))
                sseq &+= UInt32(bytes.count)
            }
        }
        let lines = finish ? h.finish() : h.output.lines
        return (lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }, h.engine)
    }

    static func anomalies(_ events: [[String: Any]]) -> [[String: Any]] {
        events.filter { $0.str("event_type") == "anomaly" }
    }

    /// A refusal is reported once per direction, in Suricata's shape with our full name, on a
    /// flow no dissector claimed, and counted in `stats`.
    func testRefusalIsOneAnomalyPerDirection() {
        let request = adu(1, [0x03, 0, 0, 0, 1], protocolID: 5)
        let reply = adu(1, [0x83, 0x02], protocolID: 5)
        let (events, engine) = conversation([(true, request), (false, reply), (true, adu(2, [0x03, 0, 0, 0, 1], protocolID: 5)),
                                             (false, reply)])
        let anomalies = Self.anomalies(events)
        XCTAssertEqual(anomalies.count, 2)
        XCTAssertEqual(anomalies.map { $0.int("pcap_cnt") }, [4, 5], "the frames whose bytes were refused")
        for (a, direction) in zip(anomalies, ["to_server", "to_client"]) {
            let o = a.obj("anomaly") ?? [:]
            XCTAssertEqual(o.str("type"), "applayer")
            XCTAssertEqual(o.str("app_proto"), "modbus", "the protocol the bytes resembled")
            XCTAssertEqual(o.str("layer"), "proto_detect")
            XCTAssertEqual(o.str("event"), "probe_rejected_protocol_id")
            XCTAssertEqual(o.str("name"), "modbus.probe_rejected_protocol_id")
            XCTAssertEqual(o.int("protocol_id"), 5)
            XCTAssertEqual(o.str("direction"), direction)
            XCTAssertNil(a["app_proto"], "no dissector claimed the flow")
        }
        XCTAssertEqual(events.first { $0.str("event_type") == "flow" }?.str("app_proto"), "failed")
        XCTAssertEqual(events.filter { $0.str("event_type") == "modbus" }.count, 0)
        XCTAssertEqual(engine.counters.anomaliesByName["modbus.probe_rejected_protocol_id"], 2)

        // The first message's length is 0: the length is the reason.
        let (zero, _) = conversation([(true, [0, 1, 0, 0, 0, 0, 1, 3, 0, 0, 0, 1])])
        let z = Self.anomalies(zero).compactMap { $0.obj("anomaly") }
        XCTAssertEqual(z.map { $0.str("name") }, ["modbus.probe_rejected_length"])
        XCTAssertEqual(z.first?.int("length"), 0)

        // UDP: every datagram is probed; the refusal is still reported once per direction.
        let h = EngineHarness(dissectors: [Modbus.entry])
        for i in 0..<4 {
            h.feed(PacketBuilder.udp(src: Self.client, sport: 40002, dst: Self.server, dport: 502,
                                     payload: adu(UInt16(i), [0x03, 0, 0, 0, 1], protocolID: 9)))
            h.feed(PacketBuilder.udp(src: Self.server, sport: 502, dst: Self.client, dport: 40002,
                                     payload: adu(UInt16(i), [0x83, 0x02], protocolID: 9)))
        }
        let udp = h.finish().compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        XCTAssertEqual(Self.anomalies(udp).compactMap { $0.obj("anomaly")?.str("direction") }, ["to_server", "to_client"])
    }

    /// A valid Modbus flow is never refused, and a refusal waits for the other probes: one that
    /// asks for more bytes delays it to the flow's end; one that matches cancels it.
    func testRefusalWaitsForTheOtherProbes() {
        let (ok, _) = conversation([(true, adu(1, [0x03, 0, 0, 0, 1])), (false, adu(1, [0x03, 0x02, 0, 7]))])
        XCTAssertEqual(Self.anomalies(ok).count, 0)

        let undecided = DissectorEntry(name: "undecided", transports: [.tcp], hintPorts: [],
                                       probe: { _, _, _ in .needMore }, makeSession: { _ in DissectorSession() })
        let request = adu(1, [0x03, 0, 0, 0, 1], protocolID: 5)
        let (late, _) = conversation([(true, request)], entries: [Modbus.entry, undecided], finish: false)
        XCTAssertEqual(Self.anomalies(late).count, 0, "another probe still hopes")
        let (ended, _) = conversation([(true, request)], entries: [Modbus.entry, undecided])
        let a = Self.anomalies(ended)
        XCTAssertEqual(a.compactMap { $0.obj("anomaly")?.str("name") }, ["modbus.probe_rejected_protocol_id"], "given at flow end")

        let recorder = StreamRecorder()
        let (claimed, _) = conversation([(true, request)], entries: [Modbus.entry, recorder.entry(name: "other")])
        XCTAssertEqual(Self.anomalies(claimed).count, 0, "another dissector took the bytes")
        XCTAssertEqual(recorder.sessions, 1)
    }

    /// The corpus' port-502 negative capture (HTTP, TLS, NFS, DCE-RPC, RDP, a text probe sent
    /// to a Modbus server): no anomaly on what the scanners sent; the server's replies, Modbus
    /// exceptions echoing the scanners' headers (protocol id not 0), are refused once each.
    func testPort502NegativeCaptureGivesNoAnomalyStorm() throws {
        guard let corpus = TestPaths.corpus else { throw XCTSkip("corpus absent") }
        let run = try CaptureRunner.run(corpus.appendingPathComponent("modbus/zeek-modbus-and-non-modbus-p502.pcap"),
                                        dissectors: [Modbus.entry])
        let anomalies = run.events(ofType: "anomaly")
        let details = anomalies.compactMap { $0.obj("anomaly") }
        XCTAssertEqual(details.filter { $0.str("direction") == "to_server" }.count, 0, "nothing the clients sent")
        XCTAssertEqual(details.compactMap { $0.str("name") }, [String](repeating: "modbus.probe_rejected_protocol_id", count: 5))
        var perFlow: [Int: Int] = [:]
        for a in anomalies { perFlow[a.int("flow_id") ?? 0, default: 0] += 1 }
        XCTAssertEqual(perFlow.count, 5, "once per flow (its reply direction)")
        XCTAssertEqual(Set(details.compactMap { $0.int("protocol_id") }), [0x0B03, 0x0028, 0x0100, 0x4C4E, 0x002B])
    }

    /// Every Modbus capture of the corpus and the fixtures: a refusal only ever falls on a flow
    /// no dissector claimed.
    func testRefusalsOnlyOnUnclaimedFlows() throws {
        var files = TestPaths.fixtureFiles(prefix: "modbus") + TestPaths.fixtureFiles(prefix: "detect-modbus")
        files += TestPaths.corpusFiles("modbus") + TestPaths.corpusFiles("mixed")
        for url in files {
            let run = try CaptureRunner.run(url, dissectors: [Modbus.entry])
            let claimed = Set(run.events(ofType: "flow").filter { $0.str("app_proto") == "modbus" }.compactMap { $0.int("flow_id") })
            for a in run.events(ofType: "anomaly") where a.obj("anomaly")?.str("layer") == "proto_detect" {
                XCTAssertFalse(claimed.contains(a.int("flow_id") ?? 0), url.lastPathComponent)
            }
            if url.path.contains("fixtures") {
                XCTAssertEqual(run.events(ofType: "anomaly").filter { $0.obj("anomaly")?.str("layer") == "proto_detect" }.count, 0,
                               url.lastPathComponent)
            }
        }
    }

    // MARK: sessions

    /// An ADU still incomplete when the flow ends: `modbus.incomplete_message` with the bytes
    /// held and, once its header is there, the size it declares.
    func testIncompleteMessageAtFlowEnd() {
        let request = adu(3, [0x10, 0, 1, 0, 2, 4, 0, 1, 0, 2])
        let s = runSession([Delivery(direction: .toServer, bytes: Array(request[0..<11]))])
        XCTAssertEqual(s.anomalies, ["modbus.incomplete_message"])
        let a = s.events.first?.obj("anomaly") ?? [:]
        XCTAssertEqual(a.str("direction"), "request")
        XCTAssertEqual(a.int("pending_bytes"), 11)
        XCTAssertEqual(a.int("adu_bytes"), request.count)
        XCTAssertEqual(a.int("transaction_id"), 3)
        XCTAssertEqual(a.int("function_raw"), 0x10)
        // A header cut short: the bytes held, nothing more known.
        let cut = runSession([Delivery(direction: .toServer, bytes: adu(1, [0x03, 0, 0, 0, 1])),
                              Delivery(direction: .toClient, bytes: [0, 1, 0])])
        XCTAssertEqual(cut.anomalies, ["modbus.incomplete_message", "modbus.unanswered_request"])
        let c = cut.events.first?.obj("anomaly") ?? [:]
        XCTAssertEqual(c.str("direction"), "response")
        XCTAssertEqual(c.int("pending_bytes"), 3)
        XCTAssertNil(c["adu_bytes"])
    }

    /// Bytes skipped out of sync are reported even when no ADU follows them: at a gap and at
    /// the flow's end (`modbus.skipped_bytes`); a few bytes held out of sync count as skipped.
    func testSkippedBytesAreAlwaysReported() {
        let garbage: [UInt8] = [0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF, 0x11, 0x22, 0x33, 0x44]
        let end = runSession([Delivery(direction: .toServer, bytes: [], gap: 7),
                              Delivery(direction: .toServer, bytes: garbage)])
        XCTAssertEqual(end.anomalies, ["modbus.skipped_bytes"])
        XCTAssertEqual(end.events.first?.obj("anomaly")?.int("skipped_bytes"), garbage.count)
        let gap = runSession([Delivery(direction: .toServer, bytes: [], gap: 7),
                              Delivery(direction: .toServer, bytes: garbage),
                              Delivery(direction: .toServer, bytes: [], gap: 3),
                              Delivery(direction: .toServer, bytes: adu(1, [0x03, 0, 0, 0, 1]))], finish: false)
        XCTAssertEqual(gap.anomalies, ["modbus.skipped_bytes"])
        XCTAssertEqual(gap.events.first?.obj("anomaly")?.int("skipped_bytes"), garbage.count)
        XCTAssertEqual(gap.events.count, 1, "the request after the second gap is open, not lost")
    }

    /// Resynchronisation after a gap takes the exception response of any function code
    /// (0x80 | fc of user-defined and vendor codes: UMAS 0x5A answers 0xDA) and pairs it.
    func testResyncTakesExceptionsOfAnyFunctionCode() {
        for fc: UInt8 in [0x5A, 0x20, 0x41, 0x64, 0x7F] {
            let s = runSession([Delivery(direction: .toServer, bytes: adu(9, [fc, 0x00, 0x01])),
                                Delivery(direction: .toClient, bytes: [], gap: 11),
                                Delivery(direction: .toClient, bytes: adu(9, [0x80 | fc, 0x01]))])
            XCTAssertEqual(s.transactions.map { $0.str("status") }, ["complete"], "fc \(fc)")
            XCTAssertEqual(s.transactions.first?.obj("response")?.int("function_raw"), Int(0x80 | fc), "fc \(fc)")
            XCTAssertEqual(s.anomalies, [], "fc \(fc)")
        }
        // Still no resync on an exception of the wrong size.
        let wrong = runSession([Delivery(direction: .toClient, bytes: [], gap: 11),
                                Delivery(direction: .toClient, bytes: adu(9, [0xDA, 0x01, 0x00]))])
        XCTAssertEqual(wrong.transactions.count, 0)
        XCTAssertEqual(wrong.anomalies, ["modbus.skipped_bytes"])
    }

    /// zeek-modbus-fuzz-72.pcap frame 5: the exception response to function code 32
    /// (`00 00 00 00 00 03 01 a0 01`), after a gap; dropped by the resynchronisation before.
    func testFuzz72Frame5IsDecoded() throws {
        guard let corpus = TestPaths.corpus else { throw XCTSkip("corpus absent") }
        let run = try CaptureRunner.run(corpus.appendingPathComponent("modbus/zeek-modbus-fuzz-72.pcap"), dissectors: [Modbus.entry])
        let frame5 = run.events(ofType: "modbus").filter { $0.int("pcap_cnt") == 5 }
        XCTAssertEqual(frame5.count, 1)
        let r = frame5.first?.obj("modbus")?.obj("response") ?? [:]
        XCTAssertEqual(r.int("function_raw"), 0xA0)
        XCTAssertEqual(r.obj("exception")?.int("raw"), 1)
    }

    /// Events name the frame and time of the message they describe: an unanswered request its
    /// own (at flow end, when its transaction id is reused), not the packet that ended it.
    func testUnansweredRequestNamesItsOwnFrame() {
        let (events, _) = conversation([(true, adu(1, [0x03, 0, 0, 0, 1])),       // frame 4
                                        (true, adu(2, [0x03, 0, 1, 0, 1])),       // frame 5
                                        (false, adu(2, [0x03, 0x02, 0, 7])),      // frame 6
                                        (true, adu(3, [0x03, 0, 2, 0, 1])),       // frame 7
                                        (true, adu(3, [0x03, 0, 3, 0, 1]))])      // frame 8: reuses 3
        let modbus = events.filter { $0.str("event_type") == "modbus" }
        let byAddress = Dictionary(modbus.map { ($0.obj("modbus")?.obj("request")?.obj("read")?.int("address") ?? -1, $0) }) { a, _ in a }
        XCTAssertEqual(modbus.count, 4)
        XCTAssertEqual(byAddress[1]?.int("pcap_cnt"), 6, "complete: the response's frame")
        XCTAssertEqual(byAddress[2]?.int("pcap_cnt"), 7, "unanswered, its id reused: its own frame")
        XCTAssertEqual(byAddress[3]?.int("pcap_cnt"), 8, "unanswered at flow end: its own frame")
        XCTAssertEqual(byAddress[0]?.int("pcap_cnt"), 4, "unanswered at flow end: its own frame")
        // The harness's clock starts at 2025-11-26T12:00:00 and steps 1 ms a frame.
        XCTAssertEqual(byAddress[0]?.str("timestamp"), "2025-11-26T12:00:00.004000+0000")
        XCTAssertEqual(byAddress[3]?.str("timestamp"), "2025-11-26T12:00:00.008000+0000")
    }

    /// A response queued behind a hole that the client's ACK gives up as a gap is dated by the
    /// frame it came in, not by the ACK that released it.
    func testQueuedResponseAfterAGapNamesItsOwnFrame() {
        let h = EngineHarness(dissectors: [Modbus.entry])
        let c = Self.client, s = Self.server
        h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: 502, seq: 1000, flags: PacketBuilder.syn))
        h.feed(PacketBuilder.tcp(src: s, sport: 502, dst: c, dport: 40001, seq: 5000, ack: 1001, flags: PacketBuilder.syn | PacketBuilder.ackFlag))
        let request = adu(1, [0x03, 0, 0, 0, 1])
        h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: 502, seq: 1001, ack: 5001,
                                 flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: request))       // frame 3
        // The server's bytes 5001..5010 are never captured; its response comes next.
        let response = adu(1, [0x03, 0x02, 0, 7])
        h.feed(PacketBuilder.tcp(src: s, sport: 502, dst: c, dport: 40001, seq: 5011, ack: 1013,
                                 flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: response))      // frame 4: queued
        h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: 502, seq: 1013, ack: 5022, flags: PacketBuilder.ackFlag)) // frame 5
        let events = h.finish().compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        let modbus = events.filter { $0.str("event_type") == "modbus" }
        XCTAssertEqual(modbus.map { $0.obj("modbus")?.str("status") }, ["complete"])
        XCTAssertEqual(modbus.first?.int("pcap_cnt"), 4)
    }
}

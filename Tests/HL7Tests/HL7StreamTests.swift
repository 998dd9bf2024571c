import SpanSightEngine
@testable import SpanSightHL7
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Framing, resynchronisation, pairing, caps, batches, probe, observations and pseudonyms,
/// driven through a session with a recording sink.
final class HL7StreamTests: XCTestCase {
    static let a01 = "MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20240102101500||ADT^A01^ADT_A01|MSG00001|P|2.5\rEVN|A01|20240102101500\rPID|1||123456^^^SENDFAC^MR||DOE^JANE^Q||19800101|F|||1 TEST STREET^^SPRINGFIELD^IL^62701||555-0100\rPV1|1|I|WARD1^101^A||||1234^SMITH^JOHN\r"
    static let a01ack = "MSH|^~\\&|RECVAPP|RECVFAC|SENDAPP|SENDFAC|20240102101500||ACK^A01^ACK|ACKMSG00001|P|2.5\rMSA|AA|MSG00001\r"

    static func message(_ id: String, type: String = "ADT^A01") -> String {
        "MSH|^~\\&|S|F|R|G|20240101||\(type)|\(id)|P|2.5\rPID|1||777777^^^F^MR||ROE^RICHARD\r"
    }

    static func ack(_ id: String, code: String = "AA") -> String {
        "MSH|^~\\&|R|G|S|F|20240101||ACK|K\(id)|P|2.5\rMSA|\(code)|\(id)\r"
    }

    /// All vectors' messages pipelined one way, their ACKs the other way, plus junk between
    /// frames, a batch and a message never answered.
    func conversation() -> [HL7Delivery] {
        var msgs: [UInt8] = Array("junk".utf8), acks: [UInt8] = []
        for v in HL7VectorTests.vectors {
            msgs += mllp(v.message)
            acks += mllp(v.ack)
        }
        msgs += mllp("BHS|^~\\&|S|F\r" + Self.message("B1") + Self.message("B2") + "BTS|2\r")
        msgs += mllp(Self.message("never"))
        acks += mllp(Self.ack("B1")) + mllp(Self.ack("B2"))
        // Enhanced mode: commit accept, then application accept.
        msgs += mllp("MSH|^~\\&|S|F|R|G|20240101||ORM^O01|E1|P|2.5|||AL|AL\r")
        acks += mllp(Self.ack("E1", code: "CA")) + mllp(Self.ack("E1"))
        return [HL7Delivery(direction: .toServer, bytes: msgs), HL7Delivery(direction: .toClient, bytes: acks)]
    }

    /// Same sink calls whole, a byte at a time, cut at every offset and in random pieces
    /// (`SplitInvariance`), observing.
    func testSameEventsWholeByteAtATimeAndEverySplit() {
        let whole = SplitInvariance.verify(conversation()) { HL7Session() }
        let n = HL7VectorTests.vectors.count
        let transactions = whole.objects("hl7")
        XCTAssertEqual(transactions.filter { $0.str("status") == "acknowledged" }.count, n + 3)
        XCTAssertEqual(transactions.filter { $0["commit_ack"] != nil }.count, 1)
        XCTAssertEqual(transactions.filter { $0.str("status") == "unanswered" }.count, 1)
        XCTAssertEqual(whole.anomalies, ["hl7.junk_between_frames", "hl7.unanswered_message"])
        XCTAssertEqual(whole.pdus, 2 * n + 7)
        XCTAssertFalse(whole.observations.isEmpty, "observations compared too")
    }

    /// The same on the TCP flows of the python-hl7 fixtures, as the engine delivered them.
    func testFixtureFlowsAtEverySplit() throws {
        let flows = try SplitInvariance.verifyFixtureFlows(["hl7-mllp-python-hl7.pcap", "hl7-mllp-python-hl7-port6661.pcap"],
                                                           entry: HL7.entry) { HL7Session() }
        XCTAssertGreaterThan(flows.count, 1)
    }

    func testJunkMissingEndBadEndAndResync() {
        let good = mllp(Self.message("M1"))
        // Junk before a frame, a start block not followed by MSH, a frame without its end
        // block (cut by the next start block), an end block followed by a wrong byte.
        var bytes = Array("GET /".utf8) + good
        bytes += [0x0B] + Array("XYZ".utf8) + good
        bytes += [0x0B] + Array(Self.message("M2").utf8) + good
        bytes += [0x0B] + Array(Self.message("M3").utf8) + [0x1C, 0x41] + good
        let s = runHL7([HL7Delivery(direction: .toServer, bytes: bytes)], finish: false)
        // (Each good frame repeats control id M1 while the previous one is open: a retry.)
        XCTAssertEqual(s.anomalies, ["hl7.junk_between_frames", "hl7.junk_between_frames", "hl7.duplicate_control_id",
                                     "hl7.missing_end_block", "hl7.duplicate_control_id", "hl7.bad_end_block",
                                     "hl7.junk_between_frames", "hl7.duplicate_control_id"])
        let junk = s.events.compactMap { ($0["anomaly"] as? [String: Any])?.int("skipped_bytes") }
        XCTAssertEqual(junk, [5, 4, 1])
        XCTAssertEqual(s.pdus, 5)
        SplitInvariance.verify([HL7Delivery(direction: .toServer, bytes: bytes)]) { HL7Session() }
    }

    /// After a gap the stream restarts inside a frame: its tail is skipped (junk after a gap)
    /// and the next frame is decoded.
    func testGapDropsThePartialFrame() {
        let a = mllp(Self.message("M1")), b = mllp(Self.message("M2"))
        let s = runHL7([HL7Delivery(direction: .toServer, bytes: Array(a[0..<20])),
                        HL7Delivery(direction: .toServer, bytes: [], gap: 10),
                        HL7Delivery(direction: .toServer, bytes: Array(a[30...]) + b)])
        XCTAssertEqual(s.anomalies, ["hl7.junk_between_frames", "hl7.unanswered_message"])
        XCTAssertEqual(s.events.first.flatMap { ($0["anomaly"] as? [String: Any])?["after_gap"] as? Bool }, true)
        XCTAssertEqual(s.transactions.compactMap { $0.str("control_id") }, ["M2"])
    }

    func testUnterminatedFrameAtFlowEnd() {
        let s = runHL7([HL7Delivery(direction: .toServer, bytes: Array(mllp(Self.message("M1")).dropLast(2)))])
        XCTAssertEqual(s.anomalies, ["hl7.missing_end_block"])
        XCTAssertEqual(s.pdus, 0)
        // A lone start block at the end is junk, not a frame.
        XCTAssertEqual(runHL7([HL7Delivery(direction: .toServer, bytes: [0x0B, 0x4D])]).anomalies, ["hl7.junk_between_frames"])
    }

    /// A frame over the cap is reported and skipped up to its end block, never buffered past
    /// the cap; the next frame is decoded. Same result byte by byte.
    func testOversizedFrameIsSkipped() {
        var config = HL7Configuration()
        config.maxMessageBytes = 64
        let big = mllp(Self.message("BIG") + "NTE|1||" + String(repeating: "x", count: 500) + "\r")
        let small = mllp("MSH|^~\\&|S|F|R|G|20240101||ADT^A01|OK|P|2.5\r")
        for chunk in [nil, 1, 7] {
            let s = runHL7([HL7Delivery(direction: .toServer, bytes: big + small)], chunk: chunk, config: config)
            XCTAssertEqual(s.anomalies, ["hl7.message_too_large", "hl7.unanswered_message"], "chunk \(String(describing: chunk))")
            XCTAssertEqual(s.transactions.compactMap { $0.str("control_id") }, ["OK"])
        }
        // Oversized and unterminated: skipped up to the next start block.
        let s = runHL7([HL7Delivery(direction: .toServer, bytes: Array(big.dropLast(2)) + small)], chunk: 100, config: config)
        XCTAssertEqual(s.anomalies, ["hl7.message_too_large", "hl7.unanswered_message"])
    }

    func testPairingUnansweredUnexpectedDuplicate() {
        let s = runHL7([HL7Delivery(direction: .toClient, bytes: mllp(Self.ack("nobody"))),
                        HL7Delivery(direction: .toServer, bytes: mllp(Self.message("A")) + mllp(Self.message("B"))),
                        HL7Delivery(direction: .toServer, bytes: mllp(Self.message("A"))),
                        HL7Delivery(direction: .toClient, bytes: mllp(Self.ack("B", code: "AE")) + mllp(Self.ack("A", code: "XX")))])
        XCTAssertEqual(s.anomalies, ["hl7.unexpected_ack", "hl7.duplicate_control_id", "hl7.unknown_ack_code"])
        // XX is no code of table 0008: withheld, its length written instead.
        XCTAssertEqual(s.transactions.map { "\($0.str("status") ?? "") \($0.str("control_id") ?? "-") \($0.obj("ack")?.str("code") ?? "-")" },
                       ["unexpected_ack - AA", "unanswered A -", "acknowledged B AE", "acknowledged A -"])
        XCTAssertEqual(s.transactions[3].obj("ack")?.obj("withheld")?.int("code"), 2)
        XCTAssertEqual(s.transactions[0].obj("ack")?.str("control_id"), "nobody")
        XCTAssertEqual(s.transactions[3].obj("ack")?.str("code_name"), "unknown")
        // An ACK travelling the same way as the message does not answer it.
        let same = runHL7([HL7Delivery(direction: .toServer, bytes: mllp(Self.message("A")) + mllp(Self.ack("A")))])
        XCTAssertEqual(same.anomalies, ["hl7.unexpected_ack", "hl7.unanswered_message"])
        // Messages flow both ways on one connection (each side sends and acknowledges).
        let both = runHL7([HL7Delivery(direction: .toClient, bytes: mllp(Self.message("S1"))),
                           HL7Delivery(direction: .toServer, bytes: mllp(Self.message("C1")) + mllp(Self.ack("S1"))),
                           HL7Delivery(direction: .toClient, bytes: mllp(Self.ack("C1")))])
        XCTAssertEqual(both.anomalies, [])
        XCTAssertEqual(both.transactions.map { "\($0.str("direction") ?? "") \($0.str("control_id") ?? "")" }, ["to_client S1", "to_server C1"])
    }

    /// Enhanced acknowledgment mode (chapter 2): MSH-15/16 = AL asks for a commit accept and
    /// then an application acknowledgment; the pair event carries both.
    func testEnhancedModeCommitThenApplicationAck() {
        let msg = "MSH|^~\\&|S|F|R|G|20240101||ORM^O01|E1|P|2.5|||AL|AL\rORC|NW\r"
        let ca = "MSH|^~\\&|R|G|S|F|20240101||ACK^O01|C1|P|2.5\rMSA|CA|E1\r"
        let aa = "MSH|^~\\&|R|G|S|F|20240101||ACK^O01|A1|P|2.5\rMSA|AA|E1\r"
        let s = runHL7([HL7Delivery(direction: .toServer, bytes: mllp(msg)),
                        HL7Delivery(direction: .toClient, bytes: mllp(ca)),
                        HL7Delivery(direction: .toClient, bytes: mllp(aa))])
        XCTAssertEqual(s.anomalies, [])
        XCTAssertEqual(s.transactions.count, 1)
        let t = s.transactions.first
        XCTAssertEqual(t?.obj("commit_ack")?.str("code"), "CA")
        XCTAssertEqual(t?.obj("commit_ack")?["latency_ms"] as? Double, 1.0)
        XCTAssertEqual(t?.obj("ack")?.str("code"), "AA")
        XCTAssertEqual(t?.obj("ack")?["latency_ms"] as? Double, 2.0)
        // The application acknowledgment never comes: unanswered, with its commit accept.
        let u = runHL7([HL7Delivery(direction: .toServer, bytes: mllp(msg)), HL7Delivery(direction: .toClient, bytes: mllp(ca))])
        XCTAssertEqual(u.anomalies, ["hl7.unanswered_message"])
        XCTAssertEqual(u.transactions.first?.str("status"), "unanswered")
        XCTAssertEqual(u.transactions.first?.obj("commit_ack")?.str("code_name"), "commit_accept")
    }

    func testOpenMessageCap() {
        var config = HL7Configuration()
        config.maxOpenMessages = 3
        var bytes: [UInt8] = []
        for i in 0..<6 { bytes += mllp(Self.message("M\(i)")) }
        let s = runHL7([HL7Delivery(direction: .toServer, bytes: bytes)], config: config, finish: false)
        XCTAssertEqual(s.anomalies, ["hl7.too_many_transactions"])
        XCTAssertEqual(s.transactions.compactMap { $0.str("control_id") }, ["M0", "M1", "M2"])
        XCTAssertTrue(s.transactions.allSatisfy { $0.str("status") == "unanswered" })
    }

    /// HL7 v2 chapter 2 batch protocol: FHS, BHS, messages, BTS (with its message count), FTS
    /// in one frame; the acknowledgments come as a batch too.
    func testBatch() {
        let batch = "FHS|^~\\&|S|F\rBHS|^~\\&|S|F\r" + Self.message("B1") + Self.message("B2") + "BTS|3\rFTS|1\r"
        let acks = "BHS|^~\\&|R|G\r" + Self.ack("B1") + Self.ack("B2") + "BTS|2\r"
        let s = runHL7([HL7Delivery(direction: .toServer, bytes: mllp(batch)), HL7Delivery(direction: .toClient, bytes: mllp(acks))])
        XCTAssertEqual(s.anomalies, ["hl7.batch_count_mismatch"])
        XCTAssertEqual(s.pdus, 2)
        XCTAssertEqual(s.transactions.count, 2)
        for t in s.transactions {
            XCTAssertEqual(t.str("status"), "acknowledged")
            XCTAssertEqual(t["segments"] as? [String], ["MSH", "PID"], "a message ends at the next MSH or batch segment")
            XCTAssertEqual(t.obj("batch")?["file"] as? Bool, true)
            XCTAssertEqual(t.obj("batch")?.int("messages"), 2)
            XCTAssertEqual(t.obj("batch")?.int("declared_messages"), 3)
        }
        XCTAssertEqual(runHL7([HL7Delivery(direction: .toServer, bytes: mllp("BHS|^~\\&|S\rBTS|0\r"))]).anomalies, ["hl7.empty_batch"])
    }

    /// Hostile and broken headers: events, not crashes.
    func testHostileHeaders() {
        let cases: [(String, [String])] = [
            ("MSH|", ["hl7.invalid_encoding_characters", "hl7.missing_required_field", "hl7.unanswered_message"]),
            ("MSH|^~\\&", ["hl7.missing_required_field", "hl7.unanswered_message"]),
            ("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X|P|2.5\rpid|1\r\u{01}\u{02}\u{03}|x\rPV\r", ["hl7.invalid_segment_id", "hl7.unanswered_message"]),
            // MSH-2 holds letters: no component, repetition, escape or subcomponent delimiter
            // (so MSH-9 is taken whole, and `ADT^A01` is no message type).
            ("MSH|SENDAPP|S|F|R|G|20240101||ADT^A01|X|P|2.5\r",
             ["hl7.invalid_encoding_characters", "hl7.invalid_field_value", "hl7.unanswered_message"]),
            // Duplicated delimiters: `^` twice; the second is not used.
            ("MSH|^^\\&|A|B|C|D|20240101||ADT^A01|X|P|2.5\r", ["hl7.invalid_encoding_characters", "hl7.unanswered_message"]),
            ("MSH|^~\\&|A|B|C|D|20240101||ACK|K|P|2.5\rMSA|AA\r", ["hl7.missing_required_field", "hl7.unexpected_ack"]),
        ]
        for (text, want) in cases {
            let s = runHL7([HL7Delivery(direction: .toServer, bytes: mllp(text))])
            XCTAssertEqual(s.anomalies, want, text)
        }
        // LF-only segment ends: still split into segments, so no PID content lands in MSH fields.
        let lf = runHL7([HL7Delivery(direction: .toServer, bytes: mllp(Self.a01.replacingOccurrences(of: "\r", with: "\n")))])
        XCTAssertEqual(lf.transactions.first?["segments"] as? [String], ["MSH", "EVN", "PID", "PV1"])
        XCTAssertEqual(lf.transactions.first?.str("version"), "2.5")
        XCTAssertFalse(lf.lines.joined().contains("123456"))
        // No component separator defined: the field is whole, and as a whole no message type
        // (withheld: its length only).
        let noDelims = runHL7([HL7Delivery(direction: .toServer, bytes: mllp(cases[3].0))]).transactions.first
        XCTAssertNil(noDelims?.str("message_type"))
        XCTAssertEqual(noDelims?.obj("withheld")?.int("message_type"), 7, "no component separator defined: the field is whole")
    }

    /// Pseudo-random bytes rich in MLLP and HL7 delimiters, whole and byte by byte: no trap,
    /// same events.
    func testBinaryJunkNeverTraps() {
        var rng = SplitMix(seed: 42)
        let alphabet: [UInt8] = [0x0B, 0x1C, 0x0D, 0x0A, 0x7C, 0x5E, 0x7E, 0x5C, 0x26] + Array("MSHFBAXE0129".utf8) + [0x00, 0xFF, 0xC3]
        for round in 0..<200 {
            var bytes: [UInt8] = []
            for _ in 0..<(Int(rng.next() % 300)) { bytes.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
            if round % 3 == 0 { bytes = mllp(Self.message("R\(round)")) + bytes }
            SplitInvariance.verify([HL7Delivery(direction: .toServer, bytes: bytes), HL7Delivery(direction: .toClient, bytes: bytes.reversed())],
                                   "round \(round)", splits: .init(everyOffset: false, randomRounds: 1), requireOutput: false) { HL7Session() }
        }
    }

    func testProbe() {
        func probe(_ b: [UInt8]) -> ProbeResult { ByteView.with(b) { HL7.probe($0) } }
        XCTAssertEqual(probe(mllp(Self.a01)), .match)
        XCTAssertEqual(probe([0x0B] + Array("FHS|".utf8)), .match)
        XCTAssertEqual(probe([0x0B] + Array("MSH!".utf8)), .match)
        XCTAssertEqual(probe([]), .needMore)
        XCTAssertEqual(probe([0x0B, 0x4D, 0x53]), .needMore)
        // No message header inside the start block: a frame of something else, refused once its
        // end block is seen (HL7MalformedTests); until then undecided.
        XCTAssertEqual(probe([0x0B] + Array("MSHA".utf8)), .needMore, "a letter is no field separator")
        XCTAssertEqual(probe([0x0B] + Array("MSX|".utf8)), .needMore)
        XCTAssertEqual(probe([0x0B] + Array("MSX|".utf8) + [0x1C, 0x0D]),
                       .rejected(ProbeRejection("hl7.probe_rejected_not_hl7", field: "first_content_byte", value: 0x4D)))
        XCTAssertEqual(probe(Array("MSH|^~\\&|".utf8)),
                       .rejected(ProbeRejection("hl7.probe_rejected_missing_start_block", field: "first_byte", value: 0x4D)),
                       "no start block: refused (HL7MalformedTests)")
        XCTAssertEqual(probe(Array("GET / HTTP/1.1\r\n".utf8)), .noMatch)
    }

    func testObservationsAndOperations() {
        let s = runHL7([HL7Delivery(direction: .toServer, bytes: mllp(Self.a01)),
                        HL7Delivery(direction: .toClient, bytes: mllp(Self.a01ack)),
                        HL7Delivery(direction: .toServer, bytes: mllp(HL7VectorTests.vectors[1].message))],
                       observing: true)
        var seen: [String] = []
        for o in s.observations {
            switch o {
            case .role(let side, let name): seen.append("role \(side) \(name)")
            case .identity(let side, let key, let value): seen.append("identity \(side) \(key) \(value)")
            case .command(let c): seen.append("command \(c.issuer) \(c.operation) \(c.name) \(c.detail ?? "") \(c.target ?? "")")
            case .outcome(let side, let name, let ok, let code): seen.append("outcome \(side) \(name) \(ok) \(code)")
            case .child, .childIdentity, .anomaly: break
            }
        }
        XCTAssertEqual(seen, [
            "identity client hl7.application SENDAPP", "identity client hl7.facility SENDFAC", "identity client hl7.version 2.5",
            "identity server hl7.application RECVAPP", "identity server hl7.facility RECVFAC",
            "role client hl7.sender", "command client association hl7_message ADT^A01 SENDAPP^SENDFAC",
            "identity server hl7.application RECVAPP", "identity server hl7.facility RECVFAC", "identity server hl7.version 2.5",
            "identity client hl7.application SENDAPP", "identity client hl7.facility SENDFAC",
            "role server hl7.receiver", "outcome server hl7.ack_aa true 0",
            "command client write hl7_message ADT^A08 SENDAPP^SENDFAC",
        ])
        XCTAssertEqual(s.operations, [.association, .write])
        // Nothing is observed unless an observer listens.
        XCTAssertTrue(runHL7([HL7Delivery(direction: .toServer, bytes: mllp(Self.a01))]).observations.isEmpty)
    }

    /// With events off nothing is written, but frames are counted and operations marked.
    func testEventsOff() {
        let s = runHL7(conversation(), eventsEnabled: false)
        XCTAssertEqual(s.lines, [])
        XCTAssertEqual(s.pdus, 2 * HL7VectorTests.vectors.count + 7)
        XCTAssertEqual(s.operations.count, HL7VectorTests.vectors.count + 4)
    }

    func testPseudonyms() throws {
        let key = HL7Pseudonymizer(key: Array("0123456789abcdef0123456789abcdef".utf8))
        let other = HL7Pseudonymizer(key: Array("another key, another namespace!!".utf8))
        let two = "MSH|^~\\&|S|F|R|G|1||ADT^A01|P2|P|2.5\rPID|1|EXT9^^^OTHER|123456^^^SENDFAC^MR~555^^^SSA^SS|ALT1\r"
        func pseudonyms(_ text: String, _ p: HL7Pseudonymizer?) -> [String] {
            let s = runHL7([HL7Delivery(direction: .toServer, bytes: mllp(text))], pseudonymizer: p)
            XCTAssertFalse(s.lines.joined().contains("123456"))
            return (s.transactions.first?["patient_pseudonyms"] as? [[String: Any]])?.map { "\($0.str("field") ?? "") \($0.str("pseudonym") ?? "")" } ?? []
        }
        let a = pseudonyms(Self.a01, key)
        let b = pseudonyms(two, key)
        XCTAssertEqual(a, ["PID-3 " + key.pseudonym(identifier: "123456", authority: "SENDFAC")])
        XCTAssertEqual(a[0].count, 6 + 32)
        XCTAssertEqual(b.count, 4)
        XCTAssertEqual(b.map { String($0.prefix(5)) }, ["PID-3", "PID-3", "PID-2", "PID-4"])
        XCTAssertEqual(b[0], a[0], "same identifier and authority, another message: same pseudonym")
        XCTAssertNotEqual(pseudonyms(Self.a01, other), a, "another key: another pseudonym")
        XCTAssertNotEqual(key.pseudonym(identifier: "123456", authority: "OTHERFAC"), key.pseudonym(identifier: "123456", authority: "SENDFAC"))
        XCTAssertEqual(pseudonyms(Self.a01, nil), [], "no key: no pseudonyms")
    }
}

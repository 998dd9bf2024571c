import Foundation
@testable import SpanSightDICOM
import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Lying lengths, odd bytes, garbage, caps, secrets: events, never traps or leaks.
final class DICOMHostileTests: XCTestCase {
    let rq = Wire.associateRQ(contexts: [(1, Conversation.verification, [Wire.implicitLE])])
    let ac = Wire.associateAC(contexts: [(1, 0, Wire.implicitLE)])
    func echo(_ id: Int) -> [UInt8] { Wire.pdata(Wire.pdv(1, command: true, Conversation.rq(0x0030, id, Conversation.verification, dataset: false))) }
    func echoRSP(_ id: Int) -> [UInt8] { Wire.pdata(Wire.pdv(1, command: true, Conversation.rsp(0x8030, id, Conversation.verification, status: 0))) }

    func testLyingPDULengths() {
        // A-ASSOCIATE-RQ claiming 2 GiB: not buffered, skipped with an anomaly.
        var huge = rq
        huge.replaceSubrange(2..<6, with: Wire.be32(0x7FFF_FFFF))
        let s1 = runSession([Delivery(direction: .toServer, bytes: huge)])
        XCTAssertEqual(s1.anomalies, ["dicom.pdu_too_large", "dicom.truncated_pdu"])
        // Too short for its type: resynchronise on the next real PDU.
        for bad in [Wire.pdu(1, [UInt8](repeating: 0, count: 10)), Wire.pdu(7, [0, 0, 0, 0, 0, 0, 0, 0]), Wire.pdu(4, [0, 0])] {
            let s = runSession([Delivery(direction: .toServer, bytes: rq + bad + echo(1))])
            XCTAssertEqual(Array(s.anomalies.prefix(2)), ["dicom.invalid_pdu_length", "dicom.resync"], "\(bad.prefix(6))")
            XCTAssertEqual(s.associations.first?.arr("dimse").count, 1)
        }
        // PDV longer than its PDU, and PDV lengths 0 and 1: the rest of the PDU is skipped.
        for pdvLength in [0, 1, 500] {
            let bad = Wire.pdu(4, Wire.be32(pdvLength) + [1, 3, 0, 0, 0, 0])
            let s = runSession([Delivery(direction: .toServer, bytes: rq), Delivery(direction: .toClient, bytes: ac),
                                Delivery(direction: .toServer, bytes: bad + echo(1))])
            XCTAssertEqual(s.anomalies.first, "dicom.invalid_pdv_length")
            XCTAssertEqual(s.associations.first?.arr("dimse").count, 1, "pdv length \(pdvLength)")
        }
    }

    func testItemLengthsPastThePDU() throws {
        // The user information item claims 200 bytes more than the PDU holds.
        var bad = rq
        let ui = bad.count - Wire.userInfo().count
        bad.replaceSubrange((ui + 2)..<(ui + 4), with: Wire.be16(Wire.userInfo().count - 4 + 200))
        let s = runSession([Delivery(direction: .toServer, bytes: bad)])
        XCTAssertEqual(s.anomalies, ["dicom.invalid_item_length"])
        let a = try XCTUnwrap(s.associations.first)
        XCTAssertEqual(a.arr("presentation_contexts").count, 1)
        XCTAssertNil(a.int("max_pdu_length"))
        // A presentation context sub-item past its item, a max-length sub-item of 3 bytes,
        // a context without a transfer syntax, an unknown item.
        let ctx = Wire.item(0x20, [1, 0, 0, 0] + [0x30, 0, 0, 40] + Wire.text("1.2"))
        let odd = Wire.item(0x50, Wire.item(0x51, [0, 0, 1])) + Wire.item(0x20, [3, 0, 0, 0] + Wire.item(0x30, Wire.text("1.2")))
            + Wire.item(0x77, [1, 2, 3])
        var body = Wire.be16(1) + [0, 0] + Wire.ae("A") + Wire.ae("B") + [UInt8](repeating: 0, count: 32)
        body += Wire.item(0x10, Wire.text(Wire.appContext)) + ctx + odd
        let s2 = runSession([Delivery(direction: .toServer, bytes: Wire.pdu(1, body))])
        XCTAssertEqual(Set(s2.anomalies), ["dicom.invalid_item_length", "dicom.invalid_item", "dicom.unknown_item"])
    }

    /// AE titles are 16 bytes of anything on the wire: output stays valid JSON, odd bytes are
    /// escaped, and the title is flagged.
    func testAETitlesWithOddBytes() throws {
        let called: [UInt8] = [0x41, 0x22, 0x5C, 0x1B, 0x00, 0xFF, 0xC3, 0x28, 0x7B, 0x7D, 0x0A, 0x42, 0x20, 0x20, 0x20, 0x20]
        let bytes = Wire.associateRQ(contexts: [(1, Conversation.verification, [Wire.implicitLE])], calledField: called)
        let s = runSession([Delivery(direction: .toServer, bytes: bytes)], observing: true)
        XCTAssertEqual(s.anomalies, ["dicom.invalid_ae_title"])
        XCTAssertEqual(s.events.count, s.lines.count, "every line is valid JSON")
        let line = try XCTUnwrap(s.lines.first { $0.contains("\"dicom\"") })
        // Quote and backslash escaped, controls as \u00XX or \n, invalid UTF-8 bytes (0xFF, a
        // lead byte 0xC3 before "(") as \u00XX; the trailing spaces trimmed.
        XCTAssertTrue(line.contains(#""called_ae":"A\"\\\u001b\u0000\u00ff\u00c3({}\nB""#), line)
        XCTAssertEqual(s.associations.first?.str("calling_ae"), "STORESCU")
        // Empty titles, and a request that is nothing but spaces.
        let blank = Wire.associateRQ(called: "", calling: "", contexts: [(1, Conversation.verification, [Wire.implicitLE])])
        let b = runSession([Delivery(direction: .toServer, bytes: blank)])
        XCTAssertEqual(b.associations.first?.str("called_ae"), "")
        XCTAssertEqual(ByteView.with(blank) { DICOM.probe($0) }, .noMatch)
    }

    func testGarbageNeverTraps() {
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        var garbage: [UInt8] = []
        for _ in 0..<20_000 {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            garbage.append(UInt8(truncatingIfNeeded: x >> 33))
        }
        for prefix in [[], rq, rq + ac] {
            let s = runSession([Delivery(direction: .toServer, bytes: prefix + garbage + echo(9))], chunk: 977)
            XCTAssertFalse(s.anomalies.isEmpty)
            XCTAssertEqual(s.events.count, s.lines.count)
        }
        // Every prefix of a hostile mix, in both framings.
        let mix = rq + Wire.pdu(4, Wire.be32(3) + [1, 3, 0xFF]) + echo(1) + Wire.abort(source: 2, reason: 9)
        for n in 0...mix.count {
            _ = runSession([Delivery(direction: .toServer, bytes: Array(mix[0..<n]))])
            _ = runSession([Delivery(direction: .toServer, bytes: Array(mix[0..<n]))], chunk: 1)
        }
    }

    /// Username, passcode, Kerberos/SAML/JWT and the server response never reach any output:
    /// only the identity type and the field lengths do.
    func testUserIdentitySecretsNeverOutput() throws {
        let user = "alice.secret.user", pass = "hunter2-passcode", token = "SERVER-TOKEN-XYZ-987"
        let identity = Wire.item(0x58, [2, 1] + Wire.be16(user.utf8.count) + Wire.text(user) + Wire.be16(pass.utf8.count) + Wire.text(pass))
        let request = Wire.associateRQ(contexts: [(1, Conversation.verification, [Wire.implicitLE])],
                                       userInfo: Wire.userInfo(extra: identity))
        let accept = Wire.associateAC(contexts: [(1, 0, Wire.implicitLE)],
                                      userInfo: Wire.userInfo(extra: Wire.item(0x59, Wire.be16(token.utf8.count) + Wire.text(token))))
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2VjcmV0"
        let jwtIdentity = Wire.item(0x58, [5, 0] + Wire.be16(jwt.utf8.count) + Wire.text(jwt) + Wire.be16(0))
        let request2 = Wire.associateRQ(contexts: [(1, Conversation.verification, [Wire.implicitLE])],
                                        userInfo: Wire.userInfo(extra: jwtIdentity))
        // Through a session with observations on.
        let s = runSession([Delivery(direction: .toServer, bytes: request), Delivery(direction: .toClient, bytes: accept),
                            Delivery(direction: .toServer, bytes: Wire.releaseRQ), Delivery(direction: .toClient, bytes: Wire.releaseRP),
                            Delivery(direction: .toServer, bytes: request2)], observing: true)
        let a = try XCTUnwrap(s.associations.first)
        XCTAssertEqual(a.obj("user_identity")?.str("type"), "username_and_passcode")
        XCTAssertEqual(a.obj("user_identity")?.int("primary_field_length"), user.utf8.count)
        XCTAssertEqual(a.obj("acceptor")?.int("user_identity_server_response_length"), token.utf8.count)
        XCTAssertEqual(s.associations.last?.obj("user_identity")?.str("type"), "jwt")
        // Through the whole engine: the NDJSON it writes.
        let h = EngineHarness(dissectors: [DICOM.entry])
        var seqC: UInt32 = 1000, seqS: UInt32 = 5000
        h.feed(PacketBuilder.tcp(src: "10.0.0.1", sport: 40000, dst: "10.0.0.2", dport: 4242, seq: seqC - 1, flags: PacketBuilder.syn))
        h.feed(PacketBuilder.tcp(src: "10.0.0.2", sport: 4242, dst: "10.0.0.1", dport: 40000, seq: seqS - 1, ack: seqC,
                                 flags: PacketBuilder.syn | PacketBuilder.ackFlag))
        for (client, payload) in [(true, request), (false, accept), (true, Wire.releaseRQ), (false, Wire.releaseRP)] {
            if client {
                h.feed(PacketBuilder.tcp(src: "10.0.0.1", sport: 40000, dst: "10.0.0.2", dport: 4242, seq: seqC, ack: seqS,
                                         flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: payload))
                seqC &+= UInt32(payload.count)
            } else {
                h.feed(PacketBuilder.tcp(src: "10.0.0.2", sport: 4242, dst: "10.0.0.1", dport: 40000, seq: seqS, ack: seqC,
                                         flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: payload))
                seqS &+= UInt32(payload.count)
            }
        }
        let lines = h.finish()
        XCTAssertTrue(lines.contains { $0.contains(#""event_type":"dicom""#) && $0.contains(#""app_proto":"dicom""#) }, "\(lines)")
        let all = (lines + s.lines + s.observations).joined(separator: "\n")
        for secret in [user, pass, token, jwt, "hunter2", "eyJ"] {
            XCTAssertFalse(all.contains(secret), secret)
        }
    }

    func testCaps() throws {
        var reqs: [UInt8] = []
        for id in 1...10 { reqs += echo(id) }
        var limits = DICOMLimits()
        limits.maxOpenOperations = 4
        limits.maxLoggedOperations = 3
        let s = runSession([Delivery(direction: .toServer, bytes: rq), Delivery(direction: .toClient, bytes: ac),
                            Delivery(direction: .toServer, bytes: reqs), Delivery(direction: .toClient, bytes: echoRSP(10))], limits: limits)
        XCTAssertEqual(s.anomalies, ["dicom.too_many_operations", "dicom.unanswered_request"])
        let a = try XCTUnwrap(s.associations.first)
        XCTAssertEqual(a.arr("dimse").map { $0.str("state") ?? "" }, ["unanswered", "unanswered", "unanswered"])
        XCTAssertEqual(a.int("dimse_dropped"), 7)
        // A command set larger than the cap is dropped with an anomaly; the stream stays in sync.
        limits = DICOMLimits()
        limits.maxCommandBytes = 40
        let big = Conversation.rq(0x0001, 1, Conversation.ctStorage, dataset: false)
        let c = runSession([Delivery(direction: .toServer, bytes: rq), Delivery(direction: .toClient, bytes: ac),
                            Delivery(direction: .toServer, bytes: Wire.pdata(Wire.pdv(1, command: true, last: false, Array(big[0..<30])),
                                                                                    Wire.pdv(1, command: true, Array(big[30...]))) + echo(2))],
                           limits: limits)
        XCTAssertEqual(c.anomalies, ["dicom.command_too_large", "dicom.unanswered_request"])
        XCTAssertEqual(c.associations.first?.arr("dimse").count, 1)
    }

    func testProtocolStateAnomalies() {
        // P-DATA before the answer, an unknown context, an unsolicited response, a cancel,
        // a response of another service, an empty command.
        let cancel = Wire.pdata(Wire.pdv(1, command: true, Wire.commandSet([(0x0100, .us(0x0FFF)), (0x0120, .us(1)), (0x0800, .us(0x0101))])))
        let find = Wire.pdata(Wire.pdv(1, command: true, Conversation.rq(0x0020, 1, Conversation.patientFind, dataset: false)))
        let s = runSession([
            Delivery(direction: .toServer, bytes: rq + echo(7)),
            Delivery(direction: .toClient, bytes: ac),
            Delivery(direction: .toServer, bytes: Wire.pdata(Wire.pdv(13, command: true, Conversation.rq(0x0030, 8, Conversation.verification, dataset: false)))),
            Delivery(direction: .toClient, bytes: echoRSP(99)),
            Delivery(direction: .toServer, bytes: find + cancel),
            Delivery(direction: .toClient, bytes: echoRSP(1)),
            Delivery(direction: .toServer, bytes: Wire.pdata(Wire.pdv(1, command: true, []))),
        ])
        XCTAssertEqual(s.anomalies, ["dicom.unexpected_pdu", "dicom.unknown_presentation_context", "dicom.unsolicited_response",
                                     "dicom.command_mismatch", "dicom.invalid_command_set", "dicom.unanswered_request"])
        let ops = s.associations.first?.arr("dimse") ?? []
        XCTAssertEqual(ops.map { $0.str("state") ?? "" }, ["unanswered", "unanswered", "unmatched_response", "complete"])
        XCTAssertEqual(ops[3]["cancelled"] as? Bool, true)
    }

    func testPDataOverNegotiatedMax() {
        let small = Wire.associateRQ(contexts: [(1, Conversation.verification, [Wire.implicitLE])], userInfo: Wire.userInfo(max: 64))
        let big = Wire.pdata(Wire.pdv(1, command: true, Conversation.rsp(0x8030, 1, Conversation.verification, status: 0)))
        let s = runSession([Delivery(direction: .toServer, bytes: small), Delivery(direction: .toClient, bytes: ac),
                            Delivery(direction: .toServer, bytes: echo(1)), Delivery(direction: .toClient, bytes: big + big)])
        XCTAssertEqual(s.anomalies, ["dicom.pdu_exceeds_max_length", "dicom.unsolicited_response"])
    }

    func testProbe() {
        func probe(_ b: [UInt8]) -> ProbeResult { ByteView.with(b) { DICOM.probe($0) } }
        XCTAssertEqual(probe(rq), .match)
        XCTAssertEqual(probe(ac), .match)
        XCTAssertEqual(probe(echo(1)), .match)
        XCTAssertEqual(probe(Wire.abort(source: 0, reason: 0)), .match)
        XCTAssertEqual(probe(Wire.releaseRQ), .match)
        XCTAssertEqual(probe(Wire.reject(result: 1, source: 1, reason: 7)), .match)
        for n in [1, 5, 9, 30] { XCTAssertEqual(probe(Array(rq[0..<n])), .needMore, "prefix \(n)") }
        XCTAssertEqual(probe(Array(echo(1)[0..<11])), .needMore)
        // Other protocols and their look-alikes.
        XCTAssertEqual(probe([0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01]), .noMatch)  // Modbus
        XCTAssertEqual(probe([0x04, 0x00, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01]), .noMatch)  // Modbus tid 0x0400
        XCTAssertEqual(probe([0x0B] + Array("MSH|^~\\&|".utf8)), .noMatch)                                          // HL7 MLLP
        XCTAssertEqual(probe([0x05, 0x64, 0x05, 0xC9, 0x01, 0x00, 0x00, 0x04, 0xE9, 0x21]), .noMatch)               // DNP3
        XCTAssertEqual(probe([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03]), .noMatch)               // TLS
        XCTAssertEqual(probe(Array("GET / HTTP/1.1\r\n\r\n".utf8)), .noMatch)
        XCTAssertEqual(probe(Wire.pdata(Wire.pdv(2, command: true, [0, 0]))), .noMatch)                               // even context id
        XCTAssertEqual(probe(Wire.pdu(7, [0, 0, 9, 0])), .noMatch)                                                    // abort source 9
        var v2 = rq
        v2[7] = 2
        // Protocol version 2 (bit 0 clear), every other field fitting: refused for its reason.
        XCTAssertEqual(probe(v2), .rejected(ProbeRejection("dicom.probe_rejected_protocol_version", field: "protocol_version", value: 2)))
        XCTAssertEqual(DICOM.entry.hintPorts, [104, 11112])
    }
}

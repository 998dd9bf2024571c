import Foundation
import SpanSightEngine
import SpanSightHL7
import SpanSightTestSupport
import XCTest

/// The dissector inside the whole pipeline: recognition on an unlisted port when the first
/// segment holds only part of the start of a frame (the probe asks for more), frames split over
/// segments and several frames in one segment.
final class HL7EngineTests: XCTestCase {
    func testProbeAcrossSegmentsOnAnyPort() throws {
        let h = EngineHarness(dissectors: [HL7.entry])
        let c = "10.9.0.1", s = "10.9.0.2"
        let cp: UInt16 = 41000, sp: UInt16 = 7777
        var seq: [UInt32] = [100, 900]   // client, server
        func send(_ fromClient: Bool, _ payload: [UInt8], flags: UInt8 = PacketBuilder.ackFlag | PacketBuilder.psh) {
            let i = fromClient ? 0 : 1
            let frame = fromClient
                ? PacketBuilder.tcp(src: c, sport: cp, dst: s, dport: sp, seq: seq[0], ack: seq[1], flags: flags, payload: payload)
                : PacketBuilder.tcp(src: s, sport: sp, dst: c, dport: cp, seq: seq[1], ack: seq[0], flags: flags, payload: payload)
            h.feed(frame)
            seq[i] &+= UInt32(payload.count) + (flags & (PacketBuilder.syn | PacketBuilder.fin) != 0 ? 1 : 0)
        }
        send(true, [], flags: PacketBuilder.syn)
        send(false, [], flags: PacketBuilder.syn | PacketBuilder.ackFlag)
        send(true, [], flags: PacketBuilder.ackFlag)
        let m1 = mllp(HL7StreamTests.a01), a1 = mllp(HL7StreamTests.a01ack)
        send(true, Array(m1[0..<2]))          // VT M: not enough to decide
        send(true, Array(m1[2..<60]))
        send(true, Array(m1[60...]))
        send(false, a1)
        let m2 = mllp(HL7StreamTests.message("M2")), a2 = mllp(HL7StreamTests.ack("M2"))
        send(true, m2 + mllp(HL7StreamTests.message("M3")))
        send(false, a2 + mllp(HL7StreamTests.ack("M3")))
        let events = h.finish().compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        let hl7 = events.filter { $0["event_type"] as? String == "hl7" }.compactMap { $0["hl7"] as? [String: Any] }
        XCTAssertEqual(hl7.map { "\($0["status"] as? String ?? "") \($0["control_id"] as? String ?? "")" },
                       ["acknowledged MSG00001", "acknowledged M2", "acknowledged M3"])
        XCTAssertEqual(events.filter { $0["event_type"] as? String == "anomaly" }.count, 0)
        let flow = events.first { $0["event_type"] as? String == "flow" }
        XCTAssertEqual(flow?["app_proto"] as? String, "hl7")
        XCTAssertEqual(flow?["dest_port"] as? Int, Int(sp))
    }
}

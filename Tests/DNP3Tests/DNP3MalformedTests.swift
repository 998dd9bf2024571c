import Foundation
import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
import XCTest
@testable import SpanSightDNP3

/// Malformed DNP3 is never invisible (issue 16, section 2): what is still incomplete when the
/// flow ends is reported, and a request's event names the frame it came in.
final class DNP3MalformedTests: XCTestCase {
    /// Read class 0 (FIR, FIN, sequence 0) and its null response.
    static let read: [UInt8] = [0xC0, 0x01, 0x3C, 0x01, 0x06]
    static let response: [UInt8] = [0xC0, 0x81, 0x00, 0x00]

    static func anomalies(_ lines: [String]) -> [[String: Any]] {
        DNP3Run.objects(lines).filter { DNP3Run.anomalyName($0) != nil }.compactMap { $0["anomaly"] as? [String: Any] }
    }

    /// A link frame cut by the end of the flow: `dnp3.incomplete_frame` with the octets held and
    /// the frame's size once its header is there.
    func testIncompleteFrameAtFlowEnd() {
        let frame = DNP3Build.request(Self.read)
        let lines = DNP3Run.tcpLines([(true, DNP3Build.request(Self.read)), (true, Array(frame[0..<15]))])
        let a = Self.anomalies(lines)
        XCTAssertEqual(a.compactMap { $0["name"] as? String }, ["dnp3.incomplete_frame"])
        XCTAssertEqual(a.first?.string("direction"), "to_server")
        XCTAssertEqual(a.first?.int("pending_bytes"), 15)
        XCTAssertEqual(a.first?.int("frame_bytes"), frame.count)
        // Fewer octets than a header: only what is held.
        let short = Self.anomalies(DNP3Run.tcpLines([(true, frame), (false, [0x05, 0x64, 0x05])]))
        XCTAssertEqual(short.compactMap { $0["name"] as? String }, ["dnp3.incomplete_frame"])
        XCTAssertEqual(short.first?.string("direction"), "to_client")
        XCTAssertNil(short.first?["frame_bytes"])
    }

    /// A fragment begun (FIR) whose FIN never came: `dnp3.incomplete_fragment`, per address
    /// pair, with the octets rebuilt so far.
    func testIncompleteFragmentAtFlowEnd() {
        // A write of 40 application octets in segments of 16: three frames; the last never comes.
        let app: [UInt8] = [0xC0, 0x02] + [UInt8](repeating: 0, count: 38)
        let frames = DNP3Build.fragment(dst: 10, src: 1, app: app, segment: 16)
        let firstTwo = Array(frames[0..<(2 * DNP3LinkHeader.frameSize(length: 5 + 17))])
        let a = Self.anomalies(DNP3Run.tcpLines([(true, firstTwo)]))
        XCTAssertEqual(a.compactMap { $0["name"] as? String }, ["dnp3.incomplete_fragment"])
        XCTAssertEqual(a.first?.string("direction"), "to_server")
        XCTAssertEqual(a.first?.int("src"), 1)
        XCTAssertEqual(a.first?.int("dst"), 10)
        XCTAssertEqual(a.first?.int("fragment_bytes"), 32)
        XCTAssertEqual(a.first?.int("last_sequence"), 1)
        // The whole fragment: nothing incomplete.
        let whole = Self.anomalies(DNP3Run.tcpLines([(true, frames)])).compactMap { $0["name"] as? String }
        XCTAssertFalse(whole.contains("dnp3.incomplete_fragment"), "\(whole)")
    }

    /// Events name the frame and time of the message they describe: a request's event, written
    /// when its response comes or when it goes unanswered, carries its own frame number and time.
    func testRequestEventsNameTheirOwnFrame() {
        // Frames 1-3 are the handshake; 4 the request, 5 its response, 6 a request never answered.
        var second = Self.read
        second[0] = 0xC1
        let lines = DNP3Run.tcpLines([(true, DNP3Build.request(Self.read)), (false, DNP3Build.response(Self.response)),
                                      (true, DNP3Build.request(second))])
        let events = DNP3Run.dnp3Events(lines)
        XCTAssertEqual(events.map { $0.object("dnp3")?.string("status") ?? "" }, ["complete", "complete", "unanswered"])
        XCTAssertEqual(events.map { $0.int("pcap_cnt") ?? 0 }, [4, 5, 6])
        XCTAssertEqual(events.map { $0.string("timestamp") ?? "" },
                       ["2025-11-26T12:00:00.004000+0000", "2025-11-26T12:00:00.005000+0000", "2025-11-26T12:00:00.006000+0000"])
    }
}

import Foundation
import XCTest
import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
@testable import SpanSightDNP3

/// The DNP3 session driven through a sink of the test's own, without the engine (as the
/// other dissectors' tests drive theirs): what it writes is what the engine writes.
final class DNP3SinkTests: XCTestCase {
    final class Sink: DissectorSink {
        var timestampNanos: Int64 = 1_000_000_000
        var recorded = EventLines()
        func emit(_ type: StaticString, _ body: (inout JSONWriter) -> Void) { recorded.event(type, body) }
        func anomaly(_ name: StaticString, _ details: (inout JSONWriter) -> Void) { recorded.anomaly(name, details) }
    }

    func testSessionRunsOnATestSink() throws {
        let session = DNP3Session(limits: DNP3Limits(), udp: false)
        let sink = Sink()
        var s = sink
        // READ class 0 (g60v1), its response with one binary input; then a stray byte
        // stream that lacks the start octets.
        let request = DNP3Build.request([0xC0, 0x01, 60, 1, 0x06])
        let response = DNP3Build.response([0xC0, 0x81, 0x00, 0x00, 1, 2, 0x00, 0x00, 0x00, 0x01])
        request.withUnsafeBytes { session.feed(ByteView($0), .toServer, &s) }
        response.withUnsafeBytes { session.feed(ByteView($0), .toClient, &s) }
        [UInt8](repeating: 0x41, count: 12).withUnsafeBytes { session.feed(ByteView($0), .toServer, &s) }
        session.end(&s)
        let events = sink.recorded.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let dnp3 = events.filter { $0["event_type"] as? String == "dnp3" }.compactMap { $0["dnp3"] as? [String: Any] }
        XCTAssertEqual(dnp3.count, 2, "request and response, \(sink.recorded.lines)")
        XCTAssertEqual(Set(dnp3.compactMap { $0["type"] as? String }), ["request", "response"])
        let request0 = try XCTUnwrap(dnp3.first { $0["type"] as? String == "request" })
        XCTAssertEqual((request0["application"] as? [String: Any])?["function_code"] as? Int, 1)
        let anomalies = events.compactMap { ($0["anomaly"] as? [String: Any])?["event"] as? String }
        XCTAssertEqual(anomalies, ["dnp3.header_lacks_magic"])
    }
}

import Foundation
import SpanSightEngine
@testable import SpanSightS7comm
import SpanSightTestSupport
import SpanSightWire
import XCTest

extension DeliveryRecorder {
    /// The S7comm flows of a fixture, each as the deliveries the engine made to its session:
    /// what the split-invariance and hostile tests replay.
    static func flows(_ name: String) throws -> [[Delivery]] { try flows(name, entry: S7comm.entry) }
}

/// Same sink calls whatever the segmentation (`SplitInvariance`, NIO's
/// ByteToMessageDecoderVerifier idea): each stream whole, a byte at a time, cut at every
/// offset, and in random pieces; and through the engine.
final class S7commStreamTests: XCTestCase {
    func testFixtureStreamsAtEverySplitPoint() throws {
        let flows = try SplitInvariance.verifyFixtureFlows(["s7comm-snap7.pcap", "s7comm-snap7-port1102.pcap"],
                                                           entry: S7comm.entry) { S7commSession() }
        XCTAssertEqual(flows.count, 4)
        for f in flows { XCTAssertGreaterThan(f.count, 4) }
    }

    /// The engine delivers what a session holds the same way whatever the TCP segmentation:
    /// the first fixture flow, every delivery in one segment, then every byte in its own
    /// segment, then pieces of 7 bytes and random pieces, gives the same events through the
    /// whole pipeline (envelopes included, less the packet numbers).
    func testThroughTheEngineWholeAndOneByteSegments() throws {
        let flow = try XCTUnwrap(try DeliveryRecorder.flows("s7comm-snap7.pcap").first)
        let whole = SplitInvariance.verifyThroughEngine(S7comm.entry, flow, serverPort: S7comm.isoTSAPPort,
                                                        splits: .init(pieceSizes: [1, 7], everyOffset: false, randomRounds: 2))
        XCTAssertGreaterThan(whole.count, 30)
    }
}

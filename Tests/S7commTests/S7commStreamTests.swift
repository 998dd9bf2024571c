import Foundation
import SpanSightEngine
@testable import SpanSightS7comm
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// The deliveries the engine makes to a flow's session, in order (both directions interleaved),
/// recorded from a capture: what the split-invariance and hostile tests replay.
final class DeliveryRecorder: @unchecked Sendable {
    var flows: [[Delivery]] = []

    var entry: DissectorEntry {
        DissectorEntry(name: "s7comm", transports: [.tcp], hintPorts: [102],
                       probe: { bytes, _, _ in S7comm.probe(bytes) },
                       makeSession: { _ in
                           self.flows.append([])
                           return Session(self, self.flows.count - 1)
                       })
    }

    final class Session: DissectorSession {
        let r: DeliveryRecorder
        let index: Int
        init(_ r: DeliveryRecorder, _ index: Int) {
            self.r = r
            self.index = index
        }
        override func receive(_ bytes: ByteView, direction: Direction, context: inout DissectContext) {
            r.flows[index].append(Delivery(direction: direction, bytes: bytes.array))
        }
        override func gap(_ length: Int, direction: Direction, context: inout DissectContext) {
            r.flows[index].append(Delivery(direction: direction, bytes: [], gap: length))
        }
    }

    /// The flows of a fixture, each as its deliveries.
    static func flows(_ name: String) throws -> [[Delivery]] {
        let url = TestPaths.fixtures.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("fixtures/\(name) absent") }
        let r = DeliveryRecorder()
        _ = try CaptureRunner.run(url, dissectors: [r.entry])
        return r.flows
    }
}

/// Same events whatever the segmentation (NIO's ByteToMessageDecoderVerifier idea): each
/// stream whole, a byte at a time, cut at every offset, and in random pieces.
final class S7commStreamTests: XCTestCase {
    static func stripLatency(_ s: String) -> String {
        s.replacingOccurrences(of: #""latency_ms":[0-9.]+,"#, with: "", options: .regularExpression)
    }

    func check(_ deliveries: [Delivery], _ label: String, observing: Bool = true) {
        let whole = runSession(deliveries, observing: observing, fixedTime: true)
        let wholeLines = whole.lines
        let wholeIDs = whole.identities
        XCTAssertEqual(runSession(deliveries, chunk: 1, observing: observing, fixedTime: true).lines, wholeLines,
                       "\(label): a byte at a time")
        for (i, d) in deliveries.enumerated() where d.bytes.count > 1 {
            for cut in 1..<d.bytes.count {
                var split = deliveries
                split[i] = Delivery(direction: d.direction, bytes: Array(d.bytes[..<cut]))
                split.insert(Delivery(direction: d.direction, bytes: Array(d.bytes[cut...])), at: i + 1)
                let r = runSession(split, observing: observing, fixedTime: true)
                if r.lines != wholeLines || r.identities != wholeIDs {
                    XCTFail("\(label): delivery \(i) cut at \(cut) gives other events")
                    return
                }
            }
        }
        // Every direction's stream as one delivery per direction change, in random pieces.
        var rng = SplitMix(seed: 7)
        for round in 0..<20 {
            var pieces: [Delivery] = []
            for d in deliveries {
                var off = 0
                while off < d.bytes.count {
                    let n = Int.random(in: 1...max(1, min(40, d.bytes.count - off)), using: &rng)
                    pieces.append(Delivery(direction: d.direction, bytes: Array(d.bytes[off..<off + n])))
                    off += n
                }
            }
            XCTAssertEqual(runSession(pieces, observing: observing, fixedTime: true).lines, wholeLines, "\(label) round \(round)")
        }
    }

    func testFixtureStreamsAtEverySplitPoint() throws {
        var flows = 0
        for name in ["s7comm-snap7.pcap", "s7comm-snap7-port1102.pcap"] {
            for (i, f) in try DeliveryRecorder.flows(name).enumerated() {
                XCTAssertGreaterThan(f.count, 4)
                check(f, "\(name) flow \(i)")
                flows += 1
            }
        }
        XCTAssertEqual(flows, 4)
    }

    /// The engine delivers what a session holds the same way whatever the TCP segmentation:
    /// the first fixture flow, every TPKT in one segment and then every byte in its own
    /// segment, gives the same events through the whole pipeline.
    func testThroughTheEngineWholeAndOneByteSegments() throws {
        let flow = try XCTUnwrap(try DeliveryRecorder.flows("s7comm-snap7.pcap").first)
        func run(_ segment: Int) -> [String] {
            let h = EngineHarness(dissectors: [S7comm.entry])
            var cseq: UInt32 = 1000, sseq: UInt32 = 5000
            let (c, s) = ("10.0.0.1", "10.0.0.2")
            h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: 102, seq: cseq, flags: PacketBuilder.syn))
            h.feed(PacketBuilder.tcp(src: s, sport: 102, dst: c, dport: 40001, seq: sseq, ack: cseq + 1,
                                     flags: PacketBuilder.syn | PacketBuilder.ackFlag))
            cseq += 1; sseq += 1
            for d in flow {
                var off = 0
                while off < d.bytes.count {
                    let piece = Array(d.bytes[off..<min(d.bytes.count, off + segment)])
                    off += piece.count
                    if d.direction == .toServer {
                        h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: 102, seq: cseq, ack: sseq,
                                                 flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: piece), advanceMicros: 0)
                        cseq &+= UInt32(piece.count)
                    } else {
                        h.feed(PacketBuilder.tcp(src: s, sport: 102, dst: c, dport: 40001, seq: sseq, ack: cseq,
                                                 flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: piece), advanceMicros: 0)
                        sseq &+= UInt32(piece.count)
                    }
                }
            }
            // Only the s7comm and anomaly objects: frame numbers and times follow the segments.
            return h.finish().compactMap { line -> String? in
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let t = o["event_type"] as? String, t == "s7comm" || t == "anomaly",
                      let body = o[t], let d = try? JSONSerialization.data(withJSONObject: body, options: .sortedKeys) else { return nil }
                return Self.stripLatency(String(decoding: d, as: UTF8.self))
            }
        }
        let whole = run(1 << 16)
        XCTAssertGreaterThan(whole.count, 30)
        XCTAssertEqual(run(1), whole)
        XCTAssertEqual(run(7), whole)
    }
}

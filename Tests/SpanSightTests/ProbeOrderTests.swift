import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Bytes buffered while the probes wait reach the session in the order their packets came, in
/// both directions, each with its own packet's time (an S7 connect request, its confirm, then
/// the job that lets the probe decide: the session must see the request before the confirm).
final class ProbeOrderTests: XCTestCase {
    /// Records every delivery across both directions, in order, with the envelope's time.
    final class Log: @unchecked Sendable {
        var deliveries: [(Direction, String, Int64)] = []

        /// Claims a direction once its bytes contain "GO"; waits for more before.
        var entry: DissectorEntry {
            DissectorEntry(name: "order", transports: [.tcp], hintPorts: [],
                           probe: { bytes, _, _ in
                               let b = bytes.array
                               return zip(b, b.dropFirst()).contains { $0 == (0x47, 0x4F) } ? .match : .needMore
                           },
                           makeSession: { _ in Session(self) })
        }

        final class Session: DissectorSession {
            let log: Log
            init(_ log: Log) { self.log = log }
            override func receive(_ bytes: ByteView, direction: Direction, context: inout DissectContext) {
                log.deliveries.append((direction, String(decoding: bytes.array, as: UTF8.self), context.envelope.timestampNanos))
            }
        }
    }

    /// Sends `packets` (true: client to server) on one connection, 1 ms apart; returns the log
    /// and the packets' times.
    func run(_ packets: [(Bool, String)]) -> (Log, [Int64]) {
        let log = Log()
        let h = EngineHarness(dissectors: [log.entry])
        let a = "10.9.0.1", b = "10.9.0.2"
        h.feed(PacketBuilder.tcp(src: a, sport: 40001, dst: b, dport: 7000, seq: 100, flags: PacketBuilder.syn))
        h.feed(PacketBuilder.tcp(src: b, sport: 7000, dst: a, dport: 40001, seq: 900, ack: 101, flags: PacketBuilder.syn | PacketBuilder.ackFlag))
        var seq: (UInt32, UInt32) = (101, 901)
        var times: [Int64] = []
        for (toServer, text) in packets {
            let payload = Array(text.utf8)
            if toServer {
                h.feed(PacketBuilder.tcp(src: a, sport: 40001, dst: b, dport: 7000, seq: seq.0, ack: seq.1,
                                         flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: payload))
                seq.0 += UInt32(payload.count)
            } else {
                h.feed(PacketBuilder.tcp(src: b, sport: 7000, dst: a, dport: 40001, seq: seq.1, ack: seq.0,
                                         flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: payload))
                seq.1 += UInt32(payload.count)
            }
            times.append(h.clockMicros * 1000)
        }
        _ = h.finish()
        return (log, times)
    }

    func check(_ packets: [(Bool, String)], file: StaticString = #filePath, line: UInt = #line) {
        let (log, times) = run(packets)
        let got = log.deliveries.map { "\($0.0 == .toServer ? ">" : "<")\($0.1)@\($0.2)" }
        let want = zip(packets, times).map { "\($0.0.0 ? ">" : "<")\($0.0.1)@\($0.1)" }
        XCTAssertEqual(got, want, file: file, line: line)
    }

    /// The match comes in the direction that buffered first: request, confirm, then the match.
    func testBufferedDirectionsAreMergedInPacketOrder() {
        check([(true, "CR"), (false, "CC"), (true, "GO")])
        check([(true, "a"), (false, "b"), (true, "c"), (false, "d"), (false, "e"), (true, "GO")])
    }

    /// The match comes in a direction with nothing buffered: the other direction's packets first.
    func testMatchOnAFreshDirectionFollowsTheOtherDirection() {
        check([(true, "CR"), (true, "X"), (false, "GO")])
    }

    /// More buffered packets than a page records: every byte still arrives, in each
    /// direction's order.
    func testManySmallPacketsLoseNothing() {
        var packets: [(Bool, String)] = []
        for i in 0..<120 {
            let letter = String(UnicodeScalar(UInt8(97 + i % 26)))
            packets.append((i % 2 == 0, letter))
        }
        packets.append((true, "GO"))
        let (log, _) = run(packets)
        for toServer in [true, false] {
            let sent = packets.filter { $0.0 == toServer }.map(\.1).joined()
            let got = log.deliveries.filter { ($0.0 == .toServer) == toServer }.map(\.1).joined()
            XCTAssertEqual(got, sent)
        }
    }
}

import Foundation
import SpanSightEngine
import SpanSightWire
import XCTest

/// What a test delivers to a session, in order: bytes of one direction (a TCP delivery, which a
/// session must accept cut anywhere), or, when `gap` > 0, that many bytes of the direction lost.
public struct Delivery: Sendable, Equatable {
    public var direction: Direction
    public var bytes: [UInt8]
    public var gap: Int

    public init(direction: Direction, bytes: [UInt8], gap: Int = 0) {
        self.direction = direction
        self.bytes = bytes
        self.gap = gap
    }
}

/// A dissector session driven through any `DissectorSink`, without the engine: the generic
/// entry points a session has beside its `DissectContext` overrides. Each dissector's test
/// target declares its session's conformance (`extension ModbusSession: SinkDrivenSession {}`,
/// or a few lines mapping the session's own names). The verifier takes a session factory, not
/// a `DissectorEntry`: the entry's factory wants a `FlowInfo`, which only the engine builds
/// (`verifyThroughEngine` takes the entry).
public protocol SinkDrivenSession: AnyObject {
    func receive<S: DissectorSink>(_ bytes: ByteView, direction: Direction, sink: inout S)
    func gap<S: DissectorSink>(_ length: Int, direction: Direction, sink: inout S)
    func finish<S: DissectorSink>(sink: inout S)
}

extension SinkDrivenSession {
    /// Feeds `deliveries` in order, each in pieces of `chunk` bytes (whole when nil; a gap as a
    /// gap), then ends the flow when `finish`. `at(i)` runs before delivery `i`: where a test's
    /// sink sets its clock.
    public func drive<S: DissectorSink>(_ deliveries: [Delivery], chunk: Int? = nil, finish: Bool = true, sink: inout S,
                                        at: (Int) -> Void = { _ in }) {
        for (i, d) in deliveries.enumerated() {
            at(i)
            if d.gap > 0 {
                gap(d.gap, direction: d.direction, sink: &sink)
                continue
            }
            let step = max(1, chunk ?? d.bytes.count)
            for off in stride(from: 0, to: d.bytes.count, by: step) {
                d.bytes[off..<min(d.bytes.count, off + step)].withUnsafeBytes { receive(ByteView($0), direction: d.direction, sink: &sink) }
            }
        }
        if finish { self.finish(sink: &sink) }
    }
}

/// Same output however the bytes are cut (swift-nio's `ByteToMessageDecoderVerifier`, for every
/// dissector): the deliveries are fed whole, then cut every other way `Splits` names, each way
/// to a fresh session, and each must give what the whole deliveries gave. The first
/// difference fails the caller's line, naming the cut and the first record that differs.
///
/// Every piece of a delivery is stamped with that delivery's time and packet number (1 ms and
/// one packet per delivery, `SinkRecorder.at(delivery:)`), so no cut may change anything a
/// session reports: latencies and the stamps of late events are compared too.
public enum SplitInvariance {
    /// The ways to cut: each delivery in pieces of each of `pieceSizes` (1: a byte at a time),
    /// each delivery in two at every offset (one delivery at a time), and `randomRounds` rounds
    /// of every delivery in random pieces of 1 to `maxRandomPiece` bytes (seeded: a failure
    /// names its seed and round, and repeats).
    public struct Splits: Sendable {
        public var pieceSizes: [Int]
        public var everyOffset: Bool
        public var randomRounds: Int
        public var maxRandomPiece: Int
        public var seed: UInt64

        public init(pieceSizes: [Int] = [1], everyOffset: Bool = true, randomRounds: Int = 20,
                    maxRandomPiece: Int = 40, seed: UInt64 = 7) {
            self.pieceSizes = pieceSizes
            self.everyOffset = everyOffset
            self.randomRounds = randomRounds
            self.maxRandomPiece = maxRandomPiece
            self.seed = seed
        }

        /// A byte at a time, every offset, 20 random rounds.
        public static let all = Splits()
    }

    /// Verifies a session (a fresh one from `session` per run) through a `SinkRecorder`:
    /// everything the sink receives (events with their stamps, `tx_id` and direction,
    /// anomalies, observations with their app-layer objects, operations, PDU counts, and where
    /// the flow's end came) must be the same, in order. Returns the whole deliveries' record,
    /// for the caller's assertions on content. `requireOutput`: fail when the whole deliveries
    /// give no event, anomaly or observation (a comparison of nothing proves nothing).
    @discardableResult
    public static func verify(_ deliveries: [Delivery], _ label: String = "", splits: Splits = .all,
                              observing: Bool = true, eventsEnabled: Bool = true, requireOutput: Bool = true,
                              file: StaticString = #filePath, line: UInt = #line,
                              session: () -> any SinkDrivenSession) -> SinkRecorder {
        let (whole, failure) = check(deliveries, splits: splits, observing: observing, eventsEnabled: eventsEnabled,
                                     requireOutput: requireOutput, session: session)
        if let failure { XCTFail("\(title(label)): \(failure)", file: file, line: line) }
        return whole
    }

    /// `verify` on every TCP flow of `fixtures` that `entry`'s probe claims, as the engine
    /// delivered them (`DeliveryRecorder`); each flow must also give events of `entry`'s
    /// protocol. Returns the flows, for the caller's assertions (skips when a fixture is absent).
    @discardableResult
    public static func verifyFixtureFlows(_ fixtures: [String], entry: DissectorEntry, splits: Splits = .all,
                                          file: StaticString = #filePath, line: UInt = #line,
                                          session: () -> any SinkDrivenSession) throws -> [[Delivery]] {
        var all: [[Delivery]] = []
        for name in fixtures {
            for (i, flow) in try DeliveryRecorder.flows(name, entry: entry).enumerated() {
                let whole = verify(flow, "\(name) flow \(i)", splits: splits, file: file, line: line, session: session)
                if whole.objects("\(entry.name)").isEmpty {
                    XCTFail("\(title("\(name) flow \(i)")): no \(entry.name) event", file: file, line: line)
                }
                all.append(flow)
            }
        }
        return all
    }

    /// What `verify` checks, without failing: the whole deliveries' record and, when a cut
    /// differs, the first one's description (or why there was nothing to compare).
    public static func check(_ deliveries: [Delivery], splits: Splits = .all, observing: Bool = true,
                             eventsEnabled: Bool = true, requireOutput: Bool = true,
                             session: () -> any SinkDrivenSession) -> (whole: SinkRecorder, failure: String?) {
        func run(_ pieces: [Piece]) -> SinkRecorder {
            let s = session()
            var sink = SinkRecorder(observing: observing, eventsEnabled: eventsEnabled)
            for p in pieces {
                let d = deliveries[p.index]
                sink.at(delivery: p.index)
                if d.gap > 0 {
                    s.gap(d.gap, direction: d.direction, sink: &sink)
                } else {
                    d.bytes[p.range].withUnsafeBytes { s.receive(ByteView($0), direction: d.direction, sink: &sink) }
                }
            }
            // The flow's end, stamped as the engine stamps it (its last packet's time, no packet).
            sink.at(delivery: max(0, deliveries.count - 1))
            sink.stamp.pcapCount = 0
            sink.mark("finish")
            s.finish(sink: &sink)
            return sink
        }
        let whole = run(cuts(deliveries, maxPiece: .max))
        if requireOutput && !whole.records.contains(where: { $0.hasPrefix("{") || $0.hasPrefix("anomaly ") || $0.hasPrefix("observation ") }) {
            return (whole, "the whole deliveries gave nothing to compare")
        }
        var failure: String?
        forEachSplit(deliveries, splits, maxPiece: .max) { describe, pieces in
            guard let difference = firstDifference(whole.records, run(pieces).records) else { return true }
            failure = "\(describe()) differs from the whole deliveries at \(difference)"
            return false
        }
        return (whole, failure)
    }

    /// Verifies a dissector through the whole engine: the deliveries become the segments of one
    /// TCP connection (10.0.0.1:`clientPort` to 10.0.0.2:`serverPort`, after a handshake; every
    /// piece of a delivery in its own segment, at that delivery's time), and the dissector's
    /// events and the anomalies, as the engine writes them less `pcap_cnt` (which counts the
    /// segments) and with sorted keys, must be the same. Returns the whole deliveries' lines.
    /// No gaps: a delivery with one fails.
    @discardableResult
    public static func verifyThroughEngine(_ entry: DissectorEntry, _ deliveries: [Delivery], _ label: String = "",
                                           serverPort: UInt16, clientPort: UInt16 = 40000, splits: Splits = .all,
                                           file: StaticString = #filePath, line: UInt = #line) -> [String] {
        guard !deliveries.contains(where: { $0.gap > 0 }) else {
            XCTFail("\(title(label)): gaps cannot be sent through the engine", file: file, line: line)
            return []
        }
        let app = "\(entry.name)"
        func run(_ pieces: [Piece]) -> [String] {
            let h = EngineHarness(dissectors: [entry])
            let (c, s) = ("10.0.0.1", "10.0.0.2")
            var cseq: UInt32 = 1000, sseq: UInt32 = 5000
            h.feed(PacketBuilder.tcp(src: c, sport: clientPort, dst: s, dport: serverPort, seq: cseq, flags: PacketBuilder.syn))
            h.feed(PacketBuilder.tcp(src: s, sport: serverPort, dst: c, dport: clientPort, seq: sseq, ack: cseq + 1,
                                     flags: PacketBuilder.syn | PacketBuilder.ackFlag))
            cseq += 1
            sseq += 1
            h.feed(PacketBuilder.tcp(src: c, sport: clientPort, dst: s, dport: serverPort, seq: cseq, ack: sseq, flags: PacketBuilder.ackFlag))
            var last = -1
            for p in pieces {
                let d = deliveries[p.index], payload = Array(d.bytes[p.range])
                let advance: Int64 = p.index == last ? 0 : 1000
                last = p.index
                let flags = PacketBuilder.ackFlag | PacketBuilder.psh
                if d.direction == .toServer {
                    h.feed(PacketBuilder.tcp(src: c, sport: clientPort, dst: s, dport: serverPort, seq: cseq, ack: sseq,
                                             flags: flags, payload: payload), advanceMicros: advance)
                    cseq &+= UInt32(payload.count)
                } else {
                    h.feed(PacketBuilder.tcp(src: s, sport: serverPort, dst: c, dport: clientPort, seq: sseq, ack: cseq,
                                             flags: flags, payload: payload), advanceMicros: advance)
                    sseq &+= UInt32(payload.count)
                }
            }
            return h.finish().compactMap { line -> String? in
                guard var o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                    return "INVALID JSON: \(line)"
                }
                guard let t = o["event_type"] as? String, t == app || t == "anomaly" else { return nil }
                o.removeValue(forKey: "pcap_cnt")
                guard let d = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) else { return nil }
                return String(decoding: d, as: UTF8.self)
            }
        }
        // A segment holds at most an IPv4 packet's worth.
        let maxPiece = 60_000
        let whole = run(cuts(deliveries, maxPiece: maxPiece))
        if whole.isEmpty {
            XCTFail("\(title(label)): the whole deliveries gave no \(app) event or anomaly", file: file, line: line)
            return whole
        }
        forEachSplit(deliveries, splits, maxPiece: maxPiece) { describe, pieces in
            guard let difference = firstDifference(whole, run(pieces)) else { return true }
            XCTFail("\(title(label)): through the engine, \(describe()) differs from the whole deliveries at \(difference)",
                    file: file, line: line)
            return false
        }
        return whole
    }

    // MARK: cutting

    /// Bytes `range` of delivery `index` (a gap: its whole delivery, an empty range).
    struct Piece {
        var index: Int
        var range: Range<Int>
    }

    /// Delivery `i` in pieces: `size(offset)` gives each piece's length (at most `maxPiece`).
    static func chop(_ deliveries: [Delivery], _ i: Int, maxPiece: Int, into out: inout [Piece], _ size: (Int) -> Int) {
        let d = deliveries[i]
        if d.gap > 0 { return out.append(Piece(index: i, range: 0..<0)) }
        var off = 0
        while off < d.bytes.count {
            let end = off + min(max(1, size(off)), maxPiece, d.bytes.count - off)
            out.append(Piece(index: i, range: off..<end))
            off = end
        }
    }

    /// Every delivery in pieces of `size(delivery, offset)` bytes.
    static func cuts(_ deliveries: [Delivery], maxPiece: Int, _ size: (Int, Int) -> Int = { _, _ in .max }) -> [Piece] {
        var out: [Piece] = []
        for i in deliveries.indices { chop(deliveries, i, maxPiece: maxPiece, into: &out) { size(i, $0) } }
        return out
    }

    /// Calls `body` with each cut `splits` names and its description, until it returns false.
    static func forEachSplit(_ deliveries: [Delivery], _ splits: Splits, maxPiece: Int,
                             _ body: (_ describe: () -> String, _ pieces: [Piece]) -> Bool) {
        for n in splits.pieceSizes {
            let pieces = cuts(deliveries, maxPiece: maxPiece) { _, _ in n }
            guard body({ n == 1 ? "a byte at a time" : "pieces of \(n) bytes" }, pieces) else { return }
        }
        if splits.everyOffset {
            for (i, d) in deliveries.enumerated() where d.gap == 0 && d.bytes.count > 1 {
                for cut in 1..<d.bytes.count {
                    let pieces = cuts(deliveries, maxPiece: maxPiece) { j, off in j != i ? .max : off < cut ? cut - off : .max }
                    let describe = { "delivery \(i) (\(d.direction), \(d.bytes.count) bytes) cut at \(cut)" }
                    guard body(describe, pieces) else { return }
                }
            }
        }
        var rng = SplitMix(seed: splits.seed)
        for round in 0..<splits.randomRounds {
            let pieces = cuts(deliveries, maxPiece: maxPiece) { _, _ in Int.random(in: 1...max(1, splits.maxRandomPiece), using: &rng) }
            let describe = { "random pieces of 1 to \(splits.maxRandomPiece) bytes (seed \(splits.seed), round \(round))" }
            guard body(describe, pieces) else { return }
        }
    }

    // MARK: reporting

    static func title(_ label: String) -> String { label.isEmpty ? "split invariance" : "split invariance (\(label))" }

    /// Where two records first differ, with both sides; nil when equal.
    static func firstDifference(_ whole: [String], _ split: [String]) -> String? {
        guard whole != split else { return nil }
        var i = 0
        while i < whole.count && i < split.count && whole[i] == split[i] { i += 1 }
        func at(_ r: [String]) -> String { i < r.count ? r[i] : "(none: ends after \(r.count) records)" }
        return "record \(i) (of \(whole.count) whole, \(split.count) cut):\n  whole: \(at(whole))\n  cut:   \(at(split))"
    }
}

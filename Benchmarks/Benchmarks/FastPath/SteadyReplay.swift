// UNSAFE: the replay owns one raw buffer with the packets of a lap and rewrites the TCP sequence
// and acknowledgment numbers in it before each packet (the only writes); the engine borrows each
// packet's bytes for one `process` call, as it does libpcap's.
import SpanSightCapture
import SpanSightEngine
import SpanSightWire

/// Why a capture cannot be replayed as a steady state.
struct ReplayError: Error, CustomStringConvertible {
    let description: String
}

/// One end of a TCP conversation.
struct Endpoint: Hashable, Comparable {
    var address: IPAddress
    var port: UInt16

    static func < (a: Endpoint, b: Endpoint) -> Bool {
        a.address != b.address ? a.address < b.address : a.port < b.port
    }
}

/// A direction of a conversation.
struct DirectionKey: Hashable {
    var from: Endpoint
    var to: Endpoint

    var reversed: DirectionKey { DirectionKey(from: to, to: from) }
    /// The same key for both directions.
    var conversation: DirectionKey { from < to ? self : reversed }
}

/// A packet of the replay: where its bytes are, and how its TCP numbers move from lap to lap.
struct ReplayPacket {
    var offset: Int
    var length: Int
    var wireLength: Int
    var nanos: Int64
    /// Where the TCP sequence number is in the replay buffer (the acknowledgment follows it).
    var sequenceField: Int
    var sequence: UInt32
    var acknowledgment: UInt32
    /// Bytes this packet's direction sends in one lap.
    var sequenceStep: UInt32
    /// Bytes the opposite direction sends in one lap.
    var acknowledgmentStep: UInt32
}

/// The established part of a capture's TCP conversations, replayed lap after lap as though the
/// conversations went on: each lap sends the same segments again, with sequence and
/// acknowledgment numbers advanced by the bytes each direction sent in the laps before and times
/// advanced by a lap's span. So after the first lap every packet hits an existing flow and
/// arrives in order: the engine's steady state.
///
/// The lap is every TCP packet without SYN, FIN or RST of the conversations whose handshake the
/// capture holds, up to the conversation's first FIN or RST; the prologue (run once, first) is
/// their SYN and SYN+ACK packets. The capture's data must be in order (no retransmission, gap or
/// overlap), which `init` checks.
///
/// So what a conversation does once at its start after the TCP handshake is in the lap, and
/// each lap does it again on the same connection: a DICOM association (A-ASSOCIATE-RQ/AC ..
/// A-RELEASE or A-ABORT, or a rejection), S7's COTP connect and setup communication. The
/// dissectors take each as a new association or connection, as they take one on a new flow:
/// DICOM's association is its transaction (one `dicom` event each, written when it ends), so its
/// events are measured only so; a lap after a release or an abort starts with A-ASSOCIATE-RQ,
/// the one PDU that starts an association after one ended. `init` checks that the laps are
/// taken so (`LapWork.check`): a lap seen as something else (a stray PDU after a release, an
/// association superseding an open one) differs from the first in its anomalies or transactions.
final class SteadyReplay {
    let engine: Engine
    /// TCP conversations replayed.
    let conversations: Int
    private let buffer: UnsafeMutableRawBufferPointer
    private let prologue: [ReplayPacket]
    private let lap: [ReplayPacket]
    private let lapNanos: Int64
    /// The lap being replayed, from 1.
    private var laps: Int = 1
    private var next: Int = 0

    /// Loads `path`, runs the prologue and `warmUpLaps` laps (at least 3) through a new engine, and
    /// checks that the laps are the conversation going on (`LapWork.check`). `carriedOver`: the
    /// anomalies each lap after the first raises about the lap before it (see `check`).
    init(path: String, config: EngineConfig, output: EventOutput, warmUpLaps: Int,
         carriedOver: [String: UInt64] = [:]) throws {
        let capture: LoadedCapture = try LoadedCapture.load(path)
        guard let link: LinkKind = LinkKind(dlt: capture.linkType.rawValue) else {
            throw ReplayError(description: "\(path): unsupported link type \(capture.linkType.name)")
        }
        let plan: ReplayPlan = try ReplayPlan(capture, link: link, path: path)
        var total: Int = 0
        for i in plan.packets { total += capture.lengths[i] }
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, total), alignment: 16)
        var records: [ReplayPacket] = []
        var offset: Int = 0
        for (n, i) in plan.packets.enumerated() {
            let source: Int = capture.offsets[i]
            let length: Int = capture.lengths[i]
            capture.storage.withUnsafeBytes { (store: UnsafeRawBufferPointer) in
                let from = UnsafeRawBufferPointer(rebasing: store[source..<(source + length)])
                UnsafeMutableRawBufferPointer(rebasing: storage[offset..<(offset + length)]).copyMemory(from: from)
            }
            var r: ReplayPacket = plan.records[n]
            r.offset = offset
            r.sequenceField += offset
            records.append(r)
            offset += length
        }
        buffer = storage
        prologue = Array(records[..<plan.prologueCount])
        lap = Array(records[plan.prologueCount...])
        lapNanos = plan.lapNanos
        conversations = plan.conversations
        engine = Engine(config: config, output: output)
        _ = engine.setLinkType(dlt: capture.linkType.rawValue)
        for p in prologue { send(p, turns: 0, nanos: p.nanos) }
        var laps: [LapWork] = []
        for _ in 0..<max(3, warmUpLaps) {
            let before = LapWork(engine)
            for _ in 0..<lap.count { processNext() }
            laps.append(LapWork(engine).since(before))
        }
        try LapWork.check(laps, carriedOver: carriedOver, path: path)
        lapWork = laps[laps.count - 1]
    }

    /// What the engine did in each warm-up lap after the first (all the same).
    private(set) var lapWork: LapWork? = nil

    deinit { buffer.deallocate() }

    var packetsPerLap: Int { lap.count }

    /// Runs the next packet of the replay through the engine. Lap k sends the capture's numbers
    /// advanced k - 1 times (lap 1 continues the prologue's handshakes), k laps later.
    @inline(__always)
    func processNext() {
        let p: ReplayPacket = lap[next]
        send(p, turns: UInt32(truncatingIfNeeded: laps - 1), nanos: p.nanos &+ Int64(laps) &* lapNanos)
        next += 1
        if next == lap.count {
            next = 0
            laps += 1
        }
    }

    /// Segments the reassembler did not see in order so far: nonzero means the replay is broken
    /// and measures something else than the steady state.
    var disorderedSegments: UInt64 {
        let c: EngineCounters = engine.counters
        return c.tcpSegmentsOutOfOrder &+ c.tcpRetransmissions &+ c.tcpOverlaps &+ c.reassemblyGaps
    }

    /// PDUs all dissectors parsed so far.
    var pdus: UInt64 { engine.counters.pdusByDissector.reduce(0, &+) }

    private func send(_ p: ReplayPacket, turns: UInt32, nanos: Int64) {
        store(p.sequence &+ turns &* p.sequenceStep, at: p.sequenceField)
        store(p.acknowledgment &+ turns &* p.acknowledgmentStep, at: p.sequenceField + 4)
        let bytes = UnsafeRawBufferPointer(rebasing: buffer[p.offset..<(p.offset + p.length)])
        engine.process(bytes, wireLength: p.wireLength, timestampNanos: nanos)
    }

    private func store(_ v: UInt32, at offset: Int) {
        buffer.storeBytes(of: v.bigEndian, toByteOffset: offset, as: UInt32.self)
    }
}

/// The work a lap made the engine do, by its counters: equal from lap to lap when each lap is the
/// same conversation going on (a lap that a dissector sees as a new association superseding an
/// open one, a stray PDU after a release, a duplicate request or a resynchronisation differs in
/// its anomalies, events or transactions from the first lap, which followed the handshakes).
struct LapWork: Equatable, CustomStringConvertible {
    var pdus: UInt64
    var transactions: UInt64
    var events: UInt64
    var anomalies: [String: UInt64]

    init(_ engine: Engine) {
        let c: EngineCounters = engine.counters
        pdus = c.pdusByDissector.reduce(0, &+)
        transactions = c.transactionsByDissector.reduce(0, &+)
        events = engine.output.eventCount
        anomalies = c.anomaliesByName
    }

    func since(_ a: LapWork) -> LapWork {
        var d = self
        d.pdus -= a.pdus
        d.transactions -= a.transactions
        d.events -= a.events
        for (name, n) in a.anomalies { d.anomalies[name, default: 0] -= n }
        d.anomalies = d.anomalies.filter { $0.value != 0 }
        return d
    }

    /// The laps are the same conversation going on when every lap after the first did the same
    /// work, and the first parsed the same PDUs, numbered the same transactions and wrote the
    /// same events as they did. Their anomalies (and so their events) may differ from the first
    /// lap's only by `carriedOver`: what a lap raises about the lap before it, as when a request
    /// left unanswered at the end of a lap is logged unanswered when the next lap sends its
    /// reference again (the first lap has no lap before it). Anything else (a new association
    /// superseding an open one, a stray PDU after a release, a duplicate request, a
    /// resynchronisation) means the replay measures something else than the steady state.
    static func check(_ laps: [LapWork], carriedOver: [String: UInt64], path: String) throws {
        let first: LapWork = laps[0]
        let steady: LapWork = laps[1]
        for (n, lap) in laps.enumerated().dropFirst(2) where lap != steady {
            throw ReplayError(description: "\(path): lap \(n + 1) did other work than lap 2 (\(lap) against \(steady))")
        }
        var expected: LapWork = first
        for (name, k) in carriedOver { expected.anomalies[name, default: 0] += k }
        // What is carried over is logged too (its anomaly, a request's own event).
        if !carriedOver.isEmpty { expected.events = steady.events }
        if steady != expected {
            throw ReplayError(description: "\(path): lap 2 did other work than lap 1 (\(steady) against \(first), "
                              + "carried over \(carriedOver)): the dissectors do not see the laps as the same conversation going on")
        }
    }

    var description: String {
        let names: String = anomalies.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "\(pdus) PDUs, \(transactions) transactions, \(events) events, anomalies [\(names)]"
    }
}

/// Which packets of a capture make the prologue and the lap, and their TCP numbers.
struct ReplayPlan {
    /// Capture indices: the prologue's packets, then the lap's.
    var packets: [Int] = []
    /// One per entry of `packets` (offsets relative to the packet's start).
    var records: [ReplayPacket] = []
    var prologueCount: Int = 0
    var lapNanos: Int64 = 0
    var conversations: Int = 0

    init(_ capture: LoadedCapture, link: LinkKind, path: String) throws {
        let decoded: [DecodedTCP] = ReplayPlan.decode(capture, link: link)
        var opened: Set<DirectionKey> = []
        var closed: Set<DirectionKey> = []
        var lapPackets: [DecodedTCP] = []
        var prologuePackets: [DecodedTCP] = []
        for d in decoded {
            let conversation: DirectionKey = d.direction.conversation
            if d.flags.contains(.syn) {
                if !d.flags.contains(.fin) && !d.flags.contains(.rst) && !closed.contains(conversation) {
                    opened.insert(conversation)
                    prologuePackets.append(d)
                }
            } else if d.flags.contains(.fin) || d.flags.contains(.rst) {
                closed.insert(conversation)
            } else if opened.contains(conversation) && !closed.contains(conversation) {
                lapPackets.append(d)
            }
        }
        guard !lapPackets.isEmpty else { throw ReplayError(description: "\(path): no established TCP packets") }

        // Bytes per direction per lap; the data must follow on without gaps or repeats.
        var nextSequence: [DirectionKey: UInt32] = [:]
        var sent: [DirectionKey: UInt32] = [:]
        for d in lapPackets {
            if let expected = nextSequence[d.direction], expected != d.sequence {
                throw ReplayError(description: "\(path): packet \(d.index + 1) is not in order (\(d.sequence), expected \(expected))")
            }
            nextSequence[d.direction] = d.sequence &+ UInt32(d.payloadLength)
            sent[d.direction, default: 0] &+= UInt32(d.payloadLength)
        }

        for d in prologuePackets { append(d, capture, sequenceStep: 0, acknowledgmentStep: 0) }
        prologueCount = packets.count
        for d in lapPackets {
            append(d, capture, sequenceStep: sent[d.direction] ?? 0, acknowledgmentStep: sent[d.direction.reversed] ?? 0)
        }
        let first: Int64 = capture.timestamps[packets[0]]
        let last: Int64 = capture.timestamps[packets[packets.count - 1]]
        lapNanos = max(0, last - first) + 1_000_000
        conversations = opened.count
    }

    private mutating func append(_ d: DecodedTCP, _ capture: LoadedCapture, sequenceStep: UInt32, acknowledgmentStep: UInt32) {
        packets.append(d.index)
        let r = ReplayPacket(offset: 0, length: capture.lengths[d.index], wireLength: capture.wireLengths[d.index],
                             nanos: capture.timestamps[d.index], sequenceField: d.headerOffset + TCPHeader.Field.sequence,
                             sequence: d.sequence, acknowledgment: d.acknowledgment,
                             sequenceStep: sequenceStep, acknowledgmentStep: acknowledgmentStep)
        records.append(r)
    }

    /// What the plan needs of one TCP packet.
    struct DecodedTCP {
        var index: Int
        var direction: DirectionKey
        var flags: TCPFlags
        var sequence: UInt32
        var acknowledgment: UInt32
        var payloadLength: Int
        /// Where the TCP header starts in the packet.
        var headerOffset: Int
    }

    /// The capture's TCP packets, decoded by SpanSightWire.
    static func decode(_ capture: LoadedCapture, link: LinkKind) -> [DecodedTCP] {
        let decoder = PacketDecoder(link: link)
        var p = DecodedPacket()
        var out: [DecodedTCP] = []
        capture.storage.withUnsafeBytes { (store: UnsafeRawBufferPointer) in
            for i in 0..<capture.count {
                let start: Int = capture.offsets[i]
                let bytes = UnsafeRawBufferPointer(rebasing: store[start..<(start + capture.lengths[i])])
                decoder.decode(ByteView(bytes), wireLength: capture.wireLengths[i], into: &p)
                guard p.outcome == .transport, p.ipProto == 6, let header = tcpHeaderOffset(bytes, p) else { continue }
                let direction = DirectionKey(from: Endpoint(address: p.source, port: p.sourcePort),
                                             to: Endpoint(address: p.destination, port: p.destinationPort))
                out.append(DecodedTCP(index: i, direction: direction, flags: p.tcpFlags, sequence: p.tcpSequence,
                                      acknowledgment: p.tcpAcknowledgment, payloadLength: p.payload.count,
                                      headerOffset: header))
            }
        }
        return out
    }

    /// Where the decoded packet's TCP header starts: the first place its first 12 bytes (ports,
    /// sequence, acknowledgment) stand. (The decoder keeps no offsets, and an empty payload
    /// carries no address.)
    static func tcpHeaderOffset(_ bytes: UnsafeRawBufferPointer, _ p: DecodedPacket) -> Int? {
        let ports: UInt32 = UInt32(p.sourcePort) << 16 | UInt32(p.destinationPort)
        let words: [UInt32] = [ports, p.tcpSequence, p.tcpAcknowledgment]
        var want: [UInt8] = []
        for v in words {
            want.append(UInt8(v >> 24))
            want.append(UInt8(truncatingIfNeeded: v >> 16))
            want.append(UInt8(truncatingIfNeeded: v >> 8))
            want.append(UInt8(truncatingIfNeeded: v))
        }
        guard bytes.count >= want.count else { return nil }
        for start in 0...(bytes.count - want.count) where bytes[start] == want[0] {
            var same = true
            for k in 1..<want.count where bytes[start + k] != want[k] {
                same = false
                break
            }
            if same { return start }
        }
        return nil
    }
}

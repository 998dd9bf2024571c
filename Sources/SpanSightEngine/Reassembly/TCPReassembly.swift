// UNSAFE: queued segments are copied into pool pages and delivered as views of them, within
// the page size and the bytes each page holds.
import SpanSightWire

/// Out-of-order segments waiting for a hole to fill: parallel arrays of nodes, recycled
/// through a free list (no allocation once grown).

struct SegmentPool {
    var seq: [UInt32] = []
    var length: [Int32] = []
    var page: [Int32] = []
    var next: [Int32] = []
    /// The packet each segment came in (time and number): bytes delivered after a gap are
    /// dated by it.
    var stamp: [PacketStamp] = []
    var freeHead: Int32 = -1

    init() {}

    
    mutating func take() -> Int32 {
        if freeHead >= 0 {
            let n = freeHead
            freeHead = next[Int(n)]
            return n
        }
        seq.append(0); length.append(0); page.append(-1); next.append(-1)
        stamp.append(PacketStamp(packetNanos: 0, pcapCount: 0))
        return Int32(seq.count - 1)
    }

    
    mutating func release(_ n: Int32) {
        next[Int(n)] = freeHead
        freeHead = n
    }

    func end(_ n: Int32) -> UInt32 { seq[Int(n)] &+ UInt32(length[Int(n)]) }
}

/// Sequence-space comparisons modulo 2^32 (RFC 9293 section 3.4).
func seqDiff(_ a: UInt32, _ b: UInt32) -> Int32 { Int32(bitPattern: a &- b) }

/// The holes a direction gives up in one go (a cap hit, an ACK past them, a cut segment, the
/// flow's end): from the first one's start to the last one's end. Kept in the flow record
/// (`FlowRecord.givenUp`), it tells a late segment (one that falls in them: its bytes were
/// never delivered) from a retransmission (its bytes were).
struct GivenUpHoles {
    var lo: UInt32 = 0
    var hi: UInt32 = 0
    var any = false

    mutating func add(from start: UInt32, length: Int) {
        guard length > 0 else { return }
        if !any { lo = start; any = true }
        hi = start &+ UInt32(truncatingIfNeeded: length)
    }
}

extension FlowRecord {
    func givenUp(_ d: Direction) -> (lo: UInt32, hi: UInt32) {
        d == .toServer ? (givenUp.0, givenUp.1) : (givenUp.2, givenUp.3)
    }
    mutating func setGivenUp(_ d: Direction, _ h: GivenUpHoles) {
        guard h.any else { return }
        if d == .toServer { givenUp.0 = h.lo; givenUp.1 = h.hi } else { givenUp.2 = h.lo; givenUp.3 = h.hi }
    }
}

extension Engine {
    /// Reassembles one TCP segment of a direction: in-order data goes straight to the
    /// dissector (no copy), future data is queued in pooled pages under the per-flow and
    /// global caps, retransmitted and overlapping bytes are delivered once (first copy wins).
    func tcpSegment(_ slot: Int32, _ dir: Direction) {
        // The fields used here, read once (a copy of the whole decoded packet costs more).
        let flags = packet.tcpFlags, isCut = packet.isCut
        var st = table[slot].stream(dir)
        // An ACK from this side that covers a hole in the other direction: the receiver got
        // bytes the capture missed. Report the gap and release what waited behind it.
        if flags.contains(.ack) && table[slot].hasQueued(dir.reversed) {
            let other = table[slot].stream(dir.reversed)
            let ack = packet.tcpAcknowledgment
            if other.oooHead >= 0 && seqDiff(ack, other.nextSeq) > 0 {
                ackedHole(slot, dir.reversed, ack: ack)
            }
        }
        var seq = packet.tcpSequence
        if flags.contains(.syn) {
            if !st.synSeen {
                st.synSeen = true
                table[slot].setSynSeq(dir, seq)
                // A stream picked up mid-stream keeps its place: this SYN is a late copy (one
                // outside the bytes seen opened a new flow before reaching here).
                if !st.started {
                    st.nextSeq = seq &+ 1
                    st.started = true
                }
            }
            seq = seq &+ 1
        }
        if flags.contains(.fin) { st.finSeen = true }
        var payload = packet.payload
        if payload.isEmpty {
            table[slot].setStream(dir, st)
            return
        }
        if !st.started {
            // Picked up mid-stream (normal on a mirror port): start at this segment.
            st.nextSeq = seq
            st.started = true
        }
        let rel = seqDiff(seq, st.nextSeq)
        if rel <= 0 {
            let overlap = Int(-Int64(rel))
            if overlap >= payload.count {
                countBehind(slot, dir, seq, seq &+ UInt32(payload.count))
                table[slot].setStream(dir, st)
                return
            }
            if overlap > 0 {
                counters.tcpOverlaps &+= 1
                payload = payload.suffix(from: overlap)
            }
            counters.tcpSegmentsInOrder &+= 1
            st.nextSeq = st.nextSeq &+ UInt32(payload.count)
            st.deliveredBytes &+= UInt64(payload.count)
            // A snaplen-cut segment: the bytes past the cut are lost to us, a gap.
            let missing = isCut ? packetMissingBytes : 0
            if missing > 0 {
                var holes = GivenUpHoles()
                holes.add(from: st.nextSeq, length: missing)
                table[slot].setGivenUp(dir, holes)
                st.nextSeq = st.nextSeq &+ UInt32(truncatingIfNeeded: missing)
                st.gapBytes &+= UInt64(missing)
            }
            table[slot].setStream(dir, st)
            deliver(slot, dir, payload)
            if missing > 0 { deliverGap(slot, dir, missing) }
            if table[slot].stream(dir).oooHead >= 0 { drain(slot, dir) }
            return
        }
        // Future data: a hole before it.
        counters.tcpSegmentsOutOfOrder &+= 1
        // While the direction is being probed, its probe buffer takes a page of the caps too
        // (the first bytes delivered past the hole may need one): one page is left for it.
        let probing = table[slot].app == .probing && !table[slot].probeRejected(dir)
        let probeReserve = probing ? (table[slot].probePage(dir) >= 0 ? 1 : 2) : 0
        if !enqueue(&st, seq: seq, data: payload, probeReserve: probeReserve) {
            // A cap was reached: give up on the holes. Deliver in order what is queued before
            // this segment (with its gaps), this segment after a gap, then the rest queued.
            counters.reassemblyCapHits &+= 1
            table[slot].setStream(dir, st)
            var holes = GivenUpHoles()
            while true {
                let head = table[slot].stream(dir).oooHead
                guard head >= 0, seqDiff(segments.seq[Int(head)], seq) <= 0 else { break }
                gapToFirstQueued(slot, dir, &holes)
                drain(slot, dir, afterGap: true)
            }
            st = table[slot].stream(dir)
            let hole = seqDiff(seq, st.nextSeq)
            if hole > 0 {
                holes.add(from: st.nextSeq, length: Int(hole))
                st.gapBytes &+= UInt64(hole)
                st.nextSeq = seq
                table[slot].setStream(dir, st)
                deliverGap(slot, dir, Int(hole))
                st = table[slot].stream(dir)
            } else if hole < 0 {
                // Queued copies of its first bytes were delivered just now (a cap hit means
                // some of its bytes were not queued, so something is left).
                let skip = Int(-Int64(hole))
                if skip >= payload.count {
                    countBehind(slot, dir, seq, seq &+ UInt32(payload.count))
                    flushQueued(slot, dir, &holes)
                    table[slot].setGivenUp(dir, holes)
                    return
                }
                payload = payload.suffix(from: skip)
            }
            st.nextSeq = st.nextSeq &+ UInt32(payload.count)
            st.deliveredBytes &+= UInt64(payload.count)
            table[slot].setStream(dir, st)
            deliver(slot, dir, payload)
            flushQueued(slot, dir, &holes)
            table[slot].setGivenUp(dir, holes)
            return
        }
        table[slot].setStream(dir, st)
    }

    /// A segment (`seq..<end`) entirely behind the stream: late when it falls in the holes
    /// given up last (its bytes were never delivered), else a retransmission.
    func countBehind(_ slot: Int32, _ dir: Direction, _ seq: UInt32, _ end: UInt32) {
        let g = table[slot].givenUp(dir)
        if g.lo != g.hi && seqDiff(end, g.lo) > 0 && seqDiff(seq, g.hi) < 0 {
            counters.tcpSegmentsLate &+= 1
        } else {
            counters.tcpRetransmissions &+= 1
        }
    }

    /// Queues the parts of a future segment not already queued (first copy wins). Returns
    /// false, queuing nothing more, when the per-flow or global cap would be passed.
    /// `probeReserve`: 0 when the direction is not being probed; else 1 when its probe buffer
    /// holds a page (counted in the per-flow cap), 2 when it has none yet (a page of both
    /// caps is kept for it).
    func enqueue(_ st: inout StreamState, seq: UInt32, data: ByteView, probeReserve: Int = 0) -> Bool {
        var cur = seq
        var rest = data
        var prev: Int32 = -1
        var node = st.oooHead
        while !rest.isEmpty {
            while node >= 0 && seqDiff(segments.end(node), cur) <= 0 {
                prev = node
                node = segments.next[Int(node)]
            }
            if node >= 0 && seqDiff(segments.seq[Int(node)], cur) <= 0 {
                // `cur` lies inside a queued segment: skip the bytes it already has.
                counters.tcpOverlaps &+= 1
                let skip = Int(seqDiff(segments.end(node), cur))
                if skip >= rest.count { return true }
                rest = rest.suffix(from: skip)
                cur = cur &+ UInt32(skip)
                continue
            }
            let room = node >= 0 ? Int(seqDiff(segments.seq[Int(node)], cur)) : rest.count
            let n = min(rest.count, room)
            // The cap bounds memory, so a segment counts the whole pages it takes (a flood of
            // one-byte segments takes a page each).
            let pages = (n + pool.pageSize - 1) / pool.pageSize
            let probePages = probeReserve > 0 ? 1 : 0
            guard Int(st.oooHeld) + (pages + probePages) * pool.pageSize <= config.reassemblyPerFlowBytes else { return false }
            guard let first = pool.take(pages, keepFree: probeReserve > 1 ? 1 : 0), let base = rest.buffer.baseAddress else { return false }
            pool.write(ByteViewLike(base: base, count: n), into: first, at: 0)
            let s = segments.take()
            segments.seq[Int(s)] = cur
            segments.length[Int(s)] = Int32(n)
            segments.page[Int(s)] = first
            segments.next[Int(s)] = node
            segments.stamp[Int(s)] = PacketStamp(packetNanos: packetNanos, pcapCount: pcapCount)
            if prev >= 0 { segments.next[Int(prev)] = s } else { st.oooHead = s }
            prev = s
            st.oooHeld += Int32(pages * pool.pageSize)
            st.oooSegments += 1
            rest = rest.suffix(from: n)
            cur = cur &+ UInt32(n)
        }
        return true
    }

    /// Delivers queued segments that have become in order. Behind a hole the current packet
    /// filled they belong to it (nothing in them could be parsed before); behind a hole given
    /// up as a gap (`afterGap`) each is dated by the packet it came in, so that an event names
    /// the frame its message arrived in.
    func drain(_ slot: Int32, _ dir: Direction, afterGap: Bool = false) {
        while true {
            var st = table[slot].stream(dir)
            let head = st.oooHead
            guard head >= 0, seqDiff(segments.seq[Int(head)], st.nextSeq) <= 0 else { return }
            let segEnd = segments.end(head)
            let skip = Int(seqDiff(st.nextSeq, segments.seq[Int(head)]))
            let len = Int(segments.length[Int(head)])
            st.oooHead = segments.next[Int(head)]
            st.oooHeld -= Int32((len + pool.pageSize - 1) / pool.pageSize * pool.pageSize)
            st.oooSegments -= 1
            if seqDiff(segEnd, st.nextSeq) > 0 {
                st.nextSeq = segEnd
                st.deliveredBytes &+= UInt64(len - skip)
                table[slot].setStream(dir, st)
                if afterGap {
                    asPacket(segments.stamp[Int(head)]) {
                        deliverPages(slot, dir, first: segments.page[Int(head)], skip: skip, length: len)
                    }
                } else {
                    deliverPages(slot, dir, first: segments.page[Int(head)], skip: skip, length: len)
                }
            } else {
                table[slot].setStream(dir, st)
                countBehind(slot, dir, segments.seq[Int(head)], segEnd)
            }
            pool.release(segments.page[Int(head)])
            segments.release(head)
        }
    }

    /// Hands `length` bytes stored from `first` on (skipping `skip`) to the dissector, a page
    /// at a time.
    func deliverPages(_ slot: Int32, _ dir: Direction, first: Int32, skip: Int, length: Int) {
        var page = first
        var offset = 0
        while page >= 0 && offset < length {
            let n = min(pool.pageSize, length - offset)
            let lo = max(skip - offset, 0)
            if lo < n {
                deliver(slot, dir, ByteView(start: UnsafeRawPointer(pool.pointer(page)) + lo, count: n - lo))
            }
            offset += n
            page = pool.next(page)
        }
    }

    /// The other side acknowledged past the hole: report the hole up to the first queued
    /// segment (or the ACK) and deliver what follows.
    func ackedHole(_ slot: Int32, _ dir: Direction, ack: UInt32) {
        let head = table[slot].stream(dir).oooHead
        guard head >= 0, seqDiff(ack, segments.seq[Int(head)]) >= 0 else { return }
        var holes = GivenUpHoles()
        gapToFirstQueued(slot, dir, &holes)
        table[slot].setGivenUp(dir, holes)
        drain(slot, dir, afterGap: true)
    }

    /// Gives up on the hole before the first queued segment: reports it as a gap, adds it to
    /// `holes` and moves the stream to that segment.
    func gapToFirstQueued(_ slot: Int32, _ dir: Direction, _ holes: inout GivenUpHoles) {
        var st = table[slot].stream(dir)
        let head = st.oooHead
        guard head >= 0 else { return }
        let hole = seqDiff(segments.seq[Int(head)], st.nextSeq)
        guard hole > 0 else { return }
        holes.add(from: st.nextSeq, length: Int(hole))
        st.gapBytes &+= UInt64(hole)
        st.nextSeq = segments.seq[Int(head)]
        table[slot].setStream(dir, st)
        deliverGap(slot, dir, Int(hole))
    }

    /// Delivers everything queued in a direction, reporting each hole as a gap.
    func flushQueued(_ slot: Int32, _ dir: Direction) {
        var holes = GivenUpHoles()
        flushQueued(slot, dir, &holes)
        table[slot].setGivenUp(dir, holes)
    }

    func flushQueued(_ slot: Int32, _ dir: Direction, _ holes: inout GivenUpHoles) {
        while table[slot].stream(dir).oooHead >= 0 {
            gapToFirstQueued(slot, dir, &holes)
            drain(slot, dir, afterGap: true)
        }
    }
}

// UNSAFE: a one-frame transport gather copies each block's user data (CRCs dropped) into a
// stack buffer, within ranges the link layer checked.
import SpanSightEngine
import SpanSightWire

/// A fragment being rebuilt from transport segments for one (source, destination) pair.
struct DNP3Reassembly {
    var inUse = false
    var source: UInt16 = 0
    var destination: UInt16 = 0
    /// A FIR segment started the fragment and no error ended it.
    var active = false
    /// The fragment overflowed: drop segments until the next FIR, silently.
    var discarding = false
    var lastSequence: UInt8 = 0
    var lastUse: UInt64 = 0
    var buffer: [UInt8] = []
    /// Bytes reserved for `buffer` and charged (its logical size, not its `capacity`: see
    /// `reservedSize` in SpanSightEngine).
    var reserved = 0
}

/// A request awaiting its response; a bounded copy of its fragment sits beside it in the
/// session's `SlotBlock`.
struct DNP3PendingRequest {
    var inUse = false
    var direction = Direction.toServer
    /// The transaction's number in the flow (the events' `tx_id` and `dnp3.id`).
    var txID: Int64 = 0
    /// Engine time the request completed (the response's latency is measured from it).
    var timestamp: Int64 = 0
    /// The packet that completed it (time and number): its event names that packet.
    var stamp = PacketStamp(packetNanos: 0, pcapCount: 0)
    var source: UInt16 = 0
    var destination: UInt16 = 0
    var linkControl: UInt8 = 0
    var sequence: UInt8 = 0
    var order: UInt64 = 0
    /// The fragment was longer than the copy.
    var truncated = false
    /// Bytes of the fragment kept (at most `maxStoredRequestBytes`).
    var byteCount = 0
}

/// The per-flow DNP3 session.
///
/// Bounded design: TCP bytes go through one `StreamFramer` per direction (frames whole in a
/// delivery are parsed in place; a straddling frame, at most 292 octets, is copied). Block CRCs
/// are checked in place and user data is appended to a reassembly buffer per (direction,
/// address pair), reused across fragments. A completed fragment is validated (anomalies) and
/// then either emitted at once (responses, unsolicited responses, requests that get no
/// response) or copied, up to `maxStoredRequestBytes`, into a reused slot until its response
/// arrives: then the request's event is written from that copy and the response's straight
/// from the reassembly buffer, one event per message in Suricata's shape, both with the
/// transaction's number.
final class DNP3Session: DissectorSession {
    // Stored properties in the order a delivery reads them (the object's first bytes share
    // the cache line of its header, which the call reads anyway); cold ones last.
    let udp: Bool
    var flooded = false
    /// Per direction: inside a run of skipped bytes (reported once, when the run starts).
    var inGarbage = DirectionPair(false)
    /// The CRC tables, read once here rather than through the global at every frame.
    let crcTables = DNP3CRC.tables
    var framerToServer = StreamFramer(maxPDU: DNP3LinkHeader.maxFrameSize)
    var framerToClient = StreamFramer(maxPDU: DNP3LinkHeader.maxFrameSize)
    var reassembly = DirectionPair<[DNP3Reassembly]>([])
    var clock: UInt64 = 0
    /// Requests logged without a response so far (flood detection).
    var unreplied = 0
    /// Number of the next transaction in the flow (Suricata's `tx_id`, from 0): a request, with
    /// its response if any; an unsolicited or unmatched response.
    var nextTxID: Int64 = 0
    var pending: SlotBlock<DNP3PendingRequest>
    let limits: DNP3Limits
    var observations = DNP3Observations()

    init(limits: DNP3Limits, udp: Bool) {
        self.limits = limits
        self.udp = udp
        pending = SlotBlock(capacity: limits.maxPendingRequests, bytesPerSlot: limits.maxStoredRequestBytes)
        super.init()
        pending.account = memory
        pending.kind = .transactions
        framerToServer.attach(memory)
        framerToClient.attach(memory)
    }

    // MARK: DissectorSession

    override func receive(_ bytes: ByteView, direction: Direction, context: inout DissectContext) {
        feed(bytes, direction, &context)
    }

    // MARK: entry points (generic over the sink: the tests' hook)

    /// Bytes of one direction (a TCP delivery or a UDP datagram).
    func feed(_ bytes: ByteView, _ direction: Direction, _ context: inout some DissectorSink) {
        if udp {
            receiveDatagram(bytes, direction, &context)
            return
        }
        if direction == .toServer {
            framerToServer.feed(bytes) { step($0, direction, &context) }
        } else {
            framerToClient.feed(bytes) { step($0, direction, &context) }
        }
    }

    override func gap(_ length: Int, direction: Direction, context: inout DissectContext) {
        if direction == .toServer { framerToServer.reset() } else { framerToClient.reset() }
        inGarbage[direction.index] = false
        for i in reassembly[direction.index].indices {
            reassembly[direction.index][i].active = false
            reassembly[direction.index][i].discarding = false
            reassembly[direction.index][i].buffer.removeAll(keepingCapacity: true)
        }
    }

    /// Sheds the pending requests (logged unanswered), the fragments in reassembly and the
    /// partial frames (reported incomplete), freeing their storage; framing goes on as after
    /// a gap.
    override func shed(context: inout DissectContext) -> Int {
        var items = 0
        reportIncomplete(.toServer, &context)
        reportIncomplete(.toClient, &context)
        for d in 0..<2 {
            items += reassembly[d].filter { $0.active && !$0.buffer.isEmpty }.count
            for r in reassembly[d] { memory.release(.pdus, r.reserved) }
            reassembly[d] = []
        }
        if !udp {
            if framerToServer.hasPending { items += 1 }
            if framerToClient.hasPending { items += 1 }
            framerToServer.releaseStorage()
            framerToClient.releaseStorage()
            inGarbage[0] = false
            inGarbage[1] = false
        }
        while let i = oldestPending() {
            emitUnanswered(i, &context)
            items += 1
        }
        pending.removeAll()
        unreplied = 0
        flooded = false
        return items
    }

    override func finish(context: inout DissectContext) { end(&context) }

    /// The flow ended: what is incomplete is reported, unanswered requests are logged.
    func end(_ context: inout some DissectorSink) {
        if !udp {
            reportIncomplete(.toServer, &context)
            reportIncomplete(.toClient, &context)
        }
        // Unanswered requests, oldest first.
        while let i = oldestPending() {
            emitUnanswered(i, &context)
        }
    }

    /// What a direction still holds as the flow ends: a link frame cut short
    /// (`dnp3.incomplete_frame`, the octets held) and fragments begun (FIR) whose FIN never
    /// came (`dnp3.incomplete_fragment`, per address pair, the octets rebuilt so far).
    func reportIncomplete(_ dir: Direction, _ context: inout some DissectorSink) {
        let framer = dir == .toServer ? framerToServer : framerToClient
        let side: StaticString = dir == .toServer ? "to_server" : "to_client"
        if framer.hasPending {
            let held = framer.pendingCount
            let frameBytes = framer.pending.withUnsafeBytes { raw -> Int in
                DNP3LinkHeader(ByteView(raw)).map { DNP3LinkHeader.frameSize(length: $0.length) } ?? -1
            }
            context.anomaly(DNP3.Anomalies.incompleteFrame.name) { w in
                w.field("direction", side)
                w.field("pending_bytes", held)
                if frameBytes >= 0 { w.field("frame_bytes", frameBytes) }
            }
        }
        for r in reassembly[dir.index] where r.inUse && r.active {
            let (src, dst, n, seq) = (Int(r.source), Int(r.destination), r.buffer.count, Int(r.lastSequence))
            context.anomaly(DNP3.Anomalies.incompleteFragment.name) { w in
                w.field("direction", side)
                w.field("src", src)
                w.field("dst", dst)
                w.field("fragment_bytes", n)
                w.field("last_sequence", seq)
            }
        }
    }

    // MARK: link layer

    /// One framing step over the head of a TCP stream.
    func step(_ v: ByteView, _ dir: Direction, _ context: inout some DissectorSink) -> FrameStep {
        switch DNP3LinkScan.scan(v, tables: crcTables) {
        case .frame(let size):
            context.countPDU()
            frame(v.prefix(size), dir, &context)
            inGarbage[dir.index] = false
            return .consumed(size)
        case .needMore(let total):
            return .needMore(total: total)
        case .noStart(let skip):
            if !inGarbage[dir.index] {
                context.anomaly(DNP3.Anomalies.headerLacksMagic.name)
                inGarbage[dir.index] = true
            }
            return .skip(skip)
        case .badHeaderCRC:
            context.anomaly(DNP3.Anomalies.badLinkCrc.name)
            inGarbage[dir.index] = true
            return .skip(1)
        case .lengthTooSmall:
            context.anomaly(DNP3.Anomalies.lenTooSmall.name)
            inGarbage[dir.index] = true
            return .skip(DNP3LinkHeader.Field.size)
        }
    }

    /// A datagram holds whole frames; one cut by the end of the datagram is reported.
    func receiveDatagram(_ bytes: ByteView, _ dir: Direction, _ context: inout some DissectorSink) {
        var off = 0
        inGarbage[dir.index] = false
        while off < bytes.count {
            let v = bytes.suffix(from: off)
            if case .needMore = DNP3LinkScan.scan(v, tables: crcTables) {
                if v.count >= 2 && v._u8(0) == 0x05 && v._u8(1) == 0x64 {
                    context.anomaly(DNP3.Anomalies.truncatedFrame.name)
                } else if !inGarbage[dir.index] {
                    context.anomaly(DNP3.Anomalies.headerLacksMagic.name)
                }
                return
            }
            switch step(v, dir, &context) {
            case .consumed(let n), .skip(let n): off += max(1, n)
            case .needMore: return
            }
        }
    }

    /// A frame whose header CRC is valid: check the block CRCs, then hand user data on.
    func frame(_ f: ByteView, _ dir: Direction, _ context: inout some DissectorSink) {
        guard let h = DNP3LinkHeader(f) else { return }
        let n = h.userDataCount
        guard DNP3CRC.checkBlocks(f, userData: n, tables: crcTables) else {
            context.anomaly(DNP3.Anomalies.badTransportCrc.name)
            return
        }
        let control = h.control
        guard control.carriesUserData, n > 0, let th = f.u8(at: DNP3LinkHeader.Field.size) else {
            // Link-layer service frames (reset, test, link status, ACK/NACK): logged as their own.
            emitLink(h, dir, &context)
            return
        }
        transport(th, f, n, source: h.source, destination: h.destination, control: control.raw, dir, &context)
    }

    // MARK: transport layer

    func slot(_ dir: Direction, _ src: UInt16, _ dst: UInt16) -> Int {
        let d = dir.index
        clock &+= 1
        if let i = reassembly[d].firstIndex(where: { $0.inUse && $0.source == src && $0.destination == dst }) {
            reassembly[d][i].lastUse = clock
            return i
        }
        var pick: Int
        if let free = reassembly[d].firstIndex(where: { !$0.inUse }) {
            pick = free
        } else if reassembly[d].count < limits.maxReassemblies {
            reassembly[d].append(DNP3Reassembly())
            pick = reassembly[d].count - 1
            _ = room(d, pick, min(limits.maxFragmentBytes, 2048))
        } else {
            pick = 0
            for i in reassembly[d].indices where reassembly[d][i].lastUse < reassembly[d][pick].lastUse { pick = i }
        }
        reassembly[d][pick].inUse = true
        reassembly[d][pick].source = src
        reassembly[d][pick].destination = dst
        reassembly[d][pick].active = false
        reassembly[d][pick].discarding = false
        reassembly[d][pick].lastUse = clock
        reassembly[d][pick].buffer.removeAll(keepingCapacity: true)
        return pick
    }

    /// One transport segment (IEEE 1815-2012 clause 8): FIN 0x80, FIR 0x40, sequence 0x3F.
    func transport(_ th: UInt8, _ f: ByteView, _ n: Int, source: UInt16, destination: UInt16,
                   control: UInt8, _ dir: Direction, _ context: inout some DissectorSink) {
        let fin = th & 0x80 != 0, fir = th & 0x40 != 0, seq = th & 0x3F
        let d = dir.index
        if fir && fin {
            singleFrameFragment(f, n, source: source, destination: destination, control: control, dir, &context)
            return
        }
        let i = slot(dir, source, destination)
        if fir {
            reassembly[d][i].buffer.removeAll(keepingCapacity: true)
            reassembly[d][i].active = true
            reassembly[d][i].discarding = false
        } else if reassembly[d][i].discarding {
            return
        } else if !reassembly[d][i].active {
            context.anomaly(DNP3.Anomalies.transportMissingFir.name)
            return
        } else if seq != (reassembly[d][i].lastSequence &+ 1) & 0x3F {
            context.anomaly(DNP3.Anomalies.transportOutOfSequence.name)
            reassembly[d][i].active = false
            reassembly[d][i].buffer.removeAll(keepingCapacity: true)
            return
        }
        reassembly[d][i].lastSequence = seq
        // Append the user data after the transport octet, block by block, skipping the CRCs.
        let payload = n - 1
        if reassembly[d][i].buffer.count + payload > limits.maxFragmentBytes {
            context.anomaly(DNP3.Anomalies.tooLongReassembly.name)
            reassembly[d][i].active = false
            reassembly[d][i].discarding = !fin
            reassembly[d][i].buffer.removeAll(keepingCapacity: true)
            return
        }
        guard room(d, i, payload) else {
            // The memory budget refused the fragment's bytes (the engine reports it once per
            // flow): dropped like an overlong one, without its anomaly.
            reassembly[d][i].active = false
            reassembly[d][i].discarding = !fin
            reassembly[d][i].buffer.removeAll(keepingCapacity: true)
            return
        }
        var off = DNP3LinkHeader.Field.size
        var left = n
        var first = true
        while left > 0 {
            let b = min(DNP3LinkHeader.blockSize, left)
            let skip = first ? 1 : 0
            if let chunk = f.slice(off + skip, b - skip), !chunk.isEmpty {
                chunk.withBytes { reassembly[d][i].buffer.append(contentsOf: $0) }
            }
            first = false
            off += b + 2
            left -= b
        }
        guard fin else { return }
        reassembly[d][i].active = false
        reassembly[d][i].buffer.withUnsafeBytes { raw in
            fragment(ByteView(raw), source: source, destination: destination, control: control, dir, &context)
        }
        reassembly[d][i].buffer.removeAll(keepingCapacity: true)
    }

    /// Makes room for `n` more bytes in reassembly buffer `i` of direction `d`, charged to the
    /// memory budget (the buffer doubles, up to the fragment cap); false when refused.
    func room(_ d: Int, _ i: Int, _ n: Int) -> Bool {
        let need = reassembly[d][i].buffer.count + n
        let reserved = reassembly[d][i].reserved
        if need <= reserved { return true }
        let want = max(need, min(limits.maxFragmentBytes, reserved * 2))
        guard memory.charge(.pdus, want - reserved) else { return false }
        reassembly[d][i].buffer.reserveCapacity(want)
        reassembly[d][i].reserved = want
        return true
    }

    /// A fragment in one frame (FIR and FIN: nearly all DNP3 traffic). A reassembly open for
    /// the pair is abandoned, as any FIR abandons it; nothing else is kept. User data within
    /// one block is parsed in place; longer data is gathered (CRCs skipped) into a stack buffer.
    func singleFrameFragment(_ f: ByteView, _ n: Int, source: UInt16, destination: UInt16,
                             control: UInt8, _ dir: Direction, _ context: inout some DissectorSink) {
        let d = dir.index
        if !reassembly[d].isEmpty,
           let i = reassembly[d].firstIndex(where: { $0.inUse && $0.source == source && $0.destination == destination }) {
            reassembly[d][i].active = false
            reassembly[d][i].discarding = false
            reassembly[d][i].buffer.removeAll(keepingCapacity: true)
        }
        if n - 1 > limits.maxFragmentBytes {
            context.anomaly(DNP3.Anomalies.tooLongReassembly.name)
            return
        }
        let header = DNP3LinkHeader.Field.size
        if n <= DNP3LinkHeader.blockSize {
            fragment(f._slice(header + 1, n - 1), source: source, destination: destination, control: control, dir, &context)
            return
        }
        // The frame was length-checked by the link scan: blocks and CRCs are all inside it, and
        // the user data (at most 249 octets) fits a buffer on the stack (always in cache).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: DNP3LinkHeader.maxFrameSize) { out in
            let src = f.buffer.baseAddress.unsafelyUnwrapped
            let dst = UnsafeMutableRawPointer(out.baseAddress.unsafelyUnwrapped)
            var off = header, left = n, w = 0, skip = 1
            while left > 0 {
                let b = min(DNP3LinkHeader.blockSize, left)
                (dst + w).copyMemory(from: src + off + skip, byteCount: b - skip)
                w += b - skip
                skip = 0
                off += b + 2
                left -= b
            }
            fragment(ByteView(start: UnsafeRawPointer(dst), count: w), source: source, destination: destination,
                     control: control, dir, &context)
        }
    }

    // MARK: application layer

    /// A complete application fragment.
    func fragment(_ a: ByteView, source: UInt16, destination: UInt16, control: UInt8,
                  _ dir: Direction, _ context: inout some DissectorSink) {
        guard let ac = a.u8(at: 0), let fc = a.u8(at: 1) else {
            context.anomaly(DNP3.Anomalies.malformed.name)
            return
        }
        let isResponse = DNP3Names.isResponse(fc)
        if isResponse && a.count < 4 {
            context.anomaly(DNP3.Anomalies.malformed.name)
            return
        }
        let known = DNP3Names.isKnownFunction(fc)
        if known {
            let s = DNP3Objects.validate(a, fc: fc, limits: limits)
            if let e = s.error {
                switch e {
                case .unknownObject: context.anomaly(DNP3.Anomalies.unknownObject.name)
                case .malformed, .truncated: context.anomaly(DNP3.Anomalies.malformed.name)
                }
            }
            if s.tooManyObjects { context.anomaly(DNP3.Anomalies.tooManyObjects.name) }
            if s.tooManyPoints { context.anomaly(DNP3.Anomalies.tooManyPoints.name) }
        } else {
            context.anomaly(DNP3.Anomalies.unknownFunctionCode.name)
        }
        // The link DIR bit says who sent the frame: 1 from the master (requests), 0 from the
        // outstation (responses); a mismatch means a confused or spoofing station.
        if (control & 0x80 != 0) == isResponse { context.anomaly(DNP3.Anomalies.directionBitMismatch.name) }
        if !isResponse && fc != 0 {
            context.markOperation(DNP3Observations.operation(fc, firstGroup: DNP3Observations.firstGroup(a, fc: fc)))
        }
        let seq = ac & 0x0F
        let msg = Message(source: source, destination: destination, control: control, fragment: a, truncated: false)
        // A request's (or an unsolicited response's) transaction is numbered as it arrives, so
        // that an alert on it and its events name the same tx_id.
        let tx: Int64 = !isResponse || fc == 130 ? takeTxID() : -1
        if context.observing {
            let limits = self.limits
            observations.note(a, fc: fc, source: source, destination: destination,
                              sender: dir == .toServer ? .client : .server, txID: tx, direction: dir, appObject: { w in
                // An alert on the message carries it as its event writes it.
                w.beginObject(fc == 130 ? "response" : "request")
                w.field("type", fc == 130 ? "unsolicited_response" : "request")
                w.field("id", Int(tx))
                DNP3Session.write(&w, msg, limits)
                w.endObject()
            }, &context)
        }
        if fc == 130 {
            emitMessage("unsolicited_response", msg, txID: tx, dir, status: "unsolicited", &context)
            return
        }
        if isResponse {
            if let i = findPending(dir.reversed, requester: destination, responder: source, sequence: seq) {
                emitPair(i, response: msg, dir, &context)
            } else {
                emitMessage("response", msg, txID: takeTxID(), dir, status: "unmatched_response", &context)
            }
            return
        }
        if DNP3Names.expectsNoResponse(fc) {
            emitMessage("request", msg, txID: tx, dir, status: "complete", &context)
            return
        }
        store(msg, sequence: seq, dir, txID: tx, &context)
    }

    /// The next transaction number of the flow.
    func takeTxID() -> Int64 {
        let id = nextTxID
        nextTxID &+= 1
        return id
    }

    /// A message to log: link addresses and control, and the fragment's bytes.
    struct Message {
        var source: UInt16
        var destination: UInt16
        var control: UInt8
        var fragment: ByteView
        var truncated: Bool
    }

    func findPending(_ dir: Direction, requester: UInt16, responder: UInt16, sequence: UInt8) -> Int? {
        for i in 0..<pending.count {
            let p = pending.record(i)
            if p.pointee.inUse && p.pointee.direction == dir && p.pointee.source == requester
                && p.pointee.destination == responder && p.pointee.sequence == sequence { return i }
        }
        return nil
    }

    func oldestPending() -> Int? { pending.minimum(where: \.inUse, by: \.order) }

    /// A free pending slot: a used one, or a new one while fewer than the limit exist.
    func freePending() -> Int? {
        for i in 0..<pending.count where !pending[i].inUse { return i }
        return nil
    }

    /// Keeps a request until its response: a retry (same addresses and sequence) replaces the
    /// pending one, which is logged unanswered; so does the oldest when every slot is taken.
    func store(_ m: Message, sequence: UInt8, _ dir: Direction, txID: Int64, _ context: inout some DissectorSink) {
        unreplied += 1
        if unreplied > limits.floodThreshold && !flooded {
            flooded = true
            context.anomaly(DNP3.Anomalies.flooded.name)
        }
        var i: Int
        if let same = findPending(dir, requester: m.source, responder: m.destination, sequence: sequence) {
            emitUnanswered(same, &context)
            i = same
        } else if let free = freePending() {
            i = free
        } else if let added = pending.append(DNP3PendingRequest()) {
            i = added
        } else if let oldest = oldestPending() {
            // Every slot taken (or the memory budget refused another): the oldest goes
            // unanswered to make room.
            i = oldest
            emitUnanswered(i, &context)
        } else {
            // No slot at all (the budget refused the first): logged unanswered at once.
            if context.eventsEnabled {
                emitMessage("request", m, txID: txID, dir, status: "unanswered", &context)
            }
            return
        }
        clock &+= 1
        let r = pending.record(i)
        r.pointee.inUse = true
        r.pointee.direction = dir
        r.pointee.source = m.source
        r.pointee.destination = m.destination
        r.pointee.linkControl = m.control
        r.pointee.sequence = sequence
        r.pointee.order = clock
        r.pointee.txID = txID
        r.pointee.timestamp = context.timestampNanos
        r.pointee.stamp = context.stamp
        // The bytes are kept for the request's event only: none when no events are built.
        r.pointee.byteCount = context.eventsEnabled ? pending.store(i, m.fragment) : 0
        r.pointee.truncated = r.pointee.byteCount < m.fragment.count
    }

    // MARK: events

    func emitUnanswered(_ i: Int, _ context: inout some DissectorSink) {
        pending[i].inUse = false
        guard context.eventsEnabled else { return }
        let p = pending[i]
        let m = Message(source: p.source, destination: p.destination, control: p.linkControl,
                        fragment: pending.view(i, count: p.byteCount), truncated: p.truncated)
        emitMessage("request", m, txID: p.txID, p.direction, status: "unanswered", stamp: p.stamp, &context)
    }

    /// A response to pending request `i`: the request's event, then the response's, with the
    /// same transaction number; the response's carries the latency.
    func emitPair(_ i: Int, response: Message, _ dir: Direction, _ context: inout some DissectorSink) {
        pending[i].inUse = false
        unreplied = max(0, unreplied - 1)
        if unreplied == 0 { flooded = false }
        guard context.eventsEnabled else { return }
        let p = pending[i]
        let req = Message(source: p.source, destination: p.destination, control: p.linkControl,
                          fragment: pending.view(i, count: p.byteCount), truncated: p.truncated)
        emitMessage("request", req, txID: p.txID, p.direction, status: "complete", stamp: p.stamp, &context)
        emitMessage("response", response, txID: p.txID, dir, status: "complete",
                    latencyNanos: context.timestampNanos - p.timestamp, &context)
    }

    /// A frame with no user data (Suricata logs none): `{"type": "link", "control": {...},
    /// "src", "dst"}`, with Suricata's names and types for what it shares with messages.
    func emitLink(_ h: DNP3LinkHeader, _ dir: Direction, _ context: inout some DissectorSink) {
        let (src, dst, lc) = (Int(h.source), Int(h.destination), h.control)
        context.emit("dnp3", txID: -1, direction: dir) { w in
            w.field("type", "link")
            w.beginObject("control")
            w.field("dir", lc.dir)
            w.field("pri", lc.prm)
            if lc.prm {
                w.field("fcb", lc.fcb)
                w.field("fcv", lc.fcv)
            } else {
                w.field("dfc", lc.dfc)
            }
            w.field("function_code", Int(lc.functionCode))
            w.field("function", lc.functionName)
            w.endObject()
            w.field("src", src)
            w.field("dst", dst)
        }
    }

    /// One message's event, in Suricata's shape (`type`, `control`, `src`, `dst`,
    /// `application`, `iin`) with ours beside it: `id` (the transaction number, also the
    /// envelope's `tx_id`), `status`, and on a paired response `latency_ms`. A request written
    /// after its packet (with its response, or unanswered) is stamped with its own `stamp`.
    func emitMessage(_ type: StaticString, _ m: Message, txID: Int64, _ dir: Direction, status: StaticString,
                     latencyNanos: Int64? = nil, stamp: PacketStamp? = nil, _ context: inout some DissectorSink) {
        let limits = self.limits
        context.emit("dnp3", txID: txID, direction: dir, stamp: stamp) { w in
            w.field("type", type)
            w.field("id", Int(txID))
            w.field("status", status)
            if let latencyNanos { w.field("latency_ms", Double(latencyNanos) / 1_000_000) }
            DNP3Session.write(&w, m, limits)
        }
    }

    /// Writes one message: link control and addresses, application header and objects, and
    /// IIN for responses.
    static func write(_ w: inout JSONWriter, _ m: Message, _ limits: DNP3Limits) {
        let a = m.fragment
        let lc = DNP3LinkControl(raw: m.control)
        w.beginObject("control")
        w.field("dir", lc.dir)
        w.field("pri", lc.prm)
        w.field("fcb", lc.fcb)
        w.field("fcv", lc.fcv)
        w.field("function_code", Int(lc.functionCode))
        w.field("function", lc.functionName)
        w.endObject()
        w.field("src", Int(m.source))
        w.field("dst", Int(m.destination))
        guard let ac = a.u8(at: 0), let fc = a.u8(at: 1) else { return }
        w.beginObject("application")
        w.beginObject("control")
        w.field("fir", ac & 0x80 != 0)
        w.field("fin", ac & 0x40 != 0)
        w.field("con", ac & 0x20 != 0)
        w.field("uns", ac & 0x10 != 0)
        w.field("sequence", Int(ac & 0x0F))
        w.endObject()
        w.field("function_code", Int(fc))
        w.field("function", DNP3Names.function(fc))
        // Suricata's `complete`: the fragment's objects were all decoded (a known function,
        // the whole fragment kept, the walk reached its end).
        var decoded = false
        if DNP3Names.isKnownFunction(fc) {
            decoded = DNP3Objects.write(&w, a, fc: fc, limits: limits)
        }
        if m.truncated { w.field("truncated", true) }
        w.field("complete", decoded && !m.truncated)
        w.endObject()
        if DNP3Names.isResponse(fc), let i1 = a.u8(at: 2), let i2 = a.u8(at: 3) {
            // Suricata's indicator names, in its order; `indicators` left out when no bit is set.
            let iin = UInt16(i1) << 8 | UInt16(i2)
            w.beginObject("iin")
            if iin != 0 {
                w.beginArray("indicators")
                for i in 0..<16 where iin & (0x8000 >> UInt16(i)) != 0 { w.value(DNP3Names.iinIndicator(i)) }
                w.endArray()
            }
            w.field("raw", Int(iin))
            w.endObject()
        }
    }
}

import SpanSightEngine
import SpanSightWire

/// A request waiting for its response: the decoded record, the way it travelled (the PLC
/// sends the jobs of a download), its arrival and a bounded copy of its PDU (at most
/// `S7RequestTable.stride` bytes, in the table's block) from which its event is written.
struct S7OpenRequest {
    var pdu: S7PDU
    var direction: Direction
    /// Engine time of arrival (latency).
    var timestamp: Int64
    /// Its packet (time and number), which its event names when it goes unanswered.
    var stamp: PacketStamp
    var sequence: UInt64
    var byteCount: Int
    var inUse: Bool
    var txID: Int64
}

/// The open-request table of one flow, keyed by (direction, PDU reference, job or userdata):
/// slots reused, each a request record with its PDU bytes beside it in one `SlotBlock`. It
/// grows only up to `capacity` slots; steady traffic (one or a few jobs in flight, as the
/// negotiated max AmQ allows) reuses the same slots without allocating.
struct S7RequestTable: ~Copyable {
    /// Bytes of a request kept for its event: the header and the parameters of 30 read items.
    static let stride = 384
    private var block: SlotBlock<S7OpenRequest>
    private(set) var openCount = 0
    private var nextSequence: UInt64 = 0

    init(capacity: Int) {
        block = SlotBlock(capacity: capacity, bytesPerSlot: S7RequestTable.stride)
    }

    mutating func attach(_ account: MemoryAccount) {
        block.account = account
        block.kind = .transactions
    }

    /// True when a request can be stored without dropping one.
    mutating func hasRoom() -> Bool {
        if openCount < block.count { return true }
        return !isFull && block.makeRoom()
    }

    mutating func removeAll() {
        block.removeAll()
        openCount = 0
    }

    var capacity: Int { block.capacity }
    var isFull: Bool { openCount >= block.capacity }

    func request(_ slot: Int) -> S7OpenRequest { block[slot] }

    /// The open request that travelled `direction` with this reference (the oldest when several).
    func find(direction: Direction, reference: UInt16, userdata: Bool) -> Int? {
        guard openCount > 0 else { return nil }
        var best = -1
        var bestSequence = UInt64.max
        for i in 0..<block.count {
            let r = block.record(i)
            if r.pointee.inUse && r.pointee.pdu.pduReference == reference && r.pointee.direction == direction
                && r.pointee.pdu.isUserdata == userdata && r.pointee.sequence < bestSequence {
                best = i
                bestSequence = r.pointee.sequence
            }
        }
        return best >= 0 ? best : nil
    }

    func oldest() -> Int? { openCount > 0 ? block.minimum(where: \.inUse, by: \.sequence) : nil }

    /// Stores a request (the caller made room) with its PDU bytes; `storeBytes` false keeps none.
    mutating func insert(_ p: S7PDU, bytes: ByteView, direction: Direction, timestamp: Int64, stamp: PacketStamp,
                         txID: Int64, storeBytes: Bool) {
        let entry = S7OpenRequest(pdu: p, direction: direction, timestamp: timestamp, stamp: stamp, sequence: nextSequence,
                                  byteCount: 0, inUse: true, txID: txID)
        var slot = -1
        for i in 0..<block.count where !block[i].inUse { slot = i; break }
        if slot >= 0 {
            block[slot] = entry
        } else if let added = block.append(entry) {
            slot = added
        } else {
            return
        }
        nextSequence &+= 1
        block[slot].byteCount = storeBytes ? block.store(slot, bytes) : 0
        openCount += 1
    }

    mutating func remove(_ slot: Int) {
        guard block[slot].inUse else { return }
        block[slot].inUse = false
        openCount -= 1
    }

    func withBytes<R>(_ slot: Int, _ body: (ByteView) -> R) -> R {
        body(block.view(slot, count: block[slot].byteCount))
    }
}

/// The TSDU in reassembly in one direction: the user data of DT TPDUs without the EOT bit,
/// copied into one reused buffer up to `S7commSession.maxReassembledPDU`, charged (kind
/// `.pdus`) as it grows. Whole TSDUs in one TPDU (nearly all S7 traffic) never come here.
struct FragmentBuffer {
    private(set) var bytes: [UInt8] = []
    private var charged = 0
    var account: MemoryAccount?
    /// Dropping a TSDU that passed the cap (or was refused memory) until its last TPDU.
    var dropping = false

    var count: Int { bytes.count }

    enum Append { case ok, overCap, refused }

    mutating func append(_ v: ByteView, cap: Int) -> Append {
        let need = bytes.count + v.count
        guard need <= cap else { return .overCap }
        if need > charged {
            let want = min(cap, reservedSize(for: need, floor: 256))
            if let account, !account.charge(.pdus, want - charged) { return .refused }
            bytes.reserveCapacity(want)
            charged = want
        }
        v.withBytes { bytes.append(contentsOf: $0) }
        return .ok
    }

    mutating func reset() {
        if !bytes.isEmpty { bytes.removeAll(keepingCapacity: true) }
    }

    /// Frees the storage (state shed for the memory budget).
    mutating func releaseStorage() {
        bytes = []
        account?.release(.pdus, charged)
        charged = 0
    }

    func withView<R>(_ body: (ByteView) -> R) -> R {
        bytes.withUnsafeBytes { body(ByteView($0)) }
    }
}

/// Per-direction framing state: whether the position is trusted to be a TPKT boundary (false
/// after a gap or garbage, until a plausible header), and the bytes skipped meanwhile.
struct S7StreamState {
    var inSync = true
    var skipped: Int32 = 0
}

/// A COTP connect TPDU waiting for its other half: the request (CR) waiting for its confirm,
/// or a confirm delivered first (the engine hands the other direction's probe buffer over
/// before the bytes that made the probe match, so a CC can arrive before its CR).
struct PendingConnect {
    var active = false
    var isRequest = false
    var direction = Direction.toServer
    var timestamp: Int64 = 0
    var stamp = PacketStamp(packetNanos: 0, pcapCount: 0)
    var txID: Int64 = -1
    var byteCount = 0
}

/// The S7comm session of one flow: frames TPKTs out of the reassembled stream, reads their
/// COTP TPDUs (connect, DT with reassembly of multi-TPDU S7 PDUs, disconnect), decodes S7
/// PDUs, pairs requests with responses by PDU reference and emits one `s7comm` event per
/// transaction (and per COTP connection) plus `s7comm.*` anomalies.
public final class S7commSession: DissectorSession {
    public static let defaultMaxOpenRequests = 256
    /// The largest S7 PDU reassembled from several DT TPDUs (negotiated PDU sizes are 240 to 960).
    public static let maxReassembledPDU = 16_384
    /// Bytes of a connect TPDU's header kept while it waits for its other half.
    static let connectHeaderBytes = 255

    /// The way the S7 client's requests travel (client -> server as the engine orients the
    /// flow, unless port 102 or the connect request says otherwise).
    var clientDirection: Direction
    var state = DirectionPair(S7StreamState())
    var table: S7RequestTable
    var framerToServer = StreamFramer(maxPDU: TPKTHeader.maxLength)
    var framerToClient = StreamFramer(maxPDU: TPKTHeader.maxLength)
    var fragmentsToServer = FragmentBuffer()
    var fragmentsToClient = FragmentBuffer()
    var observations = S7commObservations()
    var connect = PendingConnect()
    var connectBytes: [UInt8]
    var nextTxID: Int64 = 0
    var tableFullReported = false
    /// Negotiated sizes (0: not seen): the TPDU size of the connect, the PDU size of the setup.
    var tpduSize = 0
    var pduSize = 0
    var tpduSizeReported = false

    public init(clientDirection: Direction = .toServer, maxOpenRequests: Int = S7commSession.defaultMaxOpenRequests) {
        self.clientDirection = clientDirection
        table = S7RequestTable(capacity: maxOpenRequests)
        connectBytes = [UInt8](repeating: 0, count: S7commSession.connectHeaderBytes)
        super.init()
        table.attach(memory)
        framerToServer.attach(memory)
        framerToClient.attach(memory)
        fragmentsToServer.account = memory
        fragmentsToClient.account = memory
        memory.chargeUnchecked(.sessions, connectBytes.count + SZLAssembler.storageBytes)
    }

    // MARK: DissectorSession

    public override func receive(_ bytes: ByteView, direction: Direction, context: inout DissectContext) {
        receive(bytes, direction: direction, sink: &context)
    }

    public override func gap(_ length: Int, direction: Direction, context: inout DissectContext) {
        gap(length, direction: direction, sink: &context)
    }

    public override func finish(context: inout DissectContext) {
        finish(sink: &context)
    }

    public override func shed(context: inout DissectContext) -> Int {
        shed(sink: &context)
    }

    // MARK: generic entry points (also the test hook)

    public func receive<S: DissectorSink>(_ bytes: ByteView, direction: Direction, sink: inout S) {
        if direction == .toServer {
            framerToServer.feed(bytes) { frame($0, direction, &sink) }
        } else {
            framerToClient.feed(bytes) { frame($0, direction, &sink) }
        }
    }

    public func gap<S: DissectorSink>(_ length: Int, direction: Direction, sink: inout S) {
        reportHeld(direction, &sink)
        if direction == .toServer {
            framerToServer.reset()
            fragmentsToServer.reset()
            fragmentsToServer.dropping = false
        } else {
            framerToClient.reset()
            fragmentsToClient.reset()
            fragmentsToClient.dropping = false
        }
        state[direction.index] = S7StreamState(inSync: false)
    }

    /// Sheds the open requests (logged unanswered, as at the flow's end) and the partial
    /// TPKTs and TSDUs (reported incomplete; both directions then resynchronise, as after a
    /// gap); the number of requests and partial messages dropped.
    public func shed<S: DissectorSink>(sink: inout S) -> Int {
        var items = 0
        for dir in [Direction.toServer, .toClient] {
            let partial = dir == .toServer ? framerToServer.hasPending || fragmentsToServer.count > 0
                : framerToClient.hasPending || fragmentsToClient.count > 0
            gap(0, direction: dir, sink: &sink)
            if partial { items += 1 }
        }
        framerToServer.releaseStorage()
        framerToClient.releaseStorage()
        fragmentsToServer.releaseStorage()
        fragmentsToClient.releaseStorage()
        while let slot = table.oldest() {
            emitUnanswered(slot, &sink)
            items += 1
        }
        table.removeAll()
        return items
    }

    public func finish<S: DissectorSink>(sink: inout S) {
        reportHeld(.toServer, &sink)
        reportHeld(.toClient, &sink)
        flushConnect(&sink)
        var unanswered = 0
        while let slot = table.oldest() {
            emitUnanswered(slot, &sink)
            unanswered += 1
        }
        if unanswered > 0 {
            sink.anomaly(S7comm.Anomalies.unansweredRequest.name) { w in w.field("count", unanswered) }
        }
    }

    static func name(_ d: Direction) -> StaticString { d == .toServer ? "to_server" : "to_client" }

    /// Before a gap or the flow's end drops them: bytes skipped out of sync with no TPKT after
    /// them (`s7comm.skipped_bytes`), a TPKT still incomplete and an S7 PDU still in
    /// reassembly (`s7comm.incomplete_message`).
    func reportHeld<S: DissectorSink>(_ dir: Direction, _ sink: inout S) {
        let st = state[dir.index]
        let framer = dir == .toServer ? framerToServer : framerToClient
        let fragments = dir == .toServer ? fragmentsToServer.count : fragmentsToClient.count
        var skipped = Int(st.skipped)
        var held = framer.pendingCount
        if !st.inSync && held < TPKTHeader.minLength {
            // Out of sync, too few bytes to be told from garbage: never framed, so skipped.
            skipped += held
            held = 0
        }
        let side = S7commSession.name(dir)
        if skipped > 0 {
            sink.anomaly(S7comm.Anomalies.skippedBytes.name) { w in
                w.field("direction", side)
                w.field("skipped_bytes", skipped)
            }
        }
        if held > 0 {
            let length = framer.pending.withUnsafeBytes { raw in TPKTHeader(ByteView(raw))?.length ?? -1 }
            sink.anomaly(S7comm.Anomalies.incompleteMessage.name) { w in
                w.field("direction", side)
                w.field("kind", "tpkt")
                w.field("pending_bytes", held)
                if length >= 0 { w.field("tpkt_length", length) }
            }
        }
        if fragments > 0 {
            sink.anomaly(S7comm.Anomalies.incompleteMessage.name) { w in
                w.field("direction", side)
                w.field("kind", "tsdu")
                w.field("pending_bytes", fragments)
            }
        }
        state[dir.index].skipped = 0
    }

    // MARK: framing

    /// The longest TPKT accepted when resynchronising: one TPDU of the negotiated size (8192,
    /// the largest ISO 8073 size, before a connect is seen).
    var resyncMaxLength: Int { TPKTHeader.size + (tpduSize > 0 ? tpduSize : 8192) }

    /// The first offset after 0 at which a TPKT could start (03 00), among those with six
    /// bytes after them to judge; past them, the offset that keeps the last five bytes.
    static func nextCandidate(_ b: ByteView) -> Int {
        let last = b.count - (TPKTHeader.size + 2)
        var p = b.firstIndex(of: TPKTHeader.version, from: 1)
        while let z = p, z <= last {
            if b.u8(at: z + 1) == 0 { return z }
            p = b.firstIndex(of: TPKTHeader.version, from: z + 1)
        }
        return max(1, last + 1)
    }

    /// One framing step at a candidate TPKT boundary (the StreamFramer contract). Side effects
    /// happen only on `consumed`/`skip`, so a repeated `needMore` call is harmless.
    func frame<S: DissectorSink>(_ view: ByteView, _ dir: Direction, _ sink: inout S) -> FrameStep {
        var st = state[dir.index]
        defer { state[dir.index] = st }
        if st.inSync {
            guard let h = TPKTHeader(view) else { return .needMore(total: TPKTHeader.minLength) }
            guard h.version == TPKTHeader.version else {
                let (v, r) = (Int(h.version), Int(h.reserved))
                sink.anomaly(S7comm.Anomalies.invalidTPKTVersion.name) { w in
                    w.field("direction", S7commSession.name(dir))
                    w.field("version", v)
                    w.field("reserved", r)
                }
                st = S7StreamState(inSync: false, skipped: 1)
                return .skip(1)
            }
            guard h.hasValidLength else {
                let n = h.length
                sink.anomaly(S7comm.Anomalies.invalidTPKTLength.name) { w in
                    w.field("direction", S7commSession.name(dir))
                    w.field("tpkt_length", n)
                }
                st = S7StreamState(inSync: false, skipped: 1)
                return .skip(1)
            }
            guard view.count >= h.length else { return .needMore(total: h.length) }
            if h.reserved != 0 {
                let r = Int(h.reserved)
                sink.anomaly(S7comm.Anomalies.invalidTPKTReserved.name) { w in
                    w.field("direction", S7commSession.name(dir))
                    w.field("reserved", r)
                }
            }
            tpkt(view.prefix(h.length), dir, &sink)
            return .consumed(h.length)
        }
        guard view.count >= TPKTHeader.size + 2 else { return .needMore(total: TPKTHeader.minLength) }
        guard TPKTHeader.isPlausibleStart(view), let h = TPKTHeader(view), h.length <= resyncMaxLength else {
            let k = S7commSession.nextCandidate(view)
            st.skipped = Int32(clamping: Int(st.skipped) + k)
            return .skip(k)
        }
        guard view.count >= h.length else { return .needMore(total: h.length) }
        if st.skipped > 0 {
            let skipped = Int(st.skipped)
            sink.anomaly(S7comm.Anomalies.resync.name) { w in
                w.field("direction", S7commSession.name(dir))
                w.field("skipped_bytes", skipped)
            }
        }
        st = S7StreamState()
        // The packet may emit events that read `state`: store the state first.
        state[dir.index] = st
        tpkt(view.prefix(h.length), dir, &sink)
        return .consumed(h.length)
    }

    // MARK: COTP

    func tpkt<S: DissectorSink>(_ packet: ByteView, _ dir: Direction, _ sink: inout S) {
        let tpdu = packet.suffix(from: TPKTHeader.size)
        let (parsed, flaw) = COTPHeader.parse(tpdu)
        guard let h = parsed else {
            let (li, type, length) = (Int(tpdu.u8(at: 0) ?? 0), Int(tpdu.u8(at: 1) ?? 0), packet.count)
            sink.anomaly(S7comm.Anomalies.badCOTP.name) { w in
                w.field("direction", S7commSession.name(dir))
                w.field("reason", flaw.name)
                w.field("length_indicator", li)
                w.field("pdu_type_raw", type)
                w.field("tpkt_length", length)
            }
            return
        }
        switch h.code {
        case COTP.dt: dataTPDU(h, dir, &sink)
        case COTP.cr: connectRequest(h, dir, &sink)
        case COTP.cc: connectConfirm(h, dir, &sink)
        case COTP.dr, COTP.er, COTP.dc: disconnect(h, dir, &sink)
        default:
            // ED, AK, EA, RJ: classes 2-4 only; RFC 1006 runs class 0.
            let type = Int(h.type)
            sink.anomaly(S7comm.Anomalies.badCOTP.name) { w in
                w.field("direction", S7commSession.name(dir))
                w.field("reason", "unexpected_tpdu_type")
                w.field("pdu_type", S7commNames.cotpType(UInt8(type)))
                w.field("pdu_type_raw", type)
            }
        }
    }

    func dataTPDU<S: DissectorSink>(_ h: COTPHeader, _ dir: Direction, _ sink: inout S) {
        if tpduSize > 0 && h.bytes.count > tpduSize && !tpduSizeReported {
            tpduSizeReported = true
            let (n, limit) = (h.bytes.count, tpduSize)
            sink.anomaly(S7comm.Anomalies.tpduSizeExceeded.name) { w in
                w.field("direction", S7commSession.name(dir))
                w.field("tpdu_bytes", n)
                w.field("negotiated", limit)
            }
        }
        let user = h.userData
        let eot = h.endOfTSDU
        let pending = dir == .toServer ? fragmentsToServer.count : fragmentsToClient.count
        let dropping = dir == .toServer ? fragmentsToServer.dropping : fragmentsToClient.dropping
        if pending == 0 && !dropping {
            if eot {
                if !user.isEmpty { s7(user, dir, &sink) }
                return
            }
            if user.isEmpty { return }
        }
        if dropping {
            if eot { setDropping(dir, false) }
            return
        }
        let result = dir == .toServer ? fragmentsToServer.append(user, cap: S7commSession.maxReassembledPDU)
            : fragmentsToClient.append(user, cap: S7commSession.maxReassembledPDU)
        guard result == .ok else {
            let have = pending + user.count
            sink.anomaly(S7comm.Anomalies.fragmentOverflow.name) { w in
                w.field("direction", S7commSession.name(dir))
                w.field("cause", result == .overCap ? "cap" : "budget")
                w.field("tsdu_bytes", have)
                w.field("limit", S7commSession.maxReassembledPDU)
            }
            if dir == .toServer { fragmentsToServer.reset() } else { fragmentsToClient.reset() }
            if !eot { setDropping(dir, true) }
            return
        }
        guard eot else { return }
        if dir == .toServer {
            fragmentsToServer.withView { s7($0, dir, &sink) }
            fragmentsToServer.reset()
        } else {
            fragmentsToClient.withView { s7($0, dir, &sink) }
            fragmentsToClient.reset()
        }
    }

    func setDropping(_ dir: Direction, _ on: Bool) {
        if dir == .toServer { fragmentsToServer.dropping = on } else { fragmentsToClient.dropping = on }
    }

    func side(_ dir: Direction) -> Side { dir == .toServer ? .client : .server }

    func takeTxID() -> Int64 {
        defer { nextTxID += 1 }
        return nextTxID
    }

    /// Copies a connect TPDU's header (at most 255 bytes) while it waits.
    func storeConnect<S: DissectorSink>(_ h: COTPHeader, isRequest: Bool, _ dir: Direction, txID: Int64, _ sink: inout S) {
        let n = min(h.headerSize, connectBytes.count)
        for i in 0..<n { connectBytes[i] = h.bytes.u8(at: i) ?? 0 }
        connect = PendingConnect(active: true, isRequest: isRequest, direction: dir, timestamp: sink.timestampNanos,
                                 stamp: sink.stamp, txID: txID, byteCount: n)
    }

    func negotiate(_ h: COTPHeader) {
        let c = COTPConnect(h)
        if c.tpduSize > 0 { tpduSize = Int(c.tpduSize) }
    }

    func connectRequest<S: DissectorSink>(_ h: COTPHeader, _ dir: Direction, _ sink: inout S) {
        clientDirection = dir
        if sink.observing { observations.roles(clientSide: side(dir), &sink) }
        sink.markOperation(.association)
        if tpduSize == 0 { negotiate(h) }
        if connect.active {
            if !connect.isRequest && connect.direction != dir {
                // Its confirm came first (both were held by the probe): pair them now.
                let id = connect.txID
                connect.active = false
                let header = h.bytes.prefix(h.headerSize)
                connectView { stored in
                    emitConnect(request: header, response: stored, status: "complete", txID: id, direction: dir, stamp: nil,
                                latency: nil, &sink)
                }
                return
            }
            flushConnect(&sink)
        }
        storeConnect(h, isRequest: true, dir, txID: takeTxID(), &sink)
    }

    func connectConfirm<S: DissectorSink>(_ h: COTPHeader, _ dir: Direction, _ sink: inout S) {
        negotiate(h)
        if connect.active && connect.isRequest && connect.direction != dir {
            let (id, latency) = (connect.txID, sink.timestampNanos - connect.timestamp)
            let rdir = connect.direction
            connect.active = false
            let header = h.bytes.prefix(h.headerSize)
            connectView { stored in
                emitConnect(request: stored, response: header, status: "complete", txID: id, direction: rdir, stamp: nil,
                            latency: latency, &sink)
            }
            return
        }
        flushConnect(&sink)
        storeConnect(h, isRequest: false, dir, txID: takeTxID(), &sink)
    }

    /// DR, ER (a refusal when they answer an open connect request) and DC.
    func disconnect<S: DissectorSink>(_ h: COTPHeader, _ dir: Direction, _ sink: inout S) {
        let header = h.bytes.prefix(h.headerSize)
        if h.code != COTP.dc && connect.active && connect.isRequest && connect.direction != dir {
            let (id, latency, rdir) = (connect.txID, sink.timestampNanos - connect.timestamp, connect.direction)
            connect.active = false
            if sink.observing {
                let code = UInt32(h.code == COTP.dr ? h.bytes.u8(at: COTP.Field.reason) ?? 0 : h.bytes.u8(at: COTP.Field.rejectCause) ?? 0)
                sink.observe(.outcome(side(dir), name: "s7comm.connection_refused", success: false, code: code))
            }
            connectView { stored in
                emitConnect(request: stored, response: header, status: "complete", txID: id, direction: rdir, stamp: nil,
                            latency: latency, &sink)
            }
            return
        }
        let id = takeTxID()
        sink.emit("s7comm", txID: id, direction: dir) { w in
            w.field("id", Int(id))
            w.field("status", "notification")
            w.beginObject("cotp")
            w.beginObject("notification")
            S7commJSON.cotp(header, into: &w)
            w.endObject()
            w.endObject()
        }
    }

    func connectView(_ body: (ByteView) -> Void) {
        let n = connect.byteCount
        connectBytes.withUnsafeBytes { body(ByteView($0).prefix(n)) }
    }

    /// A connect TPDU left waiting: an unanswered request or a confirm without its request,
    /// logged with its own packet's time and number.
    func flushConnect<S: DissectorSink>(_ sink: inout S) {
        guard connect.active else { return }
        let c = connect
        connect.active = false
        connectView { stored in
            emitConnect(request: c.isRequest ? stored : nil, response: c.isRequest ? nil : stored,
                        status: c.isRequest ? "unanswered" : "unmatched_response", txID: c.txID, direction: c.direction,
                        stamp: c.stamp, latency: nil, &sink)
        }
    }

    func emitConnect<S: DissectorSink>(request: ByteView?, response: ByteView?, status: StaticString, txID id: Int64,
                                         direction: Direction, stamp: PacketStamp?, latency: Int64?, _ sink: inout S) {
        sink.emit("s7comm", txID: id, direction: direction, stamp: stamp) { w in
            w.field("id", Int(id))
            w.field("status", status)
            if let latency { w.field("latency_ms", Double(latency) / 1_000_000) }
            w.beginObject("cotp")
            if let request {
                w.beginObject("request")
                S7commJSON.cotp(request, into: &w)
                w.endObject()
            }
            if let response {
                w.beginObject("response")
                S7commJSON.cotp(response, into: &w)
                w.endObject()
            }
            w.endObject()
        }
    }

    // MARK: S7 PDUs

    func s7<S: DissectorSink>(_ pdu: ByteView, _ dir: Direction, _ sink: inout S) {
        sink.countPDU()
        let dirName = S7commSession.name(dir)
        guard let pid = pdu.u8(at: S7Header.Field.protocolID), pid == S7Header.protocolID else {
            let v = Int(pdu.u8(at: 0) ?? 0)
            sink.anomaly(S7comm.Anomalies.invalidProtocolID.name) { w in
                w.field("direction", dirName)
                w.field("protocol_id", v)
            }
            return
        }
        func short() {
            let n = pdu.count
            sink.anomaly(S7comm.Anomalies.malformedPDU.name) { w in
                w.field("direction", dirName)
                w.field("reason", "short_header")
                w.field("pdu_bytes", n)
            }
        }
        guard let r = pdu.u8(at: S7Header.Field.rosctr) else { short(); return }
        guard S7Header.isKnownROSCTR(r) else {
            sink.anomaly(S7comm.Anomalies.unknownROSCTR.name) { w in
                w.field("direction", dirName)
                w.field("rosctr", Int(r))
            }
            return
        }
        guard pdu.count >= S7Header.size(rosctr: r) else { short(); return }
        let p = S7Decoder.decode(pdu)
        let bytes = p.flaws.contains(.invalidPDULength) ? pdu : pdu.prefix(p.declaredSize)
        if pduSize > 0 && p.declaredSize > pduSize && !p.flaws.contains(.invalidPDULength) {
            let (n, limit, ref) = (p.declaredSize, pduSize, Int(p.pduReference))
            sink.anomaly(S7comm.Anomalies.pduSizeExceeded.name) { w in
                w.field("direction", dirName)
                w.field("pdu_ref", ref)
                w.field("pdu_bytes", n)
                w.field("negotiated", limit)
            }
        }
        if !p.flaws.isEmpty { reportFlaws(p, dir, &sink) }
        if p.isRequest && !p.isUserdata && p.hasFunction && p.function == S7Function.setupCommunication {
            clientDirection = dir
        }
        if p.rosctr == S7Header.ackData && p.hasFunction && p.function == S7Function.setupCommunication && p.pduLength > 0 {
            pduSize = Int(p.pduLength)
        }
        if sink.observing { observations.roles(clientSide: side(clientDirection), &sink) }
        if p.isRequest {
            sink.markOperation(S7commObservations.operation(p))
            // A request's transaction is numbered when it arrives: its alerts and its event agree.
            let tx = takeTxID()
            if sink.observing {
                observations.command(p, bytes, issuer: side(dir), txID: tx, direction: dir, &sink)
            }
            request(p, bytes, dir, tx, &sink)
        } else if p.isResponse {
            response(p, bytes, dir, &sink)
        } else {
            let id = takeTxID()
            sink.emit("s7comm", txID: id, direction: dir) { w in
                w.field("id", Int(id))
                w.field("status", "notification")
                w.beginObject("notification")
                S7commJSON.write(p, pdu: bytes, into: &w)
                w.endObject()
            }
        }
    }

    func request<S: DissectorSink>(_ p: S7PDU, _ bytes: ByteView, _ dir: Direction, _ tx: Int64, _ sink: inout S) {
        if let old = table.find(direction: dir, reference: p.pduReference, userdata: p.isUserdata) {
            // The same reference again while the first is open: the first went unanswered.
            let ref = Int(p.pduReference)
            sink.anomaly(S7comm.Anomalies.unansweredRequest.name) { w in
                w.field("direction", S7commSession.name(dir))
                w.field("pdu_ref", ref)
            }
            emitUnanswered(old, &sink)
        }
        if table.isFull, let oldest = table.oldest() {
            if !tableFullReported {
                tableFullReported = true
                let cap = table.capacity
                sink.anomaly(S7comm.Anomalies.tooManyTransactions.name) { w in w.field("limit", cap) }
            }
            emitUnanswered(oldest, &sink)
        } else if !table.hasRoom(), let oldest = table.oldest() {
            // The memory budget refused the table's growth (the engine reports why, once per
            // flow): the oldest request goes unanswered to make room, as at the cap.
            emitUnanswered(oldest, &sink)
        }
        table.insert(p, bytes: bytes, direction: dir, timestamp: sink.timestampNanos, stamp: sink.stamp, txID: tx,
                     storeBytes: sink.eventsEnabled)
    }

    /// Whether a request asks for the next part of an SZL answer (no SZL id of its own).
    static func isSZLFollowUp(_ req: S7PDU) -> Bool {
        req.isUserdata && req.group == S7Userdata.cpuFunctions && req.subfunction == S7Userdata.readSZL && !req.hasSZL
    }

    func response<S: DissectorSink>(_ p: S7PDU, _ bytes: ByteView, _ dir: Direction, _ sink: inout S) {
        guard let s = table.find(direction: dir.reversed, reference: p.pduReference, userdata: p.isUserdata) else {
            let (ref, r) = (Int(p.pduReference), Int(p.rosctr))
            sink.anomaly(S7comm.Anomalies.unsolicitedResponse.name) { w in
                w.field("direction", S7commSession.name(dir))
                w.field("pdu_ref", ref)
                w.field("rosctr", r)
            }
            if sink.observing { observations.response(p, bytes, request: nil, serverSide: side(dir), &sink) }
            let id = takeTxID()
            sink.emit("s7comm", txID: id, direction: dir) { w in
                w.field("id", Int(id))
                w.field("status", "unmatched_response")
                w.beginObject("response")
                S7commJSON.write(p, pdu: bytes, into: &w)
                w.endObject()
            }
            return
        }
        let open = table.request(s)
        let req = open.pdu
        checkPair(req, p, dir, &sink)
        let continuation = S7commSession.isSZLFollowUp(req)
        if sink.observing { observations.response(p, bytes, request: req, serverSide: side(dir), &sink) }
        let latency = sink.timestampNanos - open.timestamp
        let id = open.txID
        table.withBytes(s) { reqBytes in
            sink.emit("s7comm", txID: id, direction: open.direction) { w in
                w.field("id", Int(id))
                w.field("status", "complete")
                w.field("latency_ms", Double(latency) / 1_000_000)
                w.beginObject("request")
                S7commJSON.write(req, pdu: reqBytes, into: &w)
                w.endObject()
                w.beginObject("response")
                S7commJSON.write(p, pdu: bytes, continuation: continuation, into: &w)
                w.endObject()
            }
        }
        table.remove(s)
    }

    /// A response against its request: the same function (job) or group and subfunction
    /// (userdata), and for read/write var the same item count.
    func checkPair<S: DissectorSink>(_ req: S7PDU, _ rsp: S7PDU, _ dir: Direction, _ sink: inout S) {
        let ref = Int(rsp.pduReference)
        if req.isUserdata {
            guard rsp.parameterLength >= 8, req.group != rsp.group || req.subfunction != rsp.subfunction else { return }
            let (a, b) = (Int(req.group) << 8 | Int(req.subfunction), Int(rsp.group) << 8 | Int(rsp.subfunction))
            sink.anomaly(S7comm.Anomalies.functionMismatch.name) { w in
                w.field("direction", S7commSession.name(dir))
                w.field("pdu_ref", ref)
                w.field("request_function_raw", a)
                w.field("response_function_raw", b)
            }
            return
        }
        guard req.hasFunction, rsp.hasFunction else { return }
        if req.function != rsp.function {
            let (a, b) = (Int(req.function), Int(rsp.function))
            sink.anomaly(S7comm.Anomalies.functionMismatch.name) { w in
                w.field("direction", S7commSession.name(dir))
                w.field("pdu_ref", ref)
                w.field("request_function_raw", a)
                w.field("response_function_raw", b)
            }
            return
        }
        if (req.function == S7Function.readVar || req.function == S7Function.writeVar) && rsp.parameterLength >= 2
            && req.itemCount != rsp.itemCount {
            let (a, b) = (Int(req.itemCount), Int(rsp.itemCount))
            sink.anomaly(S7comm.Anomalies.itemCountMismatch.name) { w in
                w.field("direction", S7commSession.name(dir))
                w.field("pdu_ref", ref)
                w.field("request_items", a)
                w.field("response_items", b)
            }
        }
    }

    /// A request that got no response, logged with its own packet's time and number.
    func emitUnanswered<S: DissectorSink>(_ slot: Int, _ sink: inout S) {
        let open = table.request(slot)
        let req = open.pdu
        table.withBytes(slot) { reqBytes in
            sink.emit("s7comm", txID: open.txID, direction: open.direction, stamp: open.stamp) { w in
                w.field("id", Int(open.txID))
                w.field("status", "unanswered")
                w.beginObject("request")
                S7commJSON.write(req, pdu: reqBytes, into: &w)
                w.endObject()
            }
        }
        table.remove(slot)
    }

    /// One anomaly per flaw of a decoded PDU.
    func reportFlaws<S: DissectorSink>(_ p: S7PDU, _ dir: Direction, _ sink: inout S) {
        func details(_ w: inout JSONWriter) {
            w.field("direction", S7commSession.name(dir))
            w.field("rosctr", S7commNames.rosctr(p.rosctr))
            w.field("pdu_ref", Int(p.pduReference))
            if p.isUserdata && p.parameterLength >= 8 {
                w.field("function_group_raw", Int(p.group))
                w.field("subfunction_raw", Int(p.subfunction))
            } else if p.hasFunction {
                w.field("function_raw", Int(p.function))
            }
        }
        let f = p.flaws
        if f.contains(.invalidPDULength) {
            sink.anomaly(S7comm.Anomalies.invalidPDULength.name) { w in
                details(&w)
                w.field("declared_bytes", p.declaredSize)
                w.field("pdu_bytes", Int(p.available))
            }
        }
        if f.contains(.trailingBytes) {
            sink.anomaly(S7comm.Anomalies.trailingBytes.name) { w in
                details(&w)
                w.field("declared_bytes", p.declaredSize)
                w.field("pdu_bytes", Int(p.available))
            }
        }
        if f.contains(.malformed) { sink.anomaly(S7comm.Anomalies.malformedPDU.name, details) }
        if f.contains(.unknownFunction) { sink.anomaly(S7comm.Anomalies.unknownFunction.name, details) }
        if f.contains(.itemCountMismatch) {
            sink.anomaly(S7comm.Anomalies.itemCountMismatch.name) { w in
                details(&w)
                w.field("item_count", Int(p.itemCount))
                w.field("items_found", Int(p.itemsFound))
            }
        }
    }
}

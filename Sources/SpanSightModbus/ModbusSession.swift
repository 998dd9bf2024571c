import SpanSightEngine
import SpanSightWire

/// A request waiting for its response: the decoded record, its arrival time and a bounded copy
/// of its PDU (at most 253 bytes, in the table's arena) from which its values are written.
struct OpenRequest {
    var pdu: ModbusPDU
    /// Engine time of arrival (latency).
    var timestamp: Int64
    /// Its packet (time and number), which its event names when it goes unanswered.
    var stamp: PacketStamp
    var sequence: UInt64
    var byteCount: Int
    var inUse: Bool
    /// Its `tx_id`, given when it arrived (an alert on it names the same transaction).
    var txID: Int64 = -1
}

/// The open-request table of one flow: slots reused, each a request record with its PDU bytes
/// beside it in one `SlotBlock` (a request and its bytes share cache lines; one flow's table is
/// one block). It grows only up to `capacity` slots; steady-state traffic (a few requests in
/// flight) reuses the same slots without allocating.
struct RequestTable: ~Copyable {
    static let stride = 256
    private var block: SlotBlock<OpenRequest>
    private(set) var openCount = 0
    private var nextSequence: UInt64 = 0

    init(capacity: Int) {
        block = SlotBlock(capacity: capacity, bytesPerSlot: RequestTable.stride)
    }

    /// Charges the table's block to a session's memory account.
    mutating func attach(_ account: MemoryAccount) {
        block.account = account
        block.kind = .transactions
    }

    /// True when a request can be stored without dropping one: a free slot, or room to grow
    /// (the block's capacity and the memory budget allow it).
    mutating func hasRoom() -> Bool {
        if openCount < block.count { return true }
        return !isFull && block.makeRoom()
    }

    /// Drops every open request and frees the block (state shed for the memory budget).
    mutating func removeAll() {
        block.removeAll()
        openCount = 0
    }

    var capacity: Int { block.capacity }
    var isFull: Bool { openCount >= block.capacity }

    /// The open request in a slot.
    func request(_ slot: Int) -> OpenRequest { block[slot] }

    /// The open request with this transaction id and unit id (the oldest when several).
    func find(_ tid: UInt16, _ unit: UInt8, anyUnit: Bool = false) -> Int? {
        guard openCount > 0 else { return nil }
        var best = -1
        var bestSequence = UInt64.max
        for i in 0..<block.count {
            let r = block.record(i)
            if r.pointee.inUse && r.pointee.pdu.transactionID == tid && (anyUnit || r.pointee.pdu.unitID == unit)
                && r.pointee.sequence < bestSequence {
                best = i
                bestSequence = r.pointee.sequence
            }
        }
        return best >= 0 ? best : nil
    }

    func oldest() -> Int? { openCount > 0 ? block.minimum(where: \.inUse, by: \.sequence) : nil }

    /// Stores a request (the caller made room: `hasRoom()`) with its PDU bytes, which only its
    /// event reads: `storeBytes` false keeps none.
    mutating func insert(_ p: ModbusPDU, bytes: ByteView, timestamp: Int64, stamp: PacketStamp, txID: Int64 = -1,
                         storeBytes: Bool = true) {
        let entry = OpenRequest(pdu: p, timestamp: timestamp, stamp: stamp, sequence: nextSequence, byteCount: 0, inUse: true,
                                txID: txID)
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

    /// Runs `body` with the stored PDU bytes of a slot.
    func withBytes<R>(_ slot: Int, _ body: (ByteView) -> R) -> R {
        body(block.view(slot, count: block[slot].byteCount))
    }
}

/// Per-direction framing state: the framer, and whether we trust the current position to be
/// an ADU boundary (false at start after a gap or after garbage, until a plausible header).
struct ModbusSync {
    var inSync = true
    var skipped: Int32 = 0
}

/// The Modbus/TCP and Modbus/UDP session of one flow: frames ADUs out of the reassembled
/// stream (or datagrams), decodes them, pairs requests with responses by (transaction id,
/// unit id), and emits one `modbus` event per transaction plus `modbus.*` anomalies.
public final class ModbusSession: DissectorSession {
    public static let defaultMaxOpenRequests = 1024

    // Stored properties in the order a delivery reads them (the object's first bytes are in
    // the cache line of its header, which the call reads anyway); cold ones last.
    let isUDP: Bool
    /// The direction requests travel (client -> server as the engine orients the flow, unless
    /// port 502 says the engine's client is the Modbus server).
    let requestDirection: Direction
    var tableFullReported = false
    var syncToServer = ModbusSync()
    var syncToClient = ModbusSync()
    var table: RequestTable
    var framerToServer = StreamFramer(maxPDU: MBAPHeader.maxADU)
    var framerToClient = StreamFramer(maxPDU: MBAPHeader.maxADU)
    var scratch: [UInt8] = []
    var observations = ModbusObservations()
    /// Suricata's transaction number (`tx_id`, `modbus.id`) of the next event: 0, 1, ... in the
    /// order this flow's `modbus` events are emitted.
    var nextTxID: Int64 = 0

    public init(udp: Bool, requestDirection: Direction = .toServer,
                maxOpenRequests: Int = ModbusSession.defaultMaxOpenRequests) {
        isUDP = udp
        self.requestDirection = requestDirection
        table = RequestTable(capacity: maxOpenRequests)
        scratch = [UInt8](repeating: 0, count: 2 * ModbusJSON.maxDataBytes)
        super.init()
        table.attach(memory)
        framerToServer.attach(memory)
        framerToClient.attach(memory)
        memory.chargeUnchecked(.sessions, scratch.count)
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
        if isUDP {
            datagram(bytes, direction, &sink)
        } else if direction == .toServer {
            framerToServer.feed(bytes) { frame($0, direction, &sink) }
        } else {
            framerToClient.feed(bytes) { frame($0, direction, &sink) }
        }
    }

    public func gap<S: DissectorSink>(_ length: Int, direction: Direction, sink: inout S) {
        reportHeld(direction, &sink)
        if direction == .toServer {
            framerToServer.reset()
            syncToServer = ModbusSync(inSync: false)
        } else {
            framerToClient.reset()
            syncToClient = ModbusSync(inSync: false)
        }
    }

    /// Sheds the open requests (logged unanswered, as at the flow's end) and the partial ADUs
    /// (reported incomplete; both directions then resynchronise, as after a gap); the
    /// number of requests and partial ADUs dropped.
    public func shed<S: DissectorSink>(sink: inout S) -> Int {
        var items = 0
        if !isUDP {
            for dir in [Direction.toServer, .toClient] {
                let partial = dir == .toServer ? framerToServer.hasPending : framerToClient.hasPending
                gap(0, direction: dir, sink: &sink)
                if partial { items += 1 }
            }
            framerToServer.releaseStorage()
            framerToClient.releaseStorage()
        }
        while let slot = table.oldest() {
            emitUnanswered(slot, &sink)
            items += 1
        }
        table.removeAll()
        return items
    }

    public func finish<S: DissectorSink>(sink: inout S) {
        if !isUDP {
            reportHeld(.toServer, &sink)
            reportHeld(.toClient, &sink)
        }
        var unanswered = 0
        while let slot = table.oldest() {
            emitUnanswered(slot, &sink)
            unanswered += 1
        }
        if unanswered > 0 {
            sink.anomaly(Modbus.Anomalies.unansweredRequest.name) { w in w.field("count", unanswered) }
        }
    }

    /// Before a gap or the flow's end drops them: bytes skipped while out of sync with no ADU
    /// found after them (`modbus.skipped_bytes`), and an ADU still incomplete
    /// (`modbus.incomplete_message`, with the bytes held and, once its header is there, the
    /// size it declares).
    func reportHeld<S: DissectorSink>(_ dir: Direction, _ sink: inout S) {
        let sync = dir == .toServer ? syncToServer : syncToClient
        let framer = dir == .toServer ? framerToServer : framerToClient
        guard sync.skipped > 0 || framer.hasPending else { return }
        var skipped = Int(sync.skipped)
        var held = framer.pendingCount
        if !sync.inSync && held < MBAPHeader.minADU {
            // Out of sync, too few bytes to be told from garbage: never framed, so skipped.
            // (Out of sync the framer holds 8 bytes or more only behind a plausible header.)
            skipped += held
            held = 0
        }
        let side: StaticString = dir == requestDirection ? "request" : "response"
        if skipped > 0 {
            sink.anomaly(Modbus.Anomalies.skippedBytes.name) { w in
                w.field("direction", side)
                w.field("skipped_bytes", skipped)
            }
        }
        if held > 0 {
            let (header, function) = framer.pending.withUnsafeBytes { raw -> (MBAPHeader?, Int) in
                let v = ByteView(raw)
                return (MBAPHeader(v), v.u8(at: MBAPHeader.Field.pdu).map(Int.init) ?? -1)
            }
            sink.anomaly(Modbus.Anomalies.incompleteMessage.name) { w in
                w.field("direction", side)
                w.field("pending_bytes", held)
                if let header {
                    w.field("transaction_id", Int(header.transactionID))
                    w.field("length", Int(header.length))
                    w.field("adu_bytes", header.aduSize)
                }
                if function >= 0 { w.field("function_raw", function) }
            }
        }
        if dir == .toServer { syncToServer.skipped = 0 } else { syncToClient.skipped = 0 }
    }

    // MARK: framing

    /// One framing step at a candidate ADU boundary (the StreamFramer contract). Side effects
    /// happen only on `consumed`/`skip`, so a repeated `needMore` call is harmless.
    /// A short header asks for the 8 bytes of the smallest ADU, never for "unknown": the
    /// framer answers `needMore(total: nil)` on a pending tail by buffering the whole
    /// delivery, which would exceed `maxPDU` and be dropped.
    func frame<S: DissectorSink>(_ view: ByteView, _ dir: Direction, _ sink: inout S) -> FrameStep {
        var sync = dir == .toServer ? syncToServer : syncToClient
        defer { if dir == .toServer { syncToServer = sync } else { syncToClient = sync } }
        if sync.inSync {
            guard let h = MBAPHeader(view) else { return .needMore(total: MBAPHeader.minADU) }
            guard h.hasValidLength else {
                sink.anomaly(Modbus.Anomalies.invalidLength.name) { w in
                    w.field("transaction_id", Int(h.transactionID))
                    w.field("length", Int(h.length))
                }
                sync = ModbusSync(inSync: false, skipped: 1)
                return .skip(1)
            }
            guard view.count >= h.aduSize else { return .needMore(total: h.aduSize) }
            sink.countPDU()
            handle(view.prefix(h.aduSize), dir, &sink)
            return .consumed(h.aduSize)
        }
        guard view.count >= MBAPHeader.minADU else { return .needMore(total: MBAPHeader.minADU) }
        guard MBAPHeader.isPlausibleStart(view, anyException: true), let h = MBAPHeader(view) else {
            // Every offset before the next whose protocol id is 0 fails the same test: skip to
            // it at once (what skipping byte by byte would do, without a call per byte).
            let k = MBAPHeader.nextCandidate(view)
            sync.skipped = Int32(clamping: Int(sync.skipped) + k)
            return .skip(k)
        }
        guard view.count >= h.aduSize else { return .needMore(total: h.aduSize) }
        if sync.skipped > 0 {
            let skipped = Int(sync.skipped)
            sink.anomaly(Modbus.Anomalies.resync.name) { w in w.field("skipped_bytes", skipped) }
        }
        sync = ModbusSync()
        sink.countPDU()
        handle(view.prefix(h.aduSize), dir, &sink)
        return .consumed(h.aduSize)
    }

    /// Modbus/UDP: one or more whole ADUs per datagram; nothing carries over.
    func datagram<S: DissectorSink>(_ bytes: ByteView, _ dir: Direction, _ sink: inout S) {
        var off = 0
        while off < bytes.count {
            let view = bytes.suffix(from: off)
            guard let h = MBAPHeader(view), h.hasValidLength, view.count >= h.aduSize else {
                let length = MBAPHeader(view).map { Int($0.length) } ?? -1
                let have = view.count
                sink.anomaly(Modbus.Anomalies.invalidLength.name) { w in
                    if length >= 0 { w.field("length", length) }
                    w.field("datagram_bytes_left", have)
                }
                return
            }
            sink.countPDU()
            handle(view.prefix(h.aduSize), dir, &sink)
            off += h.aduSize
        }
    }

    // MARK: transactions

    func handle<S: DissectorSink>(_ adu: ByteView, _ dir: Direction, _ sink: inout S) {
        guard let p = ModbusDecoder.decode(adu, isRequest: dir == requestDirection) else { return }
        let pdu = adu.suffix(from: MBAPHeader.Field.pdu)
        report(p.flaws, p, &sink)
        if p.isRequest { sink.markOperation(ModbusObservations.operation(p)) }
        // A request's transaction is numbered when it arrives: its alerts and its event agree.
        let tx: Int64 = p.isRequest ? takeTxID() : -1
        if sink.observing {
            observations.note(p, pdu, serverSide: requestDirection == .toServer ? .server : .client, txID: tx, &sink)
        }
        if p.isRequest {
            request(p, pdu, tx, &sink)
        } else {
            response(p, pdu, &sink)
        }
    }

    func request<S: DissectorSink>(_ p: ModbusPDU, _ pdu: ByteView, _ tx: Int64, _ sink: inout S) {
        if let old = table.find(p.transactionID, p.unitID) {
            // Same transaction id again while the first is open: the first went unanswered.
            let tid = Int(p.transactionID)
            sink.anomaly(Modbus.Anomalies.unansweredRequest.name) { w in w.field("transaction_id", tid) }
            emitUnanswered(old, &sink)
        }
        if table.isFull, let oldest = table.oldest() {
            if !tableFullReported {
                tableFullReported = true
                let cap = table.capacity
                sink.anomaly(Modbus.Anomalies.tooManyTransactions.name) { w in w.field("limit", cap) }
            }
            emitUnanswered(oldest, &sink)
        } else if !table.hasRoom(), let oldest = table.oldest() {
            // The memory budget refused the table's growth (the engine reports why, once per
            // flow): the oldest request goes unanswered to make room, as at the cap.
            emitUnanswered(oldest, &sink)
        }
        table.insert(p, bytes: pdu, timestamp: sink.timestampNanos, stamp: sink.stamp, txID: tx, storeBytes: sink.eventsEnabled)
    }

    func response<S: DissectorSink>(_ p: ModbusPDU, _ pdu: ByteView, _ sink: inout S) {
        var slot = table.find(p.transactionID, p.unitID)
        if slot == nil, let other = table.find(p.transactionID, p.unitID, anyUnit: true) {
            let (tid, ru, au) = (Int(p.transactionID), Int(table.request(other).pdu.unitID), Int(p.unitID))
            sink.anomaly(Modbus.Anomalies.unitIdMismatch.name) { w in
                w.field("transaction_id", tid)
                w.field("request_unit_id", ru)
                w.field("response_unit_id", au)
            }
            slot = other
        }
        guard let s = slot else {
            let (tid, fc) = (Int(p.transactionID), Int(p.function))
            sink.anomaly(Modbus.Anomalies.unsolicitedResponse.name) { w in
                w.field("transaction_id", tid)
                w.field("function_raw", fc)
            }
            let id = takeTxID()
            sink.emit("modbus", txID: id, direction: nil) { w in
                w.field("id", Int(id))
                w.field("status", "unmatched_response")
                w.beginObject("response")
                ModbusJSON.write(p, pdu: pdu, bitLimit: nil, into: &w, scratch: &scratch)
                w.endObject()
            }
            return
        }
        let open = table.request(s)
        let req = open.pdu
        // A byte count its request's quantity rules out is a flaw of the response (its error_flags).
        let pairFlaws: ModbusFlaws = checkPair(req, p, &sink) ? [] : .invalidByteCount
        let latency = sink.timestampNanos - open.timestamp
        let bitLimit: Int? = req.function == p.function && (p.function == 1 || p.function == 2) ? Int(req.quantity) : nil
        let id = open.txID >= 0 ? open.txID : takeTxID()
        if sink.eventsEnabled { table.withBytes(s) { reqBytes in
            sink.emit("modbus", txID: id, direction: nil) { w in
                w.field("id", Int(id))
                w.field("status", "complete")
                w.field("latency_ms", Double(latency) / 1_000_000)
                w.beginObject("request")
                ModbusJSON.write(req, pdu: reqBytes, bitLimit: nil, into: &w, scratch: &scratch)
                w.endObject()
                w.beginObject("response")
                ModbusJSON.write(p, pdu: pdu, bitLimit: bitLimit, pairFlaws: pairFlaws, into: &w, scratch: &scratch)
                w.endObject()
            }
        } }
        table.remove(s)
    }

    /// The next tx id: a request's when it arrives, an unmatched response's when written
    /// (Suricata numbers a flow's transactions from 0 as they begin; it sets no direction on
    /// Modbus transactions, so neither do we).
    func takeTxID() -> Int64 {
        defer { nextTxID += 1 }
        return nextTxID
    }

    /// Checks a response against its request: same function, byte count as the request's
    /// quantity implies. False when the byte count is not what the request implies.
    func checkPair<S: DissectorSink>(_ req: ModbusPDU, _ rsp: ModbusPDU, _ sink: inout S) -> Bool {
        if rsp.baseFunction != req.function {
            let (tid, a, b) = (Int(rsp.transactionID), Int(req.function), Int(rsp.function))
            sink.anomaly(Modbus.Anomalies.functionMismatch.name) { w in
                w.field("transaction_id", tid)
                w.field("request_function_raw", a)
                w.field("response_function_raw", b)
            }
            return true
        }
        guard !rsp.isException, rsp.fields.contains(.byteCount) else { return true }
        let implied: Int
        switch rsp.function {
        case 1, 2: implied = (Int(req.quantity) + 7) / 8
        case 3, 4: implied = 2 * Int(req.quantity)
        case 23: implied = 2 * Int(req.readQuantity)
        default: return true
        }
        if rsp.byteCount != implied {
            let (tid, fc, bc) = (Int(rsp.transactionID), Int(rsp.function), rsp.byteCount)
            sink.anomaly(Modbus.Anomalies.invalidByteCount.name) { w in
                w.field("transaction_id", tid)
                w.field("function_raw", fc)
                w.field("byte_count", bc)
                w.field("expected_byte_count", implied)
            }
            return false
        }
        return true
    }

    /// A request that got no response, logged with its own packet's time and number.
    func emitUnanswered<S: DissectorSink>(_ slot: Int, _ sink: inout S) {
        let open = table.request(slot)
        let req = open.pdu
        let id = open.txID >= 0 ? open.txID : takeTxID()
        table.withBytes(slot) { reqBytes in
            sink.emit("modbus", txID: id, direction: nil, stamp: open.stamp) { w in
                w.field("id", Int(id))
                w.field("status", "unanswered")
                w.beginObject("request")
                ModbusJSON.write(req, pdu: reqBytes, bitLimit: nil, into: &w, scratch: &scratch)
                w.endObject()
            }
        }
        table.remove(slot)
    }

    /// One anomaly event per flaw of a decoded PDU (nearly every PDU has none: checked inline).
    @inline(__always)
    func report<S: DissectorSink>(_ flaws: ModbusFlaws, _ p: ModbusPDU, _ sink: inout S) {
        if !flaws.isEmpty { reportFlaws(flaws, p, &sink) }
    }

    func reportFlaws<S: DissectorSink>(_ flaws: ModbusFlaws, _ p: ModbusPDU, _ sink: inout S) {
        // A local function, not a closure value: passed non-escaping, its context stays on the stack.
        func details(_ w: inout JSONWriter) {
            w.field("transaction_id", Int(p.transactionID))
            w.field("unit_id", Int(p.unitID))
            w.field("function_raw", Int(p.function))
            w.field("direction", p.isRequest ? "request" : "response")
        }
        if flaws.contains(.invalidProtocolID) {
            let pid = Int(p.protocolID)
            sink.anomaly(Modbus.Anomalies.invalidProtocolId.name) { w in details(&w); w.field("protocol_id", pid) }
        }
        if flaws.contains(.invalidLength) {
            sink.anomaly(Modbus.Anomalies.invalidLength.name) { w in details(&w); w.field("length", Int(p.length)) }
        }
        if flaws.contains(.invalidQuantity) { sink.anomaly(Modbus.Anomalies.invalidQuantity.name, details) }
        if flaws.contains(.invalidByteCount) { sink.anomaly(Modbus.Anomalies.invalidByteCount.name, details) }
        if flaws.contains(.invalidCoilValue) {
            sink.anomaly(Modbus.Anomalies.invalidCoilValue.name) { w in details(&w); w.field("value", Int(p.value)) }
        }
        if flaws.contains(.malformed) { sink.anomaly(Modbus.Anomalies.malformedPdu.name, details) }
    }
}

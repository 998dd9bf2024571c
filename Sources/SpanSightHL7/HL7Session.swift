// UNSAFE: a message's segment offsets are handed on as a buffer pointer over a stack array,
// valid only during the call.
import SpanSightEngine
import SpanSightWire

/// The HL7 v2 / MLLP session of one flow: frames each direction, decodes every message's
/// MSH/MSA/ERR/EVN, pairs messages with their acknowledgments by control id (MSA-2 against
/// MSH-10 of a message sent the other way), and emits one `hl7` event per message/ACK pair
/// plus `hl7.*` anomalies.
public final class HL7Session: DissectorSession {
    public override func receive(_ bytes: ByteView, direction: Direction, context: inout DissectContext) { feed(bytes, direction, &context) }
    public override func gap(_ length: Int, direction: Direction, context: inout DissectContext) { lost(direction) }
    public override func finish(context: inout DissectContext) { end(&context) }
    public override func shed(context: inout DissectContext) -> Int { shed(&context) }

    // Stored properties in the order a delivery reads them (the object's first bytes share
    // the cache line of its header, which the call reads anyway); cold ones last.
    var toServer: MLLPFramer
    var toClient: MLLPFramer
    var table: HL7Table
    /// Per direction, the last MSH-3..6 and their checks (`HL7HeaderMemo`). Only `handle`
    /// touches them, one at a time: no exclusivity check needed per message.
    @exclusivity(unchecked) var memoToServer = HL7HeaderMemo()
    @exclusivity(unchecked) var memoToClient = HL7HeaderMemo()
    let pseudonymizer: HL7Pseudonymizer?
    var tableFullReported = false
    let config: HL7Configuration
    var scratch: [UInt8] = []
    /// Suricata's `tx_id` of the next message/ACK pair written (per flow, from 0).
    var nextTxID: Int64 = 0
    /// Roles already observed: bit 0/1 client sender/receiver, bit 2/3 server sender/receiver.
    var rolesSeen: UInt8 = 0
    /// Hash of the identities last observed per side (client, server), to skip repeats.
    var identitySeen: (UInt64, UInt64) = (0, 0)

    public init(config: HL7Configuration = HL7Configuration(), pseudonymizer: HL7Pseudonymizer? = nil) {
        self.config = config
        self.pseudonymizer = pseudonymizer
        toServer = MLLPFramer(maxMessage: config.maxMessageBytes)
        toClient = MLLPFramer(maxMessage: config.maxMessageBytes)
        table = HL7Table(capacity: config.maxOpenMessages)
        scratch.reserveCapacity(2 * HL7Pseudonymizer.length)
        super.init()
        table.attach(memory)
        toServer.account = memory
        toClient.account = memory
        memory.chargeUnchecked(.sessions, 2 * HL7Pseudonymizer.length)
    }

    // MARK: stream entry points (generic over the sink: the tests' hook)

    func feed<S: DissectorSink>(_ bytes: ByteView, _ direction: Direction, _ sink: inout S) {
        if direction == .toServer {
            toServer.feed(bytes) { framed($0, direction, &sink) }
        } else {
            toClient.feed(bytes) { framed($0, direction, &sink) }
        }
    }

    /// Bytes of `direction` were lost: its partial frame is dropped.
    func lost(_ direction: Direction) {
        if direction == .toServer { toServer.gap() } else { toClient.gap() }
    }

    /// Sheds the messages awaiting an acknowledgment (logged unanswered) and the partial
    /// frames (skipped up to their end block), freeing their storage; the items dropped.
    func shed<S: DissectorSink>(_ sink: inout S) -> Int {
        var items = 0
        if toServer.releaseStorage() { items += 1 }
        if toClient.releaseStorage() { items += 1 }
        let unanswered = table.open
        while let slot = table.oldest() { emitUnanswered(slot, &sink) }
        if unanswered > 0 {
            sink.anomaly(HL7.Anomalies.unansweredMessage.name) { w in w.field("count", unanswered) }
        }
        table.removeAll()
        return items + unanswered
    }

    /// The flow ended: unterminated frames, then every message still waiting, oldest first.
    func end<S: DissectorSink>(_ sink: inout S) {
        toServer.finish { framed($0, .toServer, &sink) }
        toClient.finish { framed($0, .toClient, &sink) }
        let unanswered = table.open
        while let slot = table.oldest() { emitUnanswered(slot, &sink) }
        if unanswered > 0 {
            sink.anomaly(HL7.Anomalies.unansweredMessage.name) { w in w.field("count", unanswered) }
        }
    }

    // MARK: framing

    func framed<S: DissectorSink>(_ event: MLLPEvent, _ dir: Direction, _ sink: inout S) {
        switch event {
        case .message(let frame):
            sink.countPDU()
            handle(frame, dir, &sink)
        case .junk(let n, let afterGap):
            sink.anomaly(HL7.Anomalies.junkBetweenFrames.name) { w in
                w.field("skipped_bytes", n)
                if afterGap { w.field("after_gap", true) }
            }
        case .missingEndBlock(let n):
            sink.anomaly(HL7.Anomalies.missingEndBlock.name) { w in w.field("bytes", n) }
        case .tooLarge(let limit):
            sink.anomaly(HL7.Anomalies.messageTooLarge.name) { w in w.field("limit", limit) }
        case .badEndBlock(let b):
            sink.anomaly(HL7.Anomalies.badEndBlock.name) { w in w.field("byte", Int(b)) }
        case .refused:
            break
        }
    }

    /// One MLLP frame: one message, or a batch (FHS/BHS, messages, BTS/FTS).
    func handle<S: DissectorSink>(_ frame: ByteView, _ dir: Direction, _ sink: inout S) {
        var batch = HL7BatchInfo()
        let fieldSep = UInt16(frame.u8(at: 3) ?? 0)
        // A batch starts with its header (FHS or BHS): only then is the frame read twice.
        let first = Self.headerID(frame.prefix(min(3, frame.count)), fieldSep)
        if first == HL7Segment.FHS || first == HL7Segment.BHS { forEachSegment(frame) { s, e in
            let seg = frame._slice(s, e - s)
            switch Self.headerID(seg, fieldSep) {
            case HL7Segment.MSH: batch.messages += 1
            case HL7Segment.FHS: batch.file = true; batch.inBatch = true
            case HL7Segment.BHS: batch.inBatch = true
            case HL7Segment.BTS: batch.declared = Self.count(seg, fieldSep)
            default: break
            }
        } }
        // The message being read, updated in place (no optional: a copy of the whole record
        // per segment is what an Optional's `?.` mutation costs), and its valid segment ids
        // (at most `HL7Table.maxSegments`) in a buffer on the stack.
        var current = HL7Message()
        var open = false
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: HL7Table.maxSegments) { ids in
            var count = 0
            func done() { process(current, frame, dir, batch, UnsafeBufferPointer(rebasing: ids[0..<count]), &sink) }
            forEachSegment(frame) { s, e in
                let seg = frame._slice(s, e - s)
                switch Self.headerID(seg, fieldSep) {
                case HL7Segment.MSH where HL7Separators.isPlausible(seg.u8(at: 3) ?? 0):
                    if open { done() }
                    if dir == .toServer {
                        current = HL7Message(header: seg, at: s, frame: frame, memo: &memoToServer)
                    } else {
                        current = HL7Message(header: seg, at: s, frame: frame, memo: &memoToClient)
                    }
                    open = true
                    ids[0] = HL7Segment.MSH
                    count = 1
                case HL7Segment.FHS, HL7Segment.BHS, HL7Segment.BTS, HL7Segment.FTS:
                    if open { done() }
                    open = false
                default:
                    if open, let id = current.add(seg, at: s, frame: frame), count < HL7Table.maxSegments {
                        ids[count] = id
                        count += 1
                    }
                }
            }
            if open { done() }
        }
        if batch.inBatch && batch.messages == 0 {
            sink.anomaly(HL7.Anomalies.emptyBatch.name) { _ in }
        }
        if batch.inBatch && batch.declared >= 0 && batch.declared != batch.messages {
            let (d, n) = (batch.declared, batch.messages)
            sink.anomaly(HL7.Anomalies.batchCountMismatch.name) { w in
                w.field("declared_messages", d)
                w.field("messages", n)
            }
        }
    }

    /// The first three bytes of a segment, packed (MSH's separator is checked by the caller;
    /// batch segments must be followed by the frame's field separator or end).
    static func headerID(_ seg: ByteView, _ fieldSep: UInt16) -> UInt32 {
        guard seg.count >= 3 else { return 0 }
        let id = UInt32(seg._u8(0)) << 16 | UInt32(seg._u8(1)) << 8 | UInt32(seg._u8(2))
        if id == HL7Segment.MSH { return id }
        guard seg.count == 3 || UInt16(seg._u8(3)) == fieldSep else { return 0 }
        return id
    }

    /// BTS-1 / FTS-1 as a number (-1 when absent or not a number).
    static func count(_ seg: ByteView, _ fieldSep: UInt16) -> Int {
        guard seg.count > 4 else { return -1 }
        var v = 0
        var digits = 0
        var i = 4
        while i < seg.count, UInt16(seg._u8(i)) != fieldSep {
            let d = Int(seg._u8(i)) - 0x30
            guard (0...9).contains(d), digits < 9 else { return -1 }
            v = v * 10 + d
            digits += 1
            i += 1
        }
        return digits > 0 ? v : -1
    }

    // MARK: messages and transactions

    func process<S: DissectorSink>(_ m: HL7Message, _ frame: ByteView, _ dir: Direction, _ batch: HL7BatchInfo,
                                  _ segments: UnsafeBufferPointer<UInt32>, _ sink: inout S) {
        report(m, frame, &sink)
        let side: Side = dir == .toServer ? .client : .server
        if sink.observing { observeIdentities(m, frame, side, &sink) }
        if m.isAck {
            acknowledgment(m, frame, dir, side, &sink)
        } else {
            message(m, frame, dir, side, batch, segments, &sink)
        }
    }

    func message<S: DissectorSink>(_ m: HL7Message, _ frame: ByteView, _ dir: Direction, _ side: Side,
                                  _ batch: HL7BatchInfo, _ segments: UnsafeBufferPointer<UInt32>, _ sink: inout S) {
        let type = m.messageType.view(frame), trigger = m.triggerEvent.view(frame)
        let op = HL7Names.operation(type: type, trigger: trigger)
        sink.markOperation(op)
        if sink.observing {
            // Checked values only (an empty string in place of a withheld one).
            observeRole(side, receiver: false, &sink)
            var detail = Self.string(m, .messageType, frame)
            let t = Self.string(m, .triggerEvent, frame)
            if !t.isEmpty { detail += "^" + t }
            let target = Self.string(m, .sendingApplication, frame) + "^" + Self.string(m, .sendingFacility, frame)
            sink.observe(.command(Command(issuer: side, operation: op, function: 0, name: "hl7_message",
                                          detail: detail, target: target)))
        }
        let cid = m.controlID.view(frame)
        if let retried = table.find(cid, direction: dir) {
            // The same control id again while the first is open: a retry; the first went unanswered.
            sink.anomaly(HL7.Anomalies.duplicateControlId.name) { w in HL7JSON.controlID(&w, m, frame) }
            emitUnanswered(retried, &sink)
        }
        if let evicted = table.evictionCandidate {
            tableFull(&sink)
            emitUnanswered(evicted, &sink)
        }
        var entry = OpenMessage(direction: dir, timestamp: sink.timestampNanos, segmentCount: m.segmentCount,
                                invalidSegments: m.invalidSegments, bytes: m.end - m.start, batch: batch, operation: op)
        let ackType = m.applicationAckType.view(frame)
        entry.awaitsApplicationAck = ackType.count == 2 && ackType._u8(0) == UInt8(ascii: "A") && ackType._u8(1) == UInt8(ascii: "L")
        if let p = pseudonymizer, m.pidCount > 0, sink.eventsEnabled {
            table.insert(m, frame: frame, entry: entry, segments: segments) { w in
                HL7PatientIdentifiers.forEach(frame, m) { field, id, authority in
                    p.pseudonym(identifier: id, authority: authority) { w.pseudonym(field: field, $0) }
                }
            }
        } else {
            table.insert(m, frame: frame, entry: entry, segments: segments, storeText: sink.eventsEnabled, pseudonyms: nil)
        }
    }

    func acknowledgment<S: DissectorSink>(_ m: HL7Message, _ frame: ByteView, _ dir: Direction, _ side: Side, _ sink: inout S) {
        let codeView = m.ackCode.view(frame)
        let code = HL7AckCode(codeView)
        if code == .unknown {
            // Not a code of table 0008: its length only.
            sink.anomaly(HL7.Anomalies.unknownAckCode.name) { w in HL7JSON.checked(&w, "code", codeView, withheld: true) }
        }
        if sink.observing {
            observeRole(side, receiver: true, &sink)
            let errorCode = m.withheld & HL7Field.errorCode.bit == 0 ? Self.number(m.errorCode.view(frame)) : 0
            sink.observe(.outcome(side, name: code.outcome, success: code.isSuccess, code: errorCode))
        }
        let acked = m.ackControlID.view(frame)
        guard let slot = table.find(acked, direction: dir.reversed) else {
            let withheld = m.withheld & HL7Field.ackControlID.bit != 0
            sink.anomaly(HL7.Anomalies.unexpectedAck.name) { w in HL7JSON.checked(&w, "control_id", acked, withheld: withheld) }
            let tx = nextTxID
            nextTxID += 1
            sink.emit("hl7", txID: tx, direction: dir) { w in
                w.field("status", "unexpected_ack")
                w.field("direction", HL7JSON.direction(dir))
                w.beginObject("ack")
                HL7JSON.write(ack: m, frame: frame, latencyNanos: nil, into: &w)
                w.endObject()
            }
            return
        }
        let latency = sink.timestampNanos - table.entry(slot).timestamp
        let e = table.entry(slot)
        if code == .ca && e.awaitsApplicationAck && !e.committed {
            // Enhanced mode: the receiver took the message; its application ACK follows.
            table.commit(slot, latency: latency)
            return
        }
        let tx = nextTxID
        nextTxID += 1
        if sink.eventsEnabled { table.withStored(slot) { s in
            sink.emit("hl7", txID: tx, direction: dir.reversed) { w in
                w.field("status", "acknowledged")
                HL7JSON.write(stored: s, e, into: &w, scratch: &scratch)
                w.beginObject("ack")
                HL7JSON.write(ack: m, frame: frame, latencyNanos: latency, into: &w)
                w.endObject()
            }
        } }
        table.remove(slot)
    }

    /// The open-message table is full (reported once per flow).
    func tableFull<S: DissectorSink>(_ sink: inout S) {
        guard !tableFullReported else { return }
        tableFullReported = true
        let limit = table.capacity
        sink.anomaly(HL7.Anomalies.tooManyTransactions.name) { w in w.field("limit", limit) }
    }

    func emitUnanswered<S: DissectorSink>(_ slot: Int, _ sink: inout S) {
        let e = table.entry(slot)
        let tx = nextTxID
        nextTxID += 1
        // Stored text exists only when events are built (`HL7Table.insert`).
        if sink.eventsEnabled { table.withStored(slot) { s in
            sink.emit("hl7", txID: tx, direction: e.direction) { w in
                w.field("status", "unanswered")
                HL7JSON.write(stored: s, e, into: &w, scratch: &scratch)
            }
        } }
        table.remove(slot)
    }

    /// One anomaly per flaw of a decoded message.
    func report<S: DissectorSink>(_ m: HL7Message, _ frame: ByteView, _ sink: inout S) {
        if !m.separators.valid {
            sink.anomaly(HL7.Anomalies.invalidEncodingCharacters.name) { w in HL7JSON.controlID(&w, m, frame) }
        }
        if m.missing != 0 {
            let missing = m.missing
            sink.anomaly(HL7.Anomalies.missingRequiredField.name) { w in
                HL7JSON.controlID(&w, m, frame)
                w.beginArray("fields")
                if missing & 1 << 9 != 0 { w.value("MSH-9") }
                if missing & 1 << 10 != 0 { w.value("MSH-10") }
                if missing & 1 << 11 != 0 { w.value("MSH-11") }
                if missing & 1 << 12 != 0 { w.value("MSH-12") }
                w.endArray()
            }
        }
        if m.invalidSegments > m.unknownSegments {
            let n = m.invalidSegments - m.unknownSegments
            sink.anomaly(HL7.Anomalies.invalidSegmentId.name) { w in
                HL7JSON.controlID(&w, m, frame)
                w.field("count", n)
            }
        }
        if m.unknownSegments > 0 {
            let n = m.unknownSegments
            sink.anomaly(HL7.Anomalies.unknownSegmentId.name) { w in
                HL7JSON.controlID(&w, m, frame)
                w.field("count", n)
            }
        }
        if m.isAck && m.ackControlID.isEmpty {
            sink.anomaly(HL7.Anomalies.missingRequiredField.name) { w in
                HL7JSON.controlID(&w, m, frame)
                w.beginArray("fields")
                w.value("MSA-2")
                w.endArray()
            }
        }
        // An unknown MSA-1 has its own anomaly (`hl7.unknown_ack_code`).
        let invalid = m.invalid & ~HL7Field.ackCode.bit
        if invalid != 0 {
            sink.anomaly(HL7.Anomalies.invalidFieldValue.name) { w in
                HL7JSON.controlID(&w, m, frame)
                w.beginArray("fields")
                for f in HL7Field.all where invalid & f.bit != 0 { w.value(f.position) }
                w.endArray()
            }
        }
        if m.runInSegment != 0 {
            sink.anomaly(HL7.Anomalies.missingSegmentTerminator.name) { w in
                HL7JSON.controlID(&w, m, frame)
                w.field("segment", HL7Segment.name(m.runInSegment))
                w.field("field", m.runInField)
                w.field("next_segment", bytes: frame._slice(m.runInID, 3))
            }
        }
    }

    // MARK: observations (built only when observing)

    func observeRole<S: DissectorSink>(_ side: Side, receiver: Bool, _ sink: inout S) {
        let bit: UInt8 = 1 << (2 * side.rawValue + (receiver ? 1 : 0))
        guard rolesSeen & bit == 0 else { return }
        rolesSeen |= bit
        sink.observe(.role(side, receiver ? "hl7.receiver" : "hl7.sender"))
    }

    /// MSH-3/4 and MSH-12 name the sending side, MSH-5/6 the receiving side; repeated
    /// identities are observed once.
    func observeIdentities<S: DissectorSink>(_ m: HL7Message, _ frame: ByteView, _ side: Side, _ sink: inout S) {
        let parts = [m.sendingApplication, m.sendingFacility, m.version, m.receivingApplication, m.receivingFacility]
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for p in parts { h = (h ^ HL7Table.hash(p.view(frame))) &* 0x100_0000_01b3 }
        if side == .client {
            guard identitySeen.0 != h else { return }
            identitySeen.0 = h
        } else {
            guard identitySeen.1 != h else { return }
            identitySeen.1 = h
        }
        func identity(_ s: Side, _ key: StaticString, _ f: HL7Field) {
            let value = Self.string(m, f, frame)
            guard !value.isEmpty else { return }
            sink.observe(.identity(s, key: key, value: value))
        }
        identity(side, "hl7.application", .sendingApplication)
        identity(side, "hl7.facility", .sendingFacility)
        identity(side, "hl7.version", .version)
        identity(side.other, "hl7.application", .receivingApplication)
        identity(side.other, "hl7.facility", .receivingFacility)
    }

    /// A value for an observation: empty when withheld (it failed its check).
    static func string(_ m: HL7Message, _ f: HL7Field, _ frame: ByteView) -> String {
        guard m.withheld & f.bit == 0 else { return "" }
        let v = m.span(f).view(frame)
        return v.prefix(min(v.count, HL7Table.fieldCap)).utf8String
    }

    /// A leading decimal number (ERR-3 codes such as 101, 207), 0 when none.
    static func number(_ v: ByteView) -> UInt32 {
        var n: UInt32 = 0
        var i = 0
        while i < v.count && i < 9, let d = v.u8(at: i), d >= 0x30 && d <= 0x39 {
            n = n * 10 + UInt32(d - 0x30)
            i += 1
        }
        return n
    }
}

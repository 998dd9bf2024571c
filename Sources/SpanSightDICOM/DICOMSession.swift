import SpanSightEngine
import SpanSightWire

/// Limits of one session (memory is bounded by these).
public struct DICOMLimits: Sendable {
    /// Largest A-ASSOCIATE-RQ/AC PDU buffered whole; larger ones are skipped with an anomaly.
    public var maxAssociatePDU = 64 * 1024
    /// Largest command set assembled from its PDV fragments.
    public var maxCommandBytes = 16 * 1024
    /// Requests awaiting their final response.
    public var maxOpenOperations = 128
    /// Operations listed in one `dicom` event (more are counted in `dimse_dropped`).
    public var maxLoggedOperations = 256

    public init() {}
}

/// Per-direction stream state. P-DATA is walked PDV by PDV without buffering: only command
/// fragments are copied (into `command`, bounded); data set bytes are counted as they pass.
struct DICOMStream {
    enum Phase: Equatable {
        case header
        /// Inside a P-DATA-TF PDU, at a PDV item header.
        case pdvHeader
        /// Inside a PDV's fragment.
        case pdvData
        /// Discarding the rest of a PDU.
        case skip(Int)
    }

    var phase = Phase.header
    var inSync = true
    var skipped = 0
    /// Bytes left in the current P-DATA-TF PDU (after its header).
    var pduLeft = 0
    /// Bytes left in the current PDV fragment.
    var pdvLeft = 0
    var pdvContext: UInt8 = 0
    var pdvControl: UInt8 = 0
    /// Command fragments of the command being assembled (reused).
    var command: [UInt8] = []
    var commandOverflow = false
    /// Data set bytes seen so far of the data set being received.
    var datasetBytes = 0
    /// The logged operation the next data set of this direction belongs to (-1: none) and
    /// whether it came with the request.
    var datasetTarget = -1
    var datasetIsRequest = true

    var isCommand: Bool { pdvControl & 1 != 0 }
    var isLast: Bool { pdvControl & 2 != 0 }

    init(commandCapacity: Int) { command.reserveCapacity(commandCapacity) }
}

/// The DICOM session of one TCP flow.
public final class DICOMSession: DissectorSession {
    let limits: DICOMLimits
    var framers: [StreamFramer]
    var streams: [DICOMStream]
    var assoc = AssociationRecord()
    var open: [OpenOperation] = []
    var nextSequence: UInt64 = 0
    var openFullReported = false
    /// Suricata's `tx_id` of the next association written (per flow, from 0).
    var nextTxID: Int64 = 0
    /// An association ended on this connection and no PDU of another has come since: only an
    /// A-ASSOCIATE-RQ starts one now (a stray PDU is not a new association, `stray`).
    var ended = false
    /// Since the end: an A-ABORT was seen (the one a peer may close with), an unexpected PDU
    /// was reported.
    var endedAbortSeen = false
    var endedReported = false

    public init(limits: DICOMLimits = DICOMLimits()) {
        self.limits = limits
        let framer = StreamFramer(maxPDU: PDUHeader.Field.size + limits.maxAssociatePDU)
        framers = [framer, framer]
        streams = [DICOMStream(commandCapacity: 1024), DICOMStream(commandCapacity: 1024)]
        open.reserveCapacity(8)
        super.init()
        framers[0].attach(memory)
        framers[1].attach(memory)
        memory.chargeUnchecked(.sessions, 2 * 1024)
        openCharged = 8 * MemoryLayout<OpenOperation>.stride
        memory.chargeUnchecked(.transactions, openCharged)
    }

    /// Bytes of `open`'s storage charged (it grows to at most `maxOpenOperations`).
    var openCharged = 0
    /// Bytes of the command buffers' growth past their first 1024 charged.
    var commandCharged = 0

    /// Charges growth of the open-operation list and the command buffers (bounded by their
    /// caps: charged as they grow, never refused), by their logical sizes (`reservedSize`).
    func chargeGrowth() {
        let o = reservedSize(for: open.count, floor: 8) * MemoryLayout<OpenOperation>.stride
        if o > openCharged { memory.chargeUnchecked(.transactions, o - openCharged); openCharged = o }
        let c = reservedSize(for: streams[0].command.count, floor: 1024) - 1024
            + reservedSize(for: streams[1].command.count, floor: 1024) - 1024
        if c > commandCharged { memory.chargeUnchecked(.pdus, c - commandCharged); commandCharged = c }
    }

    public override func shed(context: inout DissectContext) -> Int {
        var items = 0
        for i in 0..<2 {
            let dir: Direction = i == 0 ? .toServer : .toClient
            if framers[i].hasPending || streams[i].phase != .header { items += 1 }
            gap(Int.max, direction: dir, sink: &context)
            framers[i].releaseStorage()
            if commandCharged > 0 {
                streams[i].command = []
                streams[i].command.reserveCapacity(1024)
            }
        }
        memory.release(.pdus, commandCharged)
        commandCharged = 0
        return items
    }

    static func side(_ d: Direction) -> Side { d == .toServer ? .client : .server }

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

    // MARK: generic entry points (also the test hook)

    public func receive<S: DissectorSink>(_ bytes: ByteView, direction: Direction, sink: inout S) {
        let i = direction.index
        let ok = framers[i].feed(bytes) { step($0, direction, &sink) }
        if !ok {
            // Only a resynchronisation window or a short header can be pending; cannot happen
            // with the totals `step` asks for, but never loop on it.
            streams[i].inSync = false
        }
    }

    /// Lost bytes: inside a data set fragment the position is still known (the bytes are
    /// counted as lost data set bytes); anywhere else the stream resynchronises.
    public func gap<S: DissectorSink>(_ length: Int, direction: Direction, sink: inout S) {
        let i = direction.index
        if !framers[i].hasPending, streams[i].phase == .pdvData, !streams[i].isCommand, length <= streams[i].pdvLeft {
            streams[i].pdvLeft -= length
            streams[i].pduLeft -= length
            streams[i].datasetBytes += length
            if streams[i].pdvLeft == 0 { fragmentDone(direction, &sink) }
            return
        }
        if case .skip(let n) = streams[i].phase, !framers[i].hasPending, length <= n {
            streams[i].phase = length == n ? .header : .skip(n - length)
            return
        }
        framers[i].reset()
        streams[i].phase = .header
        streams[i].inSync = false
        streams[i].skipped = 0
        streams[i].command.removeAll(keepingCapacity: true)
        streams[i].commandOverflow = false
        streams[i].datasetBytes = 0
        streams[i].datasetTarget = -1
    }

    public func finish<S: DissectorSink>(sink: inout S) {
        for i in 0..<2 where framers[i].hasPending || streams[i].phase != .header {
            let pending = framers[i].pendingCount
            sink.anomaly(DICOM.Anomalies.truncatedPdu.name) { w in
                w.field("direction", i == 0 ? "to_server" : "to_client")
                w.field("pending_bytes", pending)
            }
        }
        endAssociation(.flowEnd, &sink)
    }

    // MARK: framing

    /// One framing step at the stream position (the StreamFramer contract): consumes a PDU
    /// header, a whole short/association PDU, a PDV header, or a piece of a PDV fragment.
    /// Side effects happen only when bytes are consumed or skipped (a resync anomaly is
    /// reported once, when the plausible start is found).
    func step<S: DissectorSink>(_ view: ByteView, _ dir: Direction, _ sink: inout S) -> FrameStep {
        let i = dir.index
        while true {
            switch streams[i].phase {
            case .header:
                return header(view, dir, &sink)
            case .skip(let n):
                if n == 0 { streams[i].phase = .header; continue }
                let k = min(n, view.count)
                streams[i].phase = n == k ? .header : .skip(n - k)
                return .consumed(k)
            case .pdvHeader:
                let left = streams[i].pduLeft
                if left == 0 { streams[i].phase = .header; continue }
                if left < 6 {
                    sink.anomaly(DICOM.Anomalies.invalidPdvLength.name) { w in w.field("pdu_bytes_left", left) }
                    streams[i].phase = .skip(left)
                    continue
                }
                guard view.count >= 6 else { return .needMore(total: 6) }
                let len = view._u32(0), ctx = view._u8(4), mch = view._u8(5)
                guard len >= 2, len <= UInt32(left - 4) else {
                    sink.anomaly(DICOM.Anomalies.invalidPdvLength.name) { w in
                        w.field("pdv_length", UInt64(len))
                        w.field("pdu_bytes_left", left)
                    }
                    streams[i].phase = .skip(left)
                    continue
                }
                if mch & 0xFC != 0 {
                    sink.anomaly(DICOM.Anomalies.invalidPdvFlags.name) { w in w.field("flags", Int(mch)) }
                }
                checkContext(ctx, &sink)
                streams[i].pduLeft = left - 6
                streams[i].pdvLeft = Int(len) - 2
                streams[i].pdvContext = ctx
                streams[i].pdvControl = mch & 3
                streams[i].phase = .pdvData
                if streams[i].pdvLeft == 0 { fragmentDone(dir, &sink) }
                return .consumed(6)
            case .pdvData:
                let k = min(view.count, streams[i].pdvLeft)
                if streams[i].isCommand {
                    if k == streams[i].pdvLeft && streams[i].isLast && streams[i].command.isEmpty && !streams[i].commandOverflow {
                        // The whole (last) fragment is here and nothing is assembled: decode in place.
                        streams[i].pdvLeft = 0
                        streams[i].pduLeft -= k
                        command(view.prefix(k), dir, &sink)
                        advanceAfterFragment(i)
                        return .consumed(k)
                    }
                    if streams[i].command.count + k <= limits.maxCommandBytes {
                        view.prefix(k).withBytes { streams[i].command.append(contentsOf: $0) }
                        if streams[i].command.count > 1024 { chargeGrowth() }
                    } else {
                        streams[i].commandOverflow = true
                    }
                } else {
                    streams[i].datasetBytes += k
                }
                streams[i].pdvLeft -= k
                streams[i].pduLeft -= k
                if streams[i].pdvLeft == 0 { fragmentDone(dir, &sink) }
                return .consumed(k)
            }
        }
    }

    /// At a PDU boundary (or looking for one after garbage or a gap).
    func header<S: DissectorSink>(_ view: ByteView, _ dir: Direction, _ sink: inout S) -> FrameStep {
        let i = dir.index
        if !streams[i].inSync {
            let p = DICOM.plausibleStart(view)
            switch p.result {
            case .noMatch, .rejected:
                streams[i].skipped += 1
                return .skip(1)
            case .needMore:
                return .needMore(total: p.need)
            case .match:
                let skipped = streams[i].skipped
                if skipped > 0 { sink.anomaly(DICOM.Anomalies.resync.name) { w in w.field("skipped_bytes", skipped) } }
                streams[i].inSync = true
                streams[i].skipped = 0
            }
        }
        guard let h = PDUHeader(view) else { return .needMore(total: PDUHeader.Field.size) }
        let len = Int(h.length), type = h.type
        func lose(_ name: StaticString) -> FrameStep {
            sink.anomaly(name) { w in
                w.field("pdu_type", Int(type))
                w.field("pdu_length", len)
            }
            streams[i].inSync = false
            streams[i].skipped = 1
            return .skip(1)
        }
        if ended && type != 1 && type <= 7 && DICOMSession.lengthFits(type, len) { return stray(type, len, dir, &sink) }
        switch type {
        case 1, 2:
            guard len >= PDUHeader.associateFixed else { return lose(DICOM.Anomalies.invalidPduLength.name) }
            guard len <= limits.maxAssociatePDU else {
                sink.countPDU()
                let cap = limits.maxAssociatePDU
                sink.anomaly(DICOM.Anomalies.pduTooLarge.name) { w in
                    w.field("pdu_type", Int(type))
                    w.field("pdu_length", len)
                    w.field("limit", cap)
                }
                begin(type, &sink)
                streams[i].phase = .skip(len)
                return .consumed(PDUHeader.Field.size)
            }
            guard view.count >= 6 + len else { return .needMore(total: 6 + len) }
            sink.countPDU()
            associate(view._slice(6, len), isRequest: type == 1, dir, &sink)
            return .consumed(6 + len)
        case 3, 5, 6, 7:
            guard len == PDUHeader.shortBody else { return lose(DICOM.Anomalies.invalidPduLength.name) }
            guard view.count >= 10 else { return .needMore(total: 10) }
            sink.countPDU()
            short(type, view._slice(6, 4), dir, &sink)
            return .consumed(10)
        case 4:
            guard len >= PDUHeader.minPData else { return lose(DICOM.Anomalies.invalidPduLength.name) }
            sink.countPDU()
            pdata(len, dir, &sink)
            streams[i].pduLeft = len
            streams[i].phase = .pdvHeader
            return .consumed(PDUHeader.Field.size)
        default:
            return lose(DICOM.Anomalies.invalidPduType.name)
        }
    }

    /// Whether a PDU of a known type (1..7) may have this length.
    static func lengthFits(_ type: UInt8, _ len: Int) -> Bool {
        switch type {
        case 1, 2: len >= PDUHeader.associateFixed
        case 4: len >= PDUHeader.minPData
        default: len == PDUHeader.shortBody
        }
    }

    /// A PDU after the connection's association ended, before another A-ASSOCIATE-RQ: not an
    /// association of its own. After a release, reject or abort the connection is only to be
    /// closed (PS3.8 9.2, state Sta13): one A-ABORT is a way to close it (action AA-2) and is
    /// passed over; anything else is `dicom.unexpected_pdu` (state `ended`, once until the next
    /// association). The PDU is skipped unread.
    func stray<S: DissectorSink>(_ type: UInt8, _ len: Int, _ dir: Direction, _ sink: inout S) -> FrameStep {
        sink.countPDU()
        if type == 7 && !endedAbortSeen {
            endedAbortSeen = true
        } else if !endedReported {
            endedReported = true
            sink.anomaly(DICOM.Anomalies.unexpectedPdu.name) { w in
                w.field("pdu_type", Int(type))
                w.field("pdu", DICOMNames.pduType(type))
                w.field("state", "ended")
            }
        }
        streams[dir.index].phase = .skip(len)
        return .consumed(PDUHeader.Field.size)
    }

    func advanceAfterFragment(_ i: Int) {
        streams[i].phase = streams[i].pduLeft == 0 ? .header : .pdvHeader
    }

    /// The current PDV fragment is complete.
    func fragmentDone<S: DissectorSink>(_ dir: Direction, _ sink: inout S) {
        let i = dir.index
        advanceAfterFragment(i)
        guard streams[i].isLast else { return }
        if streams[i].isCommand {
            if streams[i].commandOverflow {
                let cap = limits.maxCommandBytes
                sink.anomaly(DICOM.Anomalies.commandTooLarge.name) { w in w.field("limit", cap) }
            } else {
                streams[i].command.withUnsafeBytes { command(ByteView($0), dir, &sink) }
            }
            streams[i].command.removeAll(keepingCapacity: true)
            streams[i].commandOverflow = false
        } else {
            let n = streams[i].datasetBytes
            streams[i].datasetBytes = 0
            assoc.datasets += 1
            assoc.datasetBytes += n
            let t = streams[i].datasetTarget
            streams[i].datasetTarget = -1
            if t >= 0 && t < assoc.operations.count {
                if streams[i].datasetIsRequest {
                    assoc.operations[t].requestDatasets += 1
                    assoc.operations[t].requestDatasetBytes += n
                } else {
                    assoc.operations[t].responseDatasets += 1
                    assoc.operations[t].responseDatasetBytes += n
                }
            }
        }
    }

    // MARK: association

    func begin<S: DissectorSink>(_ type: UInt8, _ sink: inout S) {
        if assoc.pdus == 0 {
            assoc.startNanos = sink.timestampNanos
            (ended, endedAbortSeen, endedReported) = (false, false, false)
        }
        assoc.lastStamp = sink.stamp
        assoc.pdus += 1
        assoc.pduTypes[Int(type & 7)] &+= 1
    }

    func associate<S: DissectorSink>(_ body: ByteView, isRequest: Bool, _ dir: Direction, _ sink: inout S) {
        if isRequest && assoc.pdus > 0 {
            // A new association on the same connection before the previous one ended.
            sink.anomaly(DICOM.Anomalies.unexpectedPdu.name) { w in w.field("pdu_type", 1) }
            endAssociation(.superseded, &sink)
        } else if !isRequest && (assoc.acceptSeen || (assoc.requestSeen && assoc.state != .requested)) {
            unexpected(2, &sink)
        }
        begin(isRequest ? 1 : 2, &sink)
        let build = sink.eventsEnabled || sink.observing
        var reader = AssociateReader(isRequest: isRequest, build: build)
        if isRequest {
            assoc.requestSeen = true
            assoc.requestorSide = Self.side(dir)
            assoc.state = .requested
        } else {
            assoc.acceptSeen = true
            assoc.state = .accepted
        }
        reader.read(body, into: &assoc)
        report(reader.flaws, pduType: isRequest ? 1 : 2, &sink)
        guard sink.observing else {
            if isRequest { sink.markOperation(.association) }
            return
        }
        let side = Self.side(dir)
        let info = isRequest ? assoc.requestor : assoc.acceptor
        if isRequest {
            sink.observe(.role(side, "dicom.scu"))
            sink.observe(.role(side.other, "dicom.scp"))
            if let ae = assoc.callingAE { sink.observe(.identity(side, key: "dicom.ae_title", value: assoc.text.string(ae))) }
        } else if let ae = assoc.calledAE {
            // The called AE title is the acceptor's only once it accepts: a rejected request
            // ("called AE title not recognised") names a title the server does not have.
            sink.observe(.identity(side, key: "dicom.ae_title", value: assoc.text.string(ae)))
        }
        if let uid = info.implementationClassUID {
            sink.observe(.identity(side, key: "dicom.implementation_class_uid", value: assoc.text.string(uid)))
        }
        if let v = info.implementationVersionName {
            sink.observe(.identity(side, key: "dicom.implementation_version_name", value: assoc.text.string(v)))
        }
        if isRequest {
            let called = assoc.calledAE.map { assoc.text.string($0) }
            let context = assoc.applicationContext.map { assoc.text.string($0) }
            sink.observe(.command(Command(issuer: side, operation: .association, function: 1, name: "a_associate_rq",
                                          detail: context, target: called)))
            sink.markOperation(.association)
        }
    }

    func short<S: DissectorSink>(_ type: UInt8, _ body: ByteView, _ dir: Direction, _ sink: inout S) {
        begin(type, &sink)
        let side = Self.side(dir)
        switch type {
        case 3:
            if !assoc.requestSeen || assoc.state != .requested || assoc.acceptSeen { unexpected(3, &sink) }
            let (r, s, why) = (body._u8(1), body._u8(2), body._u8(3))
            assoc.reject = (r, s, why)
            if sink.observing {
                sink.observe(.outcome(side, name: "dicom.association_rejected", success: false,
                                      code: UInt32(r) << 16 | UInt32(s) << 8 | UInt32(why)))
            }
            endAssociation(.reject, &sink)
        case 5:
            if assoc.requestSeen && assoc.state != .accepted { unexpected(5, &sink) }
            if assoc.releaseRequestedBy == nil { assoc.releaseRequestedBy = side }
            assoc.state = .releasing
        case 6:
            if assoc.requestSeen && assoc.state != .releasing { unexpected(6, &sink) }
            assoc.releaseCompleted = true
            if assoc.releaseRequestedBy == nil { assoc.releaseRequestedBy = side.other }
            endAssociation(.release, &sink)
        default:
            let (s, why) = (body._u8(2), body._u8(3))
            assoc.abort = (s, why, side)
            if sink.observing {
                sink.observe(.outcome(side, name: "dicom.association_aborted", success: false,
                                      code: UInt32(s) << 8 | UInt32(why)))
            }
            endAssociation(.abort, &sink)
        }
    }

    func pdata<S: DissectorSink>(_ len: Int, _ dir: Direction, _ sink: inout S) {
        begin(4, &sink)
        if assoc.requestSeen && assoc.state == .requested { unexpected(4, &sink) }
        if let max = assoc.receiverMax(dir), len > Int(max) {
            let reported = dir == .toServer ? assoc.reportedOversize.0 : assoc.reportedOversize.1
            if !reported {
                if dir == .toServer { assoc.reportedOversize.0 = true } else { assoc.reportedOversize.1 = true }
                sink.anomaly(DICOM.Anomalies.pduExceedsMaxLength.name) { w in
                    w.field("pdu_length", len)
                    w.field("max_pdu_length", UInt64(max))
                }
            }
        }
    }

    func checkContext<S: DissectorSink>(_ ctx: UInt8, _ sink: inout S) {
        guard assoc.acceptSeen, !assoc.usableContexts.contains(ctx), !assoc.reportedUnknownContext else { return }
        assoc.reportedUnknownContext = true
        sink.anomaly(DICOM.Anomalies.unknownPresentationContext.name) { w in w.field("context_id", Int(ctx)) }
    }

    func unexpected<S: DissectorSink>(_ type: UInt8, _ sink: inout S) {
        guard !assoc.reportedUnexpected else { return }
        assoc.reportedUnexpected = true
        let state: StaticString = switch assoc.state {
        case .idle: "idle"
        case .requested: "requested"
        case .accepted: "accepted"
        case .releasing: "releasing"
        }
        sink.anomaly(DICOM.Anomalies.unexpectedPdu.name) { w in
            w.field("pdu_type", Int(type))
            w.field("pdu", DICOMNames.pduType(type))
            w.field("state", state)
        }
    }

    func report<S: DissectorSink>(_ flaws: AssociateFlaws, pduType: Int, _ sink: inout S) {
        guard !flaws.isEmpty else { return }
        // A local function, not a closure value: passed non-escaping, its context stays on the stack.
        func details(_ w: inout JSONWriter) { w.field("pdu_type", pduType) }
        if flaws.contains(.itemLength) { sink.anomaly(DICOM.Anomalies.invalidItemLength.name, details) }
        if flaws.contains(.invalidItem) { sink.anomaly(DICOM.Anomalies.invalidItem.name, details) }
        if flaws.contains(.unknownItem) { sink.anomaly(DICOM.Anomalies.unknownItem.name, details) }
        if flaws.contains(.protocolVersion) { sink.anomaly(DICOM.Anomalies.unsupportedProtocolVersion.name, details) }
        if flaws.contains(.aeTitle) { sink.anomaly(DICOM.Anomalies.invalidAeTitle.name, details) }
        if flaws.contains(.tooManyContexts) { sink.anomaly(DICOM.Anomalies.tooManyPresentationContexts.name, details) }
    }

    /// Emits the association's event (when it saw anything) and starts a new record.
    func endAssociation<S: DissectorSink>(_ end: AssociationEnd, _ sink: inout S) {
        var unanswered = 0
        while let k = oldestOpen() {
            closeUnanswered(k)
            unanswered += 1
        }
        if unanswered > 0 { sink.anomaly(DICOM.Anomalies.unansweredRequest.name) { w in w.field("count", unanswered) } }
        if assoc.pdus > 0 {
            let now = sink.timestampNanos
            let tx = nextTxID
            nextTxID += 1
            sink.emit("dicom", txID: tx, direction: nil, stamp: assoc.lastStamp) { w in
                DICOMJSON.write(assoc, end: end, nowNanos: now, into: &w)
            }
            ended = true
        }
        assoc.reset()
        for i in 0..<2 { streams[i].datasetTarget = -1 }
    }

    // MARK: DIMSE

    static func operationClass(_ command: UInt16) -> OperationClass {
        switch command & 0x7FFF {
        case 0x0030: .discovery
        case 0x0010, 0x0020, 0x0021, 0x0110: .read
        case 0x0001, 0x0120, 0x0140, 0x0150: .write
        case 0x0130: .control
        default: .other
        }
    }

    func command<S: DissectorSink>(_ v: ByteView, _ dir: Direction, _ sink: inout S) {
        let cs = CommandSet(v)
        let ctx = streams[dir.index].pdvContext
        if cs.malformed {
            sink.anomaly(DICOM.Anomalies.invalidCommandSet.name) { w in w.field("context_id", Int(ctx)) }
        }
        guard let field = cs.command else { return }
        assoc.commands += 1
        let side = Self.side(dir)
        if field == 0x0FFF {
            // C-CANCEL-RQ names the operation it cancels by (0000,0120).
            if let id = cs.respondedTo, let k = findOpen(id, issuer: side), open[k].logIndex >= 0 {
                assoc.operations[open[k].logIndex].cancelled = true
            }
            return
        }
        if cs.isResponse {
            response(cs, field, v, dir, &sink)
        } else {
            request(cs, field, v, dir, &sink)
        }
    }

    func request<S: DissectorSink>(_ cs: CommandSet, _ field: UInt16, _ v: ByteView, _ dir: Direction, _ sink: inout S) {
        let side = Self.side(dir), id = cs.messageID ?? 0
        if let k = findOpen(id, issuer: side) {
            sink.anomaly(DICOM.Anomalies.duplicateMessageId.name) { w in w.field("message_id", Int(id)) }
            closeUnanswered(k)
        }
        if open.count >= limits.maxOpenOperations, let k = oldestOpen() {
            if !openFullReported {
                openFullReported = true
                let cap = limits.maxOpenOperations
                sink.anomaly(DICOM.Anomalies.tooManyOperations.name) { w in w.field("limit", cap) }
            }
            closeUnanswered(k)
        }
        var logIndex = -1
        if sink.eventsEnabled {
            if assoc.operations.count < limits.maxLoggedOperations {
                var op = Operation(issuer: side, command: field, messageID: id, contextID: streams[dir.index].pdvContext,
                                   requestNanos: sink.timestampNanos)
                op.sopClass = CommandSet.view(v, cs.sopClass).map { assoc.text.add($0) }
                op.sopInstance = CommandSet.view(v, cs.sopInstance).map { assoc.text.add($0) }
                op.moveDestination = CommandSet.view(v, cs.moveDestination).map { assoc.text.add($0) }
                op.priority = cs.priority
                logIndex = assoc.operations.count
                assoc.operations.append(op)
            } else {
                assoc.operationsDropped += 1
            }
        }
        defer { chargeGrowth() }
        open.append(OpenOperation(messageID: id, issuer: side, command: field, requestNanos: sink.timestampNanos,
                                  sequence: nextSequence, logIndex: logIndex))
        nextSequence &+= 1
        if cs.hasDataSet {
            streams[dir.index].datasetTarget = logIndex
            streams[dir.index].datasetIsRequest = true
        }
        let operation = Self.operationClass(field)
        sink.markOperation(operation)
        if sink.observing {
            sink.observe(.command(Command(issuer: side, operation: operation, function: field,
                                          name: DICOMNames.commandKey(field),
                                          detail: CommandSet.text(v, cs.sopClass),
                                          target: CommandSet.text(v, cs.moveDestination))))
        }
    }

    func response<S: DissectorSink>(_ cs: CommandSet, _ field: UInt16, _ v: ByteView, _ dir: Direction, _ sink: inout S) {
        let side = Self.side(dir), id = cs.respondedTo ?? 0
        let status = cs.status ?? 0
        let statusClass = DICOMNames.statusClass(status)
        if statusClass == .failure && sink.observing {
            sink.observe(.outcome(side, name: "dicom.dimse_failure", success: false, code: UInt32(status)))
        }
        let now = sink.timestampNanos
        var logIndex = -1
        if let k = findOpen(id, issuer: side.other) {
            logIndex = open[k].logIndex
            let final = statusClass != .pending
            if open[k].command & 0x7FFF != field & 0x7FFF {
                let (a, b) = (Int(open[k].command), Int(field))
                sink.anomaly(DICOM.Anomalies.commandMismatch.name) { w in
                    w.field("message_id", Int(id))
                    w.field("request_command_raw", a)
                    w.field("response_command_raw", b)
                }
            }
            if logIndex >= 0 {
                update(&assoc.operations[logIndex], cs, field)
                if final {
                    assoc.operations[logIndex].state = .complete
                    assoc.operations[logIndex].latencyNanos = now - open[k].requestNanos
                }
            }
            if final { open.remove(at: k) }
        } else {
            let (mid, f) = (Int(id), Int(field))
            sink.anomaly(DICOM.Anomalies.unsolicitedResponse.name) { w in
                w.field("message_id_being_responded_to", mid)
                w.field("command_raw", f)
            }
            if sink.eventsEnabled {
                if assoc.operations.count < limits.maxLoggedOperations {
                    var op = Operation(state: .unmatched, issuer: side.other, command: field, messageID: id,
                                       contextID: streams[dir.index].pdvContext, requestNanos: now)
                    update(&op, cs, field)
                    op.sopClass = CommandSet.view(v, cs.sopClass).map { assoc.text.add($0) }
                    op.sopInstance = CommandSet.view(v, cs.sopInstance).map { assoc.text.add($0) }
                    logIndex = assoc.operations.count
                    assoc.operations.append(op)
                } else {
                    assoc.operationsDropped += 1
                }
            }
        }
        if cs.hasDataSet {
            streams[dir.index].datasetTarget = logIndex
            streams[dir.index].datasetIsRequest = false
        }
    }

    /// Folds one response into its operation.
    func update(_ op: inout Operation, _ cs: CommandSet, _ field: UInt16) {
        op.responses += 1
        let status = cs.status ?? 0
        if DICOMNames.statusClass(status) == .pending { op.pendingResponses += 1 }
        op.status = cs.status
        if cs.remaining != nil || cs.completed != nil || cs.failed != nil || cs.warning != nil {
            op.subOperations = (cs.remaining, cs.completed, cs.failed, cs.warning)
        }
    }

    func findOpen(_ id: UInt16, issuer: Side) -> Int? {
        for k in open.indices where open[k].messageID == id && open[k].issuer == issuer { return k }
        return nil
    }

    func oldestOpen() -> Int? {
        var best: Int? = nil
        for k in open.indices where best.map({ open[k].sequence < open[$0].sequence }) ?? true { best = k }
        return best
    }

    func closeUnanswered(_ k: Int) {
        let li = open[k].logIndex
        if li >= 0 && li < assoc.operations.count { assoc.operations[li].state = .unanswered }
        open.remove(at: k)
    }
}

import SpanSightEngine
import SpanSightWire

/// Where an association stands (PS3.8 9.2 state machine, as a passive observer sees it).
enum AssociationState {
    /// No A-ASSOCIATE-RQ seen (start of flow, or a flow picked up mid-association).
    case idle
    case requested
    case accepted
    case releasing
}

/// Where a text of the association is in its `AssociationText`.
struct TextRef {
    var offset: Int32
    var count: Int32
}

/// The text an association's event reports (AE titles, UIDs, the implementation version name,
/// the operations' SOP classes and instances), copied from the wire, trimmed, into one buffer
/// that the session keeps from one association to the next: an association's text costs no
/// allocation once the buffer has grown to what the associations need (built only when events
/// or observations are on).
struct AssociationText {
    /// What the buffer may keep of its capacity from one association to the next (a bigger
    /// one, left by a hostile association, is freed at its end).
    static let keptCapacity = 64 * 1024

    private var bytes: [UInt8] = []

    /// Appends `v` trimmed of spaces and NULs (`WireText.trimmed`).
    mutating func add(_ v: ByteView) -> TextRef {
        let t = WireText.trimmed(v)
        let offset = bytes.count
        t.withBytes { bytes.append(contentsOf: $0) }
        return TextRef(offset: Int32(truncatingIfNeeded: offset), count: Int32(truncatingIfNeeded: t.count))
    }

    /// Starts over, keeping the buffer unless it grew past `keptCapacity`.
    mutating func removeAll() {
        if bytes.capacity > Self.keptCapacity { bytes = [] } else { bytes.removeAll(keepingCapacity: true) }
    }

    func withView<R>(_ r: TextRef, _ body: (ByteView) -> R) -> R {
        bytes.withUnsafeBytes { body(ByteView($0)._slice(Int(r.offset), Int(r.count))) }
    }

    /// The text as a String (for observations, which keep it).
    func string(_ r: TextRef) -> String { withView(r) { $0.utf8String } }

    /// A text as a JSON string, as its String would be written: well-formed UTF-8 copied from
    /// the buffer; anything else through a String (ill-formed bytes become U+FFFD).
    func write(_ r: TextRef, into w: inout JSONWriter) {
        withView(r) { v in
            if WireText.isValidUTF8(v) { w.value(bytes: v) } else { w.value(v.utf8String) }
        }
    }

    /// A text as a JSON string of wire bytes (ill-formed bytes escaped as \u00XX), as AE titles
    /// and the implementation version name are written.
    func writeBytes(_ r: TextRef, into w: inout JSONWriter) {
        withView(r) { w.value(bytes: $0) }
    }

    /// The name of a well-known UID.
    func uidName(_ r: TextRef) -> StaticString? { withView(r) { DICOMNames.uid(bytes: $0) } }
}

/// One DIMSE operation: a request and its response(s), or a response whose request was not seen.
struct Operation {
    enum State { case open, complete, unanswered, unmatched }

    var state: State = .open
    var issuer: Side
    var command: UInt16
    var messageID: UInt16
    var contextID: UInt8
    var sopClass: TextRef? = nil
    var sopInstance: TextRef? = nil
    var moveDestination: TextRef? = nil
    var priority: UInt16? = nil
    var requestNanos: Int64
    var latencyNanos: Int64? = nil
    var status: UInt16? = nil
    var responses = 0
    var pendingResponses = 0
    var requestDatasets = 0
    var requestDatasetBytes = 0
    var responseDatasets = 0
    var responseDatasetBytes = 0
    var cancelled = false
    var subOperations: (remaining: UInt16?, completed: UInt16?, failed: UInt16?, warning: UInt16?) = (nil, nil, nil, nil)
}

/// A request waiting for its final response (scalars only: lives whether or not events are on).
struct OpenOperation {
    var messageID: UInt16
    var issuer: Side
    var command: UInt16
    var requestNanos: Int64
    var sequence: UInt64
    /// Index in the association's operation log, or -1 when not logged.
    var logIndex: Int
}

/// Everything one association produced, reported as one `dicom` event when it ends. Text
/// fields are filled only when events or observations are on.
struct AssociationRecord {
    var pdus = 0
    /// PDUs by type (index 1..7).
    var pduTypes = SIMD8<UInt32>()
    var startNanos: Int64 = 0
    /// The packet of its latest PDU: the association's event names it (an association the
    /// flow's end or a new request ends is dated by its own last PDU, not by what ended it).
    var lastStamp = PacketStamp(packetNanos: 0, pcapCount: 0)
    var state = AssociationState.idle
    var requestSeen = false
    var acceptSeen = false
    var requestor = UserInformation()
    var acceptor = UserInformation()
    var requestorSide = Side.client
    var protocolVersion: UInt16? = nil
    var acceptorVersion: UInt16? = nil
    var calledAE: TextRef? = nil
    var callingAE: TextRef? = nil
    var applicationContext: TextRef? = nil
    var contexts: [PresentationContext] = []
    /// The proposed transfer syntaxes the contexts keep, in their order.
    var proposed: [TextRef] = []
    /// The role selections of both sides, in their order.
    var roles: [RoleSelection] = []
    var contextCount = 0
    var acceptedContextIDs = ContextSet()
    var usableContexts = ContextSet()
    var reject: (result: UInt8, source: UInt8, reason: UInt8)? = nil
    var abort: (source: UInt8, reason: UInt8, from: Side)? = nil
    var releaseRequestedBy: Side? = nil
    var releaseCompleted = false
    var commands = 0
    var datasets = 0
    var datasetBytes = 0
    var operations: [Operation] = []
    var operationsDropped = 0
    /// Every text field's bytes.
    var text = AssociationText()
    /// Anomalies reported at most once per association.
    var reportedUnknownContext = false
    var reportedOversize: (Bool, Bool) = (false, false)
    var reportedUnexpected = false

    /// Starts over, keeping the storage of the arrays and the text (each moved out before it is
    /// emptied: emptying an array another variable shares copies it).
    mutating func reset() {
        var contexts: [PresentationContext] = [], proposed: [TextRef] = [], roles: [RoleSelection] = []
        var operations: [Operation] = [], text = AssociationText()
        swap(&contexts, &self.contexts)
        swap(&proposed, &self.proposed)
        swap(&roles, &self.roles)
        swap(&operations, &self.operations)
        swap(&text, &self.text)
        contexts.removeAll(keepingCapacity: true)
        proposed.removeAll(keepingCapacity: true)
        roles.removeAll(keepingCapacity: true)
        operations.removeAll(keepingCapacity: true)
        text.removeAll()
        self = AssociationRecord()
        self.contexts = contexts
        self.proposed = proposed
        self.roles = roles
        self.operations = operations
        self.text = text
    }

    /// Max PDU length the receiving side of `direction` announced (nil: unknown or unlimited).
    func receiverMax(_ direction: Direction) -> UInt32? {
        let receiver: Side = direction == .toServer ? .server : .client
        let info = receiver == requestorSide ? requestor : acceptor
        guard let m = info.maxPDULength, m > 0 else { return nil }
        return m
    }
}

/// How an association ended, as written in `dicom.end`.
enum AssociationEnd {
    case release, abort, reject, flowEnd, superseded

    var name: StaticString {
        switch self {
        case .release: "release"
        case .abort: "abort"
        case .reject: "reject"
        case .flowEnd: "flow_end"
        case .superseded: "new_association"
        }
    }
}

/// The `dicom` event object (docs/dicom.md lists every field).
enum DICOMJSON {
    static func sideName(_ s: Side) -> StaticString { s == .client ? "client" : "server" }

    static func write(_ a: AssociationRecord, end: AssociationEnd, nowNanos: Int64, into w: inout JSONWriter) {
        w.field("end", end.name)
        w.field("result", result(a))
        if let v = a.protocolVersion { w.field("protocol_version", Int(v)) }
        if let ae = a.calledAE { w.key("called_ae"); a.text.writeBytes(ae, into: &w) }
        if let ae = a.callingAE { w.key("calling_ae"); a.text.writeBytes(ae, into: &w) }
        if a.requestSeen { w.field("requestor", sideName(a.requestorSide)) }
        uidField("application_context", "application_context_name", a.applicationContext, a.text, into: &w)
        if a.requestSeen || a.acceptSeen {
            w.beginArray("presentation_contexts")
            for c in a.contexts { writeContext(c, a, into: &w) }
            w.endArray()
            if a.contextCount > a.contexts.count { w.field("presentation_contexts_dropped", a.contextCount - a.contexts.count) }
        }
        if a.requestor.present { writeUserInfo(a.requestor, requestor: true, a, into: &w) }
        if a.acceptor.present {
            w.beginObject("acceptor")
            writeUserInfo(a.acceptor, requestor: false, a, into: &w)
            w.endObject()
        }
        if let r = a.reject {
            w.beginObject("reject")
            w.field("result_raw", Int(r.result))
            w.field("result", DICOMNames.rejectResult(r.result))
            w.field("source_raw", Int(r.source))
            w.field("source", DICOMNames.rejectSource(r.source))
            w.field("reason_raw", Int(r.reason))
            w.field("reason", DICOMNames.rejectReason(source: r.source, reason: r.reason))
            w.endObject()
        }
        if let ab = a.abort {
            w.beginObject("abort")
            w.field("from", sideName(ab.from))
            w.field("source_raw", Int(ab.source))
            w.field("source", DICOMNames.abortSource(ab.source))
            w.field("reason_raw", Int(ab.reason))
            w.field("reason", DICOMNames.abortReason(ab.reason))
            w.endObject()
        }
        if let by = a.releaseRequestedBy {
            w.beginObject("release")
            w.field("requested_by", sideName(by))
            w.field("completed", a.releaseCompleted)
            w.endObject()
        }
        w.field("duration_ms", Double(nowNanos - a.startNanos) / 1_000_000)
        w.field("pdus", a.pdus)
        w.beginObject("pdu_counts")
        for t in 1...7 where a.pduTypes[t] > 0 {
            w.key(DICOMNames.pduType(UInt8(t)))
            w.value(Int(a.pduTypes[t]))
        }
        w.endObject()
        w.field("commands", a.commands)
        w.field("datasets", a.datasets)
        w.field("dataset_bytes", a.datasetBytes)
        w.beginArray("dimse")
        for op in a.operations { writeOperation(op, a.text, into: &w) }
        w.endArray()
        if a.operationsDropped > 0 { w.field("dimse_dropped", a.operationsDropped) }
    }

    static func result(_ a: AssociationRecord) -> StaticString {
        if a.reject != nil { return "rejected" }
        if a.abort != nil { return "aborted" }
        if a.acceptSeen { return "accepted" }
        if a.requestSeen { return "unanswered" }
        return "unknown"
    }

    static func uidField(_ key: StaticString, _ nameKey: StaticString, _ uid: TextRef?, _ text: AssociationText,
                         into w: inout JSONWriter) {
        guard let uid else { return }
        w.key(key)
        text.write(uid, into: &w)
        if let n = text.uidName(uid) { w.field(nameKey, n) }
    }

    static func writeContext(_ c: PresentationContext, _ a: AssociationRecord, into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", Int(c.id))
        uidField("abstract_syntax", "abstract_syntax_name", c.abstractSyntax, a.text, into: &w)
        if c.proposedSeen {
            w.beginArray("proposed_transfer_syntaxes")
            for k in c.proposedStart..<(c.proposedStart + c.proposedCount) {
                w.beginObject()
                uidField("uid", "name", a.proposed[k], a.text, into: &w)
                w.endObject()
            }
            w.endArray()
            if c.proposedDropped > 0 { w.field("proposed_transfer_syntaxes_dropped", c.proposedDropped) }
        }
        if let r = c.result {
            w.field("result_raw", Int(r))
            w.field("result", DICOMNames.contextResult(r))
            // The transfer syntax of a rejected context is not significant (PS3.8 9.3.3.2).
            if r == 0 { uidField("transfer_syntax", "transfer_syntax_name", c.transferSyntax, a.text, into: &w) }
        }
        w.endObject()
    }

    static func writeUserInfo(_ u: UserInformation, requestor: Bool, _ a: AssociationRecord, into w: inout JSONWriter) {
        if let m = u.maxPDULength { w.field("max_pdu_length", UInt64(m)) }
        if let uid = u.implementationClassUID { w.key("implementation_class_uid"); a.text.write(uid, into: &w) }
        if let v = u.implementationVersionName { w.key("implementation_version_name"); a.text.writeBytes(v, into: &w) }
        if let i = u.asyncInvoked, let p = u.asyncPerformed {
            w.beginObject("async_ops_window")
            w.field("invoked", Int(i))
            w.field("performed", Int(p))
            w.endObject()
        }
        if u.roleCount > 0 {
            w.beginArray("role_selections")
            for r in a.roles where r.requestor == requestor {
                w.beginObject()
                uidField("sop_class", "sop_class_name", r.sopClass, a.text, into: &w)
                w.field("scu_role", Int(r.scu))
                w.field("scp_role", Int(r.scp))
                w.endObject()
            }
            w.endArray()
            if u.roleCount > u.rolesKept { w.field("role_selections_dropped", u.roleCount - u.rolesKept) }
        }
        if u.extendedNegotiations > 0 { w.field("extended_negotiations", u.extendedNegotiations) }
        if u.commonExtendedNegotiations > 0 { w.field("common_extended_negotiations", u.commonExtendedNegotiations) }
        if let t = u.userIdentityType {
            // Type and lengths only: the identity fields themselves are secrets.
            w.beginObject("user_identity")
            w.field("type_raw", Int(t))
            w.field("type", DICOMNames.userIdentityType(t))
            w.field("positive_response_requested", u.userIdentityResponseRequested)
            w.field("primary_field_length", u.userIdentityPrimaryLength)
            w.field("secondary_field_length", u.userIdentitySecondaryLength)
            w.endObject()
        }
        if let n = u.userIdentityServerResponseLength { w.field("user_identity_server_response_length", n) }
        if u.unknownSubItems > 0 { w.field("unknown_sub_items", u.unknownSubItems) }
    }

    static func writeOperation(_ op: Operation, _ text: AssociationText, into w: inout JSONWriter) {
        w.beginObject()
        w.field("command", DICOMNames.service(op.command))
        w.field("command_raw", Int(op.command))
        w.field("issuer", sideName(op.issuer))
        let state: StaticString = switch op.state {
        case .open, .unanswered: "unanswered"
        case .complete: "complete"
        case .unmatched: "unmatched_response"
        }
        w.field("state", state)
        w.field("message_id", Int(op.messageID))
        w.field("context_id", Int(op.contextID))
        uidField("affected_sop_class", "affected_sop_class_name", op.sopClass, text, into: &w)
        if let i = op.sopInstance { w.key("affected_sop_instance"); text.write(i, into: &w) }
        if let p = op.priority {
            w.field("priority_raw", Int(p))
            w.field("priority", DICOMNames.priority(p))
        }
        if let d = op.moveDestination { w.key("move_destination"); text.write(d, into: &w) }
        if let s = op.status {
            w.field("status_raw", Int(s))
            w.field("status", DICOMNames.status(s))
            w.field("status_class", DICOMNames.statusClass(s).name)
        }
        w.field("responses", op.responses)
        if op.pendingResponses > 0 { w.field("pending_responses", op.pendingResponses) }
        w.field("request_datasets", op.requestDatasets)
        w.field("request_dataset_bytes", op.requestDatasetBytes)
        w.field("response_datasets", op.responseDatasets)
        w.field("response_dataset_bytes", op.responseDatasetBytes)
        if op.cancelled { w.field("cancelled", true) }
        let sub = op.subOperations
        if sub.remaining != nil || sub.completed != nil || sub.failed != nil || sub.warning != nil {
            w.beginObject("sub_operations")
            if let v = sub.remaining { w.field("remaining", Int(v)) }
            if let v = sub.completed { w.field("completed", Int(v)) }
            if let v = sub.failed { w.field("failed", Int(v)) }
            if let v = sub.warning { w.field("warning", Int(v)) }
            w.endObject()
        }
        if let l = op.latencyNanos { w.field("latency_ms", Double(l) / 1_000_000) }
        w.endObject()
    }
}

import SpanSightEngine
import SpanSightWire

/// The `hl7` event's objects. Only MSH, MSA, ERR and EVN fields are ever written (each cut
/// at `HL7Table.fieldCap` bytes), plus segment ids and keyed pseudonyms: nothing of PID, PV1,
/// OBX, NTE or any other segment's content. MSA-3 and ERR-7/8 (free text) are left out too.
/// Of those fields only values that pass their check (`HL7Check`) are written; an object's
/// `withheld` gives the length of each value it leaves out.
enum HL7JSON {
    /// A text field, omitted when empty, cut at the field cap.
    static func text(_ w: inout JSONWriter, _ key: StaticString, _ v: ByteView) {
        guard !v.isEmpty else { return }
        w.field(key, bytes: v.prefix(min(v.count, HL7Table.fieldCap)))
    }

    static func direction(_ d: Direction) -> StaticString { d == .toServer ? "to_server" : "to_client" }

    /// A value in an anomaly: written when it passed its check, else its length in `withheld`.
    static func checked(_ w: inout JSONWriter, _ key: StaticString, _ v: ByteView, withheld: Bool) {
        guard !v.isEmpty else { return }
        if withheld {
            w.beginObject("withheld")
            w.field(key, v.count)
            w.endObject()
        } else {
            text(&w, key, v)
        }
    }

    /// An anomaly's `control_id`: the message's MSH-10, when it passed its check.
    static func controlID(_ w: inout JSONWriter, _ m: HL7Message, _ frame: ByteView) {
        checked(&w, "control_id", m.controlID.view(frame), withheld: m.withheld & HL7Field.controlID.bit != 0)
    }

    /// The message side of an event, from its stored copy.
    static func write(stored s: StoredMessage, _ e: OpenMessage, into w: inout JSONWriter, scratch: inout [UInt8]) {
        w.field("direction", direction(e.direction))
        for f in StoredField.all where !f.isEvent && e.withheld & f.field.bit == 0 {
            text(&w, f.key, s.field(f))
        }
        if e.withheld & StoredField.messageBits != 0 {
            w.beginObject("withheld")
            for f in StoredField.all where !f.isEvent && e.withheld & f.field.bit != 0 { w.field(f.key, s.length(f)) }
            w.endObject()
        }
        w.field("operation", e.operation.name)
        let seg = s.segments
        w.beginArray("segments")
        var i = 0
        while i + 3 <= seg.count {
            w.value(bytes: seg._slice(i, 3))
            i += 3
        }
        w.endArray()
        w.field("segment_count", e.segmentCount)
        if e.segmentCount > HL7Table.maxSegments + e.invalidSegments {
            w.field("segments_truncated", true)
        }
        if e.invalidSegments > 0 { w.field("invalid_segments", e.invalidSegments) }
        let evType = s.field(.eventType), evTime = s.field(.eventRecorded)
        if !evType.isEmpty || !evTime.isEmpty {
            w.beginObject("event")
            for f in StoredField.events where e.withheld & f.field.bit == 0 { text(&w, f.key, s.field(f)) }
            if e.withheld & StoredField.eventBits != 0 {
                w.beginObject("withheld")
                for f in StoredField.events where e.withheld & f.field.bit != 0 { w.field(f.key, s.length(f)) }
                w.endObject()
            }
            w.endObject()
        }
        var first = true
        s.forEachPseudonym { field, bytes in
            if first { w.beginArray("patient_pseudonyms"); first = false }
            w.beginObject()
            w.field("field", field == 2 ? "PID-2" : field == 3 ? "PID-3" : "PID-4")
            scratch.removeAll(keepingCapacity: true)
            bytes.withBytes { for b in $0 { scratch.append(hexDigit(b >> 4)); scratch.append(hexDigit(b & 0xF)) } }
            w.key("pseudonym")
            w.value(bytes: scratch)
            w.endObject()
        }
        if !first { w.endArray() }
        if e.batch.inBatch {
            w.beginObject("batch")
            w.field("file", e.batch.file)
            w.field("messages", e.batch.messages)
            if e.batch.declared >= 0 { w.field("declared_messages", e.batch.declared) }
            w.endObject()
        }
        w.field("bytes", e.bytes)
        if e.committed {
            w.beginObject("commit_ack")
            w.field("code", HL7AckCode.ca.text)
            w.field("code_name", HL7AckCode.ca.name)
            w.field("latency_ms", Double(e.commitLatency) / 1_000_000)
            w.endObject()
        }
    }

    /// Keys of the `ack` object's own values (MSA and the acknowledgment's MSH), in order.
    static let ackFields: [(StaticString, HL7Field)] = [
        ("code", .ackCode), ("control_id", .ackControlID), ("message_control_id", .controlID),
        ("message_type", .messageType), ("trigger_event", .triggerEvent), ("sending_application", .sendingApplication),
        ("sending_facility", .sendingFacility), ("version", .version),
    ]

    /// Keys of the `ack.error` object's values (the first ERR), in order.
    static let errorFields: [(StaticString, HL7Field)] = [
        ("code_and_location", .errorCodeAndLocation), ("location", .errorLocation), ("code", .errorCode),
        ("text", .errorText), ("coding_system", .errorSystem), ("severity", .errorSeverity),
    ]

    /// Writes the values of `fields` that passed their checks, then a `withheld` object with
    /// the lengths of those that did not.
    static func values(_ fields: [(StaticString, HL7Field)], of m: HL7Message, _ frame: ByteView, into w: inout JSONWriter,
                       after: (inout JSONWriter, HL7Field) -> Void = { _, _ in }) {
        var withheld: UInt32 = 0
        for (key, f) in fields {
            if m.withheld & f.bit != 0 { withheld |= f.bit; continue }
            text(&w, key, m.span(f).view(frame))
            after(&w, f)
        }
        guard withheld != 0 else { return }
        w.beginObject("withheld")
        for (key, f) in fields where withheld & f.bit != 0 { w.field(key, Int(m.span(f).count)) }
        w.endObject()
    }

    /// The `ack` object, from the live acknowledgment message.
    static func write(ack m: HL7Message, frame: ByteView, latencyNanos: Int64?, into w: inout JSONWriter) {
        values(ackFields, of: m, frame, into: &w) { w, f in
            if f == .ackCode { w.field("code_name", HL7AckCode(m.ackCode.view(frame)).name) }
            if f == .ackControlID, let l = latencyNanos { w.field("latency_ms", Double(l) / 1_000_000) }
        }
        // Written above only beside a valid (or empty) code and control id.
        if m.withheld & HL7Field.ackCode.bit != 0 { w.field("code_name", HL7AckCode.unknown.name) }
        if m.withheld & HL7Field.ackControlID.bit != 0, let l = latencyNanos { w.field("latency_ms", Double(l) / 1_000_000) }
        if m.errorCount > 0 {
            w.beginObject("error")
            values(errorFields, of: m, frame, into: &w) { w, f in
                let sev = m.errorSeverity.view(frame)
                if f == .errorSeverity, !sev.isEmpty { w.field("severity_name", HL7Names.severity(sev)) }
            }
            w.endObject()
            w.field("error_count", m.errorCount)
        }
    }

    static func hexDigit(_ d: UInt8) -> UInt8 { d < 10 ? 48 + d : 87 + d }
}

import SpanSightEngine
import SpanSightWire

/// The `hl7` event's objects. Only MSH, MSA, ERR and EVN fields are ever written (each cut
/// at `HL7Table.fieldCap` bytes), plus segment ids and keyed pseudonyms: nothing of PID, PV1,
/// OBX, NTE or any other segment's content. MSA-3 and ERR-7/8 (free text) are left out too.
enum HL7JSON {
    /// A text field, omitted when empty, cut at the field cap.
    static func text(_ w: inout JSONWriter, _ key: StaticString, _ v: ByteView) {
        guard !v.isEmpty else { return }
        w.field(key, bytes: v.prefix(min(v.count, HL7Table.fieldCap)))
    }

    static func direction(_ d: Direction) -> StaticString { d == .toServer ? "to_server" : "to_client" }

    /// The message side of an event, from its stored copy.
    static func write(stored s: StoredMessage, _ e: OpenMessage, into w: inout JSONWriter, scratch: inout [UInt8]) {
        w.field("direction", direction(e.direction))
        for f in StoredField.all where f != .eventType && f != .eventRecorded {
            text(&w, f.key, s.field(f))
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
            text(&w, StoredField.eventType.key, evType)
            text(&w, StoredField.eventRecorded.key, evTime)
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

    /// The `ack` object, from the live acknowledgment message.
    static func write(ack m: HL7Message, frame: ByteView, latencyNanos: Int64?, into w: inout JSONWriter) {
        let code = m.ackCode.view(frame)
        text(&w, "code", code)
        w.field("code_name", HL7AckCode(code).name)
        text(&w, "control_id", m.ackControlID.view(frame))
        if let l = latencyNanos { w.field("latency_ms", Double(l) / 1_000_000) }
        text(&w, "message_control_id", m.controlID.view(frame))
        text(&w, "message_type", m.messageType.view(frame))
        text(&w, "trigger_event", m.triggerEvent.view(frame))
        text(&w, "sending_application", m.sendingApplication.view(frame))
        text(&w, "sending_facility", m.sendingFacility.view(frame))
        text(&w, "version", m.version.view(frame))
        if m.errorCount > 0 {
            w.beginObject("error")
            text(&w, "code_and_location", m.errorCodeAndLocation.view(frame))
            text(&w, "location", m.errorLocation.view(frame))
            text(&w, "code", m.errorCode.view(frame))
            text(&w, "text", m.errorText.view(frame))
            text(&w, "coding_system", m.errorSystem.view(frame))
            let sev = m.errorSeverity.view(frame)
            if !sev.isEmpty {
                text(&w, "severity", sev)
                w.field("severity_name", HL7Names.severity(sev))
            }
            w.endObject()
            w.field("error_count", m.errorCount)
        }
    }

    static func hexDigit(_ d: UInt8) -> UInt8 { d < 10 ? 48 + d : 87 + d }
}

import SpanSightEngine
import SpanSightWire

/// Writes one side (`request` or `response`) of a transaction event. Variable parts are read
/// from `pdu` (live bytes for the PDU just received, the bounded copy for a stored request).
///
/// Layout: Suricata's EVE `modbus` message first, with its names, places and types (its
/// rust/src/modbus/log.rs over sawp-modbus's `Message`): `transaction_id`, `protocol_id`,
/// `unit_id`, `function_raw`, `function_code`, `access_type`, `category`, `error_flags`, then
/// the one of `exception`, `diagnostic`, `mei`, `read`/`write` or `data` its parser fills for
/// that function. Then ours, under keys Suricata does not use (docs/modbus.md lists which is whose).
enum ModbusJSON {
    /// Values listed per PDU at most; the rest is counted in `values_truncated`.
    static let maxValues = 64
    /// Raw bytes written as hex at most (the PDU is at most 253 bytes, so this never cuts).
    static let maxDataBytes = 253

    /// `bitLimit`: for a read-coils response, the quantity of its request (padding bits of the
    /// last byte are not coils). `pairFlaws`: flaws found against the request (a response's
    /// byte count), beside the PDU's own.
    static func write(_ p: ModbusPDU, pdu: ByteView, bitLimit: Int?, pairFlaws: ModbusFlaws = [],
                      into w: inout JSONWriter, scratch: inout [UInt8]) {
        w.field("transaction_id", Int(p.transactionID))
        w.field("protocol_id", Int(p.protocolID))
        w.field("unit_id", Int(p.unitID))
        w.field("function_raw", Int(p.function))
        if let described = SuricataModbusNames.describedFunction(p.function) {
            // The three members at once (the hot path: nearly every PDU is of such a code); its
            // leading comma is due, function_raw being a member already.
            w.raw(described)
        } else {
            w.field("function_code", SuricataModbusNames.functionCode(p.function))
            w.field("access_type", SuricataModbusNames.accessType(p.function))
            w.field("category", category(p))
        }
        let flags = errorFlags(p, pairFlaws)
        if flags == 0 { w.raw(#","error_flags":"NONE""#) } else { w.field("error_flags", SuricataModbusNames.errorFlags(flags)) }
        suricataData(p, pdu, &w, &scratch)

        // Ours.
        w.field("length", Int(p.length))
        w.field("function", ModbusNames.function(p.function))
        let f = p.fields
        if f.contains(.byteCount) { w.field("byte_count", p.byteCount) }
        if f.contains(.value) && p.function == 7 { w.field("output_data", Int(p.value)) }
        if f.contains(.address) && p.function == 24 { w.field("fifo_pointer_address", Int(p.address)) }
        if f.contains(.status) { w.field("status", Int(p.status)) }
        if f.contains(.eventCount) { w.field("event_count", Int(p.eventCount)) }
        if f.contains(.messageCount) { w.field("message_count", Int(p.messageCount)) }
        if f.contains(.fifoCount) { w.field("fifo_count", Int(p.fifoCount)) }
        if f.contains(.runIndicator) {
            w.field("run_indicator", Int(p.runIndicator))
            w.field("run_indicator_status", p.runIndicator == 0xFF ? "on" : p.runIndicator == 0 ? "off" : "invalid")
        }
        if f.contains(.deviceIDRequest) || f.contains(.deviceIDResponse) {
            w.field("read_device_id", Int(p.readDeviceID))
            w.field("read_device_id_name", ModbusNames.readDeviceID(p.readDeviceID))
        }
        if f.contains(.deviceIDRequest) { w.field("object_id", Int(p.objectID)) }
        if f.contains(.deviceIDResponse) {
            w.field("conformity_level", Int(p.conformityLevel))
            w.field("more_follows", p.moreFollows == 0xFF)
            w.field("more_follows_raw", Int(p.moreFollows))
            w.field("next_object_id", Int(p.nextObjectID))
            w.field("number_of_objects", Int(p.numObjects))
        }
        payload(p, ModbusDecoder.payloadView(pdu, p), bitLimit: bitLimit, &w, &scratch)
    }

    // MARK: Suricata's part

    /// The `Data` variant sawp-modbus fills for this PDU, as Suricata logs it. A PDU too short
    /// for its fixed fields (which sawp does not parse at all) gets none of them. Where
    /// Suricata writes bytes (`data`), we write their lower-case hex.
    static func suricataData(_ p: ModbusPDU, _ pdu: ByteView, _ w: inout JSONWriter, _ scratch: inout [UInt8]) {
        let f = p.fields
        if f.contains(.exception) {
            w.beginObject("exception")
            w.field("raw", Int(p.exceptionCode))
            w.field("code", SuricataModbusNames.exception(p.exceptionCode))
            w.field("name", ModbusNames.exception(p.exceptionCode))
            w.endObject()
            return
        }
        switch p.function {
        case 1, 2, 3, 4, 23:
            if p.isRequest {
                if f.contains(.readWrite) {
                    w.beginObject("read")
                    w.field("address", Int(p.readAddress))
                    w.field("quantity", Int(p.readQuantity))
                    w.endObject()
                    // Suricata's write.data here is the bytes (an integer elsewhere, so its
                    // schema types it integer): left out; `values` holds them decoded.
                    w.beginObject("write")
                    w.field("address", Int(p.writeAddress))
                    w.field("quantity", Int(p.writeQuantity))
                    w.endObject()
                } else if f.contains(.address) {
                    w.beginObject("read")
                    w.field("address", Int(p.address))
                    w.field("quantity", Int(p.quantity))
                    w.endObject()
                }
            } else if f.contains(.byteCount) {
                // Everything after the byte count, as sawp takes it (not cut at the count).
                w.beginObject("read")
                hex("data", pdu.suffix(from: 2), &w, &scratch)
                w.endObject()
            }
        case 5, 6:
            guard f.contains(.address) else { return }
            w.beginObject("write")
            w.field("address", Int(p.address))
            w.field("data", Int(p.value))
            w.endObject()
        case 15, 16:
            guard f.contains(.address) else { return }
            w.beginObject("write")
            w.field("address", Int(p.address))
            // A request's bytes would be Suricata's data (see FC 23); a response's data is
            // the quantity written.
            w.field(p.isRequest ? "quantity" : "data", Int(p.quantity))
            w.endObject()
        case 22:
            guard f.contains(.masks) else { return }
            w.beginObject("write")
            w.field("address", Int(p.address))
            w.field("and_mask", Int(p.andMask))
            w.field("or_mask", Int(p.orMask))
            w.endObject()
        case 8:
            guard f.contains(.subfunction) else { return }
            w.beginObject("diagnostic")
            w.field("raw", Int(p.subfunction))
            w.field("code", SuricataModbusNames.diagnostic(p.subfunction))
            hex("data", pdu.suffix(from: 3), &w, &scratch)
            w.field("name", ModbusNames.diagnostic(p.subfunction))
            w.endObject()
        case 43:
            guard f.contains(.mei) else { return }
            w.beginObject("mei")
            w.field("raw", Int(p.meiType))
            w.field("code", SuricataModbusNames.mei(p.meiType))
            hex("data", pdu.suffix(from: 2), &w, &scratch)
            w.field("name", ModbusNames.mei(p.meiType))
            w.endObject()
        default:
            // sawp's ByteVec: every byte after the function code (FC 7, 11, 12, 17, 20, 21,
            // 24, user-defined and unknown codes). Suricata writes "" when there are none; we
            // leave the key out.
            if pdu.count > 1 { hex("data", pdu.suffix(from: 1), &w, &scratch) }
        }
    }

    /// Suricata's `category` (sawp's `CodeCategory` of a message): a named function code is
    /// PUBLIC_ASSIGNED, except FC 8 and 43, which go by their sub-function and MEI type (and
    /// are NONE without one, e.g. as exceptions); other codes by their raw byte's range.
    static func category(_ p: ModbusPDU) -> StaticString {
        switch p.baseFunction {
        case 8:
            guard p.fields.contains(.subfunction) else { return "NONE" }
            return SuricataModbusNames.isAssignedDiagnostic(p.subfunction) ? "PUBLIC_ASSIGNED" : "RESERVED"
        case 43:
            guard p.fields.contains(.mei) else { return "NONE" }
            return p.meiType == 13 || p.meiType == 14 ? "PUBLIC_ASSIGNED" : "RESERVED"
        default:
            return SuricataModbusNames.isNamed(p.function) ? "PUBLIC_ASSIGNED" : SuricataModbusNames.unnamedCategory(p.function)
        }
    }

    /// Suricata's `error_flags` bits from the flaws the decoder found: DATA_VALUE (1) for a
    /// value out of the spec (quantity, coil value, an inner field), DATA_LENGTH (2) for a length
    /// or byte count that does not fit, EXC_CODE (4) for an exception code the function cannot
    /// return, as sawp checks it: Illegal Data Value from FC 8, Memory Parity Error from any
    /// function but FC 20/21. (sawp's third rule, Illegal Data Address from FC 7-14/17-21,
    /// compares the raw byte, which has 0x80 set in every exception, and so never fires.)
    static func errorFlags(_ p: ModbusPDU, _ pairFlaws: ModbusFlaws = []) -> UInt8 {
        var bits: UInt8 = 0
        let flaws = p.flaws.union(pairFlaws)
        if !flaws.isDisjoint(with: [.invalidQuantity, .invalidCoilValue, .malformed]) { bits |= 1 }
        if !flaws.isDisjoint(with: [.invalidLength, .invalidByteCount]) { bits |= 2 }
        if p.isException {
            let base = p.baseFunction
            if (p.exceptionCode == 3 && base == 8) || (p.exceptionCode == 8 && base != 20 && base != 21) { bits |= 4 }
        }
        return bits
    }

    // MARK: ours

    static func payload(_ p: ModbusPDU, _ b: ByteView, bitLimit: Int?, _ w: inout JSONWriter, _ scratch: inout [UInt8]) {
        switch p.payload {
        case .none:
            return
        case .coils:
            var n = p.valueCount
            if let limit = bitLimit { n = min(n, limit) }
            values(n, into: &w) { i in Int((b.u8(at: i >> 3) ?? 0) >> UInt8(i & 7) & 1) }
        case .registers:
            values(p.valueCount, into: &w) { i in Int(b.u16(at: 2 * i) ?? 0) }
        case .data:
            // Written by Suricata's part (data, diagnostic.data, mei.data); FC 12's events are
            // the tail of its data, named here.
            if p.function == 12 { hex("events", b, &w, &scratch) }
        case .serverID:
            w.field("server_id", bytes: b)
            hex("server_id_hex", b, &w, &scratch)
        case .deviceObjects:
            // Suricata has no such key; left out when empty (as Suricata leaves out what is not
            // there), never written as [].
            guard b.count > 0 else { return }
            w.beginArray("objects")
            ModbusDeviceObjects.walk(b, count: Int(p.numObjects)) { id, v, _ in
                w.beginObject()
                w.field("id", Int(id))
                w.field("name", ModbusNames.deviceObject(id))
                w.field("value", bytes: v)
                w.endObject()
            }
            w.endArray()
        case .fileRequests, .fileRecords, .fileResponses:
            w.beginArray("file_records")
            ModbusFiles.walk(b, p.payload) { r in
                w.beginObject()
                w.field("reference_type", Int(r.referenceType))
                if r.hasNumbers {
                    w.field("file_number", Int(r.fileNumber))
                    w.field("record_number", Int(r.recordNumber))
                    w.field("record_length", r.length)
                } else {
                    w.field("length", r.length)
                }
                if p.payload != .fileRequests { hex("data", r.data, &w, &scratch) }
                w.endObject()
            }
            w.endArray()
        }
    }

    static func values(_ n: Int, into w: inout JSONWriter, _ value: (Int) -> Int) {
        let shown = min(n, maxValues)
        w.beginArray("values")
        for i in 0..<max(0, shown) { w.value(value(i)) }
        w.endArray()
        if n > shown { w.field("values_truncated", n - shown) }
    }

    /// Lower-case hex of `b` as a string field, through a reused scratch buffer (sized once,
    /// to `2 * maxDataBytes`: filled in place, never appended to).
    static func hex(_ key: StaticString, _ b: ByteView, _ w: inout JSONWriter, _ scratch: inout [UInt8]) {
        w.key(key)
        w.hexString(b, limit: maxDataBytes)
    }

    @inline(__always)
    static func hexDigit(_ d: UInt8) -> UInt8 { d < 10 ? 48 + d : 87 + d }
}

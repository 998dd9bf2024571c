import SpanSightEngine
import SpanSightWire

/// Writes one side (`request` or `response`) of a transaction event. Variable parts are read
/// from `pdu` (live bytes for the PDU just received, the bounded copy for a stored request).
enum ModbusJSON {
    /// Values listed per PDU at most; the rest is counted in `values_truncated`.
    static let maxValues = 64
    /// Raw bytes written as hex at most (the PDU is at most 253 bytes, so this never cuts).
    static let maxDataBytes = 253

    /// `bitLimit`: for a read-coils response, the quantity of its request (padding bits of the
    /// last byte are not coils).
    static func write(_ p: ModbusPDU, pdu: ByteView, bitLimit: Int?, into w: inout JSONWriter, scratch: inout [UInt8]) {
        w.field("transaction_id", Int(p.transactionID))
        w.field("protocol_id", Int(p.protocolID))
        w.field("unit_id", Int(p.unitID))
        w.field("length", Int(p.length))
        w.field("function_raw", Int(p.function))
        w.field("function", ModbusNames.function(p.function))
        let f = p.fields
        if f.contains(.exception) {
            w.beginObject("exception")
            w.field("raw", Int(p.exceptionCode))
            w.field("code", ModbusNames.exception(p.exceptionCode))
            w.endObject()
        }
        if f.contains(.subfunction) {
            w.field("subfunction_raw", Int(p.subfunction))
            w.field("subfunction", ModbusNames.diagnostic(p.subfunction))
        }
        if f.contains(.mei) {
            w.field("mei_type", Int(p.meiType))
            w.field("mei", ModbusNames.mei(p.meiType))
        }
        if f.contains(.address) { w.field("address", Int(p.address)) }
        if f.contains(.quantity) { w.field("quantity", Int(p.quantity)) }
        if f.contains(.value) { w.field("value", Int(p.value)) }
        if f.contains(.masks) {
            w.field("and_mask", Int(p.andMask))
            w.field("or_mask", Int(p.orMask))
        }
        if f.contains(.readWrite) {
            w.field("read_address", Int(p.readAddress))
            w.field("read_quantity", Int(p.readQuantity))
            w.field("write_address", Int(p.writeAddress))
            w.field("write_quantity", Int(p.writeQuantity))
        }
        if f.contains(.byteCount) { w.field("byte_count", p.byteCount) }
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
            hex("data", b, &w, &scratch)
        case .serverID:
            w.field("server_id", bytes: b)
            hex("server_id_hex", b, &w, &scratch)
        case .deviceObjects:
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

    /// Lower-case hex of `b` as a string field, through a reused scratch buffer.
    static func hex(_ key: StaticString, _ b: ByteView, _ w: inout JSONWriter, _ scratch: inout [UInt8]) {
        scratch.removeAll(keepingCapacity: true)
        let n = min(b.count, maxDataBytes)
        for i in 0..<n {
            let v = b._u8(i)
            scratch.append(hexDigit(v >> 4))
            scratch.append(hexDigit(v & 0xF))
        }
        w.key(key)
        w.value(bytes: scratch)
    }

    @inline(__always)
    static func hexDigit(_ d: UInt8) -> UInt8 { d < 10 ? 48 + d : 87 + d }
}

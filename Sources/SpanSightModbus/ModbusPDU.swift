import SpanSightWire

/// Spec limits (Modbus Application Protocol V1.1b3, section 6).
enum ModbusLimits {
    static let readBits: ClosedRange<UInt16> = 1...2000          // FC 1, 2: 0x7D0
    static let readRegisters: ClosedRange<UInt16> = 1...125      // FC 3, 4, 23 read: 0x7D
    static let writeCoils: ClosedRange<UInt16> = 1...1968        // FC 15: 0x7B0
    static let writeRegisters: ClosedRange<UInt16> = 1...123     // FC 16: 0x7B
    static let readWriteWrite: ClosedRange<UInt16> = 1...121     // FC 23 write: 0x79
    static let fifoCount: ClosedRange<UInt16> = 0...31           // FC 24
}

/// Spec violations found while decoding one PDU (reported as `modbus.*` anomaly events; the
/// PDU is still logged).
struct ModbusFlaws: OptionSet {
    let rawValue: UInt8
    /// The MBAP length disagrees with what the function code and its counts imply.
    static let invalidLength = ModbusFlaws(rawValue: 1 << 0)
    static let invalidQuantity = ModbusFlaws(rawValue: 1 << 1)
    static let invalidByteCount = ModbusFlaws(rawValue: 1 << 2)
    static let invalidCoilValue = ModbusFlaws(rawValue: 1 << 3)
    /// Inner structure does not parse (object or file sub-request overruns, bad reference type,
    /// bad Read Device ID code).
    static let malformed = ModbusFlaws(rawValue: 1 << 4)
    static let invalidProtocolID = ModbusFlaws(rawValue: 1 << 5)
}

/// What the bytes named by `payloadStart`/`payloadCount` hold.
enum ModbusPayload: UInt8 {
    case none
    case coils
    case registers
    /// Raw bytes, logged as hex `data` (FC 8 data, FC 12 events, FC 43/13, unknown codes).
    case data
    case deviceObjects
    case serverID
    case fileRequests       // FC 20 request: sub-requests without data
    case fileRecords        // FC 21 request/response: sub-requests with data
    case fileResponses      // FC 20 response
}

/// One decoded PDU: the owned record of the two-level design. Only scalars; variable parts are
/// a range (`payloadStart`, `payloadCount`) of the PDU bytes, read again when the event is
/// written. Offsets count from the function code byte.
struct ModbusPDU {
    struct Fields: OptionSet {
        let rawValue: UInt32
        static let address = Fields(rawValue: 1 << 0)
        static let quantity = Fields(rawValue: 1 << 1)
        static let byteCount = Fields(rawValue: 1 << 2)
        static let value = Fields(rawValue: 1 << 3)
        static let masks = Fields(rawValue: 1 << 4)
        static let readWrite = Fields(rawValue: 1 << 5)
        static let subfunction = Fields(rawValue: 1 << 6)
        static let mei = Fields(rawValue: 1 << 7)
        static let deviceIDRequest = Fields(rawValue: 1 << 8)
        static let deviceIDResponse = Fields(rawValue: 1 << 9)
        static let status = Fields(rawValue: 1 << 10)
        static let eventCount = Fields(rawValue: 1 << 11)
        static let messageCount = Fields(rawValue: 1 << 12)
        static let fifoCount = Fields(rawValue: 1 << 13)
        static let runIndicator = Fields(rawValue: 1 << 14)
        static let exception = Fields(rawValue: 1 << 15)
    }

    var transactionID: UInt16
    var protocolID: UInt16
    var length: UInt16
    var unitID: UInt8
    var function: UInt8
    var isRequest: Bool
    var fields: Fields = []
    var flaws: ModbusFlaws = []

    var exceptionCode: UInt8 = 0
    var address: UInt16 = 0
    var quantity: UInt16 = 0
    var byteCount: Int = 0
    var value: UInt16 = 0
    var andMask: UInt16 = 0
    var orMask: UInt16 = 0
    var readAddress: UInt16 = 0
    var readQuantity: UInt16 = 0
    var writeAddress: UInt16 = 0
    var writeQuantity: UInt16 = 0
    var subfunction: UInt16 = 0
    var meiType: UInt8 = 0
    var readDeviceID: UInt8 = 0
    var objectID: UInt8 = 0
    var conformityLevel: UInt8 = 0
    var moreFollows: UInt8 = 0
    var nextObjectID: UInt8 = 0
    var numObjects: UInt8 = 0
    var status: UInt16 = 0
    var eventCount: UInt16 = 0
    var messageCount: UInt16 = 0
    var fifoCount: UInt16 = 0
    var runIndicator: UInt8 = 0

    var payload: ModbusPayload = .none
    var payloadStart = 0
    var payloadCount = 0
    /// Values in the payload (coils: bits, registers: words), before the output cap.
    var valueCount = 0

    var isException: Bool { fields.contains(.exception) }
    /// The function code without the exception bit.
    var baseFunction: UInt8 { function & 0x7F }
}

/// Decodes one ADU into a `ModbusPDU`. Never traps: every read is checked, and a short or
/// lying PDU only sets flaws.
enum ModbusDecoder {
    /// `adu` is one whole ADU as framed by its length field (at least 8 bytes).
    static func decode(_ adu: ByteView, isRequest: Bool) -> ModbusPDU? {
        guard let h = MBAPHeader(adu), let fc = adu.u8(at: MBAPHeader.Field.pdu) else { return nil }
        var p = ModbusPDU(transactionID: h.transactionID, protocolID: h.protocolID, length: h.length,
                          unitID: h.unitID, function: fc, isRequest: isRequest)
        if h.protocolID != 0 { p.flaws.insert(.invalidProtocolID) }
        let pdu = adu.suffix(from: MBAPHeader.Field.pdu)
        if isRequest { decodeRequest(pdu, &p) } else { decodeResponse(pdu, &p) }
        return p
    }

    // MARK: helpers

    /// The PDU must be exactly `n` bytes (function code included).
    static func expect(_ pdu: ByteView, _ n: Int, _ p: inout ModbusPDU) {
        if pdu.count != n { p.flaws.insert(.invalidLength) }
    }

    static func check(_ q: UInt16, _ range: ClosedRange<UInt16>, _ p: inout ModbusPDU) {
        if !range.contains(q) { p.flaws.insert(.invalidQuantity) }
    }

    static func setPayload(_ p: inout ModbusPDU, _ kind: ModbusPayload, _ pdu: ByteView, from start: Int, count: Int? = nil) {
        let avail = max(0, pdu.count - start)
        p.payload = kind
        p.payloadStart = min(start, pdu.count)
        p.payloadCount = min(avail, max(0, count ?? avail))
    }

    /// Address + 16-bit quantity or value at offsets 1 and 3.
    static func addressPair(_ pdu: ByteView, _ p: inout ModbusPDU, second: ModbusPDU.Fields) -> Bool {
        guard let a = pdu.u16(at: 1), let v = pdu.u16(at: 3) else { p.flaws.insert(.invalidLength); return false }
        p.address = a
        p.fields.insert(.address)
        if second == .quantity { p.quantity = v } else { p.value = v }
        p.fields.insert(second)
        return true
    }

    /// Byte count (8-bit) at `at` whose bytes must end the PDU exactly.
    static func byteCount(_ pdu: ByteView, at: Int, _ p: inout ModbusPDU) -> Int? {
        guard let bc = pdu.u8(at: at) else { p.flaws.insert(.invalidLength); return nil }
        p.byteCount = Int(bc)
        p.fields.insert(.byteCount)
        if pdu.count != at + 1 + Int(bc) { p.flaws.insert(.invalidLength) }
        return Int(bc)
    }

    static func coilValue(_ p: inout ModbusPDU) {
        if p.value != 0x0000 && p.value != 0xFF00 { p.flaws.insert(.invalidCoilValue) }
    }

    // MARK: requests

    static func decodeRequest(_ pdu: ByteView, _ p: inout ModbusPDU) {
        switch p.function {
        case 1, 2, 3, 4:
            if addressPair(pdu, &p, second: .quantity) {
                check(p.quantity, p.function <= 2 ? ModbusLimits.readBits : ModbusLimits.readRegisters, &p)
            }
            expect(pdu, 5, &p)
        case 5, 6:
            if addressPair(pdu, &p, second: .value), p.function == 5 { coilValue(&p) }
            expect(pdu, 5, &p)
        case 7, 11, 12, 17:
            expect(pdu, 1, &p)
        case 8:
            diagnostics(pdu, &p)
        case 15, 16:
            guard addressPair(pdu, &p, second: .quantity), let bc = byteCount(pdu, at: 5, &p) else { return }
            let coils = p.function == 15
            check(p.quantity, coils ? ModbusLimits.writeCoils : ModbusLimits.writeRegisters, &p)
            let implied = coils ? (Int(p.quantity) + 7) / 8 : 2 * Int(p.quantity)
            if bc != implied { p.flaws.insert(.invalidByteCount) }
            setPayload(&p, coils ? .coils : .registers, pdu, from: 6, count: bc)
            p.valueCount = coils ? min(Int(p.quantity), 8 * p.payloadCount) : min(Int(p.quantity), p.payloadCount / 2)
        case 20, 21:
            guard let bc = byteCount(pdu, at: 1, &p) else { return }
            if p.function == 20 && (bc < 7 || bc > 0xF5 || bc % 7 != 0) { p.flaws.insert(.invalidByteCount) }
            let kind: ModbusPayload = p.function == 20 ? .fileRequests : .fileRecords
            setPayload(&p, kind, pdu, from: 2, count: bc)
            if !ModbusFiles.walk(payloadView(pdu, p), kind, { _ in }) { p.flaws.insert(.malformed) }
        case 22:
            masks(pdu, &p)
        case 23:
            guard let ra = pdu.u16(at: 1), let rq = pdu.u16(at: 3), let wa = pdu.u16(at: 5), let wq = pdu.u16(at: 7) else {
                p.flaws.insert(.invalidLength); return
            }
            p.readAddress = ra; p.readQuantity = rq; p.writeAddress = wa; p.writeQuantity = wq
            p.fields.insert(.readWrite)
            if !ModbusLimits.readRegisters.contains(rq) || !ModbusLimits.readWriteWrite.contains(wq) { p.flaws.insert(.invalidQuantity) }
            guard let bc = byteCount(pdu, at: 9, &p) else { return }
            if bc != 2 * Int(wq) { p.flaws.insert(.invalidByteCount) }
            setPayload(&p, .registers, pdu, from: 10, count: bc)
            p.valueCount = min(Int(wq), p.payloadCount / 2)
        case 24:
            if let a = pdu.u16(at: 1) { p.address = a; p.fields.insert(.address) }
            expect(pdu, 3, &p)
        case 43:
            guard let mei = pdu.u8(at: 1) else { p.flaws.insert(.invalidLength); return }
            p.meiType = mei
            p.fields.insert(.mei)
            if mei == 14 {
                guard let code = pdu.u8(at: 2), let obj = pdu.u8(at: 3) else { p.flaws.insert(.invalidLength); return }
                p.readDeviceID = code; p.objectID = obj
                p.fields.insert(.deviceIDRequest)
                if code < 1 || code > 4 { p.flaws.insert(.malformed) }
                expect(pdu, 4, &p)
            } else {
                setPayload(&p, .data, pdu, from: 2)
            }
        default:
            setPayload(&p, .data, pdu, from: 1)
        }
    }

    // MARK: responses

    static func decodeResponse(_ pdu: ByteView, _ p: inout ModbusPDU) {
        if p.function & 0x80 != 0 {
            p.fields.insert(.exception)
            if let code = pdu.u8(at: 1) { p.exceptionCode = code }
            expect(pdu, 2, &p)
            return
        }
        switch p.function {
        case 1, 2, 3, 4, 23:
            guard let bc = byteCount(pdu, at: 1, &p) else { return }
            let coils = p.function <= 2
            setPayload(&p, coils ? .coils : .registers, pdu, from: 2, count: bc)
            if !coils && bc % 2 != 0 { p.flaws.insert(.invalidByteCount) }
            p.valueCount = coils ? 8 * p.payloadCount : p.payloadCount / 2
        case 5, 6:
            if addressPair(pdu, &p, second: .value), p.function == 5 { coilValue(&p) }
            expect(pdu, 5, &p)
        case 7:
            if let v = pdu.u8(at: 1) { p.value = UInt16(v); p.fields.insert(.value) }
            expect(pdu, 2, &p)
        case 8:
            diagnostics(pdu, &p)
        case 11:
            if let s = pdu.u16(at: 1), let c = pdu.u16(at: 3) {
                p.status = s; p.eventCount = c
                p.fields.formUnion([.status, .eventCount])
            }
            expect(pdu, 5, &p)
        case 12:
            guard let bc = byteCount(pdu, at: 1, &p) else { return }
            if let s = pdu.u16(at: 2), let e = pdu.u16(at: 4), let m = pdu.u16(at: 6) {
                p.status = s; p.eventCount = e; p.messageCount = m
                p.fields.formUnion([.status, .eventCount, .messageCount])
            }
            if bc < 6 { p.flaws.insert(.invalidByteCount) }
            setPayload(&p, .data, pdu, from: 8, count: bc - 6)
        case 15, 16:
            _ = addressPair(pdu, &p, second: .quantity)
            expect(pdu, 5, &p)
        case 17:
            guard let bc = byteCount(pdu, at: 1, &p) else { return }
            guard bc >= 1, let run = pdu.u8(at: 1 + bc) else { p.flaws.insert(.malformed); return }
            p.runIndicator = run
            p.fields.insert(.runIndicator)
            setPayload(&p, .serverID, pdu, from: 2, count: bc - 1)
        case 20, 21:
            guard let bc = byteCount(pdu, at: 1, &p) else { return }
            let kind: ModbusPayload = p.function == 20 ? .fileResponses : .fileRecords
            setPayload(&p, kind, pdu, from: 2, count: bc)
            if !ModbusFiles.walk(payloadView(pdu, p), kind, { _ in }) { p.flaws.insert(.malformed) }
        case 22:
            masks(pdu, &p)
        case 24:
            guard let bc = pdu.u16(at: 1), let n = pdu.u16(at: 3) else { p.flaws.insert(.invalidLength); return }
            p.byteCount = Int(bc); p.fifoCount = n
            p.fields.formUnion([.byteCount, .fifoCount])
            if pdu.count != 3 + Int(bc) { p.flaws.insert(.invalidLength) }
            if Int(bc) != 2 + 2 * Int(n) { p.flaws.insert(.invalidByteCount) }
            if !ModbusLimits.fifoCount.contains(n) { p.flaws.insert(.invalidQuantity) }
            setPayload(&p, .registers, pdu, from: 5, count: 2 * Int(n))
            p.valueCount = p.payloadCount / 2
        case 43:
            guard let mei = pdu.u8(at: 1) else { p.flaws.insert(.invalidLength); return }
            p.meiType = mei
            p.fields.insert(.mei)
            guard mei == 14 else { setPayload(&p, .data, pdu, from: 2); return }
            guard let code = pdu.u8(at: 2), let conf = pdu.u8(at: 3), let more = pdu.u8(at: 4),
                  let next = pdu.u8(at: 5), let num = pdu.u8(at: 6) else { p.flaws.insert(.invalidLength); return }
            p.readDeviceID = code; p.conformityLevel = conf; p.moreFollows = more
            p.nextObjectID = next; p.numObjects = num
            p.fields.insert(.deviceIDResponse)
            if more != 0x00 && more != 0xFF { p.flaws.insert(.malformed) }
            let objects = pdu.suffix(from: 7)
            var walked = 0
            let ok = ModbusDeviceObjects.walk(objects, count: Int(num)) { _, _, end in walked = end }
            if !ok { p.flaws.insert(.malformed) } else if walked != objects.count { p.flaws.insert(.invalidLength) }
            setPayload(&p, .deviceObjects, pdu, from: 7, count: walked)
        default:
            setPayload(&p, .data, pdu, from: 1)
        }
    }

    static func diagnostics(_ pdu: ByteView, _ p: inout ModbusPDU) {
        guard let sub = pdu.u16(at: 1) else { p.flaws.insert(.invalidLength); return }
        p.subfunction = sub
        p.fields.insert(.subfunction)
        setPayload(&p, .data, pdu, from: 3)
    }

    static func masks(_ pdu: ByteView, _ p: inout ModbusPDU) {
        if let a = pdu.u16(at: 1), let and = pdu.u16(at: 3), let or = pdu.u16(at: 5) {
            p.address = a; p.andMask = and; p.orMask = or
            p.fields.formUnion([.address, .masks])
        }
        expect(pdu, 7, &p)
    }

    /// The payload bytes of `p` inside its PDU (empty when none).
    static func payloadView(_ pdu: ByteView, _ p: ModbusPDU) -> ByteView {
        pdu.slice(p.payloadStart, p.payloadCount) ?? .empty
    }
}

/// Walks the objects of a Read Device Identification response (id, length, value).
enum ModbusDeviceObjects {
    /// Calls `body(id, value, endOffset)` per object; false when an object overruns the bytes.
    @discardableResult
    static func walk(_ b: ByteView, count: Int, _ body: (UInt8, ByteView, Int) -> Void) -> Bool {
        var off = 0
        for _ in 0..<count {
            guard let id = b.u8(at: off), let len = b.u8(at: off + 1), let v = b.slice(off + 2, Int(len)) else { return false }
            off += 2 + Int(len)
            body(id, v, off)
        }
        return true
    }
}

/// Walks FC 20/21 file sub-requests and sub-responses (spec 6.14, 6.15).
enum ModbusFiles {
    struct Record {
        var referenceType: UInt8
        var fileNumber: UInt16 = 0
        var recordNumber: UInt16 = 0
        /// Record length in registers (requests, FC 21) or response data length in bytes.
        var length: Int
        var data: ByteView = .empty
        var hasNumbers = true
    }

    /// Calls `body` per record; false when the bytes do not split into whole records or a
    /// reference type is not 6.
    @discardableResult
    static func walk(_ b: ByteView, _ kind: ModbusPayload, _ body: (Record) -> Void) -> Bool {
        var off = 0
        while off < b.count {
            switch kind {
            case .fileResponses:
                guard let len = b.u8(at: off), len >= 1, let ref = b.u8(at: off + 1),
                      let data = b.slice(off + 2, Int(len) - 1) else { return false }
                body(Record(referenceType: ref, length: Int(len), data: data, hasNumbers: false))
                off += 1 + Int(len)
                if ref != 6 { return false }
            default:
                guard let ref = b.u8(at: off), let file = b.u16(at: off + 1), let rec = b.u16(at: off + 3),
                      let len = b.u16(at: off + 5) else { return false }
                var r = Record(referenceType: ref, fileNumber: file, recordNumber: rec, length: Int(len))
                off += 7
                if kind == .fileRecords {
                    guard let data = b.slice(off, 2 * Int(len)) else { return false }
                    r.data = data
                    off += 2 * Int(len)
                }
                body(r)
                if ref != 6 { return false }
            }
        }
        return true
    }
}

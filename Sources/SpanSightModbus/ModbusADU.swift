import SpanSightEngine
import SpanSightWire

/// The MBAP header (Modbus Messaging on TCP/IP, 3.1.3): transaction id, protocol id, length
/// (counting the unit id and the PDU), unit id. A view over borrowed bytes; `init?` proves the
/// seven header bytes are there, after which every accessor is safe.
struct MBAPHeader {
    enum Field {
        static let transactionID = 0
        static let protocolID = 2
        static let length = 4
        static let unitID = 6
        /// First byte of the PDU (the function code).
        static let pdu = 7
    }

    static let size = 7
    /// Largest valid length field: unit id + the 253-byte maximum PDU.
    static let maxLength: UInt16 = 254
    /// Smallest valid length field: unit id + function code.
    static let minLength: UInt16 = 2
    /// Smallest ADU: header + function code.
    static let minADU = 8
    /// Largest ADU on the wire (6 header bytes before the length's coverage + 254).
    static let maxADU = 6 + Int(maxLength)

    let transactionID: UInt16
    let protocolID: UInt16
    let length: UInt16
    let unitID: UInt8

    init?(_ b: ByteView) {
        guard b.count >= MBAPHeader.size else { return nil }
        transactionID = b._u16(Field.transactionID)
        protocolID = b._u16(Field.protocolID)
        length = b._u16(Field.length)
        unitID = b._u8(Field.unitID)
    }

    var hasValidLength: Bool { length >= MBAPHeader.minLength && length <= MBAPHeader.maxLength }
    /// Bytes of the whole ADU as the length field declares it.
    var aduSize: Int { 6 + Int(length) }

    /// A function code that may start a Modbus PDU: a public or user-defined code, the exception
    /// form of a public code, or (`lenient`: on the Modbus port) function code 0; an exception
    /// ADU of exactly the exception size for any code (0x80 | fc: user-defined and vendor
    /// codes such as UMAS 0x5A answer with exceptions too) on the Modbus port and when
    /// resynchronising (`anyException`).
    static func isPlausibleFunction(_ fc: UInt8, length: UInt16, lenient: Bool, anyException: Bool = false) -> Bool {
        if fc & 0x80 != 0 { return ModbusNames.isPublic(fc & 0x7F) || ((lenient || anyException) && length == 3) }
        return fc >= 1 || lenient
    }

    /// Test used to find an ADU start in unknown bytes (probe and resynchronisation): protocol
    /// id 0, a valid length and a plausible function code. Needs 8 bytes.
    /// The first offset after 0 at which a header could start (its protocol id, bytes 2-3,
    /// is 0x0000), among those with a whole minimal ADU after them; past them, the offset that
    /// keeps the last `minADU - 1` bytes (they may begin a header the next bytes complete).
    static func nextCandidate(_ b: ByteView) -> Int {
        let last = b.count - minADU
        var p = b.firstIndex(of: 0, from: 3)
        while let z = p, z - 2 <= last {
            if b.u8(at: z + 1) == 0 { return z - 2 }
            p = b.firstIndex(of: 0, from: z + 1)
        }
        return max(1, last + 1)
    }

    static func isPlausibleStart(_ b: ByteView, lenient: Bool = false, anyException: Bool = false) -> Bool {
        guard let h = MBAPHeader(b), let fc = b.u8(at: Field.pdu) else { return false }
        return h.protocolID == 0 && h.hasValidLength
            && isPlausibleFunction(fc, length: h.length, lenient: lenient, anyException: anyException)
    }
}

extension Modbus {
    /// Probe: a plausible MBAP header at the start of a direction. Ports are only hints.
    /// When a whole ADU is visible and more bytes follow, the next header must be plausible too.
    /// On the Modbus port (502) function code 0 and exceptions of any code are accepted too
    /// (function-code sweeps start with code 0).
    /// Whether an ADU's length fits its function code, as a request or as a response
    /// (Modbus Application Protocol v1.1b3, section 6). Off the Modbus port this is what tells
    /// Modbus from look-alikes: a DICOM PDU under 255 bytes, for one, is a well-formed MBAP
    /// header with function code 1 and a length no read-coils PDU can have.
    static func lengthFitsFunction(_ b: ByteView, length: UInt16) -> Bool {
        guard let fc = b.u8(at: MBAPHeader.Field.pdu) else { return false }
        let pdu = Int(length) - 1
        func count8(_ at: Int) -> Int? { b.u8(at: at).map(Int.init) }
        if fc & 0x80 != 0 { return pdu == 2 }
        switch fc {
        case 1, 2, 3, 4: return pdu == 5 || count8(8).map { pdu == 2 + $0 } ?? true
        case 5, 6: return pdu == 5
        case 7: return pdu == 1 || pdu == 2
        case 8: return pdu >= 3
        case 11: return pdu == 1 || pdu == 5
        case 12: return pdu == 1 || pdu >= 8
        case 15, 16: return pdu == 5 || count8(13).map { pdu == 6 + $0 } ?? true
        case 17: return pdu == 1 || count8(8).map { pdu == 2 + $0 } ?? true
        case 20, 21: return count8(8).map { pdu == 2 + $0 } ?? true
        case 22: return pdu == 7
        case 23: return count8(17).map { pdu == 10 + $0 } ?? false || count8(8).map { pdu == 2 + $0 } ?? true
        case 24: return pdu == 3 || b.u16(at: 8).map { pdu == 3 + Int($0) } ?? true
        case 43: return pdu >= 2
        default: return true
        }
    }

    static func probe(_ b: ByteView, onModbusPort lenient: Bool) -> ProbeResult {
        if let pid = b.u16(at: MBAPHeader.Field.protocolID), pid != 0 { return refusal(b, onModbusPort: lenient) }
        if let len = b.u16(at: MBAPHeader.Field.length),
           len < MBAPHeader.minLength || len > MBAPHeader.maxLength { return refusal(b, onModbusPort: lenient) }
        guard b.count > MBAPHeader.size else { return .needMore }
        guard MBAPHeader.isPlausibleStart(b, lenient: lenient), let h = MBAPHeader(b) else { return .noMatch }
        if !lenient && !lengthFitsFunction(b, length: h.length) { return .noMatch }
        let next = b.suffix(from: h.aduSize)
        if next.count > MBAPHeader.size && !MBAPHeader.isPlausibleStart(next, lenient: lenient) { return .noMatch }
        return .match
    }

    /// The verdict on a header whose protocol id is not 0 or whose length is outside 2..254:
    /// `rejected` when every other field fits and the bytes resemble Modbus closely
    /// (docs/modbus.md, Recognition), else `noMatch` (or `needMore` while undecided).
    /// * Protocol id not 0 (`modbus.probe_rejected_protocol_id`): a valid length, a public
    ///   function code (or its exception) whose length fits it, or on the Modbus port an
    ///   exception reply (length 3) of any code, and the length is borne out: the bytes end
    ///   where the ADU does, or the next header has the same protocol id and fits too.
    /// * Length 0, 1 or over 254 with protocol id 0 (`modbus.probe_rejected_length`): on the
    ///   Modbus port only (nothing else bears such a header out), with a function code that
    ///   could start a PDU.
    static func refusal(_ b: ByteView, onModbusPort lenient: Bool) -> ProbeResult {
        guard let pid = b.u16(at: MBAPHeader.Field.protocolID) else { return .needMore }
        guard let len = b.u16(at: MBAPHeader.Field.length) else { return .needMore }
        let validLength = len >= MBAPHeader.minLength && len <= MBAPHeader.maxLength
        if pid == 0 {
            guard lenient, !validLength else { return .noMatch }
            guard let fc = b.u8(at: MBAPHeader.Field.pdu) else { return .needMore }
            guard MBAPHeader.isPlausibleFunction(fc, length: len, lenient: false) else { return .noMatch }
            return .rejected(ProbeRejection(Modbus.Anomalies.probeRejectedLength.name, field: "length", value: Int(len)))
        }
        // A public code (or its exception) whose length fits it; on the Modbus port also the
        // exception reply of any code, which servers send back to whatever they were sent.
        func fits(_ v: ByteView, _ length: UInt16) -> Bool? {
            guard let fc = v.u8(at: MBAPHeader.Field.pdu) else { return nil }
            return ModbusNames.isPublic(fc) && lengthFitsFunction(v, length: length) || lenient && fc & 0x80 != 0 && length == 3
        }
        guard validLength else { return .noMatch }
        guard let first = fits(b, len) else { return .needMore }
        guard first else { return .noMatch }
        let end = 6 + Int(len)
        let why = ProbeRejection(Modbus.Anomalies.probeRejectedProtocolId.name, field: "protocol_id", value: Int(pid))
        if b.count == end { return .rejected(why) }
        guard b.count >= end + MBAPHeader.minADU else { return .needMore }
        let next = b.suffix(from: end)
        guard let h = MBAPHeader(next), h.protocolID == pid, h.hasValidLength, fits(next, h.length) == true else { return .noMatch }
        return .rejected(why)
    }
}

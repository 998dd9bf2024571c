import SpanSightWire

/// The TPKT header (RFC 1006, section 6): version 3, a reserved byte, and the packet length,
/// header included. A view over borrowed bytes: `init?` proves the four header bytes are there.
struct TPKTHeader {
    enum Field {
        static let version = 0
        static let reserved = 1
        static let length = 2
        /// First byte of the TPDU (the COTP length indicator).
        static let tpdu = 4
    }

    static let size = 4
    static let version: UInt8 = 3
    /// The smallest packet: the header, a length indicator and the two other bytes of a class 0
    /// DT header (RFC 1006 gives 7 as the minimum).
    static let minLength = 7
    /// The length field is 16 bits: a TPKT holds at most 65,535 bytes, header included.
    static let maxLength = 65_535

    let version: UInt8
    let reserved: UInt8
    let length: Int

    init?(_ b: ByteView) {
        guard b.count >= TPKTHeader.size else { return nil }
        version = b.u8(at: Field.version) ?? 0
        reserved = b.u8(at: Field.reserved) ?? 0
        length = Int(b.u16(at: Field.length) ?? 0)
    }

    var hasValidLength: Bool { length >= TPKTHeader.minLength }

    /// A plausible packet start for resynchronisation and the probe: version 3, reserved 0, a
    /// valid length and a COTP header that fits it (length indicator within the packet, a
    /// TPDU type that exists). Needs 6 bytes.
    static func isPlausibleStart(_ b: ByteView) -> Bool {
        guard let h = TPKTHeader(b), h.version == version, h.reserved == 0, h.hasValidLength,
              let li = b.u8(at: Field.tpdu), let type = b.u8(at: Field.tpdu + 1) else { return false }
        return li >= 2 && li != 0xFF && Int(li) + 1 <= h.length - size && COTP.isKnownType(type)
    }
}

/// COTP, the ISO 8073 / X.224 transport protocol in class 0 as RFC 1006 carries it: a length
/// indicator (the header's size after itself), the TPDU type, then the type's fixed part and
/// variable parameters.
enum COTP {
    enum Field {
        static let lengthIndicator = 0
        static let type = 1
        static let destinationReference = 2
        static let sourceReference = 4
        /// CR/CC: class and options; DR: the reason; ER: the reject cause (at 4).
        static let classOption = 6
        static let reason = 6
        static let rejectCause = 4
        /// CR/CC/DR: the first variable parameter.
        static let connectParameters = 7
        /// DT of class 0/1 (length indicator 2): the EOT bit and TPDU number.
        static let dataNumber = 2
        /// DT of classes 2-4, normal format (length indicator 4): after the destination reference.
        static let dataNumberWithReference = 4
    }

    static let cr: UInt8 = 0xE0
    static let cc: UInt8 = 0xD0
    static let dr: UInt8 = 0x80
    static let dc: UInt8 = 0xC0
    static let dt: UInt8 = 0xF0
    static let ed: UInt8 = 0x10
    static let ak: UInt8 = 0x60
    static let ea: UInt8 = 0x20
    static let rj: UInt8 = 0x50
    static let er: UInt8 = 0x70

    /// Parameter codes of CR, CC and DR TPDUs (ISO 8073, 13.3.4).
    static let tpduSizeParameter: UInt8 = 0xC0
    static let callingTSAPParameter: UInt8 = 0xC1
    static let calledTSAPParameter: UInt8 = 0xC2
    static let preferredTPDUSizeParameter: UInt8 = 0xF0

    /// The type code of a type byte (the high nibble; the low one is a credit or the ROA bit).
    static func code(_ type: UInt8) -> UInt8 { type & 0xF0 }

    static func isKnownType(_ type: UInt8) -> Bool {
        switch code(type) {
        case cr, cc, dr, dc, dt, ed, ak, ea, rj, er: true
        default: false
        }
    }

    /// The smallest length indicator a TPDU of this type can have (its fixed part).
    static func minLengthIndicator(_ type: UInt8) -> Int {
        switch code(type) {
        case cr, cc, dr: 6
        case dc: 5
        case dt: 2
        default: 4
        }
    }

    /// The TPDU size of a 0xC0 parameter value: 2^code octets for codes 7 (128) to 13 (8192).
    static func tpduSize(code c: UInt8) -> Int? { (7...13).contains(c) ? 1 << Int(c) : nil }
}

/// Why a COTP header does not parse.
enum COTPFlaw: UInt8 {
    case none
    /// Length indicator 0 or 255 (reserved), or below the type's fixed part.
    case lengthIndicator
    /// The header runs past the TPKT.
    case headerOverrun
    /// A TPDU type ISO 8073 does not define.
    case unknownType
    /// A variable parameter runs past the header.
    case parameterOverrun
    /// A TPDU size parameter of the wrong length or a value outside 7..13.
    case invalidTPDUSize

    var name: StaticString {
        switch self {
        case .none: "none"
        case .lengthIndicator: "length_indicator"
        case .headerOverrun: "header_overrun"
        case .unknownType: "unknown_type"
        case .parameterOverrun: "parameter_overrun"
        case .invalidTPDUSize: "invalid_tpdu_size"
        }
    }
}

/// A checked COTP header over one TPDU (the TPKT payload): `parse` proves the length
/// indicator, the fixed part and, for CR/CC/DR, every variable parameter lie within the bytes.
struct COTPHeader {
    let bytes: ByteView
    let lengthIndicator: Int
    let type: UInt8

    /// The TPDU type code (high nibble).
    var code: UInt8 { COTP.code(type) }
    /// Header bytes, the length indicator included.
    var headerSize: Int { lengthIndicator + 1 }
    var userData: ByteView { bytes.suffix(from: headerSize) }

    /// DT: the last TPDU of a TSDU (the EOT bit).
    var endOfTSDU: Bool {
        let at = lengthIndicator >= 4 ? COTP.Field.dataNumberWithReference : COTP.Field.dataNumber
        return ((bytes.u8(at: at) ?? 0) & 0x80) != 0
    }

    /// The header with its length indicator, type and fixed part checked, its variable part not
    /// (the probe looks at connect requests whose variable part is not parameters).
    static func lenient(_ tpdu: ByteView) -> COTPHeader? { parse(tpdu, checkingParameters: false).0 }

    static func parse(_ tpdu: ByteView, checkingParameters: Bool = true) -> (COTPHeader?, COTPFlaw) {
        guard let li8 = tpdu.u8(at: COTP.Field.lengthIndicator), let type = tpdu.u8(at: COTP.Field.type) else {
            return (nil, .headerOverrun)
        }
        let li = Int(li8)
        guard COTP.isKnownType(type) else { return (nil, .unknownType) }
        guard li != 0, li != 0xFF, li >= COTP.minLengthIndicator(type) else { return (nil, .lengthIndicator) }
        guard li + 1 <= tpdu.count else { return (nil, .headerOverrun) }
        let h = COTPHeader(bytes: tpdu, lengthIndicator: li, type: type)
        if checkingParameters && (h.code == COTP.cr || h.code == COTP.cc || h.code == COTP.dr) {
            var flaw = COTPFlaw.none
            h.walkParameters { code, value in
                if code == COTP.tpduSizeParameter && (value.count != 1 || COTP.tpduSize(code: value.u8(at: 0) ?? 0) == nil) {
                    flaw = .invalidTPDUSize
                }
            } overrun: { flaw = .parameterOverrun }
            if flaw != .none { return (nil, flaw) }
        }
        return (h, .none)
    }

    /// Calls `body` with each variable parameter of a CR, CC or DR (code, value), in order;
    /// `overrun` when one runs past the header.
    func walkParameters(_ body: (UInt8, ByteView) -> Void, overrun: () -> Void = {}) {
        var at = COTP.Field.connectParameters
        while at < headerSize {
            guard at + 2 <= headerSize, let code = bytes.u8(at: at), let n8 = bytes.u8(at: at + 1) else { overrun(); return }
            let n = Int(n8)
            guard at + 2 + n <= headerSize, let value = bytes.slice(at + 2, n) else { overrun(); return }
            body(code, value)
            at += 2 + n
        }
    }

    /// The value of a parameter (the first of that code), if present.
    func parameter(_ code: UInt8) -> ByteView? {
        var found: ByteView?
        walkParameters { c, v in if c == code && found == nil { found = v } }
        return found
    }

    var destinationReference: UInt16 { bytes.u16(at: COTP.Field.destinationReference) ?? 0 }
    var sourceReference: UInt16 { bytes.u16(at: COTP.Field.sourceReference) ?? 0 }
}

/// What a COTP connection request or confirm negotiates, as a record of scalars (the open
/// connect request keeps it; its TSAPs are read again from the stored header bytes).
struct COTPConnect {
    var type: UInt8 = 0
    var destinationReference: UInt16 = 0
    var sourceReference: UInt16 = 0
    var classOption: UInt8 = 0
    /// TPDU size in octets (0: no parameter).
    var tpduSize: Int32 = 0
    var hasCallingTSAP = false
    var hasCalledTSAP = false

    init(_ h: COTPHeader) {
        type = h.type
        destinationReference = h.destinationReference
        sourceReference = h.sourceReference
        classOption = h.bytes.u8(at: COTP.Field.classOption) ?? 0
        h.walkParameters { code, value in
            switch code {
            case COTP.tpduSizeParameter: tpduSize = Int32(COTP.tpduSize(code: value.u8(at: 0) ?? 0) ?? 0)
            case COTP.callingTSAPParameter: hasCallingTSAP = true
            case COTP.calledTSAPParameter: hasCalledTSAP = true
            default: break
            }
        }
    }
}

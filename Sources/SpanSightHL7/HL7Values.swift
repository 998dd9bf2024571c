import SpanSightWire

/// The fields an `hl7` event (and its anomalies and observations) may carry, as bits of
/// `HL7Message.withheld`. Each is written only when its value passes its check
/// (`HL7Check`): an HL7 table, or the shape of its HL7 data type. Whatever fails is withheld:
/// its length is written instead (`withheld` objects) and the message gets an anomaly.
enum HL7Field: Int, CaseIterable {
    case sendingApplication, sendingFacility, receivingApplication, receivingFacility, dateTime
    case messageType, triggerEvent, structure, controlID, processingID, version, characterSet
    case ackCode, ackControlID
    case errorCodeAndLocation, errorLocation, errorCode, errorText, errorSystem, errorSeverity
    case eventType, eventRecorded

    /// Every field in order, built once (`allCases` makes a new array at each use).
    static let all: [HL7Field] = allCases

    @inline(__always) var bit: UInt32 { 1 << UInt32(rawValue) }

    /// Where the field is (for anomalies): segment and field number.
    var position: StaticString {
        switch self {
        case .sendingApplication: "MSH-3"
        case .sendingFacility: "MSH-4"
        case .receivingApplication: "MSH-5"
        case .receivingFacility: "MSH-6"
        case .dateTime: "MSH-7"
        case .messageType: "MSH-9.1"
        case .triggerEvent: "MSH-9.2"
        case .structure: "MSH-9.3"
        case .controlID: "MSH-10"
        case .processingID: "MSH-11"
        case .version: "MSH-12"
        case .characterSet: "MSH-18"
        case .ackCode: "MSA-1"
        case .ackControlID: "MSA-2"
        case .errorCodeAndLocation: "ERR-1"
        case .errorLocation: "ERR-2"
        case .errorCode: "ERR-3.1"
        case .errorText: "ERR-3.2"
        case .errorSystem: "ERR-3.3"
        case .errorSeverity: "ERR-4"
        case .eventType: "EVN-1"
        case .eventRecorded: "EVN-2"
        }
    }

    /// The fields an event writes from a segment.
    static func of(_ segment: UInt32) -> UInt32 {
        switch segment {
        case HL7Segment.MSH: 0x0FFF
        case HL7Segment.MSA: HL7Field.ackCode.bit | HL7Field.ackControlID.bit
        case HL7Segment.ERR: 0x3F << UInt32(HL7Field.errorCodeAndLocation.rawValue)
        case HL7Segment.EVN: HL7Field.eventType.bit | HL7Field.eventRecorded.bit
        default: 0
        }
    }

    /// The fields an event writes from field `n` of a segment (0 when it writes none).
    static func mask(_ segment: UInt32, _ n: Int) -> UInt32 {
        switch segment {
        case HL7Segment.MSH:
            switch n {
            case 3: return HL7Field.sendingApplication.bit
            case 4: return HL7Field.sendingFacility.bit
            case 5: return HL7Field.receivingApplication.bit
            case 6: return HL7Field.receivingFacility.bit
            case 7: return HL7Field.dateTime.bit
            case 9: return HL7Field.messageType.bit | HL7Field.triggerEvent.bit | HL7Field.structure.bit
            case 10: return HL7Field.controlID.bit
            case 11: return HL7Field.processingID.bit
            case 12: return HL7Field.version.bit
            case 18: return HL7Field.characterSet.bit
            default: return 0
            }
        case HL7Segment.MSA:
            return n == 1 ? HL7Field.ackCode.bit : n == 2 ? HL7Field.ackControlID.bit : 0
        case HL7Segment.ERR:
            switch n {
            case 1: return HL7Field.errorCodeAndLocation.bit
            case 2: return HL7Field.errorLocation.bit
            case 3: return HL7Field.errorCode.bit | HL7Field.errorText.bit | HL7Field.errorSystem.bit
            case 4: return HL7Field.errorSeverity.bit
            default: return 0
            }
        case HL7Segment.EVN:
            return n == 1 ? HL7Field.eventType.bit : n == 2 ? HL7Field.eventRecorded.bit : 0
        default:
            return 0
        }
    }

    /// The fields an event writes from field `n` of a segment on (what a run into another
    /// segment spoils).
    static func from(_ segment: UInt32, field n: Int) -> UInt32 {
        var m: UInt32 = 0
        for k in n...18 { m |= mask(segment, k) }
        return m
    }
}

/// Segment ids the `segments` list may name: those of HL7 v2.1 to v2.9 (chapter 2 and the
/// segment definitions of the other chapters; Wireshark's v2.6 appendix A list plus the
/// retired and later ones) and local Z-segments. Any other id, even of the right shape, is
/// counted but never written (a raw CR inside a name makes letters of it look like one).
enum HL7SegmentIDs {
    static let names: StaticString = """
        ABS ACC ADD ADJ AFF AIG AIL AIP AIS AL1 APR ARQ ARV AUT BHS BLC BLG BPO BPX BTS BTX BUI \
        CDM CER CM0 CM1 CM2 CNS CON CSP CSR CSS CTD CTI CTR DB1 DEV DG1 DMI DON DRG DSC DSP \
        ECD ECR EDU EQL EQP EQU ERQ ERR EVN FAC FHS FT1 FTS GOL GP1 GP2 GT1 IAM IAR IIM ILT IN1 \
        IN2 IN3 INV IPC IPR ISD ITM IVC IVT LAN LCC LCH LDP LOC LRL MFA MFE MFI MRG MSA MSH NCK \
        NDS NK1 NPU NSC NST NTE OBR OBX ODS ODT OH1 OH2 OH3 OH4 OM1 OM2 OM3 OM4 OM5 OM6 OM7 ORC \
        ORG ORO OVR PAC PCE PCR PD1 PDA PDC PEO PES PID PKG PMT PR1 PRA PRB PRC PRD PRT PSG PSH \
        PSL PSS PTH PV1 PV2 PYE QAK QID QPD QRD QRF QRI RCP RDF RDT REL RF1 RFI RGS RMI ROL RQ1 \
        RQD RX1 RXA RXC RXD RXE RXG RXO RXR RXV SAC SCD SCH SCP SDD SFT SGH SGT SHP SID SLT SPM \
        SPR STF STZ TCC TCD TQ1 TQ2 TXA UAC UB1 UB2 URD URS VAR VND VTQ
        """

    /// One bit per id of the shape `[A-Z][A-Z0-9]{2}` (26 x 36 x 36 bits, `index`): the ids of
    /// `names`. A literal, so that it is static data (no lazy initialisation to check at each
    /// look-up); `HL7PHITests.testSegmentList` proves it equal to `names`. Made by:
    /// `python3 -c` over `names` with `k = (a-65)*1296 + v(b)*36 + v(c)`, `bits[k>>6] |= 1<<(k&63)`.
    static let known: [UInt64] = [
        0, 0, 0, 0, 0, 0,
        0x1000010000000000, 0x0000008200000000, 0x0000080000000000, 0, 0x0000001221000000, 0x0020000000000000,
        0, 0, 0x0000000080000000, 0x0000084000000000, 0, 0x0000000000200000,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0x0000000000010000, 0, 0x0000000000110000, 0, 0x0020100000000000, 0,
        0, 0x0000000004000021, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0x0008000000000400, 0, 0, 0, 0x0700000000000000, 0x0100000000000000,
        0x0000000000800000, 0, 0x00001A0000000000, 0x0000000000008042, 0, 0,
        0, 0, 0, 0, 0, 0,
        0x2000000000000000, 0, 0, 0x0002000000000080, 0, 0,
        0, 0x0000000004000000, 0x0000008000000000, 0, 0x0200100000001000, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0x2000000000000000, 0x0004000000000800, 0,
        0, 0, 0, 0, 0, 0x2000000000000000,
        0x000000C000000042, 0, 0x0008000000000000, 0, 0, 0,
        0, 0, 0, 0, 0, 0x0000000000000010,
        0, 0, 0, 0x0000000000010000, 0, 0,
        0, 0, 0, 0x0000002000000000, 0x0000000000000001, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0x0000006000200000, 0, 0x0020000000000000,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0x4000000000000000,
        0x0000000000000008, 0, 0, 0, 0x0000000040000000, 0,
        0xE000000000020000, 0x0000000008000000, 0x0000000080010000, 0x2000000000000000, 0x0000040000000000, 0x0200010000000000,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0x0000800000000000, 0x0002100000000000, 0x0000000020000000, 0, 0, 0,
        0, 0, 0x0000000010000000, 0, 0x0000000000020000, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0x0000444000000000,
        0, 0, 0, 0, 0, 0,
        0x0400000010000000, 0x0000000000000002, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0x0000000000100000, 0x0000000000000001, 0, 0, 0x0000000200000000, 0,
        0, 0x0004000000000000, 0, 0x0004000020001000, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0x0000000000002080, 0x0000000000030000, 0, 0x00000000000001E0,
        0, 0xFE00000000000000, 0, 0, 0x1100000000000000, 0x0000000000000010,
        0, 0x0000000000800000, 0, 0, 0, 0,
        0, 0, 0, 0x0000001000000000, 0x0800400000000000, 0x0000000000014020,
        0x0000000000000011, 0, 0x0000000000000020, 0x0000000000010000, 0x0000002000000000, 0,
        0x2000000000000000, 0x10230000020003C0, 0x0000000000200000, 0x0000000000006000, 0, 0x0000000000000040,
        0, 0, 0, 0, 0, 0x1000000000000000,
        0, 0, 0, 0, 0x0000000000200000, 0,
        0, 0, 0x0000000000020000, 0x000000004A000000, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0x0008000002000000, 0x4000200020000002, 0x0000100000000000,
        0, 0, 0x0400000000000000, 0, 0x0200000000000020, 0x0000000000000020,
        0, 0, 0x4020000000000000, 0x0000000000089017, 0, 0,
        0, 0, 0, 0, 0x0000000000100000, 0x0000020220000000,
        0x0000000000000002, 0x2002000002000000, 0x0020000020000000, 0, 0x0002000000000000, 0,
        0x8400000000000000, 0, 0, 0x0000000000800008, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0x0000300000000000, 0, 0, 0, 0,
        0, 0, 0, 0x0000000006000000, 0, 0,
        0, 0x0000000040000000, 0, 0, 0, 0,
        0, 0, 0x0010000000000000, 0x0000000000006000, 0, 0,
        0, 0, 0, 0, 0, 0,
        0x0000010002000000, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0x0000000000080000,
        0, 0, 0, 0, 0, 0,
        0x0000000002000000, 0, 0, 0x4000000000000000, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0,
    ]

    /// Bit index of an id already known to have the shape `[A-Z][A-Z0-9]{2}`.
    @inline(__always)
    static func index(_ id: UInt32) -> Int {
        func v(_ x: UInt32) -> Int { x <= 0x39 ? Int(x) - 0x30 : Int(x) - 0x41 + 10 }
        return (Int(id >> 16) - 0x41) * 1296 + v(id >> 8 & 0xFF) * 36 + v(id & 0xFF)
    }

    /// A standard segment id (not a Z-segment), for an id of the right shape.
    @inline(__always)
    static func isKnown(_ id: UInt32) -> Bool {
        let k = index(id)
        return known[k &>> 6] &>> UInt64(k & 63) & 1 != 0
    }

    /// An id the `segments` list may name: standard, or local (Z).
    @inline(__always)
    static func isListed(_ id: UInt32) -> Bool { id >> 16 == 0x5A || isKnown(id) }
}

/// A set of ASCII bytes, one bit each (membership is two shifts, no table in memory).
struct HL7CharSet {
    var low: UInt64
    var high: UInt64

    /// Identifier characters: letters, digits and `# + - . / : @ _ { }` (no space, no escape
    /// sequence, nothing outside ASCII).
    @inline(__always) static var identifier: HL7CharSet { HL7CharSet(low: 0x07FF_E808_0000_0000, high: 0x2FFF_FFFE_87FF_FFFF) }

    @inline(__always)
    func contains(_ b: UInt8) -> Bool {
        b < 64 ? low >> UInt64(b) & 1 != 0 : b < 128 && high >> UInt64(b &- 64) & 1 != 0
    }

    /// Takes out a delimiter (`HL7Separators.none` and other values past ASCII change nothing).
    @inline(__always)
    mutating func remove(_ c: UInt16) {
        if c < 64 { low &= ~(1 << UInt64(c)) } else if c < 128 { high &= ~(1 << UInt64(c - 64)) }
    }
}

/// The checks of the values an event may write. Each takes the value's bytes (a view into the
/// frame) and the message's delimiters, reads them once, and allocates nothing.
enum HL7Check {
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }
    @inline(__always) static func isUpper(_ b: UInt8) -> Bool { b &- 0x41 < 26 }

    /// 1 to `max` identifier characters that are none of the message's delimiters
    /// (`HL7Separators.identifierChars`): ST identifiers, MSH-10 and MSA-2 control ids.
    @inline(__always)
    static func token(_ v: ByteView, max: Int, _ sep: HL7Separators) -> Bool {
        guard v.count > 0, v.count <= max else { return false }
        let ids = sep.identifierChars
        for i in 0..<v.count where !ids.contains(v._u8(i)) { return false }
        return true
    }

    /// Control ids (MSH-10, MSA-2): ST, at most 64 identifier characters (v2.5 allows 20,
    /// v2.7 199; real ones are counters, timestamps and UUIDs).
    @inline(__always)
    static func controlID(_ v: ByteView, _ sep: HL7Separators) -> Bool { token(v, max: 64, sep) }

    /// A three-character table code (`[A-Z][A-Z0-9]{2}`): message type (table 0076), trigger
    /// event (table 0003), including local Z codes.
    @inline(__always)
    static func code(_ v: ByteView) -> Bool {
        v.count == 3 && isUpper(v._u8(0)) && (isUpper(v._u8(1)) || isDigit(v._u8(1))) && (isUpper(v._u8(2)) || isDigit(v._u8(2)))
    }

    /// Message structure (table 0354): `ACK` or `ADT_A01` (a code, `_`, three letters or digits).
    @inline(__always)
    static func structure(_ v: ByteView) -> Bool {
        if v.count == 3 { return code(v) }
        guard v.count == 7, code(v._slice(0, 3)), v._u8(3) == 0x5F else { return false }
        for i in 4..<7 where !(isUpper(v._u8(i)) || isDigit(v._u8(i))) { return false }
        return true
    }

    /// DTM (and TS.1): `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`, with months, days,
    /// hours, minutes and seconds in range.
    @inline(__always)
    static func dateTime(_ v: ByteView) -> Bool {
        let count = v.count
        var n = 0
        if count >= 8 && count <= 14 && count & 1 == 0 && eightDigits(v._u64(0)) && eightDigits(v._u64(count &- 8)) {
            n = count    // all digits (nearly every value: 8, 12 or 14 of them)
        } else {
            while n < count, isDigit(v._u8(n)) { n &+= 1 }
        }
        guard n >= 4, n <= 14, n & 1 == 0 else { return false }
        @inline(__always) func two(_ i: Int) -> UInt8 { (v._u8(i) &- 0x30) &* 10 &+ (v._u8(i &+ 1) &- 0x30) }
        if n >= 6, two(4) &- 1 >= 12 { return false }     // month 1...12
        if n >= 8, two(6) &- 1 >= 31 { return false }     // day 1...31
        if n >= 10, two(8) > 23 { return false }
        if n >= 12, two(10) > 59 { return false }
        if n >= 14, two(12) > 60 { return false }         // a leap second
        if n == count { return true }
        var i = n
        if v._u8(i) == 0x2E {
            guard n == 14 else { return false }
            i &+= 1
            let digits = i
            while i < count, isDigit(v._u8(i)) { i &+= 1 }
            guard i > digits, i &- digits <= 4 else { return false }
            if i == count { return true }
        }
        guard v._u8(i) == 0x2B || v._u8(i) == 0x2D, count == i &+ 5 else { return false }
        for k in (i &+ 1)..<count where !isDigit(v._u8(k)) { return false }
        return two(i &+ 1) <= 14 && two(i &+ 3) <= 59
    }

    /// Whether eight bytes (loaded as one word) are all ASCII digits: each has the high nibble
    /// 3, and adding 6 leaves it there (no carry crosses a byte: at most 0x3F + 6).
    @inline(__always)
    static func eightDigits(_ x: UInt64) -> Bool {
        x & 0xF0F0_F0F0_F0F0_F0F0 == 0x3030_3030_3030_3030 && (x &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0 == 0x3030_3030_3030_3030
    }

    /// Version id (table 0104: 2.1 ... 2.3.1 ... 2.9): a digit, then one or two groups of
    /// one or two digits, each after a dot.
    @inline(__always)
    static func version(_ v: ByteView) -> Bool {
        guard v.count >= 3, v.count <= 8, isDigit(v._u8(0)), v._u8(1) == 0x2E else { return false }
        var groups = 0, digits = 0
        for i in 2..<v.count {
            let b = v._u8(i)
            if isDigit(b) {
                digits += 1
                if digits > 2 { return false }
            } else if b == 0x2E && digits > 0 {
                groups += 1
                digits = 0
            } else {
                return false
            }
        }
        return digits > 0 && groups <= 1
    }

    /// Processing id (table 0103): D debugging, P production, T training.
    @inline(__always)
    static func processingID(_ v: ByteView) -> Bool {
        v.count == 1 && (v._u8(0) == 0x44 || v._u8(0) == 0x50 || v._u8(0) == 0x54)
    }

    /// Table 0211, alternate character sets (v2.3 to v2.9).
    static let characterSets: [StaticString] = [
        "ASCII", "8859/1", "8859/2", "8859/3", "8859/4", "8859/5", "8859/6", "8859/7", "8859/8", "8859/9",
        "8859/15", "ISO IR6", "ISO IR14", "ISO IR87", "ISO IR159", "GB 18030-2000", "KS X 1001",
        "CNS 11643-1992", "BIG-5", "UNICODE", "UNICODE UTF-8", "UNICODE UTF-16", "UNICODE UTF-32",
        "JAS2020", "JIS X 0202",
    ]

    static func characterSet(_ v: ByteView) -> Bool {
        guard v.count >= 5, v.count <= 14 else { return false }
        for s in characterSets where equals(v, s) { return true }
        return false
    }

    /// Table 0301, universal id types (HD.3).
    static let universalIDTypes: [StaticString] = [
        "CLIA", "CLIP", "DNS", "EUI64", "GUID", "HCD", "HL7", "ISO", "L", "M", "N", "Random", "URI", "UUID", "x400", "x500",
    ]

    /// HD (MSH-3..6): namespace id, universal id, universal id type; at most three components
    /// of identifier characters (namespace id at most 64, universal id at most 199), a
    /// universal id only with its type from table 0301 and the other way round (so a name
    /// given as `FAMILY^GIVEN` is no HD). One pass over the bytes.
    static func hd(_ v: ByteView, _ sep: HL7Separators) -> Bool {
        let ids = sep.identifierChars
        let cs = sep.component
        var comp = 0, start = 0, universal = 0
        var i = 0
        while i < v.count {
            let b = v._u8(i)
            if UInt16(b) == cs {
                if comp == 0 && i > 64 { return false }
                if comp == 1 { universal = i &- start }
                comp &+= 1
                guard comp <= 2 else { return false }
                start = i &+ 1
            } else if !ids.contains(b) {
                return false
            }
            i &+= 1
        }
        switch comp {
        case 0: return v.count <= 64
        case 1: return v.count &- start == 0 && start &- 1 <= 64
        default:
            let type = v._slice(start, v.count &- start)
            guard universal <= 199, (universal > 0) == !type.isEmpty else { return false }
            return type.isEmpty || universalIDTypes.contains { equals(type, $0) }
        }
    }

    /// A segment id that the segment list may name (ERL.1, ELD.1).
    static func segmentReference(_ v: ByteView) -> Bool {
        guard code(v) else { return false }
        return HL7SegmentIDs.isListed(UInt32(v._u8(0)) << 16 | UInt32(v._u8(1)) << 8 | UInt32(v._u8(2)))
    }

    /// NM positions (sequence, field, component numbers): 1 to 5 digits.
    static func position(_ v: ByteView) -> Bool {
        guard v.count > 0, v.count <= 5 else { return false }
        for i in 0..<v.count where !isDigit(v._u8(i)) { return false }
        return true
    }

    /// ERL (ERR-2): segment id, then up to five positions (sequence, field, repetition,
    /// component, subcomponent), each empty or a number.
    static func errorLocation(_ v: ByteView, _ sep: HL7Separators) -> Bool {
        var comp = 0
        var ok = true
        forEachComponent(v, sep) { c in
            defer { comp += 1 }
            if comp > 5 { ok = false } else if !c.isEmpty {
                ok = comp == 0 ? segmentReference(c) : position(c)
            }
            return ok
        }
        return ok
    }

    /// ELD (v2.3/2.4 ERR-1): segment id, sequence, field position, and a CE error code of
    /// table 0357 (code, its table text, `HL70357`) as subcomponents.
    static func errorCodeAndLocation(_ v: ByteView, _ sep: HL7Separators) -> Bool {
        var comp = 0
        var ok = true
        forEachComponent(v, sep) { c in
            defer { comp += 1 }
            switch comp {
            case 0: ok = c.isEmpty || segmentReference(c)
            case 1, 2: ok = c.isEmpty || position(c)
            case 3: ok = codedError(c, sep.subcomponent, sep)
            default: ok = false
            }
            return ok
        }
        return ok
    }

    /// A CE/CWE of table 0357 (ERR-3, or ELD.4 as subcomponents): code, its text, coding
    /// system; no alternate code.
    static func codedError(_ v: ByteView, _ delimiter: UInt16, _ sep: HL7Separators) -> Bool {
        var sub = 0, code = -1
        var ok = true
        forEach(v, delimiter) { s in
            defer { sub += 1 }
            switch sub {
            case 0:
                code = errorCode(s)
                ok = s.isEmpty || code >= 0
            case 1: ok = errorText(code, s)
            case 2: ok = s.isEmpty || codingSystem(s)
            default: ok = s.isEmpty
            }
            return ok
        }
        return ok
    }

    /// Table 0357, message error condition codes, with their texts.
    static let errorCodes: [(UInt16, StaticString)] = [
        (0, "Message accepted"), (100, "Segment sequence error"), (101, "Required field missing"),
        (102, "Data type error"), (103, "Table value not found"), (104, "Value too long"),
        (200, "Unsupported message type"), (201, "Unsupported event code"), (202, "Unsupported processing id"),
        (203, "Unsupported version id"), (204, "Unknown key identifier"), (205, "Duplicate key identifier"),
        (206, "Application record locked"), (207, "Application internal error"),
    ]

    /// The index in `errorCodes` of an ERR-3.1 code, -1 when it is none of them.
    static func errorCode(_ v: ByteView) -> Int {
        guard v.count > 0, v.count <= 3 else { return -1 }
        var n = 0
        for i in 0..<v.count {
            guard isDigit(v._u8(i)) else { return -1 }
            n = n * 10 + Int(v._u8(i) - 0x30)
        }
        return errorCodes.firstIndex { Int($0.0) == n } ?? -1
    }

    /// ERR-3.2: empty, or the table's own text of the code (ASCII case ignored). Any other
    /// text is free text (a sender's own words, which may name the patient).
    static func errorText(_ codeIndex: Int, _ v: ByteView) -> Bool {
        if v.isEmpty { return true }
        guard codeIndex >= 0 else { return false }
        return equals(v, errorCodes[codeIndex].1, ignoringCase: true)
    }

    /// ERR-3.3: the coding system of table 0357.
    static func codingSystem(_ v: ByteView) -> Bool { equals(v, "HL70357") }

    /// ERR-4, severity (table 0516): E, W, I, F.
    @inline(__always)
    static func severity(_ v: ByteView) -> Bool {
        v.count == 1 && (v._u8(0) == 0x45 || v._u8(0) == 0x57 || v._u8(0) == 0x49 || v._u8(0) == 0x46)
    }

    /// Whether the three bytes before `end` are a standard segment's id (`2.5PID`, `|PID|`):
    /// where a field ends so, just before a field separator, its segment may have run into
    /// the next one (`HL7Message.runsIn` decides). `end` is at least 3 and at most `v.count`.
    @inline(__always)
    static func endsWithSegmentID(_ v: ByteView, _ end: Int) -> Bool {
        let a = v._u8(end &- 3), b = v._u8(end &- 2), c = v._u8(end &- 1)
        guard isUpper(a), isUpper(b) || isDigit(b), isUpper(c) || isDigit(c) else { return false }
        return HL7SegmentIDs.isKnown(UInt32(a) << 16 | UInt32(b) << 8 | UInt32(c))
    }

    /// Whether the field after the field separator at `i` of `seg` is empty or 1 to 4 digits
    /// (a set id: field 1 of PID, PV1, OBX, NK1 and most other segments).
    static func setIDFollows(_ seg: ByteView, _ i: Int) -> Bool {
        guard i < seg.count else { return false }
        let fs = seg._u8(i)
        var j = i + 1
        while j < seg.count, j - i <= 5, isDigit(seg._u8(j)) { j += 1 }
        return j - i <= 5 && (j == seg.count || seg._u8(j) == fs)
    }

    /// Message type (MSG, MSH-9): a code, then an optional trigger event and structure.
    static func messageType(_ v: ByteView, _ sep: HL7Separators) -> Bool {
        var comp = 0
        var ok = true
        forEachComponent(v, sep) { c in
            defer { comp += 1 }
            switch comp {
            case 0: ok = code(c)
            case 1: ok = c.isEmpty || code(c)
            case 2: ok = c.isEmpty || structure(c)
            default: ok = false
            }
            return ok
        }
        return ok
    }

    /// Whether a whole field (as sent, repetitions and components included) passes the check
    /// of what an event writes from it; fields an event does not write pass.
    static func fieldValue(_ segment: UInt32, _ n: Int, _ v: ByteView, _ sep: HL7Separators) -> Bool {
        if v.isEmpty { return true }
        var rep = v
        forEach(v, sep.repetition) { rep = $0; return false }
        var c1 = rep
        forEachComponent(rep, sep) { c1 = $0; return false }
        switch (segment, n) {
        case (HL7Segment.MSH, 3...6): return hd(rep, sep)
        case (HL7Segment.MSH, 7), (HL7Segment.EVN, 2): return c1.isEmpty || dateTime(c1)
        case (HL7Segment.MSH, 9): return messageType(rep, sep)
        case (HL7Segment.MSH, 10), (HL7Segment.MSA, 2): return controlID(v, sep)
        case (HL7Segment.MSH, 11): return c1.isEmpty || processingID(c1)
        case (HL7Segment.MSH, 12): return c1.isEmpty || version(c1)
        case (HL7Segment.MSH, 18): return rep.isEmpty || characterSet(rep)
        case (HL7Segment.MSA, 1): return HL7AckCode(v) != .unknown
        case (HL7Segment.ERR, 1): return errorCodeAndLocation(rep, sep)
        case (HL7Segment.ERR, 2): return errorLocation(rep, sep)
        case (HL7Segment.ERR, 3): return codedError(rep, sep.component, sep)
        case (HL7Segment.ERR, 4): return rep.isEmpty || severity(rep)
        case (HL7Segment.EVN, 1): return rep.isEmpty || code(rep)
        default: return true
        }
    }

    // MARK: helpers

    /// Calls `body` with each component of `v` (split on the component separator, when the
    /// message defines one) until it returns false.
    @inline(__always)
    static func forEachComponent(_ v: ByteView, _ sep: HL7Separators, _ body: (ByteView) -> Bool) {
        forEach(v, sep.component, body)
    }

    /// Calls `body` with each piece of `v` between `delimiter`s (`v` whole when the delimiter
    /// is undefined) until it returns false.
    static func forEach(_ v: ByteView, _ delimiter: UInt16, _ body: (ByteView) -> Bool) {
        var start = 0
        var i = 0
        while i < v.count {
            if UInt16(v._u8(i)) == delimiter {
                guard body(v._slice(start, i - start)) else { return }
                start = i + 1
            }
            i += 1
        }
        _ = body(v._slice(start, v.count - start))
    }

    /// `v` holds exactly the text of `s` (`withUTF8Buffer`: a one-character literal may be
    /// stored as its scalar, without a pointer).
    static func equals(_ v: ByteView, _ s: StaticString, ignoringCase: Bool = false) -> Bool {
        s.withUTF8Buffer { p in
            guard v.count == p.count else { return false }
            for i in 0..<p.count {
                let a = v._u8(i), b = p[i]
                if a == b { continue }
                // The same letter in the other case.
                guard ignoringCase, a | 0x20 == b | 0x20, (a | 0x20) &- 0x61 < 26 else { return false }
            }
            return true
        }
    }
}

import SpanSightWire

/// The S7 header: protocol id 0x32, ROSCTR (the message kind), a reserved redundancy id, the PDU
/// reference that pairs a response with its request, the parameter and data lengths, and in
/// ack / ack_data an error class and code. 10 bytes, 12 in ack / ack_data.
enum S7Header {
    enum Field {
        static let protocolID = 0
        static let rosctr = 1
        static let redundancy = 2
        static let pduReference = 4
        static let parameterLength = 6
        static let dataLength = 8
        static let errorClass = 10
        static let errorCode = 11
    }

    static let protocolID: UInt8 = 0x32
    /// S7comm-plus (S7-1200/1500 with integrity protection): another protocol on the same transport.
    static let plusProtocolID: UInt8 = 0x72
    static let size = 10
    static let ackSize = 12

    static let job: UInt8 = 1
    static let ack: UInt8 = 2
    static let ackData: UInt8 = 3
    static let userdata: UInt8 = 7

    static func size(rosctr: UInt8) -> Int { rosctr == ack || rosctr == ackData ? ackSize : size }
    static func isKnownROSCTR(_ r: UInt8) -> Bool { r == job || r == ack || r == ackData || r == userdata }

    /// A plausible S7 PDU start (the probe): protocol id 0x32, a known ROSCTR, the reserved
    /// redundancy id 0, and parameter and data lengths that fit `available` bytes when the
    /// TPDU ends the PDU (`whole`). Needs the header's bytes.
    static func isPlausible(_ b: ByteView, whole: Bool) -> Bool? {
        guard let pid = b.u8(at: Field.protocolID) else { return nil }
        guard pid == protocolID else { return false }
        guard let r = b.u8(at: Field.rosctr) else { return nil }
        guard isKnownROSCTR(r) else { return false }
        guard let red = b.u16(at: Field.redundancy), let pl = b.u16(at: Field.parameterLength),
              let dl = b.u16(at: Field.dataLength), b.count >= size(rosctr: r) else { return nil }
        guard red == 0 else { return false }
        return !whole || size(rosctr: r) + Int(pl) + Int(dl) <= b.count
    }
}

/// Job functions (the first parameter byte of job, ack and ack_data PDUs).
enum S7Function {
    static let cpuServices: UInt8 = 0x00
    static let setupCommunication: UInt8 = 0xF0
    static let readVar: UInt8 = 0x04
    static let writeVar: UInt8 = 0x05
    static let requestDownload: UInt8 = 0x1A
    static let downloadBlock: UInt8 = 0x1B
    static let downloadEnded: UInt8 = 0x1C
    static let startUpload: UInt8 = 0x1D
    static let upload: UInt8 = 0x1E
    static let endUpload: UInt8 = 0x1F
    static let plcControl: UInt8 = 0x28
    static let plcStop: UInt8 = 0x29
}

/// Userdata function groups and the subfunctions the dissector decodes further.
enum S7Userdata {
    static let parameterHead: (UInt8, UInt8, UInt8) = (0x00, 0x01, 0x12)
    static let modeTransition: UInt8 = 0x0
    static let programmer: UInt8 = 0x1
    static let cyclic: UInt8 = 0x2
    static let blockFunctions: UInt8 = 0x3
    static let cpuFunctions: UInt8 = 0x4
    static let security: UInt8 = 0x5
    static let pbc: UInt8 = 0x6
    static let timeFunctions: UInt8 = 0x7
    static let ncProgramming: UInt8 = 0xF

    static let readSZL: UInt8 = 0x01
    static let listBlocks: UInt8 = 0x01
    static let listBlocksOfType: UInt8 = 0x02
    static let blockInfo: UInt8 = 0x03
    static let readClock: UInt8 = 0x01
    static let setClock: UInt8 = 0x02
    static let readClockFollowing: UInt8 = 0x03
    static let setClock2: UInt8 = 0x04
    static let plcPassword: UInt8 = 0x01

    static func isKnownGroup(_ g: UInt8) -> Bool { g <= 0x7 || g == 0xF }
}

/// Spec violations found while decoding one S7 PDU (reported as `s7comm.*` anomalies; the PDU
/// is still logged).
struct S7Flaws: OptionSet {
    let rawValue: UInt8
    /// The header's parameter and data lengths run past the PDU's bytes.
    static let invalidPDULength = S7Flaws(rawValue: 1 << 0)
    /// Bytes after the PDU the header declares (still in its TPDU).
    static let trailingBytes = S7Flaws(rawValue: 1 << 1)
    /// The parameter or data part does not parse (a missing function code, a variable
    /// specification that is not 0x12, a userdata parameter head that is not 00 01 12, a
    /// length running past its part).
    static let malformed = S7Flaws(rawValue: 1 << 2)
    static let unknownFunction = S7Flaws(rawValue: 1 << 3)
    /// The item count disagrees with the items there.
    static let itemCountMismatch = S7Flaws(rawValue: 1 << 4)
}

/// One variable specification of a read/write var job. Transient (the walk hands it out).
struct S7Item {
    var specType: UInt8 = 0
    var specLength: UInt8 = 0
    var syntaxID: UInt8 = 0
    var transportSize: UInt8 = 0
    var count: UInt16 = 0
    var db: UInt16 = 0
    var area: UInt8 = 0
    /// 24 bits: byte * 8 + bit, or an element number for counters and timers.
    var address: UInt32 = 0

    /// An S7ANY address (syntax id 0x10 with its 10 bytes).
    var isS7Any: Bool { syntaxID == 0x10 && specLength >= 10 }
}

/// One data item of a write var job or a read var ack_data: return code (0 in a job),
/// transport size, length (bits or bytes by transport size), value.
struct S7DataItem {
    var returnCode: UInt8
    var transportSize: UInt8
    var lengthField: UInt16
    /// The value's length in bytes.
    var byteCount: Int
    var value: ByteView
}

enum S7Walk {
    /// The variable specification type of every item (0x12).
    static let variableSpecification: UInt8 = 0x12

    /// Walks the variable specifications of a read/write job parameter (function, count, then
    /// items), calling `body` with each whole item. The count of whole items, where they
    /// end, and whether one was not a variable specification.
    @discardableResult
    static func items(_ param: ByteView, count: Int, _ body: (Int, S7Item) -> Void = { _, _ in }) -> (found: Int, end: Int, malformed: Bool) {
        var at = 2
        var n = 0
        while n < count {
            guard let spec = param.u8(at: at), let len = param.u8(at: at + 1) else { return (n, at, false) }
            guard spec == variableSpecification, len > 0 else { return (n, at, true) }
            guard let s = param.slice(at + 2, Int(len)) else { return (n, at, false) }
            var item = S7Item(specType: spec, specLength: len, syntaxID: s.u8(at: 0) ?? 0)
            if item.isS7Any {
                item.transportSize = s.u8(at: 1) ?? 0
                item.count = s.u16(at: 2) ?? 0
                item.db = s.u16(at: 4) ?? 0
                item.area = s.u8(at: 6) ?? 0
                item.address = UInt32(s.u8(at: 7) ?? 0) << 16 | UInt32(s.u16(at: 8) ?? 0)
            }
            body(n, item)
            n += 1
            at += 2 + Int(len)
        }
        return (n, at, false)
    }

    /// The length in bytes of a data item's value.
    static func byteCount(transportSize ts: UInt8, length: UInt16) -> Int {
        S7commNames.lengthInBits(ts) ? (Int(length) + 7) / 8 : Int(length)
    }

    /// Walks the data items of a write var job or a read var ack_data: return code, transport
    /// size, 16-bit length, the value, and a fill byte after an odd value that is not the last.
    /// In a response an item that failed (return code not 0xFF) carries no value, whatever its
    /// length field says (snap7 writes the length 4 there: tshark, too, reads no value).
    /// The count of whole items and where they end.
    @discardableResult
    static func dataItems(_ data: ByteView, count: Int, response: Bool = false,
                          _ body: (Int, S7DataItem) -> Void = { _, _ in }) -> (found: Int, end: Int) {
        var at = 0
        var n = 0
        while n < count, let (item, next) = dataItem(data, at: at, last: n + 1 == count, response: response) {
            body(n, item)
            n += 1
            at = next
        }
        return (n, min(at, data.count))
    }

    /// One data item at `at` (a write job's, or a response's when `response`), and where the
    /// next begins (after the fill byte of an odd value that is not the `last`).
    static func dataItem(_ data: ByteView, at: Int, last: Bool, response: Bool = false) -> (S7DataItem, Int)? {
        guard let rc = data.u8(at: at), let ts = data.u8(at: at + 1), let len = data.u16(at: at + 2) else { return nil }
        let bytes = response && rc != 0xFF ? 0 : byteCount(transportSize: ts, length: len)
        guard let value = data.slice(at + 4, bytes) else { return nil }
        var next = at + 4 + bytes
        if bytes & 1 == 1 && !last { next += 1 }
        return (S7DataItem(returnCode: rc, transportSize: ts, lengthField: len, byteCount: bytes, value: value), next)
    }

    /// Whether a data part ends where its items do (one fill byte after an odd last value is tolerated).
    static func endsAt(_ end: Int, _ data: ByteView) -> Bool { end == data.count || end + 1 == data.count }
}

/// A length-prefixed text within a parameter: the view of its bytes, or nil when it runs past.
func lengthPrefixed(_ b: ByteView, at: Int) -> ByteView? {
    guard let n = b.u8(at: at) else { return nil }
    return b.slice(at + 1, Int(n))
}

/// A decimal number written in ASCII digits (block numbers, lengths in upload answers); nil
/// when a byte is not a digit or the text is empty or longer than 9 digits.
func asciiNumber(_ b: ByteView) -> Int? {
    guard b.count > 0, b.count <= 9 else { return nil }
    var v = 0
    for i in 0..<b.count {
        guard let c = b.u8(at: i), c >= 0x30, c <= 0x39 else { return nil }
        v = v * 10 + Int(c - 0x30)
    }
    return v
}

/// A block's file name as upload and download jobs write it: "_" (file id), the block type
/// (two ASCII characters, "0A" for DB), the number (five ASCII digits) and the file system
/// ("P" passive, "A" active, "B" both). Also the 8-character block ids of PI services and
/// block functions (without the "_").
struct S7BlockName {
    var type: UInt16
    var number: Int?
    var fileSystem: UInt8?

    /// `name` of 8 or 9 characters (with or without the leading "_"), or a 2-character type.
    init?(_ name: ByteView) {
        var b = name
        if b.count == 9, b.u8(at: 0) == 0x5F { b = b.suffix(from: 1) }
        guard b.count == 8 || b.count == 7 || b.count == 2, let t = b.u16(at: 0) else { return nil }
        type = t
        number = b.count >= 7 ? b.slice(2, 5).flatMap(asciiNumber) : nil
        fileSystem = b.count == 8 ? b.u8(at: 7) : nil
    }
}

/// One decoded S7 PDU: the owned record of the two-level design. Only scalars: variable parts
/// (items, names, records) are read again from the PDU's bytes when an event is written.
/// Offsets count from the protocol id.
struct S7PDU {
    var rosctr: UInt8
    var redundancy: UInt16
    var pduReference: UInt16
    var parameterLength: UInt16
    var dataLength: UInt16
    var errorClass: UInt8 = 0
    var errorCode: UInt8 = 0
    var headerSize: UInt8
    /// Bytes there (the reassembled TSDU).
    var available: Int32
    var flaws: S7Flaws = []

    /// Job, ack and ack_data: the function (absent in an error answer without parameter).
    var hasFunction = false
    var function: UInt8 = 0
    var itemCount: UInt8 = 0
    /// Whole items found (read/write var).
    var itemsFound: UInt8 = 0

    // Setup communication.
    var amqCalling: UInt16 = 0
    var amqCalled: UInt16 = 0
    var pduLength: UInt16 = 0

    // The first item of a read/write var job (for the command record).
    var firstArea: UInt8 = 0
    var firstDB: UInt16 = 0
    var firstAddress: UInt32 = 0
    var firstCount: UInt16 = 0
    var totalCount: UInt32 = 0

    /// Items of a response that did not succeed, and the first one's return code.
    var failedItems: UInt8 = 0
    var firstFailure: UInt8 = 0

    var piService: S7commNames.PIService = .other

    // Userdata.
    var userdataType: UInt8 = 0
    var group: UInt8 = 0
    var subfunction: UInt8 = 0
    var sequenceNumber: UInt8 = 0
    var hasUserdataExtension = false
    var dataUnitReference: UInt8 = 0
    var lastDataUnit: UInt8 = 0
    var parameterErrorCode: UInt16 = 0
    var hasUserdataData = false
    var returnCode: UInt8 = 0
    var dataTransportSize: UInt8 = 0
    var userdataDataLength: UInt16 = 0
    var hasSZL = false
    var szlID: UInt16 = 0
    var szlIndex: UInt16 = 0

    var parameterStart: Int { Int(headerSize) }
    var dataStart: Int { Int(headerSize) + Int(parameterLength) }
    /// Bytes the header declares.
    var declaredSize: Int { Int(headerSize) + Int(parameterLength) + Int(dataLength) }

    var isUserdata: Bool { rosctr == S7Header.userdata }
    var isRequest: Bool { rosctr == S7Header.job || (isUserdata && S7commNames.isUserdataRequest(userdataType)) }
    var isResponse: Bool {
        rosctr == S7Header.ack || rosctr == S7Header.ackData || (isUserdata && S7commNames.isUserdataResponse(userdataType))
    }
    /// A userdata message that is neither request nor response (push, cyclic data, alarms).
    var isNotification: Bool { !isRequest && !isResponse }
    var hasHeaderError: Bool { rosctr == S7Header.ack || rosctr == S7Header.ackData }
    /// A combined header error (class << 8 | code); 0 when none.
    var headerError: UInt16 { UInt16(errorClass) << 8 | UInt16(errorCode) }

    /// The parameter and data parts as the header declares them, cut to the bytes there (a
    /// stored request keeps a bounded copy of its PDU).
    func parameter(_ pdu: ByteView) -> ByteView { pdu.suffix(from: parameterStart).prefix(Int(parameterLength)) }
    func data(_ pdu: ByteView) -> ByteView { pdu.suffix(from: dataStart).prefix(Int(dataLength)) }
    /// The userdata data part after its 4-byte header (return code, transport size, length).
    func userdataPayload(_ pdu: ByteView) -> ByteView {
        data(pdu).slice(4, Int(userdataDataLength)) ?? .empty
    }

    /// The response did not succeed: a header error, a userdata error code or return code, or
    /// a failed item.
    var failed: Bool {
        (hasHeaderError && headerError != 0) || parameterErrorCode != 0 || failedItems > 0
            || (isUserdata && hasUserdataData && isResponse && returnCode != 0xFF)
    }
}

enum S7Decoder {
    /// Decodes one S7 PDU (protocol id and ROSCTR already checked; at least the header's bytes).
    static func decode(_ pdu: ByteView) -> S7PDU {
        let rosctr = pdu.u8(at: S7Header.Field.rosctr) ?? 0
        var p = S7PDU(rosctr: rosctr,
                      redundancy: pdu.u16(at: S7Header.Field.redundancy) ?? 0,
                      pduReference: pdu.u16(at: S7Header.Field.pduReference) ?? 0,
                      parameterLength: pdu.u16(at: S7Header.Field.parameterLength) ?? 0,
                      dataLength: pdu.u16(at: S7Header.Field.dataLength) ?? 0,
                      headerSize: UInt8(S7Header.size(rosctr: rosctr)), available: Int32(pdu.count))
        if p.hasHeaderError {
            p.errorClass = pdu.u8(at: S7Header.Field.errorClass) ?? 0
            p.errorCode = pdu.u8(at: S7Header.Field.errorCode) ?? 0
        }
        if p.declaredSize > pdu.count {
            p.flaws.insert(.invalidPDULength)
            return p
        }
        if p.declaredSize < pdu.count { p.flaws.insert(.trailingBytes) }
        let param = p.parameter(pdu), data = p.data(pdu)
        switch rosctr {
        case S7Header.job: job(&p, param, data)
        case S7Header.ack, S7Header.ackData: ack(&p, param, data)
        default: userdata(&p, param, data)
        }
        return p
    }

    static func job(_ p: inout S7PDU, _ param: ByteView, _ data: ByteView) {
        guard let f = param.u8(at: 0) else { p.flaws.insert(.malformed); return }
        p.hasFunction = true
        p.function = f
        switch f {
        case S7Function.setupCommunication:
            setup(&p, param)
        case S7Function.readVar, S7Function.writeVar:
            guard let n = param.u8(at: 1) else { p.flaws.insert(.malformed); return }
            p.itemCount = n
            var first = true
            let walk = S7Walk.items(param, count: Int(n)) { _, item in
                p.totalCount &+= UInt32(item.count)
                guard first else { return }
                first = false
                p.firstArea = item.area
                p.firstDB = item.db
                p.firstAddress = item.address
                p.firstCount = item.count
            }
            p.itemsFound = UInt8(walk.found)
            if walk.malformed { p.flaws.insert(.malformed) }
            else if walk.found != Int(n) || walk.end != param.count { p.flaws.insert(.itemCountMismatch) }
            if f == S7Function.writeVar {
                let d = S7Walk.dataItems(data, count: Int(n))
                if d.found != Int(n) || !S7Walk.endsAt(d.end, data) { p.flaws.insert(.itemCountMismatch) }
            }
        case S7Function.plcControl:
            // 7 bytes (00 00 00 00 00 00 FD), the parameter block's length and bytes, the
            // service name's length and characters.
            guard let bl = param.u16(at: 8), param.slice(10, Int(bl)) != nil,
                  let name = lengthPrefixed(param, at: 10 + Int(bl)) else { p.flaws.insert(.malformed); return }
            p.piService = S7commNames.PIService(name)
        case S7Function.plcStop:
            // 5 bytes, then the service name ("P_PROGRAM").
            guard let name = lengthPrefixed(param, at: 6) else { p.flaws.insert(.malformed); return }
            p.piService = S7commNames.PIService(name)
        case S7Function.startUpload, S7Function.downloadBlock, S7Function.downloadEnded:
            // Status, 2 bytes, the upload id (4), the file name.
            if lengthPrefixed(param, at: 8) == nil { p.flaws.insert(.malformed) }
        case S7Function.requestDownload:
            guard let name = lengthPrefixed(param, at: 8), lengthPrefixed(param, at: 9 + name.count) != nil else {
                p.flaws.insert(.malformed)
                return
            }
        case S7Function.upload, S7Function.endUpload:
            if param.count < 8 { p.flaws.insert(.malformed) }
        case S7Function.cpuServices:
            break
        default:
            p.flaws.insert(.unknownFunction)
        }
    }

    static func setup(_ p: inout S7PDU, _ param: ByteView) {
        guard let a = param.u16(at: 2), let b = param.u16(at: 4), let l = param.u16(at: 6) else {
            p.flaws.insert(.malformed)
            return
        }
        p.amqCalling = a
        p.amqCalled = b
        p.pduLength = l
    }

    static func ack(_ p: inout S7PDU, _ param: ByteView, _ data: ByteView) {
        // An error answer may carry no parameter at all.
        guard let f = param.u8(at: 0) else { return }
        p.hasFunction = true
        p.function = f
        switch f {
        case S7Function.setupCommunication:
            setup(&p, param)
        case S7Function.readVar:
            guard let n = param.u8(at: 1) else { p.flaws.insert(.malformed); return }
            p.itemCount = n
            let d = S7Walk.dataItems(data, count: Int(n), response: true) { _, item in
                guard item.returnCode != 0xFF else { return }
                if p.failedItems == 0 { p.firstFailure = item.returnCode }
                p.failedItems &+= 1
            }
            p.itemsFound = UInt8(d.found)
            if d.found != Int(n) || !S7Walk.endsAt(d.end, data) { p.flaws.insert(.itemCountMismatch) }
        case S7Function.writeVar:
            guard let n = param.u8(at: 1) else { p.flaws.insert(.malformed); return }
            p.itemCount = n
            let found = min(Int(n), data.count)
            for i in 0..<found {
                let rc = data.u8(at: i) ?? 0
                guard rc != 0xFF else { continue }
                if p.failedItems == 0 { p.firstFailure = rc }
                p.failedItems &+= 1
            }
            p.itemsFound = UInt8(found)
            if data.count != Int(n) { p.flaws.insert(.itemCountMismatch) }
        default:
            if !S7commNames.isKnownFunction(f) { p.flaws.insert(.unknownFunction) }
        }
    }

    static func userdata(_ p: inout S7PDU, _ param: ByteView, _ data: ByteView) {
        // Head 00 01 12, the length of what follows (4, or 8 with the data unit reference,
        // last-unit flag and error code), method, type and group, subfunction, sequence number.
        guard param.count >= 8, let plen = param.u8(at: 3), let tg = param.u8(at: 5) else {
            p.flaws.insert(.malformed)
            return
        }
        if param.u8(at: 0) != S7Userdata.parameterHead.0 || param.u8(at: 1) != S7Userdata.parameterHead.1
            || param.u8(at: 2) != S7Userdata.parameterHead.2 || Int(plen) + 4 != param.count {
            p.flaws.insert(.malformed)
        }
        p.userdataType = tg >> 4
        p.group = tg & 0x0F
        p.subfunction = param.u8(at: 6) ?? 0
        p.sequenceNumber = param.u8(at: 7) ?? 0
        if let ref = param.u8(at: 8), let last = param.u8(at: 9), let err = param.u16(at: 10) {
            p.hasUserdataExtension = true
            p.dataUnitReference = ref
            p.lastDataUnit = last
            p.parameterErrorCode = err
        }
        if !S7Userdata.isKnownGroup(p.group) { p.flaws.insert(.unknownFunction) }
        guard let rc = data.u8(at: 0), let ts = data.u8(at: 1), let len = data.u16(at: 2) else {
            if !data.isEmpty { p.flaws.insert(.malformed) }
            return
        }
        p.hasUserdataData = true
        p.returnCode = rc
        p.dataTransportSize = ts
        p.userdataDataLength = len
        guard 4 + Int(len) <= data.count else {
            p.flaws.insert(.malformed)
            p.userdataDataLength = UInt16(data.count - 4)
            return
        }
        if p.group == S7Userdata.cpuFunctions && p.subfunction == S7Userdata.readSZL {
            // A request names the list (SZL id, index); a first answer repeats them before its
            // records (an answer to a follow-up request continues the records without them).
            let minimum = p.isRequest ? 4 : 8
            if Int(len) >= minimum, let id = data.u16(at: 4), let index = data.u16(at: 6), p.isRequest || rc == 0xFF {
                p.hasSZL = true
                p.szlID = id
                p.szlIndex = index
            }
        }
    }
}

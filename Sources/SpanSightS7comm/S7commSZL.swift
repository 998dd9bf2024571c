import SpanSightWire

/// System status lists (SZL) that identify a device, as the Siemens manual "System Software for
/// S7-300/400, System and Standard Functions" lays them out:
/// * partial list 0x11, module identification: records of 28 bytes, an index, the order number
///   (MLFB, 20 characters), the module type id, and two version words. Index 1 names the
///   module, 6 its basic hardware, 7 its basic firmware (version words 'V' and three numbers).
/// * partial list 0x1C, component identification: records of 34 bytes, an index and 32
///   characters of text: 1 name of the automation system, 2 name of the module, 3 plant
///   identification, 4 copyright, 5 serial number, 7 module type name, 8 serial number of the
///   memory card, 0x0B location.
/// An answer carries the list's header (SZL id, index, record length, record count) and then
/// the records; a list too long for one PDU continues in the answers to follow-up requests.
enum S7SZL {
    struct Header {
        var id: UInt16
        var index: UInt16
        var recordLength: Int
        var recordCount: Int
    }

    static let headerSize = 8
    /// The longest record assembled across answers (identification records are 28 and 34 bytes).
    static let maxAssembledRecord = 64

    /// The list header at the start of a first answer's payload.
    static func header(_ payload: ByteView) -> Header? {
        guard let id = payload.u16(at: 0), let index = payload.u16(at: 2), let len = payload.u16(at: 4),
              let n = payload.u16(at: 6) else { return nil }
        return Header(id: id, index: index, recordLength: Int(len), recordCount: Int(n))
    }

    /// An identity field of a record: its inventory key and its name in events.
    struct Field {
        let key: StaticString
        let json: StaticString
    }

    static func field(list: UInt16, index: UInt16) -> Field? {
        switch (list & 0x00FF, index) {
        case (0x11, 0x0001): Field(key: "s7comm.order_code", json: "order_code")
        case (0x11, 0x0007): Field(key: "s7comm.firmware", json: "firmware")
        case (0x1C, 0x0001): Field(key: "s7comm.as_name", json: "as_name")
        case (0x1C, 0x0002): Field(key: "s7comm.module_name", json: "module_name")
        case (0x1C, 0x0003): Field(key: "s7comm.plant_id", json: "plant_id")
        case (0x1C, 0x0004): Field(key: "s7comm.copyright", json: "copyright")
        case (0x1C, 0x0005): Field(key: "s7comm.serial_number", json: "serial_number")
        case (0x1C, 0x0007): Field(key: "s7comm.module_type", json: "module_type")
        case (0x1C, 0x0008): Field(key: "s7comm.memory_card_serial", json: "memory_card_serial")
        case (0x1C, 0x000B): Field(key: "s7comm.location", json: "location")
        default: nil
        }
    }

    /// Text of a record: up to the first NUL, trailing spaces removed (nil when empty).
    static func text(_ b: ByteView) -> ByteView? {
        var end = 0
        while end < b.count, let c = b.u8(at: end), c != 0 { end += 1 }
        while end > 0, b.u8(at: end - 1) == 0x20 { end -= 1 }
        return end > 0 ? b.prefix(end) : nil
    }

    /// The identity a record gives: the field and, for texts, their bytes; for the firmware
    /// record its version "V3.2.6" (`version`). Nil when the record is not one of these or empty.
    static func identity(list: UInt16, record r: ByteView,
                         _ body: (Field, ByteView?, (UInt8, UInt8, UInt8)?) -> Void) {
        guard let index = r.u16(at: 0), let f = field(list: list, index: index) else { return }
        switch list & 0x00FF {
        case 0x11:
            guard r.count >= 28 else { return }
            if index == 0x0007 {
                // Version words: 'V' and the major number, then minor and patch.
                guard r.u8(at: 24) == 0x56, let a = r.u8(at: 25), let b = r.u8(at: 26), let c = r.u8(at: 27) else { return }
                body(f, nil, (a, b, c))
            } else if let t = r.slice(2, 20).flatMap(text) {
                body(f, t, nil)
            }
        default:
            guard r.count >= 34, let t = r.slice(2, 32).flatMap(text) else { return }
            body(f, t, nil)
        }
    }

    /// Whether a list's records carry identities.
    static func identifies(_ list: UInt16) -> Bool { list & 0x00FF == 0x11 || list & 0x00FF == 0x1C }

    /// "V3.2.6" (a small string, stored inline).
    static func versionString(_ v: (UInt8, UInt8, UInt8)) -> String {
        "V" + String(v.0) + "." + String(v.1) + "." + String(v.2)
    }
}

/// Assembles identification records across the answers of one SZL read (a record may be cut
/// between two PDUs): whole records are handed out where they lie; only a cut record is
/// copied, into a fixed buffer of 64 bytes made once. Used only when an observer listens.
struct SZLAssembler {
    private(set) var active = false
    private var list: UInt16 = 0
    private var recordLength = 0
    private var recordsLeft = 0
    private var partial: [UInt8]
    private var filled = 0

    init() { partial = [UInt8](repeating: 0, count: S7SZL.maxAssembledRecord) }

    static var storageBytes: Int { S7SZL.maxAssembledRecord }

    mutating func reset() {
        active = false
        filled = 0
    }

    /// A first answer: its header and the records after it; `more` when further answers follow.
    mutating func start(_ payload: ByteView, more: Bool, _ emit: (UInt16, ByteView) -> Void) {
        reset()
        guard let h = S7SZL.header(payload), S7SZL.identifies(h.id), h.recordLength >= 2,
              h.recordLength <= S7SZL.maxAssembledRecord else { return }
        list = h.id
        recordLength = h.recordLength
        recordsLeft = h.recordCount
        active = true
        consume(payload.suffix(from: S7SZL.headerSize), more: more, emit)
    }

    /// The payload of an answer to a follow-up request.
    mutating func resume(_ payload: ByteView, more: Bool, _ emit: (UInt16, ByteView) -> Void) {
        guard active else { return }
        consume(payload, more: more, emit)
    }

    private mutating func consume(_ bytes: ByteView, more: Bool, _ emit: (UInt16, ByteView) -> Void) {
        var at = 0
        if filled > 0 {
            let take = min(recordLength - filled, bytes.count)
            for i in 0..<take { partial[filled + i] = bytes.u8(at: i) ?? 0 }
            filled += take
            at = take
            if filled == recordLength {
                let list = self.list
                partial.withUnsafeBytes { emit(list, ByteView($0).prefix(recordLength)) }
                filled = 0
                recordsLeft -= 1
            }
        }
        while recordsLeft > 0, let r = bytes.slice(at, recordLength) {
            emit(list, r)
            at += recordLength
            recordsLeft -= 1
        }
        let tail = bytes.count - at
        if more && recordsLeft > 0 && tail > 0 && filled == 0 {
            for i in 0..<tail { partial[i] = bytes.u8(at: at + i) ?? 0 }
            filled = tail
        }
        if !more || recordsLeft <= 0 { reset() }
    }
}

// UNSAFE: `ArenaWriter` writes a slot's 2,048 text bytes (sizes bounded by the caps) through a
// raw pointer, and `StoredMessage` reads only as far as they were written; the slots are a
// `SlotBlock` (the engine's, which owns the memory).
import SpanSightEngine
import SpanSightWire

/// The text fields of a message kept while it waits for its acknowledgment, in arena order.
enum StoredField: Int, CaseIterable {
    case messageType, triggerEvent, structure, controlID, processingID, version, characterSet
    case sendingApplication, sendingFacility, receivingApplication, receivingFacility, dateTime
    case eventType, eventRecorded

    /// Every field in arena order, built once (`allCases` makes a new array at each use).
    static let all: [StoredField] = allCases

    /// JSON key of the field.
    var key: StaticString {
        switch self {
        case .messageType: "message_type"
        case .triggerEvent: "trigger_event"
        case .structure: "message_structure"
        case .controlID: "control_id"
        case .processingID: "processing_id"
        case .version: "version"
        case .characterSet: "character_set"
        case .sendingApplication: "sending_application"
        case .sendingFacility: "sending_facility"
        case .receivingApplication: "receiving_application"
        case .receivingFacility: "receiving_facility"
        case .dateTime: "message_datetime"
        case .eventType: "type"
        case .eventRecorded: "recorded_datetime"
        }
    }

    /// The checked field it holds.
    var field: HL7Field {
        switch self {
        case .messageType: .messageType
        case .triggerEvent: .triggerEvent
        case .structure: .structure
        case .controlID: .controlID
        case .processingID: .processingID
        case .version: .version
        case .characterSet: .characterSet
        case .sendingApplication: .sendingApplication
        case .sendingFacility: .sendingFacility
        case .receivingApplication: .receivingApplication
        case .receivingFacility: .receivingFacility
        case .dateTime: .dateTime
        case .eventType: .eventType
        case .eventRecorded: .eventRecorded
        }
    }

    var isEvent: Bool { self == .eventType || self == .eventRecorded }
    static let events: [StoredField] = [.eventType, .eventRecorded]

    /// `HL7Field` bits of the message-level and the EVN fields.
    static let messageBits: UInt32 = all.filter { !$0.isEvent }.reduce(0) { $0 | $1.field.bit }
    static let eventBits: UInt32 = HL7Field.eventType.bit | HL7Field.eventRecorded.bit
}

/// Where a message sits in a batch (FHS/BHS ... BTS/FTS in one frame).
struct HL7BatchInfo {
    var inBatch = false
    var file = false
    /// MSH segments in the frame's batch.
    var messages = 0
    /// BTS-1, the batch message count the sender declared (-1 when absent).
    var declared = -1
}

/// A message waiting for its acknowledgment: scalars here, text in the table's arena slot.
struct OpenMessage {
    var direction: Direction = .toServer
    var timestamp: Int64 = 0
    var sequence: UInt64 = 0
    /// FNV-1a of the whole MSH-10 and its length (the arena keeps at most `fieldCap` bytes).
    var idHash: UInt64 = 0
    var idLength = 0
    var segmentCount = 0
    var invalidSegments = 0
    var bytes = 0
    var batch = HL7BatchInfo()
    var operation: OperationClass = .association
    /// `HL7Message.withheld`: the stored fields whose arena text is their length, not their value.
    var withheld: UInt32 = 0
    /// Enhanced mode: MSH-16 is AL, so a commit accept (CA) is followed by an application ACK.
    var awaitsApplicationAck = false
    /// The commit accept received so far (enhanced mode), and its latency.
    var committed = false
    var commitLatency: Int64 = 0
    var inUse = false
}

/// The open-message table of one flow: slots reused once acknowledged, each with an arena
/// stride of `stride` bytes holding its text fields (`[length][bytes]` each, at most
/// `fieldCap` bytes), its segment ids (3 bytes each, at most `maxSegments`) and its
/// pseudonyms (16 bytes each, at most `maxPseudonyms`). Grows only up to `capacity` slots;
/// steady-state traffic reuses the same slot without allocating.
///
/// The slots are a `SlotBlock`: the message's record (`OpenMessage`, plain values) with its
/// text beside it, so that storing a message writes one contiguous run of cache lines; a
/// slot's text is written only as far as its fields go (a few hundred bytes, not 2 KiB
/// zeroed), and read only as far as it was written.
struct HL7Table: ~Copyable {
    static let fieldCap = 120
    static let maxSegments = 64
    static let maxPseudonyms = 8
    /// Text bytes of a slot (at most 2,024 by the caps, see `ArenaWriter`).
    static let textBytes = 2048

    /// Per slot in insertion order of first use, what a lookup compares, 16 bytes each: the
    /// whole table's keys span a few cache lines, where the records span two lines per slot
    /// (a full table of 32 was 64 lines read per acknowledgment).
    private var keys: [SlotKey] = []
    /// The records and their text.
    private var block: SlotBlock<OpenMessage>
    /// Messages waiting (slots in use), at most `capacity`.
    private(set) var open = 0
    var capacity: Int { block.capacity }
    /// The next sequence number (insertion order, to find the oldest).
    private var sequence: UInt64 = 0

    init(capacity: Int) { block = SlotBlock(capacity: capacity, bytesPerSlot: HL7Table.textBytes) }

    /// The slot to give up before the next insertion (the oldest), when the table is full.
    /// The message to drop before the next insertion: the oldest, when the table is full or
    /// the memory budget refuses it room to grow.
    var evictionCandidate: Int? {
        mutating get { open >= capacity || !hasRoom() ? oldest() : nil }
    }

    /// Charges the table's block to a session's memory account.
    mutating func attach(_ account: MemoryAccount) {
        block.account = account
        block.kind = .transactions
    }

    static func secondReservation(_ capacity: Int) -> Int { min(capacity, 4) }

    /// A free slot exists, or the block may grow (growing now if the budget allows).
    mutating func hasRoom() -> Bool {
        if keys.contains(where: { $0.tag == 0 }) { return true }
        if keys.count == 1 { return block.reserve(Self.secondReservation(capacity)) || block.makeRoom() }
        return block.makeRoom()
    }

    /// Drops every open message and frees the block (state shed for the memory budget).
    mutating func removeAll() {
        block.removeAll()
        keys = []
        open = 0
    }

    static func hash(_ v: ByteView) -> UInt64 {
        v.withBytes { b in
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for x in b { h = (h ^ UInt64(x)) &* 0x100_0000_01b3 }
            return h
        }
    }

    /// A slot's lookup key: a tag of (control id hash, its length, direction), never 0 for a
    /// slot in use, and the slot's sequence number. A tag match is confirmed on the record.
    struct SlotKey {
        var tag: UInt64 = 0
        var sequence: UInt64 = 0
    }

    static func tag(_ idHash: UInt64, _ idLength: Int, _ direction: Direction) -> UInt64 {
        (idHash ^ (UInt64(truncatingIfNeeded: idLength) &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(direction.rawValue)) | 1
    }

    /// The oldest open message sent in `direction` with this control id.
    func find(_ controlID: ByteView, direction: Direction) -> Int? {
        guard open > 0 else { return nil }
        let h = Self.hash(controlID), n = controlID.count
        let t = Self.tag(h, n, direction)
        return keys.withUnsafeBufferPointer { k in
            var best = -1
            var bestSequence = UInt64.max
            for i in 0..<k.count where k[i].tag == t && k[i].sequence < bestSequence {
                let e = entry(i)
                if e.inUse && e.idHash == h && e.idLength == n && e.direction == direction {
                    best = i
                    bestSequence = k[i].sequence
                }
            }
            return best >= 0 ? best : nil
        }
    }

    /// The open message with the lowest sequence number.
    func oldest() -> Int? {
        guard open > 0 else { return nil }
        return keys.withUnsafeBufferPointer { k in
            var best = -1
            var bestSequence = UInt64.max
            for i in 0..<k.count where k[i].tag != 0 && k[i].sequence < bestSequence {
                best = i
                bestSequence = k[i].sequence
            }
            return best >= 0 ? best : nil
        }
    }

    /// Stores a message; `pseudonyms` is called with a writer when it may add pseudonyms. The
    /// text (fields, segment ids, pseudonyms) is for the message's event only: `storeText` false
    /// (no events built) keeps the record alone, and `withStored` must not read that slot.
    mutating func insert(_ m: HL7Message, frame: ByteView, entry: OpenMessage, segments: UnsafeBufferPointer<UInt32>,
                         storeText: Bool = true, pseudonyms: ((inout ArenaWriter) -> Void)?) {
        var e = entry
        e.inUse = true
        e.withheld = m.withheld
        e.sequence = sequence
        sequence &+= 1
        let cid = m.controlID.view(frame)
        e.idHash = Self.hash(cid)
        e.idLength = cid.count
        // A free slot, or a new one at the end.
        let key = SlotKey(tag: Self.tag(e.idHash, e.idLength, e.direction), sequence: e.sequence)
        let slot = keys.firstIndex { $0.tag == 0 } ?? keys.count
        if slot == keys.count {
            // A second slot means more to come (acknowledgments not seen, or pipelined
            // messages): room for four at once, then doubling (each slot holds 2 KiB of text,
            // charged to the memory budget: a table is not reserved whole for two messages).
            if slot == 1 {
                let n = Self.secondReservation(capacity)
                if block.reserve(n) { keys.reserveCapacity(n) }
            }
            guard block.append(e) != nil else { return }   // the caller made room when full
            keys.append(key)
        } else {
            block[slot] = e
            keys[slot] = key
        }
        open += 1
        var w = ArenaWriter(base: block.bytes(slot))
        guard storeText else {
            // An empty layout (no field, segment or pseudonym: one zero count each), so that
            // the slot reads as an empty message whoever reads it.
            w.empty()
            return
        }
        for f in StoredField.all {
            let span = m.span(f.field)
            if m.withheld & f.field.bit != 0 { w.length(Int(span.count)) } else { w.field(span.view(frame)) }
        }
        w.segments(segments)
        w.beginPseudonyms()
        pseudonyms?(&w)
    }

    /// Records a commit accept; the message stays open for its application acknowledgment.
    mutating func commit(_ slot: Int, latency: Int64) {
        block[slot].committed = true
        block[slot].commitLatency = latency
    }

    /// Frees a slot (its arena bytes are overwritten by the next insertion).
    mutating func remove(_ slot: Int) {
        guard keys[slot].tag != 0 else { return }
        open -= 1
        keys[slot].tag = 0
        block[slot].inUse = false
    }

    /// The open message in a slot.
    func entry(_ slot: Int) -> OpenMessage { block[slot] }

    /// Runs `body` with a reader over a slot's stored text.
    func withStored<R>(_ slot: Int, _ body: (StoredMessage) -> R) -> R {
        body(StoredMessage(bytes: block.view(slot, count: HL7Table.textBytes)))
    }
}

/// Writes one arena slot (the layout `StoredMessage` reads): each field as its length and
/// bytes, a withheld one as 4 and its own length. Sizes are bounded by the caps:
/// 14 fields of at most 121 bytes, 1 + 64 * 3 segment bytes, 1 + 8 * (1 + 16) pseudonym bytes (2,024 in all)
/// fit in the 2,048 text bytes of a slot.
struct ArenaWriter {
    let base: UnsafeMutableRawPointer
    var offset = 0
    var pseudonymCountOffset = 0

    init(base: UnsafeMutableRawPointer) { self.base = base }

    /// The layout of a message with nothing stored: every field empty, no segment id, no
    /// pseudonym (`StoredField.all.count + 2` zero bytes).
    mutating func empty() {
        let n = StoredField.all.count + 2
        (base + offset).initializeMemory(as: UInt8.self, repeating: 0, count: n)
        offset += n
    }

    mutating func byte(_ b: UInt8) {
        base.storeBytes(of: b, toByteOffset: offset, as: UInt8.self)
        offset += 1
    }

    mutating func field(_ v: ByteView) {
        let n = min(v.count, HL7Table.fieldCap)
        byte(UInt8(n))
        if n > 0 { (base + offset).copyMemory(from: v.buffer.baseAddress.unsafelyUnwrapped, byteCount: n) }
        offset += n
    }

    /// A withheld field: its length (4 bytes, little-endian) in place of its bytes.
    mutating func length(_ n: Int) {
        byte(4)
        for k in 0..<4 { byte(UInt8(truncatingIfNeeded: n >> (8 * k))) }
    }

    /// The ids of the message's segments (valid ids only, at most `maxSegments`), in order.
    mutating func segments(_ ids: UnsafeBufferPointer<UInt32>) {
        let n = min(ids.count, HL7Table.maxSegments)
        byte(UInt8(n))
        for id in ids.prefix(n) { byte(UInt8(id >> 16)); byte(UInt8(id >> 8 & 0xFF)); byte(UInt8(id & 0xFF)) }
    }

    mutating func beginPseudonyms() {
        pseudonymCountOffset = offset
        byte(0)
    }

    /// Adds one pseudonym (16 bytes) with the PID field number it came from.
    mutating func pseudonym(field: Int, _ bytes: UnsafeRawBufferPointer) {
        let count = Int(base.load(fromByteOffset: pseudonymCountOffset, as: UInt8.self))
        guard count < HL7Table.maxPseudonyms, bytes.count == HL7Pseudonymizer.length else { return }
        byte(UInt8(field))
        for b in bytes { byte(b) }
        base.storeBytes(of: UInt8(count + 1), toByteOffset: pseudonymCountOffset, as: UInt8.self)
    }
}

/// Reads one arena slot.
struct StoredMessage {
    let bytes: ByteView

    /// The stored text of `f`.
    func field(_ f: StoredField) -> ByteView {
        var off = 0
        for _ in 0..<f.rawValue { off += 1 + Int(bytes._u8(off)) }
        return bytes._slice(off + 1, Int(bytes._u8(off)))
    }

    /// The length of a withheld field (`ArenaWriter.length`).
    func length(_ f: StoredField) -> Int {
        let v = field(f)
        return v.count == 4 ? Int(v._u32le(0)) : 0
    }

    private var segmentsOffset: Int {
        var off = 0
        for _ in StoredField.all { off += 1 + Int(bytes._u8(off)) }
        return off
    }

    /// Segment ids, 3 bytes each.
    var segments: ByteView {
        let off = segmentsOffset
        return bytes._slice(off + 1, 3 * Int(bytes._u8(off)))
    }

    /// Pseudonyms: (PID field, 16 bytes) each.
    func forEachPseudonym(_ body: (Int, ByteView) -> Void) {
        var off = segmentsOffset
        off += 1 + 3 * Int(bytes._u8(off))
        let n = Int(bytes._u8(off))
        off += 1
        for _ in 0..<n {
            body(Int(bytes._u8(off)), bytes._slice(off + 1, HL7Pseudonymizer.length))
            off += 1 + HL7Pseudonymizer.length
        }
    }
}

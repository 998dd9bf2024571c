// UNSAFE: a frame's tail is copied into the framer's buffer from a rebased slice of the
// view's scoped buffer, within its count.
import SpanSightEngine
import SpanSightWire

/// What the MLLP framer found in one direction's byte stream.
enum MLLPEvent {
    /// A whole frame: the bytes between the start block and the end block.
    case message(ByteView)
    /// Bytes outside any frame were skipped before a valid frame start (`afterGap`: the
    /// stream had lost bytes since the last frame, so a cut message tail is expected).
    case junk(Int, afterGap: Bool)
    /// A frame of `n` content bytes ended without its end block: a new start block came
    /// first, or the flow ended.
    case missingEndBlock(Int)
    /// A frame grew past the size cap; its bytes are dropped up to the next end or start block.
    case tooLarge(limit: Int)
    /// The end block FS was followed by this byte instead of CR.
    case badEndBlock(UInt8)
    /// The memory budget refused to hold a frame's bytes: they are dropped up to the next end
    /// or start block (the engine reports the refusal, once per flow).
    case refused
}

/// Cuts one direction of a reassembled TCP stream into MLLP frames:
/// `VT (0x0B) content FS (0x1C) CR (0x0D)`.
///
/// A frame starts only at a start block followed by `MSH`, `FHS` or `BHS` and a plausible
/// field separator; anything else between frames is junk (skipped and reported). A start
/// block inside a frame ends that frame as unterminated and starts the next. Frames inside
/// one delivery are handed over in place (zero copy); only a frame that straddles deliveries
/// is copied, into one reused buffer that never grows past `maxMessage`. Every byte is
/// scanned once, whatever the split.
struct MLLPFramer {
    static let startBlock: UInt8 = 0x0B
    static let endBlock: UInt8 = 0x1C
    static let carriageReturn: UInt8 = 0x0D

    enum Phase { case hunting, frame, afterEnd, skipping }

    private(set) var phase = Phase.hunting
    private var afterGap = false
    /// The first three content bytes (the segment id), packed big-endian.
    private var lead: UInt32 = 0
    let maxMessage: Int
    /// `pending.count`, kept beside the array: a frame whole in one delivery (the common
    /// case) never reads the array's storage.
    private var buffered = 0
    /// Content bytes of the current frame so far.
    private var length = 0
    private var junk = 0
    /// Content bytes of the current frame received in earlier deliveries.
    private(set) var pending: [UInt8] = []
    /// Where `pending`'s capacity is charged (kind `.pdus`), once set by the session.
    var account: MemoryAccount?
    /// Bytes reserved for `pending` and charged (its logical size, not its `capacity`: see
    /// `reservedSize` in SpanSightEngine).
    private var charged = 0

    init(maxMessage: Int) {
        // At most 1 GiB: spans into a frame are 32-bit offsets (`Span`).
        self.maxMessage = min(max(8, maxMessage), 1 << 30)
    }

    /// Feeds one delivery; `on` is called for each frame and framing problem, in stream order.
    mutating func feed(_ input: ByteView, _ on: (MLLPEvent) -> Void) {
        let n = input.count
        var i = 0
        var start = 0   // where the current frame's content starts in `input`
        while i < n {
            switch phase {
            case .hunting:
                guard let p = input.firstIndex(of: Self.startBlock, from: i) else {
                    junk += n - i
                    i = n
                    continue
                }
                junk += p - i
                i = p + 1
                begin()
                start = i
            case .afterEnd:
                let b = input._u8(i)
                if b == Self.carriageReturn { i += 1 } else { on(.badEndBlock(b)) }
                phase = .hunting
            case .frame where length < 4:
                let b = input._u8(i)
                guard MLLP.leadAccepts(b, at: length, lead: lead) else {
                    // Not a frame start after all: the VT and the bytes that matched are junk;
                    // `b` itself is looked at again (it may be a start block).
                    junk += 1 + length
                    clearPending()
                    phase = .hunting
                    continue
                }
                if length < 3 { lead = lead << 8 | UInt32(b) }
                length += 1
                i += 1
                if length == 4 {
                    if junk > 0 { on(.junk(junk, afterGap: afterGap)) }
                    junk = 0
                    afterGap = false
                }
            case .frame:
                let p = Self.delimiter(input, from: i)
                let total = length + (p - i)
                if total > maxMessage {
                    on(.tooLarge(limit: maxMessage))
                    clearPending()
                    phase = .skipping
                    i = p
                    continue
                }
                length = total
                guard p < n else { i = n; continue }
                if input._u8(p) == Self.endBlock {
                    if buffered == 0 {
                        on(.message(input._slice(start, p - start)))
                    } else {
                        if append(input, start, p) {
                            pending.withUnsafeBytes { on(.message(ByteView($0))) }
                        } else {
                            on(.refused)
                        }
                        clearPending()
                    }
                    phase = .afterEnd
                } else {
                    on(.missingEndBlock(length))
                    clearPending()
                    begin()
                    start = p + 1
                }
                i = p + 1
            case .skipping:
                let p = Self.delimiter(input, from: i)
                guard p < n else { i = n; continue }
                if input._u8(p) == Self.endBlock {
                    phase = .afterEnd
                } else {
                    begin()
                    start = p + 1
                }
                i = p + 1
            }
        }
        if phase == .frame && !append(input, start, n) {
            on(.refused)
            clearPending()
            phase = .skipping
        }
    }

    /// Bytes were lost: forget the partial frame and look for the next start block.
    mutating func gap() {
        clearPending()
        phase = .hunting
        afterGap = true
    }

    /// The stream ended: an open frame is unterminated; skipped bytes are reported.
    mutating func finish(_ on: (MLLPEvent) -> Void) {
        if phase == .frame {
            if length >= 4 { on(.missingEndBlock(length)) } else { junk += 1 + length }
        }
        if junk > 0 { on(.junk(junk, afterGap: afterGap)) }
        junk = 0
        clearPending()
        phase = .hunting
    }

    /// Empties the straddling-frame buffer, keeping its storage unless a big frame grew it
    /// (a flow that once carried a 1 MiB message does not hold 1 MiB until it ends).
    private mutating func clearPending() {
        guard buffered > 0 else { return }
        if charged > 64 * 1024 {
            pending = []
            account?.release(.pdus, charged)
            charged = 0
        } else {
            pending.removeAll(keepingCapacity: true)
        }
        buffered = 0
    }

    /// Frees the partial frame and its storage (state shed for the memory budget); the frame
    /// is then skipped up to its end block. True when a partial frame was dropped.
    @discardableResult
    mutating func releaseStorage() -> Bool {
        let had = phase == .frame && length > 0
        pending = []
        buffered = 0
        account?.release(.pdus, charged)
        charged = 0
        if phase == .frame { phase = .skipping }
        return had
    }

    private mutating func begin() {
        phase = .frame
        length = 0
        lead = 0
    }

    /// Keeps bytes of a frame that straddles deliveries; false when the memory budget refused
    /// the room (nothing kept).
    private mutating func append(_ input: ByteView, _ from: Int, _ to: Int) -> Bool {
        guard to > from else { return true }
        let need = buffered + (to - from)
        if need > charged {
            let want = max(need, min(maxMessage, max(charged * 2, 256)))
            if let account, !account.charge(.pdus, want - charged) { return false }
            pending.reserveCapacity(want)
            charged = want
        }
        input.withBytes { pending.append(contentsOf: UnsafeBufferPointer(rebasing: $0[from..<to])) }
        buffered = pending.count
        return true
    }

    /// Index of the next start or end block at or after `from`, or `input.count`.
    @inline(__always)
    static func delimiter(_ input: ByteView, from: Int) -> Int {
        input.index(of: startBlock, or: endBlock, from: from)
    }
}

/// MLLP recognition shared by the probe and the framer.
enum MLLP {
    /// True when `b` may be content byte `k` (0-based) of a frame whose first bytes were
    /// `lead`: `MSH`, `FHS` or `BHS`, then a field separator.
    static func leadAccepts(_ b: UInt8, at k: Int, lead: UInt32) -> Bool {
        let M = UInt32(UInt8(ascii: "M")), S = UInt32(UInt8(ascii: "S"))
        let H = UInt32(UInt8(ascii: "H")), F = UInt32(UInt8(ascii: "F")), B = UInt32(UInt8(ascii: "B"))
        let c = UInt32(b)
        switch k {
        case 0: return c == M || c == F || c == B
        case 1: return lead == M ? c == S : c == H
        case 2: return lead == (M << 8 | S) ? c == H : c == S
        case 3: return HL7Separators.isPlausible(b)
        default: return true
        }
    }

    /// The probe: a start block, `MSH`/`FHS`/`BHS` and a plausible field separator.
    static func probe(_ bytes: ByteView) -> ProbeResult {
        guard let first = bytes.u8(at: 0) else { return .needMore }
        guard first == MLLPFramer.startBlock else { return .noMatch }
        var lead: UInt32 = 0
        for k in 0..<4 {
            guard let b = bytes.u8(at: 1 + k) else { return .needMore }
            guard leadAccepts(b, at: k, lead: lead) else { return .noMatch }
            if k < 3 { lead = lead << 8 | UInt32(b) }
        }
        return .match
    }
}

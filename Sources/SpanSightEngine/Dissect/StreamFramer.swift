// UNSAFE: a PDU tail is copied into the framer's buffer from a rebased slice of the view's
// scoped buffer, within the view's count.
import SpanSightWire

/// What a frame parser says about the bytes at the head of a stream.
public enum FrameStep: Equatable, Sendable {
    /// A whole PDU of `n` bytes was handled; drop it and go on.
    case consumed(Int)
    /// Not a PDU start: drop `n` bytes and try again (resynchronisation).
    case skip(Int)
    /// The PDU is not complete: wait for more bytes. `total`, when known, is the PDU's size.
    case needMore(total: Int?)
}

/// Cuts a reassembled byte stream into PDUs with the honest contract "consumed N / skip N /
/// need more". Whole PDUs inside one delivery are parsed in place (zero copy); only the tail
/// of a PDU that straddles deliveries is copied, into one reused buffer bounded by
/// `maxPDU`. Every step must make progress, so a parser cannot loop forever.
public struct StreamFramer {
    /// `pending.count`, kept beside the array: the common delivery (nothing pending) then
    /// reads no more than the framer itself, not the array's storage (a cache miss per
    /// delivery when thousands of flows interleave).
    public private(set) var pendingCount = 0
    public let maxPDU: Int
    /// The straddling PDU's bytes so far.
    public private(set) var pending: [UInt8] = []
    /// Bytes dropped because a PDU claimed to be larger than `maxPDU`.
    public private(set) var oversizeDrops = 0
    /// Bytes of a partial PDU dropped because the memory budget refused to hold them.
    public private(set) var budgetDrops = 0
    /// Where the pending buffer's capacity is charged (kind `.pdus`), once set by the session.
    public private(set) var account: MemoryAccount?
    /// Bytes reserved for `pending` and charged (its logical size; see `reservedSize`).
    private var charged = 0

    public init(maxPDU: Int) {
        self.maxPDU = maxPDU
    }

    /// Charges the pending buffer to `account` from now on.
    public mutating func attach(_ account: MemoryAccount) {
        self.account = account
        account.chargeUnchecked(.pdus, charged)
    }

    /// Frees the pending buffer (a partial PDU is lost: state shed to stay within the budget);
    /// the bytes it held.
    @discardableResult
    public mutating func releaseStorage() -> Int {
        let held = pendingCount
        pending = []
        pendingCount = 0
        account?.release(.pdus, charged)
        charged = 0
        return held
    }

    /// Makes room for `n` more pending bytes, charged to the account; false when refused.
    private mutating func room(_ n: Int) -> Bool {
        let need = pendingCount + n
        if need <= charged { return true }
        let want = max(need, min(maxPDU, max(charged * 2, 64)))
        if let account, !account.charge(.pdus, want - charged) { return false }
        pending.reserveCapacity(want)
        charged = want
        return true
    }

    public var hasPending: Bool { pendingCount != 0 }

    /// Forgets a partial PDU (after a gap in the stream).
    public mutating func reset() {
        if pendingCount != 0 { pending.removeAll(keepingCapacity: true) }
        pendingCount = 0
    }

    private mutating func dropPending(_ k: Int) {
        pending.removeFirst(k)
        pendingCount = pending.count
    }

    /// False when the budget refused the room: the partial PDU is dropped (counted).
    @discardableResult
    private mutating func appendPending(_ bytes: ByteView, _ n: Int) -> Bool {
        guard room(n) else {
            budgetDrops += pendingCount + n
            reset()
            return false
        }
        bytes.withBytes { pending.append(contentsOf: UnsafeBufferPointer(rebasing: $0[0..<n])) }
        pendingCount = pending.count
        return true
    }

    /// Feeds bytes; `parse` is called with a view starting at each PDU boundary candidate.
    /// Returns false when a PDU larger than `maxPDU` had to be dropped (the caller may report it).
    /// Inlinable: the common delivery (nothing pending, whole PDUs) is a loop specialised with
    /// the dissector's parser inlined; a tail or a pending PDU goes out of line.
    @inlinable @discardableResult
    public mutating func feed(_ bytes: ByteView, _ parse: (ByteView) -> FrameStep) -> Bool {
        if pendingCount != 0 { return feedAfterPending(bytes, parse) }
        return parseInPlace(bytes, parse)
    }

    /// Parses whole PDUs where they lie; keeps the tail.
    @inlinable
    mutating func parseInPlace(_ input: ByteView, _ parse: (ByteView) -> FrameStep) -> Bool {
        var offset = 0
        while offset < input.count {
            let view = input.suffix(from: offset)
            switch parse(view) {
            case .consumed(let n), .skip(let n):
                offset += max(1, min(n, view.count))
            case .needMore(let total):
                return keepTail(view, total: total)
            }
        }
        return true
    }

    /// `feed` when a PDU is pending: complete it first, then parse in place.
    @usableFromInline
    mutating func feedAfterPending(_ bytes: ByteView, _ parse: (ByteView) -> FrameStep) -> Bool {
        var ok = true
        var input = bytes
        if pendingCount != 0 {
            // Complete the straddling PDU first, copying only what it needs.
            while !input.isEmpty {
                let step: FrameStep = pending.withUnsafeBytes { parse(ByteView($0)) }
                switch step {
                case .consumed(let n), .skip(let n):
                    dropPending(max(1, min(n, pendingCount)))
                    if pendingCount == 0 { break }
                    continue
                case .needMore(let total):
                    // Append what the PDU still needs (or, size unknown, as much as fits
                    // under maxPDU), then parse again: never buffer past maxPDU.
                    var want = total.map { max(1, $0 - pendingCount) } ?? input.count
                    want = min(want, maxPDU - pendingCount, input.count)
                    if want <= 0 || (total ?? 0) > maxPDU {
                        ok = false
                        oversizeDrops += pendingCount
                        reset()
                        break
                    }
                    guard appendPending(input, want) else {
                        ok = false
                        input = input.suffix(from: want)
                        break
                    }
                    input = input.suffix(from: want)
                    continue
                }
                if pendingCount == 0 { break }
            }
            if pendingCount != 0 {
                // Input exhausted: parse what is pending once more (it may now be whole).
                drainPending(parse)
                return ok
            }
        }
        return parseInPlace(input, parse) && ok
    }

    /// Keeps the tail of a delivery (an incomplete PDU) for the next one, up to `maxPDU`;
    /// false when bytes had to be dropped.
    @usableFromInline
    mutating func keepTail(_ view: ByteView, total: Int?) -> Bool {
        if let t = total, t > maxPDU {
            oversizeDrops += view.count
            return false
        }
        let keep = min(view.count, maxPDU)
        var ok = true
        if keep < view.count { ok = false; oversizeDrops += view.count - keep }
        return appendPending(view, keep) && ok
    }

    private mutating func drainPending(_ parse: (ByteView) -> FrameStep) {
        while pendingCount != 0 {
            let step: FrameStep = pending.withUnsafeBytes { parse(ByteView($0)) }
            switch step {
            case .consumed(let n), .skip(let n):
                dropPending(max(1, min(n, pendingCount)))
            case .needMore:
                return
            }
        }
    }
}

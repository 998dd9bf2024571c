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
    public private(set) var pending: [UInt8] = []
    public let maxPDU: Int
    /// Bytes dropped because a PDU claimed to be larger than `maxPDU`.
    public private(set) var oversizeDrops = 0

    public init(maxPDU: Int) {
        self.maxPDU = maxPDU
        pending.reserveCapacity(min(maxPDU, 4096))
    }

    public var hasPending: Bool { !pending.isEmpty }

    /// Forgets a partial PDU (after a gap in the stream).
    public mutating func reset() { pending.removeAll(keepingCapacity: true) }

    /// Feeds bytes; `parse` is called with a view starting at each PDU boundary candidate.
    /// Returns false when a PDU larger than `maxPDU` had to be dropped (the caller may report it).
    @discardableResult
    public mutating func feed(_ bytes: ByteView, _ parse: (ByteView) -> FrameStep) -> Bool {
        var ok = true
        var input = bytes
        if !pending.isEmpty {
            // Complete the straddling PDU first, copying only what it needs.
            while !input.isEmpty {
                let step: FrameStep = pending.withUnsafeBytes { parse(ByteView($0)) }
                switch step {
                case .consumed(let n), .skip(let n):
                    let k = max(1, min(n, pending.count))
                    pending.removeFirst(k)
                    if pending.isEmpty { break }
                    continue
                case .needMore(let total):
                    // Append what the PDU still needs (or, size unknown, as much as fits
                    // under maxPDU), then parse again: never buffer past maxPDU.
                    var want = total.map { max(1, $0 - pending.count) } ?? input.count
                    want = min(want, maxPDU - pending.count, input.count)
                    if want <= 0 || (total ?? 0) > maxPDU {
                        ok = false
                        oversizeDrops += pending.count
                        pending.removeAll(keepingCapacity: true)
                        break
                    }
                    input.withBytes { pending.append(contentsOf: UnsafeBufferPointer(rebasing: $0[0..<want])) }
                    input = input.suffix(from: want)
                    continue
                }
                if pending.isEmpty { break }
            }
            if !pending.isEmpty {
                // Input exhausted: parse what is pending once more (it may now be whole).
                drainPending(parse)
                return ok
            }
        }
        // Parse in place.
        var offset = 0
        while offset < input.count {
            let view = input.suffix(from: offset)
            switch parse(view) {
            case .consumed(let n), .skip(let n):
                offset += max(1, min(n, view.count))
            case .needMore(let total):
                if let t = total, t > maxPDU {
                    ok = false
                    oversizeDrops += view.count
                    return ok
                }
                let keep = min(view.count, maxPDU)
                if keep < view.count { ok = false; oversizeDrops += view.count - keep }
                view.withBytes { pending.append(contentsOf: UnsafeBufferPointer(rebasing: $0[0..<keep])) }
                return ok
            }
        }
        return ok
    }

    private mutating func drainPending(_ parse: (ByteView) -> FrameStep) {
        while !pending.isEmpty {
            let step: FrameStep = pending.withUnsafeBytes { parse(ByteView($0)) }
            switch step {
            case .consumed(let n), .skip(let n):
                pending.removeFirst(max(1, min(n, pending.count)))
            case .needMore:
                return
            }
        }
    }
}

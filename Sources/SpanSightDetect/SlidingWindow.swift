import SpanSightEngine
import SpanSightWire

/// A pair of addresses and a rule: the key of the sliding windows and of run-scoped aggregates.
struct PairKey: Hashable {
    var a: IPAddress
    var b: IPAddress
    var rule: Int

    /// A 64-bit scope for alert aggregation (collisions only merge two aggregates' counts).
    var scope: UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        h = (h ^ a.hi) &* 0x100_0000_01b3
        h = (h ^ a.lo) &* 0x100_0000_01b3
        h = (h ^ b.hi) &* 0x100_0000_01b3
        h = (h ^ b.lo) &* 0x100_0000_01b3
        h = (h ^ UInt64(rule)) &* 0x100_0000_01b3
        return h | 1 << 63
    }
}

/// Distinct values (or events) per key within a sliding window of packet time, bounded: at most
/// `maxKeys` keys (stale keys are pruned when full, then new keys are dropped and counted) and
/// `maxValues` values per key (the oldest value is replaced).
struct SlidingWindows {
    struct Entry {
        /// Value -> last time seen.
        var values: [UInt64: Int64] = [:]
        var oldestNanos: Int64 = .max
        var newestNanos: Int64 = 0
        /// The last time this key raised its alert: it fires again only a window later.
        var alertedNanos: Int64 = .min
    }

    private(set) var entries: [PairKey: Entry] = [:]
    let maxKeys: Int
    let maxValues: Int
    let window: Int64
    private(set) var droppedKeys: UInt64 = 0
    private var lastPruneNanos: Int64 = .min

    init(maxKeys: Int, maxValues: Int, window: Int64) {
        self.maxKeys = maxKeys
        self.maxValues = maxValues
        self.window = window
    }

    var count: Int { entries.count }
    /// Values held over all keys.
    var valueCount: Int { entries.values.reduce(0) { $0 + $1.values.count } }

    /// Adds `value` under `key` at `now`; returns the number of distinct values within the
    /// window, or nil when the key could not be tracked.
    mutating func add(_ key: PairKey, value: UInt64, now: Int64) -> Int? {
        if entries[key] == nil && entries.count >= maxKeys {
            prune(now)
            if entries.count >= maxKeys { droppedKeys &+= 1; return nil }
        }
        return update(&entries[key, default: Entry()], value: value, now: now)
    }

    private func update(_ e: inout Entry, value: UInt64, now: Int64) -> Int {
        let horizon = now - window
        if e.oldestNanos < horizon {
            e.values = e.values.filter { $0.value >= horizon }
            e.oldestNanos = e.values.values.min() ?? now
        }
        e.newestNanos = max(e.newestNanos, now)
        if e.values[value] == nil && e.values.count >= maxValues,
           let oldest = e.values.min(by: { $0.value < $1.value }) {
            e.values.removeValue(forKey: oldest.key)
            e.oldestNanos = e.values.values.min() ?? now
        }
        e.values[value] = now
        e.oldestNanos = min(e.oldestNanos, now)
        return e.values.count
    }

    /// True (and remembers it) when `key` may alert at `now` (once per window).
    mutating func shouldAlert(_ key: PairKey, now: Int64) -> Bool {
        guard let last = entries[key]?.alertedNanos else { return false }
        if last != .min && now - last < window { return false }
        entries[key]?.alertedNanos = now
        return true
    }

    /// Drops keys whose newest value left the window (at most once per window of packet time).
    private mutating func prune(_ now: Int64) {
        guard lastPruneNanos == .min || now - lastPruneNanos >= window / 4 else { return }
        lastPruneNanos = now
        let horizon = now - window
        entries = entries.filter { $0.value.newestNanos >= horizon }
    }
}

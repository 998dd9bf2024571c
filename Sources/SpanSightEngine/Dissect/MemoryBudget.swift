// UNSAFE: heapSize(of:) reads class metadata and an object's address (Unmanaged, toOpaque) to
// charge what a session object costs; nothing else here touches raw memory.

import CSpanSightHints

/// What a byte of SpanSight's state is for: the kinds the memory budget accounts for and
/// sheds separately (docs/architecture.md#memory-budget).
public enum MemoryKind: Int, CaseIterable, Sendable {
    /// Flow records and the flow index (reserved up front for `maxFlows`).
    case flows
    /// Out-of-order segments and probe buffers (the reassembly page pool).
    case reassembly
    /// Dissector session objects and their fixed per-session buffers.
    case sessions
    /// Open transactions: requests awaiting a response, messages awaiting an acknowledgment.
    case transactions
    /// Partial PDUs: a frame that straddles deliveries, a fragment in reassembly, a message
    /// in progress.
    case pdus
    /// Hosts of the inventory.
    case inventory
    /// Detection's windows, alert books and baseline learning.
    case detection

    /// Name in `stats` (`memory.<name>.used`) and in anomalies.
    public var name: StaticString {
        switch self {
        case .flows: "flows"
        case .reassembly: "reassembly"
        case .sessions: "sessions"
        case .transactions: "transactions"
        case .pdus: "pdus"
        case .inventory: "inventory"
        case .detection: "detection"
        }
    }

    /// The kinds dissector sessions hold: one share of the budget (`applayer`) between them.
    public var isAppLayer: Bool { self == .sessions || self == .transactions || self == .pdus }
}

/// One budget for everything the pipeline holds, like Suricata's memcaps but a single
/// number: `--memory-budget`. It is cut into fixed shares (flows, reassembly, app layer,
/// inventory, detection); each component charges what it allocates and releases what it
/// frees, and a charge that would pass a share is refused or makes room first (`reclaim`).
/// Dissector sessions charge through their `MemoryAccount`, which also enforces the per-flow
/// cap, so one flooding flow cannot take the app-layer share from every other flow.
/// Single-threaded, like the engine.
public final class MemoryBudget {
    public struct Shares: Sendable, Equatable {
        public var flows: Int
        public var reassembly: Int
        public var appLayer: Int
        public var inventory: Int
        public var detection: Int
        /// Most app-layer bytes one flow's session may hold.
        public var perFlow: Int

        public var total: Int { flows + reassembly + appLayer + inventory + detection }
    }

    /// The default budget: fits a small sensor.
    public static let defaultTotal = 512 << 20
    /// The smallest budget accepted (each share must hold a working minimum).
    public static let minimumTotal = 16 << 20

    /// Splits `total`: flows 1/8, reassembly 1/4, inventory 1/16, detection 1/16, the app layer
    /// the rest (1/2); one flow may hold 1/64 of the app layer, at least 256 KiB. An explicit
    /// reassembly or flow-table size is taken out of the budget, shrinking the app layer;
    /// nil when they leave the app layer less than 1/8 of the total.
    public static func shares(total: Int, reassembly: Int? = nil, flows: Int? = nil) -> Shares? {
        let flowShare = flows ?? total / 8
        let reassemblyShare = reassembly ?? total / 4
        let inventory = total / 16, detection = total / 16
        let app = total - flowShare - reassemblyShare - inventory - detection
        guard app >= total / 8 else { return nil }
        return Shares(flows: flowShare, reassembly: reassemblyShare, appLayer: app, inventory: inventory,
                      detection: detection, perFlow: max(256 << 10, app / 64))
    }

    public let total: Int
    public let shares: Shares

    /// Bytes held now, by kind.
    public private(set) var used = [Int](repeating: 0, count: MemoryKind.allCases.count)
    /// Most bytes held at once, by kind.
    public private(set) var peak = [Int](repeating: 0, count: MemoryKind.allCases.count)
    /// App-layer bytes held now (sessions, transactions, partial PDUs) and their peak.
    public private(set) var appLayerUsed = 0
    public private(set) var appLayerPeak = 0
    /// Everything held now and at most.
    public private(set) var totalUsed = 0
    public private(set) var totalPeak = 0
    /// State dropped to stay within the budget: items and bytes by kind.
    public private(set) var shedItems = [UInt64](repeating: 0, count: MemoryKind.allCases.count)
    public private(set) var shedBytes = [UInt64](repeating: 0, count: MemoryKind.allCases.count)
    /// Charges refused by kind (a table that could not grow, a partial PDU dropped).
    public private(set) var refused = [UInt64](repeating: 0, count: MemoryKind.allCases.count)
    /// Times a flow reached its per-flow cap.
    public private(set) var perFlowCapHits: UInt64 = 0
    /// Charges of sessions refused (per-flow cap or app-layer share), all kinds.
    public private(set) var refusalCount: UInt64 = 0

    /// Frees app-layer bytes held by other flows (the engine sheds the least recently active
    /// flows' transactions and partial PDUs): asked for `bytes`, returns what it freed.
    /// `except` is the account asking (its own state is not shed to make room for itself).
    var reclaim: ((Int, MemoryAccount) -> Int)?

    /// Owners of sampled kinds outside the engine (the inventory, detection): what they hold
    /// now and, when they keep one, their exact peak. Read by `Engine.syncMemory`.
    public private(set) var samplers: [(MemoryKind, () -> (used: Int, peak: Int?))] = []

    public func addSampler(_ kind: MemoryKind, _ sample: @escaping () -> (used: Int, peak: Int?)) {
        samplers.append((kind, sample))
    }

    public init(total: Int = MemoryBudget.defaultTotal, shares: Shares) {
        self.total = total
        self.shares = shares
    }

    /// The share a kind charges against (the app layer's kinds share one).
    public func limit(_ kind: MemoryKind) -> Int {
        switch kind {
        case .flows: shares.flows
        case .reassembly: shares.reassembly
        case .sessions, .transactions, .pdus: shares.appLayer
        case .inventory: shares.inventory
        case .detection: shares.detection
        }
    }

    func usedInShare(_ kind: MemoryKind) -> Int { kind.isAppLayer ? appLayerUsed : used[kind.rawValue] }

    /// Charges `bytes` of `kind` if its share has room; false otherwise (and counted).
    public func charge(_ kind: MemoryKind, _ bytes: Int) -> Bool {
        if usedInShare(kind) + bytes > limit(kind) {
            refused[kind.rawValue] &+= 1
            return false
        }
        add(kind, bytes)
        return true
    }

    /// Charges without a check: what is already allocated and cannot be refused (a session's
    /// fixed buffers, made before its first byte; the flow table's reservation).
    public func chargeUnchecked(_ kind: MemoryKind, _ bytes: Int) { add(kind, bytes) }

    public func release(_ kind: MemoryKind, _ bytes: Int) { add(kind, -bytes) }

    /// Counts state dropped to stay within the budget.
    public func countShed(_ kind: MemoryKind, items: Int, bytes: Int) {
        shedItems[kind.rawValue] &+= UInt64(max(0, items))
        shedBytes[kind.rawValue] &+= UInt64(max(0, bytes))
    }

    func countPerFlowCapHit(_ kind: MemoryKind) {
        perFlowCapHits &+= 1
        refused[kind.rawValue] &+= 1
        refusalCount &+= 1
    }

    func countRefusal() { refusalCount &+= 1 }

    /// Sets a kind sampled from its owner (the flow table, the reassembly pool, the inventory)
    /// rather than charged byte by byte; `peak`, when the owner keeps its own exact one.
    public func set(_ kind: MemoryKind, _ bytes: Int, peak ownPeak: Int? = nil) {
        add(kind, bytes - used[kind.rawValue])
        if let ownPeak, ownPeak > peak[kind.rawValue] { peak[kind.rawValue] = ownPeak }
    }

    private func add(_ kind: MemoryKind, _ bytes: Int) {
        let k = kind.rawValue
        used[k] += bytes
        if used[k] > peak[k] { peak[k] = used[k] }
        if kind.isAppLayer {
            appLayerUsed += bytes
            if appLayerUsed > appLayerPeak { appLayerPeak = appLayerUsed }
        }
        totalUsed += bytes
        if totalUsed > totalPeak { totalPeak = totalUsed }
    }

    /// Parses a size: bytes, or a number with K, M or G (binary; "512M", "1G", "64MiB").
    public static func parseSize(_ text: String) -> Int? {
        var digits = Substring(text)
        var unit = 1
        for (suffix, scale) in [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20),
                                ("G", 1 << 30), ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30)] where digits.hasSuffix(suffix) {
            digits = digits.dropLast(suffix.count)
            unit = scale
            break
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= "0" && $0 <= "9" }), let n = Int(digits) else { return nil }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: unit)
        return overflow ? nil : bytes
    }
}

/// What one dissector session holds, by kind, charged to the engine's budget. A session's
/// components (`SlotBlock`, `StreamFramer`, its own buffers) charge before they grow and
/// release when they shrink; when the session ends, everything still held is given back.
/// Until the engine attaches it to a budget (sessions made by tests, or before their flow's
/// first delivery) it only counts, and refuses nothing.
public final class MemoryAccount {
    private(set) var budget: MemoryBudget?
    /// Bytes held now, by kind.
    public private(set) var held = (sessions: 0, transactions: 0, pdus: 0)
    /// Bytes held in every kind.
    public var total: Int { held.sessions + held.transactions + held.pdus }
    /// Charges refused (the per-flow cap or the app-layer share).
    public private(set) var refusals = 0
    /// The last refusal was the per-flow cap's (not the share's).
    public private(set) var lastRefusalAtCap = false
    /// Most bytes this session may hold (from the budget's shares once attached).
    public private(set) var cap = Int.max
    /// Flow slot of the session (the engine skips it when it reclaims for this account).
    public internal(set) var slot: Int32 = -1
    /// Set by the engine while it sheds this session's state (`DissectorSession.shed`).
    var closed = false
    /// The per-flow cap was hit (reported once per flow).
    public internal(set) var capReported = false

    public init() {}

    func attach(_ budget: MemoryBudget, slot: Int32) {
        self.budget = budget
        self.slot = slot
        cap = budget.shares.perFlow
        budget.chargeUnchecked(.sessions, held.sessions)
        budget.chargeUnchecked(.transactions, held.transactions)
        budget.chargeUnchecked(.pdus, held.pdus)
    }

    private func adjust(_ kind: MemoryKind, _ bytes: Int) {
        switch kind {
        case .sessions: held.sessions += bytes
        case .transactions: held.transactions += bytes
        default: held.pdus += bytes
        }
    }

    func heldBytes(_ kind: MemoryKind) -> Int {
        switch kind {
        case .sessions: held.sessions
        case .transactions: held.transactions
        default: held.pdus
        }
    }

    /// Charges `bytes` of `kind` (`.sessions`, `.transactions` or `.pdus`) before they are
    /// allocated. False when the flow's cap or the app-layer share has no room even after
    /// the engine shed other flows' state: the caller then does without (sheds its own
    /// oldest state of the kind, or drops what it would have kept) and says so.
    public func charge(_ kind: MemoryKind, _ bytes: Int) -> Bool {
        guard bytes > 0 else { return true }
        guard let budget else {
            adjust(kind, bytes)
            return true
        }
        if total + bytes > cap {
            refusals += 1
            lastRefusalAtCap = true
            budget.countPerFlowCapHit(kind)
            return false
        }
        if budget.appLayerUsed + bytes > budget.shares.appLayer, let reclaim = budget.reclaim {
            // Make room for more than this charge (1/64 of the share more), so that a flood of
            // growing flows does not reclaim at every charge.
            let want = budget.appLayerUsed + bytes - budget.shares.appLayer + budget.shares.appLayer / 64
            _ = reclaim(want, self)
        }
        guard budget.charge(kind, bytes) else {
            refusals += 1
            lastRefusalAtCap = false
            budget.countRefusal()
            return false
        }
        adjust(kind, bytes)
        return true
    }

    /// Charges what is already allocated (a fixed buffer made at the session's start).
    public func chargeUnchecked(_ kind: MemoryKind, _ bytes: Int) {
        guard bytes > 0 else { return }
        adjust(kind, bytes)
        budget?.chargeUnchecked(kind, bytes)
    }

    /// Gives back bytes of `kind` that were freed (never more than is held).
    public func release(_ kind: MemoryKind, _ bytes: Int) {
        let n = min(max(0, bytes), heldBytes(kind))
        guard n > 0 else { return }
        adjust(kind, -n)
        budget?.release(kind, n)
    }

    /// Gives back everything (the session ended).
    func releaseAll() {
        for kind in [MemoryKind.sessions, .transactions, .pdus] { release(kind, heldBytes(kind)) }
    }
}

/// Bytes a heap object costs, as a function of its class alone: the instance size Swift's
/// runtime asks malloc for (read from the class metadata), rounded up as glibc rounds a
/// request (16-byte chunks with an 8-byte header, 24 usable at least).
///
/// Not `malloc_usable_size`: a chunk split from a larger free one can carry up to 16 bytes of
/// slack, so the same capture charged different totals on two machines and a golden `stats`
/// event failed in CI. Every charge must be a function of the traffic, never of the heap's
/// history (`reservedSize` says the same for growing buffers). Falls back to the usable size
/// if the metadata field is implausible (a runtime whose class layout differs).
public func heapSize(of object: AnyObject) -> Int {
    let usable = CSpanSightHints_usableSize(Unmanaged.passUnretained(object).toOpaque())
    // Class metadata without Objective-C interop: kind/isa, superclass, flags (4),
    // instance address point (4), then the instance size (4) at byte 24.
    let metadata = unsafeBitCast(type(of: object), to: UnsafeRawPointer.self)
    let size = Int(metadata.load(fromByteOffset: 24, as: UInt32.self))
    guard size >= 16, size <= usable else { return usable }
    return max(24, ((size + 8 + 15) & ~15) - 8)
}

/// The logical size a growing buffer reserves to hold `count` elements: `floor` doubled until
/// it is enough. Components charge this, never an Array's `capacity`: on Linux that comes from
/// `malloc_usable_size` and depends on the heap's history (see `heapSize(of:)`), and an
/// append past it doubles the slack too. The allocator's slack above the reserved size (under
/// 32 bytes a block) is not counted.
@inlinable
public func reservedSize(for count: Int, floor: Int) -> Int {
    var n = max(1, floor)
    while n < count { n &*= 2 }
    return n
}

/// Bytes the process has allocated from the heap now (for tests of the accounting).
public func heapBytesInUse() -> Int { CSpanSightHints_heapInUse() }

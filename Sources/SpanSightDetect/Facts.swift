import SpanSightEngine
import SpanSightWire

/// The command-level facts the learner records and the detector checks, derived the same way
/// from the observations by both (so what was learned is exactly what is checked).

struct TalkerPair: Hashable, Comparable {
    var client: IPAddress
    var server: IPAddress
    var proto: UInt8
    var port: UInt16
    static func < (a: TalkerPair, b: TalkerPair) -> Bool {
        (a.client, a.server, a.proto, a.port) < (b.client, b.server, b.proto, b.port)
    }
}

/// A learned command's key: the pair, the protocol, the scope identities and the command.
struct CommandKey: Hashable, Comparable {
    var app: String
    var client: IPAddress
    var server: IPAddress
    var scope: [String]
    var unit: UInt32
    var function: UInt16
    var subfunction: UInt16
    var name: String
    static func < (a: CommandKey, b: CommandKey) -> Bool {
        if (a.client, a.server, a.app) != (b.client, b.server, b.app) { return (a.client, a.server, a.app) < (b.client, b.server, b.app) }
        if a.scope != b.scope { return a.scope.lexicographicallyPrecedes(b.scope) }
        return (a.unit, a.function, a.subfunction, a.name) < (b.unit, b.function, b.subfunction, b.name)
    }
}

struct RateKey: Hashable, Comparable {
    var client: IPAddress
    var server: IPAddress
    var app: String
    static func < (a: RateKey, b: RateKey) -> Bool { (a.client, a.server, a.app) < (b.client, b.server, b.app) }
}

/// One command as a fact (from its module's `BaselineFact`).
struct CommandFact {
    var key: CommandKey
    var range: ClosedRange<UInt32>? = nil
    /// A write: its range must be within the learned ranges.
    var checkRange = false
    /// Named values (empty ones dropped).
    var attributes: [(name: String, values: [String])] = []
}

/// What a flow's observations said about its endpoints' application identities (the keys its
/// module keeps, `ProtocolModule.flowIdentityKeys`), per side.
struct FlowFacts {
    var identities = FlowIdentities()
    /// The flow's pair and talkers were checked (baseline mode).
    var pairChecked = false
}

/// Per-flow facts, bounded (flows beyond the cap get none; counted).
struct FlowFactsTable {
    private(set) var flows: [UInt64: FlowFacts] = [:]
    let cap: Int
    private(set) var dropped: UInt64 = 0

    init(cap: Int) { self.cap = cap }
    var count: Int { flows.count }

    /// The facts of flow `id`, created on first use (nil when the table is full).
    mutating func with<R>(_ id: UInt64, _ body: (inout FlowFacts) -> R) -> R? {
        if flows[id] == nil {
            guard flows.count < cap else { dropped &+= 1; return nil }
            flows[id] = FlowFacts()
        }
        return body(&flows[id]!)
    }

    func get(_ id: UInt64) -> FlowFacts? { flows[id] }
    mutating func remove(_ id: UInt64) { flows.removeValue(forKey: id) }
}

enum Facts {
    static func address(_ flow: borrowing FlowRecord, _ side: Side) -> IPAddress {
        side == .client ? flow.key.client : flow.key.server
    }

    /// The fact of a command, or nil for protocols without command-level learning.
    static func command(_ c: Command, flow: borrowing FlowRecord, app: ProtocolModule?, facts: FlowFacts?) -> CommandFact? {
        guard let app, let f = app.baselineFact(c, facts?.identities ?? FlowIdentities()) else { return nil }
        let key = CommandKey(app: "\(app.name)", client: address(flow, c.issuer), server: address(flow, c.issuer.other),
                             scope: f.scope, unit: f.unit, function: f.function, subfunction: f.subfunction, name: f.name)
        return CommandFact(key: key, range: f.range, checkRange: f.checkRange,
                           attributes: f.attributes.map { ("\($0.name)", $0.values.filter { !$0.isEmpty }) })
    }
}

/// Closed address ranges, merged (overlapping and adjacent ranges become one).
struct RangeSet: Equatable {
    private(set) var ranges: [ClosedRange<UInt32>] = []

    mutating func insert(_ r: ClosedRange<UInt32>) {
        var lo = r.lowerBound, hi = r.upperBound
        var kept: [ClosedRange<UInt32>] = []
        for x in ranges {
            if x.upperBound &+ 1 < lo && x.upperBound != .max || hi &+ 1 < x.lowerBound && hi != .max {
                kept.append(x)
            } else {
                lo = min(lo, x.lowerBound)
                hi = max(hi, x.upperBound)
            }
        }
        kept.append(lo...hi)
        ranges = kept.sorted { $0.lowerBound < $1.lowerBound }
    }

    func contains(_ r: ClosedRange<UInt32>) -> Bool {
        ranges.contains { $0.lowerBound <= r.lowerBound && r.upperBound <= $0.upperBound }
    }
}

import SpanSightEngine
import SpanSightWire

/// Commands per rate window per pair, counted the same way when learning and when checking:
/// windows are aligned on multiples of the window length in packet time.
struct RateCounter {
    struct Current { var window: Int64; var count: Int }
    private(set) var current: [RateKey: Current] = [:]
    let windowNanos: Int64
    let cap: Int
    private(set) var dropped: UInt64 = 0
    var count: Int { current.count }

    /// Counts one command; returns the count in the current window and the window that was
    /// closed by this command, if any (its count).
    mutating func tick(_ key: RateKey, now: Int64) -> (count: Int, closed: Int?) {
        let w = now / windowNanos
        if var c = current[key] {
            if c.window == w {
                c.count += 1
                current[key] = c
                return (c.count, nil)
            }
            current[key] = Current(window: w, count: 1)
            return (1, c.count)
        }
        guard current.count < cap else { dropped &+= 1; return (0, nil) }
        current[key] = Current(window: w, count: 1)
        return (1, nil)
    }
}

/// Learns a baseline from observations (`spansight learn`).
public final class Learner: EngineObserver {
    public let index: BaselineIndex
    let maxEntries: Int
    private var facts: FlowFactsTable
    private var rate: RateCounter

    public init(rateWindowSeconds: Int = 60, maxEntries: Int = 100_000, maxFlows: Int = 65_536) {
        index = BaselineIndex(rateWindowSeconds: max(1, rateWindowSeconds))
        self.maxEntries = maxEntries
        facts = FlowFactsTable(cap: maxFlows)
        rate = RateCounter(windowNanos: index.rateWindowNanos, cap: maxEntries)
    }

    /// Adds `body`'s entry under `key` of `table` unless the table is full (then counted).
    private func upsert<K: Hashable, V>(_ table: inout [K: V], _ key: K, _ make: @autoclosure () -> V, _ body: (inout V) -> Void) {
        if table[key] == nil {
            guard table.count < maxEntries else { index.dropped += 1; return }
            table[key] = make()
        }
        body(&table[key]!)
    }

    public func observe(_ observation: Observation, flow: borrowing FlowRecord, timestampNanos: Int64, app: ProtocolModule?) {
        switch observation {
        case .role(let side, let name):
            upsert(&index.talkers, Facts.address(flow, side), []) { $0.insert(name.description) }
        case .identity(let side, let key, let value):
            if let app, app.flowIdentityKeys.contains(where: { $0.description == key.description }) {
                _ = facts.with(flow.id) { $0.identities.set(side, key, value) }
            }
        case .command(let c):
            guard let fact = Facts.command(c, flow: flow, app: app, facts: facts.get(flow.id)) else { return }
            learn(fact, name: c.name.description, operation: c.operation.name.description)
            let key = RateKey(client: flow.key.client, server: flow.key.server, app: app.map { "\($0.name)" } ?? "")
            let (_, closed) = rate.tick(key, now: timestampNanos)
            if let n = closed { closeWindow(key, n) }
        default:
            break
        }
    }

    private func learn(_ fact: CommandFact, name: String, operation: String) {
        upsert(&index.commands, fact.key, BaselineIndex.CommandEntry(operation: operation)) { e in
            if let r = fact.range { e.ranges.insert(r) }
            for a in fact.attributes { e.attributes[a.name, default: []].formUnion(a.values) }
            e.count += 1
        }
    }

    private func closeWindow(_ key: RateKey, _ count: Int) {
        upsert(&index.rates, key, BaselineIndex.RateEnvelope()) { e in
            e.windows += 1
            e.total += count
            e.maxPerWindow = max(e.maxPerWindow, count)
        }
    }

    public func flowEnded(_ flow: borrowing FlowRecord, app: ProtocolModule?, operations: UInt16) {
        let client = flow.key.client, server = flow.key.server
        upsert(&index.talkers, client, []) { _ in }
        upsert(&index.talkers, server, []) { _ in }
        let pair = TalkerPair(client: client, server: server, proto: flow.key.proto, port: flow.key.serverPort)
        upsert(&index.pairs, pair, BaselineIndex.PairInfo(app: app.map { "\($0.name)" } ?? "none", flows: 0)) { p in
            p.flows += 1
            if p.app == "none", let a = app { p.app = "\(a.name)" }
        }
        facts.remove(flow.id)
    }

    /// End of the input: the open rate windows count too.
    public func finish(sources: [String]) {
        for (k, c) in rate.current.sorted(by: { $0.key < $1.key }) { closeWindow(k, c.count) }
        index.sources = sources
        index.dropped += Int(rate.dropped) + Int(facts.dropped)
    }
}

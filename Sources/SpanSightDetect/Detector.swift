import SpanSightEngine
import SpanSightWire

/// The detection engine: rules that need no learning (dissector anomalies, dangerous
/// operations, reconnaissance over sliding windows), and, with a baseline, deviations from
/// what was learned. Alerts go to the event output as `alert` events (aggregated per flow and
/// cause); counts, per-asset risk and alerted flows stay available after the run.
public final class Detector: EngineObserver, AssetChangeListener {
    public let config: DetectConfig
    public let baseline: BaselineIndex?
    let book: AlertBook
    private var facts: FlowFactsTable
    private var windows: SlidingWindows
    private var rate: RateCounter
    private var eventSequence: UInt64 = 0
    /// The scope identities the baseline knows (AE titles, application^facility names).
    private let knownIdentities: Set<String>

    /// The inventory, when one is attached: risk uses its device profiles.
    public weak var lookup: AssetLookup? {
        didSet { book.lookup = lookup }
    }

    public init(config: DetectConfig = DetectConfig(), baseline: BaselineIndex? = nil, output: EventOutput) {
        self.config = config
        self.baseline = baseline
        book = AlertBook(output: output, config: config)
        facts = FlowFactsTable(cap: config.maxFlows)
        windows = SlidingWindows(maxKeys: config.maxTrackedKeys, maxValues: config.windowValues, window: config.windowNanos)
        rate = RateCounter(windowNanos: baseline?.rateWindowNanos ?? 60_000_000_000, cap: config.maxTrackedKeys)
        knownIdentities = Set((baseline?.commands.keys).map { $0.flatMap(\.scope) } ?? [])
    }

    // MARK: results

    public var stats: AlertStats { book.stats }
    /// Alert risk accumulated per address: the maximum, the sum and the number of alerts.
    public func assetRisk(of address: IPAddress) -> AssetRisk? { book.ledger.accounts[address] }
    /// Every address with alert risk, highest maximum first.
    public var assetRisks: [(address: IPAddress, risk: AssetRisk)] { book.ledger.ranked }
    /// Flows that raised alerts (for the evidence pcap), in the order they ended.
    public var evidence: [EvidenceFlow] { book.evidence }
    /// What the caps dropped: per-flow state, sliding-window keys, rate keys, aggregates, risk accounts, evidence.
    public var drops: [(String, UInt64)] {
        [("flows", facts.dropped), ("window_keys", windows.droppedKeys), ("rate_keys", rate.dropped),
         ("aggregates", book.stats.aggregatesDropped), ("pair_counts", book.stats.pairsDropped),
         ("risk_assets", book.ledger.dropped), ("evidence_flows", book.evidenceDropped)]
    }
    /// Keys currently held by the sliding windows (memory caps test).
    public var trackedWindowKeys: Int { windows.count }

    /// Bytes detection holds now, by the costs of `DetectCost` (within `config.worstCaseBytes`).
    public var estimatedBytes: Int {
        windows.count * DetectCost.windowKey + windows.valueCount * DetectCost.windowValue
            + rate.count * DetectCost.rateKey + facts.count * DetectCost.flow
            + book.openAggregates * DetectCost.aggregate + book.pairCounts * DetectCost.pairCount
            + book.ledger.accounts.count * DetectCost.riskAsset
            + book.evidence.count * DetectCost.evidenceFlow
    }

    /// Alert risk carried over from an earlier run or a restarted sensor (before any traffic).
    public func restoreRisk(_ risk: AssetRisk, of address: IPAddress) { book.restoreRisk(risk, to: address) }

    /// End of the run: repeated alerts still open are reported with their counts.
    public func finish() { book.finish() }

    // MARK: engine observer

    public func observe(_ observation: Observation, flow: borrowing FlowRecord, timestampNanos: Int64, app: ProtocolModule?,
                        origin: ObservationOrigin, appObject: (inout JSONWriter) -> Void) {
        book.currentOrigin = origin
        defer { book.currentOrigin = ObservationOrigin() }
        guard origin.hasAppObject else {
            observe(observation, flow: flow, timestampNanos: timestampNanos, app: app)
            return
        }
        let record = copy flow
        // The writer is used only by alerts written during this call (first occurrences are
        // written at once), never kept.
        withoutActuallyEscaping(appObject) { writer in
            book.currentAppObject = writer
            observe(observation, flow: record, timestampNanos: timestampNanos, app: app)
            book.currentAppObject = nil
        }
    }

    public func observe(_ observation: Observation, flow: borrowing FlowRecord, timestampNanos: Int64, app: ProtocolModule?) {
        let env = EventEnvelope(flow: flow, timestampNanos: timestampNanos, app: app)
        book.currentFlow = FlowSnapshot(flow)
        defer { book.currentFlow = nil }
        if baseline != nil { checkPair(flow, app: app, env) }
        switch observation {
        case .anomaly(let name):
            book.raise(app?.signature(ofAnomaly: name) ?? Signatures.otherAnomaly, env, detail: name.description, target: flow.key.server,
                       hint: RoleHint.of(app, .server), cause: Detector.hash(name.description))
        case .identity(let side, let key, let value):
            if let app, app.flowIdentityKeys.contains(where: { $0.description == key.description }) {
                _ = facts.with(flow.id) { $0.identities.set(side, key, value) }
            }
        case .outcome(_, let name, let success, _):
            outcome(name, success: success, flow: flow, app: app, env)
        case .command(let c):
            command(c, flow: flow, app: app, env)
        case .role, .child, .childIdentity:
            break
        }
    }

    public func flowEnded(_ flow: borrowing FlowRecord, app: ProtocolModule?, operations: UInt16) {
        let env = EventEnvelope(flow: flow, timestampNanos: flow.lastNanos, app: app)
        book.currentFlow = FlowSnapshot(flow)
        defer { book.currentFlow = nil }
        if baseline != nil { checkPair(flow, app: app, env) }
        let gap = flow.toServer.gapBytes &+ flow.toClient.gapBytes
        if gap > 0, let app, app.isFieldProtocol {
            book.raise(Signatures.controlGap, env, detail: "\(gap) bytes of \(app.name) traffic lost to reassembly gaps",
                       target: flow.key.server, hint: RoleHint.of(app, .server))
        }
        book.flowEnded(flow)
        facts.remove(flow.id)
    }

    public func assetChanged(_ change: AssetChange) {
        // A first sighting is not a change: new talkers are judged against the baseline by
        // the flow rules (4001), with the flow at hand.
        if change.kind.description == "new_asset" { return }
        var env = EventEnvelope()
        env.timestampNanos = change.timestampNanos
        env.flowID = change.flowID
        // About one host: its address as both ends (Suricata's src/dest are always present).
        env.sourceIP = change.address
        env.destinationIP = change.address
        let sig = Signatures.change(change.kind)
        var detail = change.kind.description
        if !change.key.isEmpty { detail += " \(change.key)" }
        if !change.oldValue.isEmpty || !change.newValue.isEmpty { detail += ": \(change.oldValue) -> \(change.newValue)" }
        book.raise(sig, env, detail: detail, target: change.address, hint: RoleHint.unclassified,
                   cause: Detector.hash(change.key + "\u{0}" + change.newValue),
                   pair: PairKey(a: change.address, b: .zero, rule: sig.id))
    }

    // MARK: rules

    private func outcome(_ name: StaticString, success: Bool, flow: borrowing FlowRecord, app: ProtocolModule?, _ env: EventEnvelope) {
        guard let app else { return }
        for rule in app.outcomes where rule.matches(name, success) {
            eventSequence &+= 1
            let key = PairKey(a: flow.key.client, b: flow.key.server, rule: rule.signature.id)
            sweep(key, value: eventSequence, threshold: config.threshold(rule.thresholdName, default: rule.defaultThreshold),
                  rule.signature, env, flow: flow, app: app, what: rule.what.description)
        }
    }

    /// Counts `value` in the window of `key`; alerts (once per window) when the distinct count reaches `threshold`.
    private func sweep(_ key: PairKey, value: UInt64, threshold: Int, _ sig: Signature, _ env: EventEnvelope,
                       flow: borrowing FlowRecord, app: ProtocolModule?, what: String) {
        guard let n = windows.add(key, value: value, now: env.timestampNanos), n >= threshold,
              windows.shouldAlert(key, now: env.timestampNanos) else { return }
        let seconds = config.windowNanos / 1_000_000_000
        book.raise(sig, env, detail: "\(n) \(what) from \(key.a.text) to \(key.b.text) within \(seconds) s",
                   target: key.b, hint: RoleHint.of(app, .server), pair: key)
    }

    private func command(_ c: Command, flow: borrowing FlowRecord, app: ProtocolModule?, _ env: EventEnvelope) {
        let issuer = Facts.address(flow, c.issuer), target = Facts.address(flow, c.issuer.other)
        let hint = RoleHint.of(app, c.issuer.other)
        let flowFacts = facts.get(flow.id)
        let fact = Facts.command(c, flow: flow, app: app, facts: flowFacts)
        let allowed = fact.map { baselineAllows($0) } ?? false
        let cause = UInt64(c.function) | UInt64(c.subfunction) << 16
        func raise(_ sig: Signature) {
            if allowed && !sig.critical { return }
            book.raise(sig, env, detail: Detector.describe(c, app: app), target: target, hint: hint, cause: cause)
        }
        if let app {
            if let sig = app.commandRule(c, flowFacts?.identities ?? FlowIdentities()) { raise(sig) }
            for rule in app.sweeps {
                guard let value = rule.value(c, flowFacts?.identities ?? FlowIdentities()) else { continue }
                sweep(PairKey(a: issuer, b: target, rule: rule.signature.id), value: value,
                      threshold: config.threshold(rule.thresholdName, default: rule.defaultThreshold), rule.signature, env,
                      flow: flow, app: app, what: rule.what.description)
            }
        }
        if baseline != nil, let fact { checkCommand(fact, c, env, target: target, hint: hint, flow: flow, app: app) }
    }

    static func describe(_ c: Command, app: ProtocolModule?) -> String {
        app?.describe(c) ?? ProtocolModule.describeGeneric(c)
    }

    static func hash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    // MARK: baseline

    /// True when the baseline holds this exact command (and, for writes, its address range).
    func baselineAllows(_ fact: CommandFact) -> Bool {
        guard let b = baseline, let e = b.commands[fact.key] else { return false }
        if let r = fact.range, !e.ranges.contains(r) { return false }
        return Detector.within(fact, e)
    }

    /// The fact's named values are all among the entry's.
    static func within(_ fact: CommandFact, _ e: BaselineIndex.CommandEntry) -> Bool {
        fact.attributes.allSatisfy { a in a.values.allSatisfy { e.attributes[a.name]?.contains($0) ?? false } }
    }

    private func checkCommand(_ fact: CommandFact, _ c: Command, _ env: EventEnvelope, target: IPAddress, hint: RoleHint,
                              flow: borrowing FlowRecord, app: ProtocolModule?) {
        guard let b = baseline else { return }
        let cause = UInt64(c.function) | UInt64(c.subfunction) << 16 | UInt64(c.unit) << 32
        var sig: Signature? = nil
        if let e = b.commands[fact.key] {
            if fact.checkRange, let r = fact.range, !e.ranges.contains(r) { sig = Signatures.writeOutsideRange }
            else if !Detector.within(fact, e) { sig = Signatures.newCommand }
        } else if !fact.key.scope.allSatisfy({ knownIdentities.contains($0) }) {
            sig = Signatures.newApplication
        } else {
            sig = Signatures.newCommand
        }
        if let sig { book.raise(sig, env, detail: Detector.describe(c, app: app), target: target, hint: hint, cause: cause) }
        // Rate envelope of the pair.
        let key = RateKey(client: flow.key.client, server: flow.key.server, app: app.map { "\($0.name)" } ?? "")
        let (count, _) = rate.tick(key, now: env.timestampNanos)
        guard let e = b.rates[key] else { return }
        // Saturating: the learned counts come from a file.
        let scaled = min(max(Double(e.maxPerWindow) * config.rateFactor, -9e18), 9e18)
        let (bySlack, overflow) = e.maxPerWindow.addingReportingOverflow(config.rateSlack)
        let limit = max(Int(scaled), overflow ? Int.max : bySlack)
        if count == limit &+ 1 {
            book.raise(Signatures.rateAboveEnvelope, env,
                       detail: "more than \(limit) \(key.app) commands in \(b.rateWindowSeconds) s (learned max \(e.maxPerWindow), mean \(e.windows == 0 ? 0 : e.total / e.windows))",
                       target: flow.key.server, hint: RoleHint.of(app, .server),
                       pair: PairKey(a: flow.key.client, b: flow.key.server, rule: Signatures.rateAboveEnvelope.id))
        }
    }

    /// New talkers and pairs, checked once per flow (at its first observation or its end).
    private func checkPair(_ flow: borrowing FlowRecord, app: ProtocolModule?, _ env: EventEnvelope) {
        guard let b = baseline else { return }
        let id = flow.id
        if facts.get(id)?.pairChecked == true { return }
        guard facts.with(id, { f in
            let first = !f.pairChecked
            f.pairChecked = true
            return first
        }) == true else { return }
        for (side, address) in [(Side.client, flow.key.client), (Side.server, flow.key.server)] where !b.knows(address) {
            book.raise(Signatures.newTalker, env, detail: "\(address.text) was never seen while learning",
                       target: address, hint: RoleHint.of(app, side),
                       pair: PairKey(a: address, b: .zero, rule: Signatures.newTalker.id))
        }
        let pair = TalkerPair(client: flow.key.client, server: flow.key.server, proto: flow.key.proto, port: flow.key.serverPort)
        if b.pairs[pair] == nil {
            book.raise(Signatures.newPair, env,
                       detail: "\(pair.client.text) -> \(pair.server.text) \(pair.proto == 6 ? "tcp" : pair.proto == 17 ? "udp" : String(pair.proto))/\(pair.port) (\(app.map { "\($0.name)" } ?? "no app")) was never seen while learning",
                       target: pair.server, hint: RoleHint.of(app, .server), cause: UInt64(pair.port) | UInt64(pair.proto) << 16,
                       pair: PairKey(a: pair.client, b: pair.server, rule: Signatures.newPair.id))
        }
    }
}

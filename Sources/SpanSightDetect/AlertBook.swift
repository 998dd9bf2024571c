import SpanSightEngine
import SpanSightWire

/// What an alert is aggregated under: a flow (or, for rules over many flows, a pair), the
/// signature, and the cause within it (function code, anomaly name, ...).
struct AlertKey: Hashable {
    var scope: UInt64
    var signature: Int
    var cause: UInt64
}

/// A flow that raised an alert, for the evidence pcap.
public struct EvidenceFlow: Sendable {
    /// The flow's `flow_id` in events.
    public var id: UInt64 = 0
    public var key: FlowKey
    public var vlanCount: UInt8
    public var firstNanos: Int64
    public var lastNanos: Int64
}

/// Alert counts per signature and per pair (the summary, `simulate`, tests).
public struct AlertStats: Sendable {
    /// Alerts raised (first occurrences: one per aggregate) per signature id.
    public var alerts: [Int: Int] = [:]
    /// Occurrences (an aggregate's count) per signature id.
    public var occurrences: [Int: Int] = [:]
    /// Alerts per (source, destination) and signature id.
    public var byPair: [PairCount: Int] = [:]
    /// Alerts emitted without aggregation because the aggregate table was full.
    public var aggregatesDropped: UInt64 = 0
    public var pairsDropped: UInt64 = 0

    public struct PairCount: Hashable, Sendable {
        public var source: IPAddress
        public var destination: IPAddress
        public var signature: Int
    }

    public var totalAlerts: Int { alerts.values.reduce(0, +) }
}

/// The flow counters an alert carries (Suricata's `alert` events have the `flow` object as
/// it was when the alert fired).
struct FlowSnapshot {
    var packetsToServer: UInt64
    var packetsToClient: UInt64
    var bytesToServer: UInt64
    var bytesToClient: UInt64
    var startNanos: Int64

    init(_ flow: borrowing FlowRecord) {
        packetsToServer = flow.packetsToServer
        packetsToClient = flow.packetsToClient
        bytesToServer = flow.bytesToServer
        bytesToClient = flow.bytesToClient
        startNanos = flow.firstNanos
    }
}

/// Raises alerts: aggregates repeats of the same cause, scores risk, writes `alert` events,
/// keeps the counts, the per-asset risk and the alerted flows.
final class AlertBook {
    struct Aggregate {
        var envelope: EventEnvelope
        var signature: Signature
        var detail: String
        var target: IPAddress
        var risk: RiskScore
        var firstNanos: Int64
        var lastNanos: Int64
        var count: Int
        var flow: FlowSnapshot?
    }

    /// The flow being observed while the detector handles an observation or a flow's end.
    var currentFlow: FlowSnapshot?
    /// Where the observation being handled came from (packet, transaction, direction).
    var currentOrigin = ObservationOrigin()
    /// A writer of the app-layer object of the observation's transaction, during the call
    /// that brought it only (`Detector.observe`).
    var currentAppObject: ((inout JSONWriter) -> Void)?

    let output: EventOutput
    let config: DetectConfig
    weak var lookup: AssetLookup?
    private var open: [AlertKey: Aggregate] = [:]
    private var byFlow: [UInt64: [AlertKey]] = [:]
    private(set) var stats = AlertStats()
    private(set) var ledger: RiskLedger
    /// Flows that alerted and are still open (evidence is recorded when they end).
    private var alertedFlows: Set<UInt64> = []
    private(set) var evidence: [EvidenceFlow] = []
    private(set) var evidenceDropped: UInt64 = 0
    /// Open aggregates and per-pair alert counts (what `DetectCost` charges for).
    var openAggregates: Int { open.count }
    var pairCounts: Int { stats.byPair.count }

    init(output: EventOutput, config: DetectConfig) {
        self.output = output
        self.config = config
        self.ledger = RiskLedger(cap: config.maxRiskAssets)
    }

    func restoreRisk(_ risk: AssetRisk, to address: IPAddress) { ledger.restore(risk, to: address) }

    /// One occurrence of `sig` about `envelope`'s flow. `pair` scopes the aggregate to a pair of
    /// hosts (rules over many flows) instead of the flow.
    func raise(_ sig: Signature, _ envelope: EventEnvelope, detail: String, target: IPAddress, hint: RoleHint,
               cause: UInt64 = 0, pair: PairKey? = nil) {
        stats.occurrences[sig.id, default: 0] += 1
        let key = AlertKey(scope: pair?.scope ?? envelope.flowID, signature: sig.id, cause: cause)
        if open[key] != nil {
            open[key]!.count += 1
            open[key]!.lastNanos = envelope.timestampNanos
            return
        }
        let risk = Risk.score(sig, target: target, hint: hint, lookup: lookup)
        let a = Aggregate(envelope: envelope, signature: sig, detail: detail, target: target, risk: risk,
                          firstNanos: envelope.timestampNanos, lastNanos: envelope.timestampNanos, count: 1,
                          flow: envelope.flowID != 0 && envelope.proto != 0 ? currentFlow : nil)
        stats.alerts[sig.id, default: 0] += 1
        countPair(envelope, sig)
        ledger.add(risk.value, to: target)
        if envelope.flowID != 0 {
            if alertedFlows.count < config.maxEvidenceFlows { alertedFlows.insert(envelope.flowID) } else { evidenceDropped &+= 1 }
        }
        write(a, final: false, origin: currentOrigin)
        if open.count >= config.maxAggregates {
            stats.aggregatesDropped &+= 1
            return
        }
        open[key] = a
        if pair == nil && envelope.flowID != 0 { byFlow[envelope.flowID, default: []].append(key) }
    }

    private func countPair(_ e: EventEnvelope, _ sig: Signature) {
        let k = AlertStats.PairCount(source: e.sourceIP, destination: e.destinationIP, signature: sig.id)
        if stats.byPair[k] == nil && stats.byPair.count >= config.maxTrackedKeys { stats.pairsDropped &+= 1; return }
        stats.byPair[k, default: 0] += 1
    }

    /// The flow ended: its repeated alerts are reported once with their count; its evidence is kept.
    func flowEnded(_ flow: borrowing FlowRecord) {
        if let keys = byFlow.removeValue(forKey: flow.id) {
            for k in keys { close(k) }
        }
        if alertedFlows.remove(flow.id) != nil {
            evidence.append(EvidenceFlow(id: flow.id, key: flow.key, vlanCount: flow.vlanCount, firstNanos: flow.firstNanos, lastNanos: flow.lastNanos))
        }
    }

    /// End of the run: every open aggregate with repeats is reported, in time order.
    func finish() {
        let keys = open.keys.sorted {
            let a = open[$0]!, b = open[$1]!
            return a.firstNanos != b.firstNanos ? a.firstNanos < b.firstNanos : (a.signature.id, $0.scope, $0.cause) < (b.signature.id, $1.scope, $1.cause)
        }
        for k in keys { close(k) }
        byFlow.removeAll()
    }

    private func close(_ key: AlertKey) {
        guard let a = open.removeValue(forKey: key) else { return }
        if a.count > 1 { write(a, final: true) }
    }

    /// A first occurrence is an `alert` event (Suricata's); the end-of-flow or end-of-run total
    /// of a repeated cause is an `alert_summary` event, so that a SIEM counting alerts counts
    /// each once.
    private func write(_ a: Aggregate, final: Bool, origin: ObservationOrigin = ObservationOrigin()) {
        if !final {
            output.alertsWritten &+= 1
            if a.envelope.flowID != 0 { output.alertedFlows.insert(a.envelope.flowID) }
        }
        guard output.isEnabled else { return }
        var env = a.envelope
        let w = output
        if final {
            env.timestampNanos = a.lastNanos
            env.pcapCount = 0
            w.begin("alert_summary", env)
            w.writer.beginObject("alert_summary")
            AlertBook.summary(&w.writer, a)
            w.writer.endObject()
            w.end()
            return
        }
        // Suricata's alert envelope: the packet that fired it, its transaction and direction.
        if origin.pcapCount != 0 { env.pcapCount = origin.pcapCount }
        if origin.txID >= 0 { env.txID = origin.txID }
        if let d = origin.direction { env.direction = d }
        w.begin("alert", env)
        w.writer.beginObject("alert")
        AlertBook.body(&w.writer, a)
        w.writer.endObject()
        // Suricata's alerts carry the transaction's app-layer object and the flow as it was.
        if origin.hasAppObject, env.appProto != nil, let writeObject = currentAppObject {
            w.writer.key(env.appProto!)
            w.writer.beginObject()
            writeObject(&w.writer)
            w.writer.endObject()
        }
        if let f = a.flow {
            w.writer.beginObject("flow")
            w.writer.field("pkts_toserver", f.packetsToServer)
            w.writer.field("pkts_toclient", f.packetsToClient)
            w.writer.field("bytes_toserver", f.bytesToServer)
            w.writer.field("bytes_toclient", f.bytesToClient)
            w.writer.timestampField("start", nanos: f.startNanos)
            w.writer.field("src_ip", env.sourceIP)
            w.writer.field("dest_ip", env.destinationIP)
            w.writer.field("src_port", Int(env.sourcePort))
            w.writer.field("dest_port", Int(env.destinationPort))
            w.writer.endObject()
        }
        w.end()
    }

    /// Suricata's `alert` object, then ours (`severity_name`, `mitre`, `detail`, `risk`, ...).
    private static func body(_ j: inout JSONWriter, _ a: Aggregate) {
        let sig = a.signature
        j.field("action", "allowed")
        j.field("gid", 1)
        j.field("signature_id", sig.sid)
        j.field("rev", sig.rev)
        j.field("signature", sig.name)
        j.field("category", sig.category.name)
        j.field("severity", sig.severity)
        metadata(&j, sig)
        endpoints(&j, a)
        j.field("severity_name", sig.severityName)
        if let t = sig.technique {
            j.beginObject("mitre")
            j.field("technique_id", t.id)
            j.field("technique", t.name)
            j.field("tactic_id", t.tactic.id)
            j.field("tactic", t.tactic.name)
            j.endObject()
        }
        j.field("detail", a.detail)
        j.field("risk", a.risk.value)
        j.beginArray("risk_reasons")
        for r in a.risk.reasons { j.value(r) }
        j.endArray()
    }

    /// The total of a repeated cause: which alert, how many times, first and last seen.
    private static func summary(_ j: inout JSONWriter, _ a: Aggregate) {
        let sig = a.signature
        j.field("gid", 1)
        j.field("signature_id", sig.sid)
        j.field("rev", sig.rev)
        j.field("signature", sig.name)
        j.field("category", sig.category.name)
        j.field("severity", sig.severity)
        endpoints(&j, a)
        j.field("detail", a.detail)
        j.field("risk", a.risk.value)
        j.field("count", a.count)
        j.timestampField("first_seen", nanos: a.firstNanos)
        j.timestampField("last_seen", nanos: a.lastNanos)
    }

    /// Emerging Threats' metadata keys (arrays of strings), which Elastic's and others'
    /// Suricata pipelines map to ATT&CK fields.
    private static func metadata(_ j: inout JSONWriter, _ sig: Signature) {
        j.beginObject("metadata")
        j.beginArray("signature_severity"); j.value(sig.etSeverity); j.endArray()
        if let t = sig.technique {
            j.beginArray("mitre_tactic_id"); j.value(t.tactic.id); j.endArray()
            j.beginArray("mitre_tactic_name"); j.value(t.tactic.metadataName); j.endArray()
            j.beginArray("mitre_technique_id"); j.value(t.id); j.endArray()
            j.beginArray("mitre_technique_name"); j.value(t.metadataName); j.endArray()
        }
        j.endObject()
    }

    /// `source` (who acted) and `target` (the device the alert is about), as Suricata's
    /// `target` keyword writes them: the target's side of the flow gives its port.
    private static func endpoints(_ j: inout JSONWriter, _ a: Aggregate) {
        let e = a.envelope
        let flow = e.proto != 0
        var targetPort: UInt16? = nil
        var source: (IPAddress, UInt16?)? = nil
        if flow && a.target == e.destinationIP {
            targetPort = e.destinationPort
            source = (e.sourceIP, e.sourcePort)
        } else if flow && a.target == e.sourceIP {
            targetPort = e.sourcePort
            source = (e.destinationIP, e.destinationPort)
        } else if flow {
            source = (e.sourceIP, e.sourcePort)
        }
        func endpoint(_ key: StaticString, _ ip: IPAddress, _ port: UInt16?) {
            j.beginObject(key)
            j.field("ip", ip)
            if let port { j.field("port", Int(port)) }
            j.endObject()
        }
        let other = source.flatMap { $0.0 != a.target || $0.1 != targetPort ? $0 : nil }
        if a.signature.subjectActs {
            // The subject acted (a new talker): it is the source, the other end the target.
            endpoint("source", a.target, targetPort)
            if let (ip, port) = other { endpoint("target", ip, port) }
        } else {
            if let (ip, port) = other { endpoint("source", ip, port) }
            endpoint("target", a.target, targetPort)
        }
    }
}

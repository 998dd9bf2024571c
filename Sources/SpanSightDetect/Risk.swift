import SpanSightEngine
import SpanSightWire

/// A 0-100 risk for an alert with the reasons behind it: what happened (severity, the rule's
/// confidence) and what it happened to (the target's criticality, from the inventory's profile
/// when one is attached, else from the protocol role the target plays in the flow).
public struct RiskScore: Sendable {
    public var value: Int
    public var reasons: [String]
}

extension RoleHint {
    /// What detection knows of one side of a flow without an inventory: the role it plays
    /// in the flow's protocol (the module's hint), else nothing.
    static func of(_ app: ProtocolModule?, _ side: Side) -> RoleHint { app?.hint(side) ?? .unclassified }
}

enum Risk {
    static func severityScore(_ severity: Int) -> Int {
        switch severity {
        case 1: 100
        case 2: 65
        default: 30
        }
    }

    /// risk = 0.5 x severity score + 0.3 x target criticality + 0.2 x confidence, each term listed.
    static func score(_ sig: Signature, target: IPAddress, hint: RoleHint, lookup: AssetLookup?) -> RiskScore {
        var reasons: [String] = []
        let sev = severityScore(sig.severity)
        reasons.append("severity \(sig.severity) (\(sig.severityName)): +\(sev / 2)")
        var crit = hint.criticality
        var what = hint.label
        if let p = lookup?.profile(of: target) {
            // A weak classification pulls criticality toward the neutral 50.
            let c = min(max(p.confidence, 0), 100)
            crit = 50 + (p.deviceClass.criticality - 50) * c / 100
            what = "\(p.deviceClass.name) in \(p.domain.name) (inventory, confidence \(c))"
        }
        let critTerm = crit * 3 / 10
        reasons.append("target \(target.text) is \(what), criticality \(crit): +\(critTerm)")
        let confTerm = sig.confidence / 5
        reasons.append("rule confidence \(sig.confidence): +\(confTerm)")
        return RiskScore(value: min(100, sev / 2 + critTerm + confTerm), reasons: reasons)
    }
}

/// Alert risk accumulated per address (the asset report reads it).
public struct AssetRisk: Sendable, Equatable {
    public var maxRisk = 0
    public var sumRisk = 0
    public var alerts = 0
    public init(maxRisk: Int = 0, sumRisk: Int = 0, alerts: Int = 0) {
        self.maxRisk = maxRisk
        self.sumRisk = sumRisk
        self.alerts = alerts
    }
}

/// Per-address risk accounts, bounded.
public struct RiskLedger {
    public private(set) var accounts: [IPAddress: AssetRisk] = [:]
    public private(set) var dropped: UInt64 = 0
    let cap: Int

    init(cap: Int) { self.cap = cap }

    mutating func add(_ risk: Int, to address: IPAddress) {
        if accounts[address] == nil && accounts.count >= cap { dropped &+= 1; return }
        accounts[address, default: AssetRisk()].maxRisk = max(accounts[address]?.maxRisk ?? 0, risk)
        accounts[address]?.sumRisk += risk
        accounts[address]?.alerts += 1
    }

    /// An account carried over from a store (before any traffic): merged into what is there.
    mutating func restore(_ risk: AssetRisk, to address: IPAddress) {
        if accounts[address] == nil && accounts.count >= cap { dropped &+= 1; return }
        var a = accounts[address] ?? AssetRisk()
        a.maxRisk = max(a.maxRisk, risk.maxRisk)
        a.sumRisk += risk.sumRisk
        a.alerts += risk.alerts
        accounts[address] = a
    }

    /// Accounts by descending maximum risk, then address.
    public var ranked: [(address: IPAddress, risk: AssetRisk)] {
        accounts.map { ($0.key, $0.value) }.sorted {
            $0.1.maxRisk != $1.1.maxRisk ? $0.1.maxRisk > $1.1.maxRisk : $0.0 < $1.0
        }
    }
}

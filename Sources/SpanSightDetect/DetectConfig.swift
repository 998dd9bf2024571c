import SpanSightEngine

/// Thresholds and memory caps of the detection engine (all configurable from the command line).
public struct DetectConfig: Sendable {
    /// Sliding window of the reconnaissance rules, in nanoseconds of packet time.
    public var windowNanos: Int64 = 60_000_000_000
    /// Thresholds of the protocols' sweep and outcome rules set by the user, by the rule's
    /// threshold name ("unit-sweep": `SweepRule.thresholdName`); a rule not named here uses
    /// its module's default.
    public var thresholds: [String: Int] = [:]
    /// The highest default threshold a module may declare (the sliding windows hold one value
    /// more than the highest threshold in use).
    public static let maxDefaultThreshold = 12
    /// A rate alert fires when a pair's commands in one rate window exceed
    /// max(learned max x rateFactor, learned max + rateSlack).
    public var rateFactor = 3.0
    public var rateSlack = 20
    /// Keys (pairs, hosts) tracked by the sliding windows; beyond it new keys are dropped and counted.
    public var maxTrackedKeys = 16_384
    /// Flows with detection state at once; beyond it a flow gets no per-flow state (counted).
    public var maxFlows = 65_536
    /// Open alert aggregates (same flow and cause); beyond it alerts are emitted unaggregated (counted).
    public var maxAggregates = 65_536
    /// Addresses with a risk account (per-asset risk); beyond it new ones are dropped (counted).
    public var maxRiskAssets = 65_536
    /// Alerted flows remembered for the evidence pcap.
    public var maxEvidenceFlows = 10_000

    public init() {}

    /// Values a sliding-window key keeps: enough for the highest threshold to be reached.
    public var windowValues: Int {
        min(256, max(DetectConfig.maxDefaultThreshold, thresholds.values.max() ?? 0) + 1)
    }

    /// The threshold of a rule: the user's, else the module's default.
    public func threshold(_ name: StaticString, default value: Int) -> Int { thresholds[name.description] ?? value }

    /// The most bytes detection can hold with these caps, every table full (`DetectCost`).
    public var worstCaseBytes: Int {
        maxTrackedKeys * (DetectCost.windowKey + windowValues * DetectCost.windowValue + DetectCost.rateKey)
            + maxFlows * DetectCost.flow + maxAggregates * DetectCost.aggregate
            + maxRiskAssets * DetectCost.riskAsset + maxEvidenceFlows * DetectCost.evidenceFlow
            + maxTrackedKeys * DetectCost.pairCount
    }

    /// Lowers the caps so that `worstCaseBytes` fits `bytes` (detection's share of the memory
    /// budget): half for the sliding windows and rates, a quarter for per-flow state, a quarter
    /// for aggregates, risk accounts and evidence. Caps already lower stay.
    public mutating func fit(bytes: Int) {
        let keyCost = DetectCost.windowKey + windowValues * DetectCost.windowValue + DetectCost.rateKey + DetectCost.pairCount
        maxTrackedKeys = max(16, min(maxTrackedKeys, bytes / 2 / keyCost))
        maxFlows = max(16, min(maxFlows, bytes / 4 / DetectCost.flow))
        maxAggregates = max(16, min(maxAggregates, bytes / 12 / DetectCost.aggregate))
        maxRiskAssets = max(16, min(maxRiskAssets, bytes / 12 / DetectCost.riskAsset))
        maxEvidenceFlows = max(16, min(maxEvidenceFlows, bytes / 12 / DetectCost.evidenceFlow))
    }
}

/// Heap bytes a detection entry costs at most (its record and its share of the table that
/// holds it), measured with the allocator's counters (DetectMemoryTests) and rounded up.
public enum DetectCost {
    public static let windowKey = 384
    public static let windowValue = 80
    public static let rateKey = 256
    public static let flow = 640
    public static let aggregate = 1_024
    public static let riskAsset = 640
    public static let evidenceFlow = 384
    public static let pairCount = 160
}

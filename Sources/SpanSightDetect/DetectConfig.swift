import SpanSightEngine

/// Thresholds and memory caps of the detection engine (all configurable from the command line).
public struct DetectConfig: Sendable {
    /// Sliding window of the reconnaissance rules, in nanoseconds of packet time.
    public var windowNanos: Int64 = 60_000_000_000
    /// Distinct Modbus unit ids from one client to one server within the window.
    public var unitSweepThreshold = 8
    /// Distinct Modbus function codes from one client to one server within the window.
    public var functionSweepThreshold = 12
    /// Distinct DNP3 destination addresses from one master to one outstation IP within the window.
    public var addressSweepThreshold = 8
    /// Distinct called AE titles from one DICOM client to one server within the window.
    public var aeProbeThreshold = 5
    /// Rejected DICOM associations between one client and one server within the window.
    public var rejectThreshold = 5
    /// Negative HL7 acknowledgments (AE/AR/CE/CR) on one pair within the window.
    public var nackThreshold = 10
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
}

import ArgumentParser

/// Bounds of the numeric options, checked in `validate()`, so that every later conversion
/// (seconds to nanoseconds, bytes to pages, counts to table sizes) is known not to overflow and
/// a bad value is a usage error, never a trap.
enum OptionBounds {
    /// Timeouts, windows and intervals: at most 30 days (in nanoseconds far from Int64's limit,
    /// also when added to a packet time).
    static let maxSeconds = 30 * 24 * 3600
    /// `live --duration`: at most a year.
    static let maxDurationSeconds = 366 * 24 * 3600
    /// The flow table's own ceiling (`FlowTable` keeps slot numbers in 30 bits).
    static let maxFlows = 1 << 30
    /// Per flow direction (the queued byte count is 32-bit): 1 GiB.
    static let maxReassemblyFlowBytes = 1 << 30
    /// Over all flows (page numbers are 32-bit): 1 TiB.
    static let maxReassemblyTotalBytes = 1 << 40
    /// `--memory-budget`: at most 4 TiB.
    static let maxMemoryBudget = 1 << 42
    /// libpcap's largest snapshot length.
    static let maxSnaplen = 262_144
    /// Distinct values the sweep rules keep per pair and window (`Detector`): a higher
    /// threshold could never be reached.
    static let maxSweepThreshold = 256

    /// `value` within `range`, or a usage error naming the option and the range.
    static func check(_ option: String, _ value: Int, _ range: ClosedRange<Int>, _ unit: String = "") throws {
        guard range.contains(value) else {
            let u = unit.isEmpty ? "" : " " + unit
            throw ValidationError("--\(option) must be from \(range.lowerBound) to \(range.upperBound)\(u), got \(value)")
        }
    }

    /// A duration in seconds: 1 (0 too when `zeroAllowed`: the option gives 0 a meaning) to `max`.
    static func seconds(_ option: String, _ value: Int, zeroAllowed: Bool = false, max: Int = maxSeconds) throws {
        let days = max / 86_400
        try check(option, value, (zeroAllowed ? 0 : 1)...max, "seconds (\(days) days)")
    }
}

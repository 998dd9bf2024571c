import SpanSightEngine

/// The alert catalogue: every alert SpanSight can raise, with a stable number and name that are
/// never reused or renamed (docs/detection.md lists them with the test that shows each).

public enum Signatures {
    // The protocols' own signatures (anomalies 1000-1999 by protocol, dangerous operations
    // 2000-2999, sweeps and rates 3000-3099) come from their modules (`ProtocolModule`).

    /// An anomaly no protocol's catalogue names (the engine's, e.g. `applayer.memcap`): the name is the detail.
    static let otherAnomaly = Signature(1199, "applayer.anomaly", .protocolAnomaly, severity: 3, nil, confidence: 50)
    static let controlGap = Signature(1201, "stream.gap_in_control_traffic", .protocolAnomaly, severity: 3, nil, confidence: 50)

    // MARK: deviations from a learned baseline (4000-4099)
    static let newTalker = Signature(4001, "baseline.new_talker", .learnedDeviation, severity: 3, nil, confidence: 60, subjectActs: true)
    static let newPair = Signature(4002, "baseline.new_pair", .learnedDeviation, severity: 2, nil, confidence: 70)
    static let newCommand = Signature(4003, "baseline.new_command", .learnedDeviation, severity: 2, .unauthorizedCommand, confidence: 75)
    static let writeOutsideRange = Signature(4004, "baseline.write_outside_range", .learnedDeviation, severity: 1, .modifyParameter, confidence: 80)
    static let rateAboveEnvelope = Signature(4005, "baseline.rate_above_envelope", .learnedDeviation, severity: 2, .denialOfService, confidence: 60)
    static let newApplication = Signature(4006, "baseline.new_application_identity", .learnedDeviation, severity: 2, .masquerading, confidence: 65)

    // MARK: identity changes reported by the asset inventory (5000-5099)
    static let macMoved = Signature(5001, "asset.mac_moved", .identityChange, severity: 2, .adversaryInTheMiddle, confidence: 60)
    static let ipMoved = Signature(5002, "asset.ip_moved", .identityChange, severity: 2, .adversaryInTheMiddle, confidence: 60)
    static let deviceIDChanged = Signature(5003, "asset.device_id_changed", .identityChange, severity: 2, .masquerading, confidence: 75)
    static let osChanged = Signature(5004, "asset.os_fingerprint_changed", .identityChange, severity: 2, .masquerading, confidence: 60)
    static let roleChanged = Signature(5005, "asset.role_changed", .identityChange, severity: 3, nil, confidence: 50)
    static let otherChange = Signature(5099, "asset.identity_changed", .identityChange, severity: 3, nil, confidence: 50)

    /// The signatures that belong to no protocol.
    static let generic: [Signature] = [otherAnomaly, controlGap, newTalker, newPair, newCommand, writeOutsideRange,
                                       rateAboveEnvelope, newApplication, macMoved, ipMoved, deviceIDChanged, osChanged,
                                       roleChanged, otherChange]

    /// Every signature SpanSight can raise with these protocols, by id.
    public static func catalogue(_ modules: [ProtocolModule]) -> [Signature] {
        (generic + modules.flatMap(\.allSignatures)).sorted { $0.id < $1.id }
    }

    /// The signature numbered `id`, among the generic ones and those of `modules`.
    public static func byID(_ id: Int, in modules: [ProtocolModule]) -> Signature? {
        generic.first { $0.id == id } ?? modules.lazy.flatMap(\.allSignatures).first { $0.id == id }
    }

    /// The signature of an inventory change.
    static func change(_ kind: StaticString) -> Signature {
        switch kind.description {
        case "mac_moved": macMoved
        case "ip_moved": ipMoved
        case "device_id_changed": deviceIDChanged
        case "os_fingerprint_changed": osChanged
        case "role_changed": roleChanged
        default: otherChange
        }
    }
}

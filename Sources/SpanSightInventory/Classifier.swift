import SpanSightEngine

/// A classification with its confidence and the reasons behind it.
public struct Classification: Sendable, Equatable {
    public var deviceClass: DeviceClass
    public var domain: AssetDomain
    /// 0-100.
    public var confidence: Int
    /// Purdue level for OT assets (0-5), nil elsewhere.
    public var purdueLevel: Int?
    public var reasons: [String]
}

/// Rules from protocol roles, services and identities to a device class. Each rule adds
/// weight to a class with a reason; the heaviest class wins, its weight (capped) is the
/// confidence. Protocol roles weigh most: they are what the device did on the wire.
enum Classifier {
    /// Ports of IT services a server listens on.
    static let itServerPorts: Set<UInt16> = [22, 25, 53, 80, 88, 110, 123, 135, 139, 143, 389, 443, 445, 636, 993, 995,
                                            1433, 1521, 3306, 3389, 5432, 5985, 8080, 8443]

    struct Facts {
        var services: [ServiceKey: ServiceStats]
        /// What the protocols' rules found (`ProtocolModule.classify`).
        var evidence: ClassEvidence
        var flowsAsClient: UInt64 = 0
        var flowsAsServer: UInt64 = 0
        var stackFamily: String?
    }

    static func classify(_ f: Facts) -> Classification {
        var ev = f.evidence
        func add(_ c: DeviceClass, _ w: Int, _ why: String) { ev.add(c, w, why) }
        var score: [DeviceClass: Int] { ev.score }
        let itPorts = f.services.keys.filter { itServerPorts.contains($0.port) }
        if !itPorts.isEmpty {
            add(.itServer, 30 + 10 * min(itPorts.count, 4), "listens on IT service ports \(itPorts.sorted().map { String($0.port) }.joined(separator: ","))")
        }
        if score.isEmpty && f.flowsAsClient > 0 && f.flowsAsServer == 0 {
            add(.workstation, 30, "only opens connections (client)")
        }
        if let fam = f.stackFamily {
            if fam == "embedded" {
                for c in [DeviceClass.plc, .rtu, .modality] where score[c] != nil { add(c, 10, "embedded TCP/IP stack fingerprint") }
            }
            if fam == "windows" && score[.hmi] != nil { add(.hmi, 5, "Windows stack (typical of HMIs and engineering workstations)") }
        }
        guard let best = score.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key.rawValue > $1.key.rawValue) }) else {
            return Classification(deviceClass: .unknown, domain: .unknown, confidence: 0, purdueLevel: nil,
                                  reasons: ["no protocol role or service seen"])
        }
        let c = best.key
        let domain: AssetDomain
        let level: Int?
        switch c {
        case .plc, .rtu: domain = .ot; level = 1
        case .hmi: domain = .ot; level = 2
        case .historian: domain = .ot; level = 3
        case .modality, .pacs, .interfaceEngine: domain = .iomt; level = nil
        case .itServer, .workstation: domain = .it; level = nil
        case .unknown: domain = .unknown; level = nil
        }
        var why = ev.reasons[c] ?? []
        if let level { why.append("Purdue level \(level) by device class") }
        return Classification(deviceClass: c, domain: domain, confidence: min(95, best.value), purdueLevel: level, reasons: why)
    }
}

import SpanSightEngine
import SpanSightWire

/// One device of the report: the hosts (IP addresses) that share a MAC, or one IP when no
/// MAC identifies it (routed traffic, raw-IP captures, a router's MAC).
public struct Asset: Sendable {
    /// "mac:00:1d:9c:..." or "ip:10.0.0.5".
    public var id: String
    public var mac: UInt64?
    public var vendor: String?
    public var addresses: [IPAddress]
    public var hosts: [HostRecord]
    public var firstSeen: Int64
    public var lastSeen: Int64
    public var packets: UInt64
    public var bytes: UInt64
    public var roles: [String]
    public var services: [(ServiceKey, ServiceStats)]
    public var peers: [String]
    public var identities: [IdentityValue]
    public var children: [ChildDevice]
    public var stack: StackObservation?
    public var classification: Classification
    public var changes: [ChangeRecord]
    /// Toolkit or product recognised from the identities (DICOM implementation, ...).
    public var software: [String]
    /// The router MAC the asset was seen behind, when its MAC is a gateway's.
    public var viaGatewayMAC: UInt64?
    /// 0-100: how much is at stake on this device and how much went wrong there.
    public var risk: Int = 0
    public var riskReasons: [String] = []
}

extension Inventory {
    /// The classification of one host from its roles, services, identities and edges: each
    /// registered protocol adds its evidence, then the generic rules (IT services, stack).
    func classify(_ i: Int) -> Classification {
        let h = hosts[i]
        var ids = Dictionary(h.identities.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        for c in h.children { for id in c.identities where ids[id.key] == nil { ids[id.key] = id.value } }
        var e = HostEvidence(roles: Set(h.roles.keys), identities: ids)
        let field = Set(config.protocols.filter(\.isFieldProtocol).map { "\($0.name)" })
        let writeBits = OperationClass.write.bit | OperationClass.control.bit
        var polled = Set<IPAddress>()
        for module in config.protocols {
            let app = "\(module.name)"
            for peer in h.peers.keys {
                if let edge = edges[EdgeKey(client: h.address, server: peer, service: app)] {
                    e.issued[app, default: 0] |= edge.operations
                    if field.contains(app) {
                        polled.insert(peer)
                        if edge.operations & writeBits != 0 { e.wroteToFieldDevices = true }
                    }
                }
                if let edge = edges[EdgeKey(client: peer, server: h.address, service: app)] {
                    e.received[app, default: 0] |= edge.operations
                }
            }
        }
        e.fieldServersPolled = polled.count
        var evidence = ClassEvidence()
        for module in config.protocols { module.classify(e, &evidence) }
        var facts = Classifier.Facts(services: h.services, evidence: evidence)
        facts.flowsAsClient = h.flowsAsClient
        facts.flowsAsServer = h.flowsAsServer
        facts.stackFamily = h.stack?.family
        return Classifier.classify(facts)
    }

    /// Hosts grouped into assets, sorted by their lowest address (deterministic).
    public func assets() -> [Asset] {
        var groups: [String: [Int]] = [:]
        var order: [String] = []
        for i in hosts.indices {
            let key: String
            if let mac = hosts[i].currentMAC, !isGatewayMAC(mac) { key = "mac:" + MAC.text(mac) }
            else { key = "ip:" + hosts[i].address.text }
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(i)
        }
        var out: [Asset] = []
        out.reserveCapacity(order.count)
        for key in order {
            let members = groups[key]!.sorted { hosts[$0].address < hosts[$1].address }
            out.append(asset(key, members))
        }
        out.sort { $0.addresses[0] < $1.addresses[0] }
        return out
    }

    func asset(_ id: String, _ members: [Int]) -> Asset {
        let hs = members.map { hosts[$0] }
        let mac = id.hasPrefix("mac:") ? hs[0].currentMAC : nil
        var via: UInt64? = nil
        if mac == nil, let m = hs[0].currentMAC, isGatewayMAC(m) { via = m }
        var roles = Set<String>()
        var services: [(ServiceKey, ServiceStats)] = []
        var peers = Set<String>()
        var identities: [IdentityValue] = []
        var children: [ChildDevice] = []
        var changes: [ChangeRecord] = []
        var stack: StackObservation? = nil
        for h in hs {
            roles.formUnion(h.roles.keys)
            services += h.services.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            for p in h.peers.keys { peers.insert(p.text) }
            identities += h.identities
            children += h.children
            changes += h.changes
            if let s = h.stack, stack == nil || (stack!.fromSYNACK && !s.fromSYNACK) { stack = s }
        }
        // The classification of the member with the strongest claim.
        var best = classify(members[0])
        for m in members.dropFirst() {
            let c = classify(m)
            if c.confidence > best.confidence { best = c }
        }
        var software: [String] = []
        let assetIDs = Dictionary(identities.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        for module in config.protocols { software += module.software(assetIDs) }
        for c in children {
            let childIDs = Dictionary(c.identities.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            for module in config.protocols { software += module.software(childIDs) }
        }
        var asset = Asset(id: id, mac: mac, vendor: mac.flatMap { vendorName($0) }, addresses: hs.map { $0.address }, hosts: hs,
                     firstSeen: hs.map { $0.firstSeen }.min() ?? 0, lastSeen: hs.map { $0.lastSeen }.max() ?? 0,
                     packets: hs.reduce(0) { $0 &+ $1.packetsSent &+ $1.packetsReceived },
                     bytes: hs.reduce(0) { $0 &+ $1.bytesSent &+ $1.bytesReceived },
                     roles: roles.sorted(), services: services, peers: peers.sorted(),
                     identities: identities, children: children.sorted { ($0.kind, $0.id) < ($1.kind, $1.id) },
                     stack: stack, classification: best, changes: changes.sorted { $0.timestampNanos < $1.timestampNanos },
                     software: software, viaGatewayMAC: via)
        (asset.risk, asset.riskReasons) = risk(best, addresses: asset.addresses, changes: changes.count)
        return asset
    }

    /// An asset's risk: its exposure (what a compromise of such a device class does, scaled
    /// by how sure the classification is) combined with what happened to it (the highest
    /// alert risk on its addresses, a little more with many alerts, identity changes).
    func risk(_ c: Classification, addresses: [IPAddress], changes: Int) -> (Int, [String]) {
        let exposure = c.deviceClass.criticality * max(c.confidence, 30) / 100
        var reasons = ["\(c.deviceClass.name) (criticality \(c.deviceClass.criticality), confidence \(c.confidence)): exposure \(exposure)"]
        var maxRisk = 0, alerts = 0
        for a in addresses {
            if let r = alertRisk?(a) { maxRisk = max(maxRisk, r.maxRisk); alerts += r.alerts }
        }
        var score = Double(exposure) * 0.4
        if alerts > 0 {
            score = max(score, Double(maxRisk) * 0.7 + Double(exposure) * 0.3) + Double(min(alerts - 1, 10))
            reasons.append("\(alerts) alerts, highest risk \(maxRisk)")
        }
        if changes > 0 {
            score += Double(min(changes, 3) * 5)
            reasons.append("\(changes) identity changes")
        }
        return (min(100, Int(score.rounded())), reasons)
    }

    /// Vendor of a MAC from the registry; locally administered addresses say so.
    public func vendorName(_ mac: UInt64) -> String? {
        if let v = oui.vendor(mac) { return v }
        if MAC.isLocal(mac) { return "(locally administered address)" }
        return nil
    }
}

import SpanSightEngine
import SpanSightWire

/// Limits that keep the inventory's memory bounded whatever the traffic.
public struct InventoryConfig: Sendable {
    /// Most hosts (IP addresses) kept; more are counted as dropped.
    public var maxHosts = 65_536
    /// Most peers, identities, children and change records kept per host.
    public var maxPeersPerHost = 256
    public var maxIdentitiesPerHost = 64
    public var maxChildrenPerHost = 256
    public var maxChangesPerHost = 64
    /// Most communication-map edges kept.
    public var maxEdges = 262_144
    /// A MAC seen with more IP addresses than this is a router's (or a NAT's): the hosts
    /// behind it are keyed by IP, not merged into one asset.
    public var gatewayThreshold = 4
    /// Emit `asset` events (on first sight and on change).
    public var events = true
    /// Most bytes the inventory may hold (its share of the memory budget), counted with the
    /// per-entry costs of `InventoryCost`; an entry past it is dropped and counted.
    public var maxBytes = Int.max
    /// The registered protocols: their roles, identities and classification rules.
    public var protocols: [ProtocolModule] = []
    public init() {}
}

/// Heap bytes an inventory entry costs at most (the record, its share of the dictionary or
/// array that holds it, and the strings it keeps), measured with the allocator's counters
/// (InventoryMemoryTests) and rounded up. The inventory charges them as entries are added.
public enum InventoryCost {
    public static let host = 1_536
    public static let service = 192
    public static let role = 160
    public static let peer = 320
    public static let peerApp = 64
    public static let identity = 256
    public static let child = 192
    public static let change = 320
    public static let mac = 64
    public static let macAddress = 128
    public static let edge = 192
}

/// An edge of the communication map: a client talking to a server over one protocol.
public struct EdgeKey: Hashable, Sendable {
    public var client: IPAddress
    public var server: IPAddress
    /// The application protocol ("modbus") or "tcp/443" / "udp/53" when none was recognised.
    public var service: String
}

public struct EdgeStats: Sendable {
    public var flows: UInt64 = 0
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    /// Union of `OperationClass.bit`.
    public var operations: UInt16 = 0
    public var firstSeen: Int64 = 0
    public var lastSeen: Int64 = 0
}

/// The asset inventory: an engine observer that builds one record per IP address from flows,
/// handshakes and dissector observations, and groups them into assets by MAC.
public final class Inventory: EngineObserver, AssetLookup {
    public let config: InventoryConfig
    public let oui: OUIRegistry
    let output: EventOutput?
    public internal(set) var hosts: [HostRecord] = []
    var index: [IPAddress: Int] = [:]
    /// IPs each MAC was seen with (bounded by the gateway threshold + 1).
    var macIPs: [UInt64: [IPAddress]] = [:]
    public private(set) var edges: [EdgeKey: EdgeStats] = [:]
    public private(set) var hostsDropped: UInt64 = 0
    public private(set) var edgesDropped: UInt64 = 0
    /// Bytes charged for what the inventory holds (`InventoryCost`), its peak, and entries
    /// dropped because `config.maxBytes` had no room for them.
    public private(set) var chargedBytes = 0
    public private(set) var peakBytes = 0
    public private(set) var memoryDropped: UInt64 = 0

    /// Charges an entry's cost; false (and counted) when the inventory's share has no room.
    func charge(_ bytes: Int) -> Bool {
        guard chargedBytes + bytes <= config.maxBytes else {
            memoryDropped &+= 1
            return false
        }
        chargedBytes += bytes
        if chargedBytes > peakBytes { peakBytes = chargedBytes }
        return true
    }
    public private(set) var changesRecorded: UInt64 = 0
    /// The alert risk of an address, from the detection engine when it runs: the highest alert
    /// risk and the number of alerts; folded into each asset's risk.
    public var alertRisk: ((IPAddress) -> (maxRisk: Int, alerts: Int)?)?
    /// With detection: every address's alert risk, saved with the inventory in the store
    /// (so that a restarted sensor, or the next run, goes on from it).
    public var alertRiskAccounts: (() -> [StoredAlertRisk])?
    /// The alert risk the store held when the inventory was loaded from it (detection starts
    /// from it: one read of the store for both).
    public internal(set) var storedAlertRisk: [StoredAlertRisk]?
    /// The counters the store has of this inventory (set by its load and each save).
    var storeBaseline: StoreBaseline?
    /// Hears of identity changes (the detection engine).
    public weak var changeListener: (any AssetChangeListener)?

    public init(config: InventoryConfig = InventoryConfig(), oui: OUIRegistry, output: EventOutput?) {
        self.config = config
        self.oui = oui
        self.output = output
        multiValued = Set(config.protocols.flatMap { $0.identities.filter(\.multiValued).map { "\($0.key)" } })
    }

    // MARK: lookup

    public func host(_ ip: IPAddress) -> HostRecord? { index[ip].map { hosts[$0] } }

    public func isGatewayMAC(_ mac: UInt64) -> Bool {
        routerMACs.contains(mac) || (macIPs[mac]?.count ?? 0) > config.gatewayThreshold
    }
    /// MACs that carried packets from hosts one or more hops away (TTL below the initial one).
    var routerMACs: Set<UInt64> = []

    public func profile(of address: IPAddress) -> AssetProfile? {
        guard let i = index[address] else { return nil }
        let c = classify(i)
        return AssetProfile(deviceClass: c.deviceClass, domain: c.domain, confidence: c.confidence)
    }

    /// The host index for an address, created on first sight (nil when the cap is reached).
    func slot(_ ip: IPAddress, at t: Int64, flowID: UInt64) -> Int? {
        if let i = index[ip] {
            if t > hosts[i].lastSeen { hosts[i].lastSeen = t }
            return i
        }
        guard hosts.count < config.maxHosts, charge(InventoryCost.host) else { hostsDropped &+= 1; return nil }
        hosts.append(HostRecord(address: ip, at: t))
        let i = hosts.count - 1
        index[ip] = i
        emit(i, "new", t: t, flowID: flowID)
        changeListener?.assetChanged(AssetChange(kind: "new_asset", timestampNanos: t, address: ip, flowID: flowID))
        return i
    }

    // MARK: EngineObserver

    public func flowEnded(_ flow: borrowing FlowRecord, app: ProtocolModule?, operations: UInt16) {
        let key = flow.key
        let t = flow.lastNanos
        guard let c = slot(key.client, at: t, flowID: flow.id) else { return }
        guard let s = slot(key.server, at: t, flowID: flow.id) else { return }
        if flow.firstNanos < hosts[c].firstSeen { hosts[c].firstSeen = flow.firstNanos }
        if flow.firstNanos < hosts[s].firstSeen { hosts[s].firstSeen = flow.firstNanos }
        hosts[c].runFirstSeen = min(hosts[c].runFirstSeen, flow.firstNanos)
        hosts[c].runLastSeen = max(hosts[c].runLastSeen, t)
        hosts[s].runFirstSeen = min(hosts[s].runFirstSeen, flow.firstNanos)
        hosts[s].runLastSeen = max(hosts[s].runLastSeen, t)
        hosts[c].packetsSent &+= flow.packetsToServer
        hosts[c].bytesSent &+= flow.bytesToServer
        hosts[c].packetsReceived &+= flow.packetsToClient
        hosts[c].bytesReceived &+= flow.bytesToClient
        hosts[s].packetsSent &+= flow.packetsToClient
        hosts[s].bytesSent &+= flow.bytesToClient
        hosts[s].packetsReceived &+= flow.packetsToServer
        hosts[s].bytesReceived &+= flow.bytesToServer
        hosts[c].flowsAsClient &+= 1
        hosts[s].flowsAsServer &+= 1
        if flow.hasMAC {
            sawMAC(c, flow.clientMAC, t: t, flowID: flow.id)
            sawMAC(s, flow.serverMAC, t: t, flowID: flow.id)
        }
        let appName = app.map { "\($0.name)" }
        let service = appName ?? "\(key.proto == 6 ? "tcp" : key.proto == 17 ? "udp" : "ip")/\(key.serverPort)"
        // A listening service: the server answered (TCP: its SYN+ACK was seen, or the
        // application was recognised on both directions).
        let replied = flow.packetsToClient > 0
        let fc = flow.flagsToClient
        let synAck = fc & TCPFlags.syn.rawValue != 0 && fc & TCPFlags.ack.rawValue != 0
        let recognised = app != nil
        let answered = key.proto == 6 ? synAck || (recognised && replied) : replied
        if answered {
            let sk = ServiceKey(proto: key.proto, port: key.serverPort)
            if var st = hosts[s].services[sk] {
                st.flows &+= 1
                st.lastSeen = t
                if st.app.isEmpty, let a = appName { st.app = a }
                hosts[s].services[sk] = st
            } else if charge(InventoryCost.service) {
                hosts[s].services[sk] = ServiceStats(app: appName ?? "", flows: 1, firstSeen: flow.firstNanos, lastSeen: t)
                if hosts[s].services.count == 1 || appName != nil { emit(s, "service", t: t, flowID: flow.id, key: service) }
            }
        }
        let bytes = flow.bytesToServer &+ flow.bytesToClient
        addPeer(c, key.server, bytes: bytes, app: service)
        addPeer(s, key.client, bytes: bytes, app: service)
        let ek = EdgeKey(client: key.client, server: key.server, service: service)
        if var e = edges[ek] {
            e.flows &+= 1
            e.packets &+= flow.packetsToServer &+ flow.packetsToClient
            e.bytes &+= bytes
            e.operations |= operations
            e.lastSeen = max(e.lastSeen, t)
            edges[ek] = e
        } else if edges.count < config.maxEdges, charge(InventoryCost.edge) {
            edges[ek] = EdgeStats(flows: 1, packets: flow.packetsToServer &+ flow.packetsToClient, bytes: bytes,
                                  operations: operations, firstSeen: flow.firstNanos, lastSeen: t)
        } else {
            edgesDropped &+= 1
        }
    }

    public func handshake(_ syn: HandshakeSample) {
        guard let i = slot(syn.source, at: syn.timestampNanos, flowID: syn.flowID) else { return }
        var obs = StackFingerprint.observe(syn, flowID: syn.flowID)
        obs.evidence.flowID = syn.flowID
        hosts[i].lastTTL = syn.ttl
        if syn.hasMAC {
            // A sender hops away came through a router: the frame's MAC is the router's.
            if obs.distance > 0 && routerMACs.count < 4096 { routerMACs.insert(syn.sourceMAC) }
            sawMAC(i, syn.sourceMAC, t: syn.timestampNanos, flowID: syn.flowID)
        }
        guard let old = hosts[i].stack else {
            hosts[i].stack = obs
            emit(i, "stack", t: syn.timestampNanos, flowID: syn.flowID, key: "tcp.os", value: obs.label)
            return
        }
        // A SYN+ACK answers with the client's options echoed in part: compare like with like,
        // and let a SYN (the stack's own choice) replace a SYN+ACK reading.
        if old.signature == obs.signature { return }
        if old.fromSYNACK != obs.fromSYNACK {
            if old.fromSYNACK && !obs.fromSYNACK { hosts[i].stack = obs }
            return
        }
        hosts[i].stack = obs
        recordChange(i, kind: "os_fingerprint_changed", key: "tcp.os", old: "\(old.label) [\(old.signature)]",
                     new: "\(obs.label) [\(obs.signature)]", t: syn.timestampNanos, flowID: syn.flowID)
    }

    public func observe(_ o: Observation, flow: borrowing FlowRecord, timestampNanos t: Int64, app: ProtocolModule?) {
        func ip(_ side: Side) -> IPAddress { side == .client ? flow.key.client : flow.key.server }
        let flowID = flow.id
        switch o {
        case .role(let side, let name):
            guard let i = slot(ip(side), at: t, flowID: flowID) else { return }
            let role = name.description
            if hosts[i].roles[role] == nil, charge(InventoryCost.role) {
                hosts[i].roles[role] = Evidence(flowID: flowID, timestampNanos: t, source: app.map { "\($0.name)" } ?? "")
                emit(i, "role", t: t, flowID: flowID, key: role)
            }
        case .identity(let side, let key, let value):
            guard let i = slot(ip(side), at: t, flowID: flowID) else { return }
            setIdentity(i, key: key.description, value: value, t: t, flowID: flowID, source: app.map { "\($0.name)" } ?? "")
        case .child(let side, let kind, let id):
            guard let i = slot(ip(side), at: t, flowID: flowID) else { return }
            _ = child(i, kind.description, id, t: t, flowID: flowID)
        case .childIdentity(let side, let kind, let id, let key, let value):
            guard let i = slot(ip(side), at: t, flowID: flowID),
                  let c = child(i, kind.description, id, t: t, flowID: flowID) else { return }
            setChildIdentity(i, c, key: key.description, value: value, t: t, flowID: flowID, source: app.map { "\($0.name)" } ?? "")
        case .command(let cmd):
            // Commands reach the map through the flow's operation classes; here only the
            // child device they address is noted (Modbus unit ids are reported as children).
            _ = cmd
        case .outcome, .anomaly:
            break
        }
    }

    // MARK: updates

    func sawMAC(_ i: Int, _ mac: UInt64, t: Int64, flowID: UInt64) {
        guard mac != 0, !MAC.isMulticast(mac) else { return }
        let ip = hosts[i].address
        var ips = macIPs[mac] ?? []
        if !ips.contains(ip) && ips.count <= config.gatewayThreshold, charge(InventoryCost.macAddress) {
            // The MAC was with one other address, no longer in use: it moved (DHCP renewal,
            // re-addressing, spoofing). A router's MAC (more addresses, or hosts seen hops
            // away behind it) is not a move.
            if ips.count == 1, !routerMACs.contains(mac), let pi = index[ips[0]],
               hosts[pi].currentMAC == mac, hosts[pi].lastSeen < t {
                recordChange(i, kind: "mac_moved", key: "mac " + MAC.text(mac), old: ips[0].text, new: ip.text, t: t, flowID: flowID, mac: mac)
            }
            ips.append(ip)
            macIPs[mac] = ips
        }
        if let k = hosts[i].macs.firstIndex(where: { $0.mac == mac }) {
            if t > hosts[i].macs[k].lastSeen { hosts[i].macs[k].lastSeen = t }
            return
        }
        if !isGatewayMAC(mac), let current = hosts[i].currentMAC, !isGatewayMAC(current) {
            recordChange(i, kind: "ip_moved", key: "ip " + ip.text, old: MAC.text(current), new: MAC.text(mac), t: t, flowID: flowID, mac: mac)
        }
        if hosts[i].macs.count < 16, charge(InventoryCost.mac) { hosts[i].macs.append(MACSighting(mac: mac, firstSeen: t, lastSeen: t)) }
    }

    func addPeer(_ i: Int, _ peer: IPAddress, bytes: UInt64, app: String) {
        if hosts[i].peers[peer] == nil && (hosts[i].peers.count >= config.maxPeersPerHost || !charge(InventoryCost.peer)) {
            hosts[i].peersDropped &+= 1
            return
        }
        hosts[i].peers[peer, default: PeerStats()].flows &+= 1
        hosts[i].peers[peer]!.bytes &+= bytes
        if hosts[i].peers[peer]!.apps.count < 16, !hosts[i].peers[peer]!.apps.contains(app), charge(InventoryCost.peerApp) {
            hosts[i].peers[peer]!.apps.insert(app)
        }
    }

    /// Identities a device legitimately has several of (a PACS answers to several AE titles; an
    /// interface engine hosts several HL7 applications): each value is kept, none is a change.
    /// (From the modules' `IdentitySpec.multiValued`.)
    let multiValued: Set<String>

    func setIdentity(_ i: Int, key: String, value: String, t: Int64, flowID: UInt64, source: String) {
        if multiValued.contains(key) {
            if let k = hosts[i].identities.firstIndex(where: { $0.key == key && $0.value == value }) {
                hosts[i].identities[k].lastSeen = t
                return
            }
        } else if let k = hosts[i].identities.firstIndex(where: { $0.key == key }) {
            let old = hosts[i].identities[k].value
            hosts[i].identities[k].lastSeen = t
            if old == value { return }
            hosts[i].identities[k].value = value
            hosts[i].identities[k].evidence = Evidence(flowID: flowID, timestampNanos: t, source: source)
            recordChange(i, kind: "device_id_changed", key: key, old: old, new: value, t: t, flowID: flowID)
            return
        }
        guard hosts[i].identities.count < config.maxIdentitiesPerHost, charge(InventoryCost.identity) else { return }
        hosts[i].identities.append(IdentityValue(key: key, value: value, firstSeen: t, lastSeen: t,
                                                 evidence: Evidence(flowID: flowID, timestampNanos: t, source: source)))
        emit(i, "identity", t: t, flowID: flowID, key: key, value: value)
    }

    func child(_ i: Int, _ kind: String, _ id: UInt32, t: Int64, flowID: UInt64) -> Int? {
        if let c = hosts[i].children.firstIndex(where: { $0.kind == kind && $0.id == id }) {
            hosts[i].children[c].lastSeen = max(hosts[i].children[c].lastSeen, t)
            return c
        }
        guard hosts[i].children.count < config.maxChildrenPerHost, charge(InventoryCost.child) else { return nil }
        hosts[i].children.append(ChildDevice(kind: kind, id: id, firstSeen: t, lastSeen: t))
        emit(i, "child", t: t, flowID: flowID, key: kind, value: String(id))
        return hosts[i].children.count - 1
    }

    func setChildIdentity(_ i: Int, _ c: Int, key: String, value: String, t: Int64, flowID: UInt64, source: String) {
        let ev = Evidence(flowID: flowID, timestampNanos: t, source: source)
        if let k = hosts[i].children[c].identities.firstIndex(where: { $0.key == key }) {
            let old = hosts[i].children[c].identities[k].value
            hosts[i].children[c].identities[k].lastSeen = t
            if old == value { return }
            hosts[i].children[c].identities[k].value = value
            hosts[i].children[c].identities[k].evidence = ev
            let who = "\(hosts[i].children[c].kind) \(hosts[i].children[c].id) \(key)"
            recordChange(i, kind: "device_id_changed", key: who, old: old, new: value, t: t, flowID: flowID)
            return
        }
        guard hosts[i].children[c].identities.count < config.maxIdentitiesPerHost, charge(InventoryCost.identity) else { return }
        hosts[i].children[c].identities.append(IdentityValue(key: key, value: value, firstSeen: t, lastSeen: t, evidence: ev))
        emit(i, "identity", t: t, flowID: flowID, key: key, value: value,
             child: (hosts[i].children[c].kind, hosts[i].children[c].id))
    }

    func recordChange(_ i: Int, kind: StaticString, key: String, old: String, new: String, t: Int64, flowID: UInt64, mac: UInt64 = 0) {
        changesRecorded &+= 1
        if hosts[i].changes.count < config.maxChangesPerHost, charge(InventoryCost.change) {
            hosts[i].changes.append(ChangeRecord(kind: kind.description, timestampNanos: t, key: key, oldValue: old, newValue: new, flowID: flowID))
        }
        emit(i, kind, t: t, flowID: flowID, key: key, value: new, old: old)
        changeListener?.assetChanged(AssetChange(kind: kind, timestampNanos: t, address: hosts[i].address, mac: mac,
                                                 key: key, oldValue: old, newValue: new, flowID: flowID))
    }

    // MARK: events

    /// An `asset` event: {"asset": {"event": "new"|"role"|"identity"|"child"|"service"|"stack"|<change>, "ip": ..., ...}}.
    func emit(_ i: Int, _ event: StaticString, t: Int64, flowID: UInt64, key: String? = nil, value: String? = nil,
              old: String? = nil, child: (String, UInt32)? = nil) {
        guard config.events, let output, output.isEnabled else { return }
        var env = EventEnvelope()
        env.timestampNanos = t
        env.flowID = flowID
        output.begin("asset", env)
        output.writer.beginObject("asset")
        output.writer.field("event", event)
        output.writer.field("ip", hosts[i].address)
        if let mac = hosts[i].currentMAC, !isGatewayMAC(mac) {
            output.writer.key("mac"); output.writer.macValue(mac)
        }
        if let key { output.writer.field("key", key) }
        if let old { output.writer.field("old_value", old) }
        if let value { output.writer.field("value", value) }
        if let child {
            output.writer.beginObject("child")
            output.writer.field("kind", child.0)
            output.writer.field("id", UInt64(child.1))
            output.writer.endObject()
        }
        output.writer.endObject()
        output.end()
    }
}

extension Inventory {
    // MARK: restoring from the store (before any traffic)

    func restore(_ h: HostRecord) {
        guard index[h.address] == nil, hosts.count < config.maxHosts, charge(Inventory.cost(of: h)) else { return }
        hosts.append(h)
        index[h.address] = hosts.count - 1
    }

    func restoreMAC(_ k: Int, _ m: MACSighting) {
        guard charge(InventoryCost.mac) else { return }
        hosts[k].macs.append(m)
        var ips = macIPs[m.mac] ?? []
        if !ips.contains(hosts[k].address) && ips.count <= config.gatewayThreshold, charge(InventoryCost.macAddress) {
            ips.append(hosts[k].address)
        }
        macIPs[m.mac] = ips
    }

    func restoreEdge(_ k: EdgeKey, _ e: EdgeStats) {
        if edges[k] == nil, edges.count < config.maxEdges, charge(InventoryCost.edge) { edges[k] = e }
    }

    /// Charges what was restored (entries filled in by the store after `restore`): the
    /// inventory's charge is then what it holds, over its share or not (new entries are refused
    /// while it is over).
    func recharge() {
        var n = hosts.reduce(0) { $0 + Inventory.cost(of: $1) + $1.macs.count * InventoryCost.mac }
        n += macIPs.values.reduce(0) { $0 + $1.count * InventoryCost.macAddress } + edges.count * InventoryCost.edge
        chargedBytes = n
        peakBytes = max(peakBytes, n)
    }

    /// What a restored host costs (its record and the entries it carries, but its MACs,
    /// restored and charged one by one).
    static func cost(of h: HostRecord) -> Int {
        var n = InventoryCost.host
        n += h.services.count * InventoryCost.service + h.roles.count * InventoryCost.role
        n += h.peers.count * InventoryCost.peer + h.peers.values.reduce(0) { $0 + $1.apps.count } * InventoryCost.peerApp
        n += h.identities.count * InventoryCost.identity + h.changes.count * InventoryCost.change
        n += h.children.reduce(0) { $0 + InventoryCost.child + $1.identities.count * InventoryCost.identity }
        return n
    }
}

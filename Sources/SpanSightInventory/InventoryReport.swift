import SpanSightEngine
import SpanSightWire

/// The inventory as files: JSON (every field, one asset per line inside one document, stable
/// order), CSV (one row per asset) and a terminal table.
public enum InventoryReport {
    public static func json(_ inv: Inventory, assets: [Asset]) -> [UInt8] {
        var w = JSONWriter(capacity: 1 << 16)
        w.beginObject()
        w.field("schema", "spansight.inventory/1")
        w.beginArray("oui_registry")
        for s in inv.oui.sources { w.value(s) }
        w.endArray()
        w.field("hosts", inv.hosts.count)
        w.field("hosts_dropped", inv.hostsDropped)
        w.field("edges_dropped", inv.edgesDropped)
        w.field("changes", inv.changesRecorded)
        w.key("assets")
        w.beginArray()
        var out: [UInt8] = Array(w.bytes)
        w.reset()
        for (n, a) in assets.enumerated() {
            out += n == 0 ? Array("\n".utf8) : Array(",\n".utf8)
            asset(a, &w)
            out += Array(w.bytes)
            w.reset()
        }
        out += Array("\n],\n\"edges\":[".utf8)
        for (n, (k, e)) in sortedEdges(inv).enumerated() {
            out += n == 0 ? Array("\n".utf8) : Array(",\n".utf8)
            w.beginObject()
            w.field("client", k.client)
            w.field("server", k.server)
            w.field("service", k.service)
            w.field("flows", e.flows)
            w.field("packets", e.packets)
            w.field("bytes", e.bytes)
            operations(e.operations, &w)
            w.timestampField("first_seen", nanos: e.firstSeen)
            w.timestampField("last_seen", nanos: e.lastSeen)
            w.endObject()
            out += Array(w.bytes)
            w.reset()
        }
        out += Array("\n]}\n".utf8)
        return out
    }

    static func sortedEdges(_ inv: Inventory) -> [(EdgeKey, EdgeStats)] {
        inv.edges.sorted { a, b in
            (a.key.client, a.key.server, a.key.service) < (b.key.client, b.key.server, b.key.service)
        }
    }

    static func operations(_ bits: UInt16, _ w: inout JSONWriter) {
        w.beginArray("operations")
        for op in OperationClass.allCases where bits & op.bit != 0 { w.value(op.name) }
        w.endArray()
    }

    static func evidence(_ e: Evidence, _ w: inout JSONWriter) {
        w.beginObject("evidence")
        w.field("flow_id", e.flowID)
        w.timestampField("timestamp", nanos: e.timestampNanos)
        if !e.source.isEmpty { w.field("source", e.source) }
        w.endObject()
    }

    static func identities(_ list: [IdentityValue], _ w: inout JSONWriter) {
        w.beginArray("identities")
        for id in list {
            w.beginObject()
            w.field("key", id.key)
            w.field("value", id.value)
            w.timestampField("first_seen", nanos: id.firstSeen)
            w.timestampField("last_seen", nanos: id.lastSeen)
            evidence(id.evidence, &w)
            w.endObject()
        }
        w.endArray()
    }

    static func asset(_ a: Asset, _ w: inout JSONWriter) {
        w.beginObject()
        w.field("id", a.id)
        if let m = a.mac { w.key("mac"); w.macValue(m) }
        if let v = a.vendor { w.field("vendor", v) }
        if let g = a.viaGatewayMAC { w.key("via_gateway_mac"); w.macValue(g) }
        w.beginArray("addresses")
        for h in a.hosts {
            w.beginObject()
            w.field("ip", h.address)
            w.timestampField("first_seen", nanos: h.firstSeen)
            w.timestampField("last_seen", nanos: h.lastSeen)
            w.beginArray("macs")
            for m in h.macs {
                w.beginObject()
                w.key("mac"); w.macValue(m.mac)
                w.timestampField("first_seen", nanos: m.firstSeen)
                w.timestampField("last_seen", nanos: m.lastSeen)
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
        w.endArray()
        w.timestampField("first_seen", nanos: a.firstSeen)
        w.timestampField("last_seen", nanos: a.lastSeen)
        w.field("packets", a.packets)
        w.field("bytes", a.bytes)
        let c = a.classification
        w.field("class", c.deviceClass.name)
        w.field("domain", c.domain.name)
        if let l = c.purdueLevel { w.field("purdue_level", l) }
        w.field("confidence", c.confidence)
        w.beginArray("reasons")
        for r in c.reasons { w.value(r) }
        w.endArray()
        w.field("risk", a.risk)
        w.beginArray("risk_reasons")
        for r in a.riskReasons { w.value(r) }
        w.endArray()
        w.beginArray("roles")
        for h in a.hosts {
            for (role, ev) in h.roles.sorted(by: { $0.key < $1.key }) {
                w.beginObject()
                w.field("role", role)
                w.field("ip", h.address)
                evidence(ev, &w)
                w.endObject()
            }
        }
        w.endArray()
        w.beginArray("services")
        for (k, s) in a.services {
            w.beginObject()
            w.field("proto", k.proto == 6 ? "tcp" : k.proto == 17 ? "udp" : "ip")
            w.field("port", Int(k.port))
            if !s.app.isEmpty { w.field("app_proto", s.app) }
            w.field("flows", s.flows)
            w.endObject()
        }
        w.endArray()
        identities(a.identities, &w)
        w.beginArray("children")
        for ch in a.children {
            w.beginObject()
            w.field("kind", ch.kind)
            w.field("id", UInt64(ch.id))
            w.timestampField("first_seen", nanos: ch.firstSeen)
            w.timestampField("last_seen", nanos: ch.lastSeen)
            identities(ch.identities, &w)
            w.endObject()
        }
        w.endArray()
        w.beginArray("software")
        for s in a.software { w.value(s) }
        w.endArray()
        if let s = a.stack {
            w.beginObject("os")
            w.field("label", s.label)
            w.field("family", s.family)
            w.field("quality", s.quality)
            w.field("signature", s.signature)
            w.field("initial_ttl", s.initialTTL)
            w.field("distance", s.distance)
            w.field("from", s.fromSYNACK ? "syn_ack" : "syn")
            evidence(s.evidence, &w)
            w.endObject()
        }
        w.beginArray("peers")
        for p in a.peers { w.value(p) }
        w.endArray()
        let dropped = a.hosts.reduce(0) { $0 &+ $1.peersDropped }
        if dropped > 0 { w.field("peers_dropped", dropped) }
        w.beginArray("changes")
        for ch in a.changes {
            w.beginObject()
            w.field("kind", ch.kind)
            w.timestampField("timestamp", nanos: ch.timestampNanos)
            w.field("key", ch.key)
            w.field("old_value", ch.oldValue)
            w.field("new_value", ch.newValue)
            w.field("flow_id", ch.flowID)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    // MARK: CSV

    public static let csvHeader = ["id", "addresses", "mac", "vendor", "class", "domain", "purdue_level", "confidence",
                                   "roles", "services", "software", "os", "children", "first_seen", "last_seen",
                                   "packets", "bytes", "peers", "changes", "risk"]

    public static func csv(_ assets: [Asset]) -> String {
        var out = csvHeader.joined(separator: ",") + "\n"
        for a in assets { out += row(a).map(csvField).joined(separator: ",") + "\n" }
        return out
    }

    /// The text columns of one asset (also the terminal table's source).
    static func row(_ a: Asset) -> [String] {
        let c = a.classification
        let services = a.services.map { "\($0.0.proto == 17 ? "udp" : "tcp")/\($0.0.port)\($0.1.app.isEmpty ? "" : "(\($0.1.app))")" }
        let children = a.children.map { "\($0.kind)=\($0.id)" }
        return [a.id, a.addresses.map { $0.text }.joined(separator: " "), a.mac.map { MAC.text($0) } ?? "",
                a.vendor ?? "", c.deviceClass.name.description, c.domain.name.description,
                c.purdueLevel.map { String($0) } ?? "", String(c.confidence), a.roles.joined(separator: " "),
                services.joined(separator: " "), a.software.joined(separator: "; "), a.stack?.label ?? "",
                children.joined(separator: " "), Timestamp.text(a.firstSeen), Timestamp.text(a.lastSeen),
                String(a.packets), String(a.bytes), String(a.peers.count), String(a.changes.count), String(a.risk)]
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingAll("\"", with: "\"\"") + "\""
    }

    // MARK: terminal

    /// A readable table: one line per asset, with the identities underneath.
    public static func table(_ inv: Inventory, assets: [Asset]) -> String {
        let head = ["ADDRESS", "MAC / VENDOR", "CLASS", "CONF", "RISK", "ROLES", "OS", "SOFTWARE / IDENTITY"]
        var rows: [[String]] = []
        for a in assets {
            let c = a.classification
            let macVendor = a.mac.map { MAC.text($0) + (a.vendor.map { " " + $0 } ?? "") } ?? (a.viaGatewayMAC.map { "via gw " + MAC.text($0) } ?? "-")
            let cls = c.deviceClass.name.description + (c.purdueLevel.map { " L\($0)" } ?? "") + " (\(c.domain.name))"
            var ident = a.software
            if ident.isEmpty {
                ident = a.identities.filter { $0.key.hasSuffix("ae_title") || $0.key.hasSuffix("application") }.map { "\($0.key)=\($0.value)" }
            } else {
                ident += a.identities.filter { $0.key.hasSuffix("ae_title") }.map { "\($0.key)=\($0.value)" }
            }
            if !a.children.isEmpty { ident.append("children: " + a.children.map { "\($0.kind)=\($0.id)" }.joined(separator: ",")) }
            rows.append([a.addresses.map { $0.text }.joined(separator: " "), clip(macVendor, 40), cls, "\(c.confidence)", "\(a.risk)",
                         clip(a.roles.joined(separator: " "), 36), clip(a.stack?.label ?? "-", 28),
                         clip(ident.isEmpty ? "-" : ident.joined(separator: "; "), 70)])
        }
        var widths = head.map { $0.count }
        for r in rows { for (i, f) in r.enumerated() { widths[i] = max(widths[i], f.count) } }
        func line(_ r: [String]) -> String {
            r.enumerated().map { i, f in i == r.count - 1 ? f : f + String(repeating: " ", count: widths[i] - f.count) }
                .joined(separator: "  ")
        }
        var out = line(head) + "\n"
        for r in rows { out += line(r) + "\n" }
        out += "\(assets.count) assets (\(inv.hosts.count) addresses"
        if inv.hostsDropped > 0 { out += ", \(inv.hostsDropped) dropped by the cap" }
        out += "), \(inv.edges.count) conversations; MAC vendors from "
        out += inv.oui.sources.isEmpty ? "no IEEE registry (install ieee-data)" : inv.oui.sources.joined(separator: ", ")
        out += "\n"
        return out
    }

    static func clip(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }
}

extension String {
    func replacingAll(_ a: String, with b: String) -> String {
        split(separator: Character(a), omittingEmptySubsequences: false).joined(separator: b)
    }
}

enum Timestamp {
    /// ISO 8601 UTC with microseconds, as in events.
    static func text(_ nanos: Int64) -> String {
        var w = JSONWriter(capacity: 64)
        w.timestampValue(nanos: nanos)
        let s = String(decoding: Array(w.bytes), as: UTF8.self)
        return String(s.dropFirst().dropLast())
    }
}

import Foundation

/// A least-privilege segmentation policy from a baseline: the learned pairs become the only
/// allowed connections (client -> server, protocol, port), grouped by device class.
public struct SegmentationPolicy: Codable, Equatable {
    public var format = "spansight-policy"
    public var version = 1
    public var baselineSources: [String]
    public var defaultAction = "deny"
    public var classes: [DeviceGroup]
    public var allow: [Rule]

    public struct DeviceGroup: Codable, Equatable {
        public var deviceClass: String
        public var members: [String]
        enum CodingKeys: String, CodingKey { case members, deviceClass = "device_class" }
    }
    public struct Rule: Codable, Equatable {
        public var client: String
        public var clientClass: String
        public var server: String
        public var serverClass: String
        public var proto: String
        public var port: Int
        public var app: String
        /// Commands the baseline saw on the pair (Modbus/DNP3 function names, DICOM commands, HL7 types).
        public var commands: [String]
        enum CodingKeys: String, CodingKey {
            case client, server, proto, port, app, commands
            case clientClass = "client_class", serverClass = "server_class"
        }
    }
    enum CodingKeys: String, CodingKey {
        case format, version, classes, allow
        case baselineSources = "baseline_sources", defaultAction = "default_action"
    }

    /// The device class of a talker: the inventory's when the baseline has one, else its roles.
    static func deviceClass(_ roles: [String]) -> String {
        let order: [(String, String)] = [
            ("modbus.server", "ot_controller"), ("dnp3.outstation", "ot_controller"),
            ("modbus.client", "ot_master_hmi"), ("dnp3.master", "ot_master_hmi"),
            ("dicom.scp", "iomt_dicom_scp"), ("dicom.scu", "iomt_dicom_scu"),
            ("hl7.receiver", "clinical_hl7_receiver"), ("hl7.sender", "clinical_hl7_sender"),
        ]
        for (role, cls) in order where roles.contains(role) { return cls }
        return "unclassified"
    }

    public init(_ b: BaselineFile) {
        baselineSources = b.sources
        var cls: [String: String] = [:]
        for t in b.talkers { cls[t.ip] = SegmentationPolicy.deviceClass(t.roles) }
        var groups: [String: [String]] = [:]
        for t in b.talkers { groups[cls[t.ip]!, default: []].append(t.ip) }
        classes = groups.keys.sorted().map { DeviceGroup(deviceClass: $0, members: groups[$0]!) }
        func commands(_ p: BaselineFile.Pair) -> [String] {
            var s: Set<String> = []
            switch p.app {
            case "modbus": for m in b.modbus where m.client == p.client && m.server == p.server { s.insert(m.name) }
            case "dnp3": for d in b.dnp3 where d.master == p.client && d.outstation == p.server { s.insert(d.name) }
            case "dicom": for d in b.dicom where d.scu == p.client && d.scp == p.server { s.formUnion(d.commands) }
            case "hl7": for h in b.hl7 where h.sender == p.client && h.receiver == p.server { s.formUnion(h.messageTypes) }
            default: break
            }
            return s.sorted()
        }
        allow = b.pairs.map { p in
            Rule(client: p.client, clientClass: cls[p.client] ?? "unclassified", server: p.server,
                 serverClass: cls[p.server] ?? "unclassified", proto: p.proto, port: p.serverPort, app: p.app,
                 commands: commands(p))
        }
    }

    public func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var d = try e.encode(self)
        d.append(0x0A)
        return d
    }

    /// nftables rules to review: a forward chain that drops by default and accepts the learned
    /// pairs (new connections) and the return traffic of established ones.
    public func nft() -> String {
        var s = """
            #!/usr/sbin/nft -f
            # SpanSight least-privilege segmentation policy, learned from: \(baselineSources.joined(separator: ", "))
            # Review before use: it allows only what the baseline saw and drops (and logs) the rest.
            table inet spansight_policy {
                chain forward {
                    type filter hook forward priority filter; policy drop;
                    ct state established,related accept

            """
        for r in allow {
            let family = r.client.contains(":") ? "ip6" : "ip"
            let l4 = r.proto == "tcp" || r.proto == "udp" ? r.proto : "meta l4proto \(r.proto)"
            let port = r.proto == "tcp" || r.proto == "udp" ? " \(l4) dport \(r.port)" : ""
            let what = r.commands.isEmpty ? r.app : "\(r.app): \(r.commands.joined(separator: " "))"
            s += "        # \(r.client) (\(r.clientClass)) -> \(r.server) (\(r.serverClass)) \(what)\n"
            s += "        \(family) saddr \(r.client) \(family) daddr \(r.server)\(port) ct state new accept\n"
        }
        s += """
                    log prefix "spansight-policy-deny: " level warn
                }
            }

            """
        return s
    }
}

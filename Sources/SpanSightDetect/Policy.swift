import Foundation
import SpanSightEngine
import SpanSightWire

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

    /// The device group of a talker from its roles: the first role it plays, field devices'
    /// servers first, then their masters, then the other protocols' roles in their order.
    static func deviceClass(_ roles: [String], _ protocols: [ProtocolModule]) -> String {
        let field = protocols.filter(\.isFieldProtocol)
        let order = field.flatMap { $0.roles.filter { $0.side == .server } } + field.flatMap { $0.roles.filter { $0.side == .client } }
            + protocols.filter { !$0.isFieldProtocol }.flatMap(\.roles)
        for r in order where roles.contains("\(r.name)") { return "\(r.policyGroup)" }
        return "unclassified"
    }

    public init(_ b: BaselineFile, protocols: [ProtocolModule]) {
        baselineSources = b.sources
        var cls: [String: String] = [:]
        for t in b.talkers { cls[t.ip] = SegmentationPolicy.deviceClass(t.roles, protocols) }
        var groups: [String: [String]] = [:]
        for t in b.talkers { groups[cls[t.ip]!, default: []].append(t.ip) }
        classes = groups.keys.sorted().map { DeviceGroup(deviceClass: $0, members: groups[$0]!) }
        func commands(_ p: BaselineFile.Pair) -> [String] {
            Set(b.commands.filter { $0.app == p.app && $0.client == p.client && $0.server == p.server }.map(\.name)).sorted()
        }
        allow = b.pairs.map { p in
            Rule(client: p.client, clientClass: cls[p.client] ?? "unclassified", server: p.server,
                 serverClass: cls[p.server] ?? "unclassified", proto: p.proto, port: p.serverPort, app: p.app,
                 commands: commands(p))
        }
    }

    /// The policy as JSON (strings escaped by the encoder); a baseline value that no rule may
    /// carry is rejected as `nft` rejects it, so that both formats accept the same baselines.
    public func json() throws -> Data {
        _ = try checkedRules()
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var d = try e.encode(self)
        d.append(0x0A)
        return d
    }

    /// nftables rules to review: a forward chain that drops by default and accepts the learned
    /// pairs (new connections) and the return traffic of established ones.
    ///
    /// Everything here came from captures and file names (a baseline is a file anyone may have
    /// edited): rule words are rebuilt from parsed values (addresses printed from their parsed
    /// form, the port a number, the protocol tcp, udp or a number), or the baseline is
    /// rejected; free text goes only into comments, escaped so that nothing in it can end the
    /// comment's line (`PrintableText`: printable ASCII, the rest as `\xNN`).
    public func nft() throws(PolicyError) -> String {
        let rules = try checkedRules()
        let sources = baselineSources.map { PrintableText.escaped($0) }.joined(separator: ", ")
        var s = """
            #!/usr/sbin/nft -f
            # SpanSight least-privilege segmentation policy, learned from: \(sources)
            # Review before use: it allows only what the baseline saw and drops (and logs) the rest.
            table inet spansight_policy {
                chain forward {
                    type filter hook forward priority filter; policy drop;
                    ct state established,related accept

            """
        for (r, c) in zip(allow, rules) {
            let what = r.commands.isEmpty ? r.app : "\(r.app): \(r.commands.joined(separator: " "))"
            let comment = "\(c.client) (\(r.clientClass)) -> \(c.server) (\(r.serverClass)) \(what)"
            s += "        # \(PrintableText.escaped(comment))\n"
            s += "        \(c.family) saddr \(c.client) \(c.family) daddr \(c.server)\(c.match) ct state new accept\n"
        }
        s += """
                    log prefix "spansight-policy-deny: " level warn
                }
            }

            """
        return s
    }

    /// A rule's words, rebuilt from parsed values.
    struct CheckedRule {
        var family: String
        var client: String
        var server: String
        /// " tcp dport 502", " meta l4proto 47" (empty for a protocol without ports).
        var match: String
    }

    /// Every rule's addresses, protocol and port parsed, or the first that is not one.
    func checkedRules() throws(PolicyError) -> [CheckedRule] {
        var out: [CheckedRule] = []
        out.reserveCapacity(allow.count)
        for (i, r) in allow.enumerated() {
            func reject(_ what: String, _ value: String) -> PolicyError {
                PolicyError(description: "allow rule \(i + 1): \(what) '\(PrintableText.escaped(value, keepingUnicode: true))' cannot be written into a rule set")
            }
            guard let client = IPAddress(r.client) else { throw reject("client address", r.client) }
            guard let server = IPAddress(r.server) else { throw reject("server address", r.server) }
            guard client.isV4 == server.isV4 else { throw reject("address pair", "\(r.client) -> \(r.server)") }
            let match: String
            switch r.proto {
            case "tcp", "udp":
                guard (0...65535).contains(r.port) else { throw reject("port", String(r.port)) }
                match = " \(r.proto) dport \(r.port)"
            default:
                // A protocol number, digits only (no sign, no spaces): `meta l4proto N`.
                guard r.proto.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = UInt8(r.proto) else {
                    throw reject("protocol", r.proto)
                }
                match = " meta l4proto \(n)"
            }
            out.append(CheckedRule(family: client.isV4 ? "ip" : "ip6", client: client.text, server: server.text, match: match))
        }
        return out
    }
}

/// A baseline that cannot become a rule set (a value no rule may carry).
public struct PolicyError: Error, CustomStringConvertible {
    public let description: String
}

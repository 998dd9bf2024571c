import Foundation
import SpanSightEngine
import SpanSightWire

/// What was learned: the in-memory index the learner fills and the detector checks.
public final class BaselineIndex {
    struct PairInfo { var app: String; var flows: Int }
    struct CommandEntry { var operation: String; var ranges = RangeSet(); var attributes: [String: Set<String>] = [:]; var count = 0 }
    struct RateEnvelope { var windows = 0; var maxPerWindow = 0; var total = 0 }

    var rateWindowSeconds: Int
    public internal(set) var sources: [String] = []
    var talkers: [IPAddress: Set<String>] = [:]
    var pairs: [TalkerPair: PairInfo] = [:]
    var commands: [CommandKey: CommandEntry] = [:]
    var rates: [RateKey: RateEnvelope] = [:]
    /// Entries the learner could not keep (its caps); a baseline with drops is incomplete.
    var dropped = 0

    init(rateWindowSeconds: Int) { self.rateWindowSeconds = rateWindowSeconds }

    var rateWindowNanos: Int64 { Int64(rateWindowSeconds) * 1_000_000_000 }

    /// True when `a` is a known talker and `(client, server, proto, port)` a known pair.
    func knows(_ a: IPAddress) -> Bool { talkers[a] != nil }
}

// MARK: - the reviewable file

/// The baseline file: pretty JSON with sorted keys and sorted lists, so the same input gives the
/// same bytes and a re-learned baseline diffs line by line. Version 2 files every protocol's
/// commands in one list (version 1 had a list per protocol; it is still read).
public struct BaselineFile: Codable, Equatable {
    public var format = "spansight-baseline"
    public var version = 2
    public var sources: [String]
    public var rateWindowSeconds: Int
    /// The longest rate window (30 days, as `learn --rate-window` allows).
    public static let maxRateWindowSeconds = 30 * 24 * 3600
    public var droppedEntries: Int
    public var talkers: [Talker]
    public var pairs: [Pair]
    public var commands: [Command]
    public var rates: [Rate]

    public struct Talker: Codable, Equatable {
        public var ip: String
        public var roles: [String]
    }
    public struct Pair: Codable, Equatable {
        public var client: String
        public var server: String
        public var proto: String
        public var serverPort: Int
        public var app: String
        public var flows: Int
    }
    /// One learned command of a pair (`BaselineFact`).
    public struct Command: Codable, Equatable {
        public var app: String
        public var client: String
        public var server: String
        /// The identities the entry is scoped by (DICOM calling and called AE titles, HL7
        /// sending and receiving application^facility); empty for field protocols.
        public var scope: [String]
        public var unit: Int
        public var function: Int
        public var subfunction: Int
        public var name: String
        public var access: String
        /// Merged [first, last] address ranges.
        public var ranges: [[Int]]
        /// Learned value sets by name (`objects`, `sop_classes`, `move_destinations`).
        public var attributes: [String: [String]]
        public var count: Int
    }
    public struct Rate: Codable, Equatable {
        public var client: String
        public var server: String
        public var app: String
        /// Windows (of rateWindowSeconds) with at least one command.
        public var windows: Int
        public var maxPerWindow: Int
        public var meanPerWindow: Double
    }

    enum CodingKeys: String, CodingKey {
        case format, version, sources, talkers, pairs, commands, rates
        case rateWindowSeconds = "rate_window_seconds", droppedEntries = "dropped_entries"
    }
}

extension BaselineFile.Pair { enum CodingKeys: String, CodingKey { case client, server, proto, app, flows, serverPort = "server_port" } }
extension BaselineFile.Rate {
    enum CodingKeys: String, CodingKey { case client, server, app, windows, maxPerWindow = "max_per_window", meanPerWindow = "mean_per_window" }
}

/// A version 1 file's per-protocol command lists, read and converted to version 2's. Its keys
/// name the four protocols version 1 knew (the one place outside their folders that does: a
/// frozen file format); protocols added since exist only in version 2.
struct BaselineFileV1: Decodable {
    struct Modbus: Decodable { var client, server: String; var unit, function, subfunction: Int; var name, access: String; var ranges: [[Int]]; var count: Int }
    struct DNP3: Decodable {
        var master, outstation: String; var outstationAddress, function: Int; var name: String; var objects: [String]; var count: Int
        enum CodingKeys: String, CodingKey { case master, outstation, function, name, objects, count, outstationAddress = "outstation_address" }
    }
    struct DICOM: Decodable {
        var scu, scp, callingAE, calledAE: String; var commands, sopClasses, moveDestinations: [String]; var count: Int
        enum CodingKeys: String, CodingKey {
            case scu, scp, commands, count
            case callingAE = "calling_ae", calledAE = "called_ae", sopClasses = "sop_classes", moveDestinations = "move_destinations"
        }
    }
    struct HL7: Decodable {
        var sender, receiver, sending, receiving: String; var messageTypes: [String]; var count: Int
        enum CodingKeys: String, CodingKey { case sender, receiver, sending, receiving, count, messageTypes = "message_types" }
    }
    var modbus: [Modbus]
    var dnp3: [DNP3]
    var dicom: [DICOM]
    var hl7: [HL7]

    /// The same entries as version 2 commands (a DICOM or HL7 entry becomes one per command or
    /// message type, each with the entry's value sets).
    var commands: [BaselineFile.Command] {
        var out: [BaselineFile.Command] = []
        for m in modbus {
            out.append(.init(app: "modbus", client: m.client, server: m.server, scope: [], unit: m.unit, function: m.function,
                             subfunction: m.subfunction, name: m.name, access: m.access, ranges: m.ranges, attributes: [:], count: m.count))
        }
        for d in dnp3 {
            out.append(.init(app: "dnp3", client: d.master, server: d.outstation, scope: [], unit: d.outstationAddress, function: d.function,
                             subfunction: 0, name: d.name, access: "", ranges: [], attributes: ["objects": d.objects], count: d.count))
        }
        for d in dicom {
            for c in d.commands {
                out.append(.init(app: "dicom", client: d.scu, server: d.scp, scope: [d.callingAE, d.calledAE], unit: 0, function: 0,
                                 subfunction: 0, name: c, access: "", ranges: [],
                                 attributes: ["sop_classes": d.sopClasses, "move_destinations": d.moveDestinations], count: d.count))
            }
        }
        for h in hl7 {
            for t in h.messageTypes {
                out.append(.init(app: "hl7", client: h.sender, server: h.receiver, scope: [h.sending, h.receiving], unit: 0, function: 0,
                                 subfunction: 0, name: t, access: "", ranges: [], attributes: [:], count: h.count))
            }
        }
        return out
    }
}

public struct BaselineError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

extension BaselineIndex {
    /// The file form (sorted).
    public var file: BaselineFile {
        func ip(_ a: IPAddress) -> String { a.text }
        func proto(_ p: UInt8) -> String { p == 6 ? "tcp" : p == 17 ? "udp" : String(p) }
        return BaselineFile(
            sources: sources, rateWindowSeconds: rateWindowSeconds, droppedEntries: dropped,
            talkers: talkers.keys.sorted().map { BaselineFile.Talker(ip: ip($0), roles: talkers[$0]!.sorted()) },
            pairs: pairs.keys.sorted().map { k in
                let v = pairs[k]!
                return BaselineFile.Pair(client: ip(k.client), server: ip(k.server), proto: proto(k.proto),
                                         serverPort: Int(k.port), app: v.app, flows: v.flows)
            },
            commands: commands.keys.sorted().map { k in
                let v = commands[k]!
                return BaselineFile.Command(app: k.app, client: ip(k.client), server: ip(k.server), scope: k.scope, unit: Int(k.unit),
                                            function: Int(k.function), subfunction: Int(k.subfunction), name: k.name, access: v.operation,
                                            ranges: v.ranges.ranges.map { [Int($0.lowerBound), Int($0.upperBound)] },
                                            attributes: v.attributes.mapValues { $0.sorted() }, count: v.count)
            },
            rates: rates.keys.sorted().map { k in
                let v = rates[k]!
                let mean = v.windows == 0 ? 0 : (Double(v.total) / Double(v.windows) * 100).rounded() / 100
                return BaselineFile.Rate(client: ip(k.client), server: ip(k.server), app: k.app, windows: v.windows,
                                         maxPerWindow: v.maxPerWindow, meanPerWindow: mean)
            })
    }

    /// The bytes of the baseline file.
    public func encoded() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var d = try e.encode(file)
        d.append(0x0A)
        return d
    }

    /// Loads a baseline file.
    public static func load(path: String) throws -> BaselineIndex {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BaselineError(description: "cannot read baseline \(path)")
        }
        struct Header: Decodable { var format: String; var version: Int }
        let f: BaselineFile
        do {
            let h = try JSONDecoder().decode(Header.self, from: data)
            guard h.format == "spansight-baseline", h.version == 1 || h.version == 2 else {
                throw BaselineError(description: "\(path): unsupported baseline format \(h.format) version \(h.version)")
            }
            if h.version == 1 {
                // Version 1: the same file with a command list per protocol.
                struct Common: Decodable {
                    var sources: [String]; var rateWindowSeconds: Int; var droppedEntries: Int
                    var talkers: [BaselineFile.Talker]; var pairs: [BaselineFile.Pair]; var rates: [BaselineFile.Rate]
                    enum CodingKeys: String, CodingKey {
                        case sources, talkers, pairs, rates
                        case rateWindowSeconds = "rate_window_seconds", droppedEntries = "dropped_entries"
                    }
                }
                let c = try JSONDecoder().decode(Common.self, from: data)
                let v1 = try JSONDecoder().decode(BaselineFileV1.self, from: data)
                f = BaselineFile(sources: c.sources, rateWindowSeconds: c.rateWindowSeconds, droppedEntries: c.droppedEntries,
                                 talkers: c.talkers, pairs: c.pairs, commands: v1.commands, rates: c.rates)
            } else {
                f = try JSONDecoder().decode(BaselineFile.self, from: data)
            }
        } catch let e as BaselineError {
            throw e
        } catch {
            throw BaselineError(description: "\(path): not a SpanSight baseline (\(error))")
        }
        return try BaselineIndex(file: f, path: path)
    }

    convenience init(file f: BaselineFile, path: String) throws {
        guard (1...BaselineFile.maxRateWindowSeconds).contains(f.rateWindowSeconds) else {
            throw BaselineError(description: "\(path): rate_window_seconds \(f.rateWindowSeconds) is outside 1 to \(BaselineFile.maxRateWindowSeconds)")
        }
        self.init(rateWindowSeconds: f.rateWindowSeconds)
        func ip(_ s: String) throws -> IPAddress {
            guard let a = IPAddress(s) else { throw BaselineError(description: "\(path): bad address \(PrintableText.escaped(s, keepingUnicode: true))") }
            return a
        }
        func u32(_ v: Int) -> UInt32 { UInt32(clamping: v) }
        func u16(_ v: Int) -> UInt16 { UInt16(clamping: v) }
        sources = f.sources
        dropped = f.droppedEntries
        for t in f.talkers { talkers[try ip(t.ip)] = Set(t.roles) }
        for p in f.pairs {
            // What `learn` writes: tcp, udp or a protocol number, and a port; anything else is
            // refused rather than read as protocol 0 or port 65535 (a policy is made of these).
            let number = p.proto.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } ? UInt8(p.proto) : nil
            guard let proto: UInt8 = p.proto == "tcp" ? 6 : p.proto == "udp" ? 17 : number else {
                throw BaselineError(description: "\(path): bad protocol \(PrintableText.escaped(p.proto, keepingUnicode: true)) in a pair")
            }
            guard (0...65535).contains(p.serverPort) else {
                throw BaselineError(description: "\(path): bad server_port \(p.serverPort) in a pair")
            }
            pairs[TalkerPair(client: try ip(p.client), server: try ip(p.server), proto: proto, port: u16(p.serverPort))] =
                PairInfo(app: p.app, flows: p.flows)
        }
        for c in f.commands {
            var e = CommandEntry(operation: c.access, count: c.count)
            for r in c.ranges where r.count == 2 && r[0] <= r[1] { e.ranges.insert(u32(r[0])...u32(r[1])) }
            e.attributes = c.attributes.mapValues { Set($0) }
            commands[CommandKey(app: c.app, client: try ip(c.client), server: try ip(c.server), scope: c.scope, unit: u32(c.unit),
                                function: u16(c.function), subfunction: u16(c.subfunction), name: c.name)] = e
        }
        for r in f.rates {
            rates[RateKey(client: try ip(r.client), server: try ip(r.server), app: r.app)] =
                RateEnvelope(windows: r.windows, maxPerWindow: r.maxPerWindow, total: Int((r.meanPerWindow * Double(r.windows)).rounded()))
        }
    }
}

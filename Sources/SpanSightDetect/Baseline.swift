import Foundation
import SpanSightEngine
import SpanSightWire

/// What was learned: the in-memory index the learner fills and the detector checks.
public final class BaselineIndex {
    struct PairInfo { var app: String; var flows: Int }
    struct ModbusEntry { var name: String; var operation: String; var ranges = RangeSet(); var count = 0 }
    struct DNP3Entry { var name: String; var groups: Set<String> = []; var count = 0 }
    struct DICOMEntry { var commands: Set<String> = []; var sopClasses: Set<String> = []; var destinations: Set<String> = []; var count = 0 }
    struct HL7Entry { var messageTypes: Set<String> = []; var count = 0 }
    struct RateEnvelope { var windows = 0; var maxPerWindow = 0; var total = 0 }

    var rateWindowSeconds: Int
    public internal(set) var sources: [String] = []
    var talkers: [IPAddress: Set<String>] = [:]
    var pairs: [TalkerPair: PairInfo] = [:]
    var modbus: [ModbusKey: ModbusEntry] = [:]
    var dnp3: [DNP3Key: DNP3Entry] = [:]
    var dicom: [DICOMKey: DICOMEntry] = [:]
    var hl7: [HL7Key: HL7Entry] = [:]
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
/// same bytes and a re-learned baseline diffs line by line.
public struct BaselineFile: Codable, Equatable {
    public var format = "spansight-baseline"
    public var version = 1
    public var sources: [String]
    public var rateWindowSeconds: Int
    /// The longest rate window (30 days, as `learn --rate-window` allows).
    public static let maxRateWindowSeconds = 30 * 24 * 3600
    public var droppedEntries: Int
    public var talkers: [Talker]
    public var pairs: [Pair]
    public var modbus: [Modbus]
    public var dnp3: [DNP3]
    public var dicom: [DICOM]
    public var hl7: [HL7]
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
    public struct Modbus: Codable, Equatable {
        public var client: String
        public var server: String
        public var unit: Int
        public var function: Int
        public var subfunction: Int
        public var name: String
        public var access: String
        /// Merged [first, last] address ranges.
        public var ranges: [[Int]]
        public var count: Int
    }
    public struct DNP3: Codable, Equatable {
        public var master: String
        public var outstation: String
        public var outstationAddress: Int
        public var function: Int
        public var name: String
        public var objects: [String]
        public var count: Int
    }
    public struct DICOM: Codable, Equatable {
        public var scu: String
        public var scp: String
        public var callingAE: String
        public var calledAE: String
        public var commands: [String]
        public var sopClasses: [String]
        public var moveDestinations: [String]
        public var count: Int
    }
    public struct HL7: Codable, Equatable {
        public var sender: String
        public var receiver: String
        /// application^facility
        public var sending: String
        public var receiving: String
        public var messageTypes: [String]
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
        case format, version, sources, talkers, pairs, modbus, dnp3, dicom, hl7, rates
        case rateWindowSeconds = "rate_window_seconds", droppedEntries = "dropped_entries"
    }
}

extension BaselineFile.Pair { enum CodingKeys: String, CodingKey { case client, server, proto, app, flows, serverPort = "server_port" } }
extension BaselineFile.DNP3 {
    enum CodingKeys: String, CodingKey { case master, outstation, function, name, objects, count, outstationAddress = "outstation_address" }
}
extension BaselineFile.DICOM {
    enum CodingKeys: String, CodingKey {
        case scu, scp, commands, count
        case callingAE = "calling_ae", calledAE = "called_ae", sopClasses = "sop_classes", moveDestinations = "move_destinations"
    }
}
extension BaselineFile.HL7 { enum CodingKeys: String, CodingKey { case sender, receiver, sending, receiving, count, messageTypes = "message_types" } }
extension BaselineFile.Rate {
    enum CodingKeys: String, CodingKey { case client, server, app, windows, maxPerWindow = "max_per_window", meanPerWindow = "mean_per_window" }
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
            modbus: modbus.keys.sorted().map { k in
                let v = modbus[k]!
                return BaselineFile.Modbus(client: ip(k.client), server: ip(k.server), unit: Int(k.unit), function: Int(k.function),
                                           subfunction: Int(k.sub), name: v.name, access: v.operation,
                                           ranges: v.ranges.ranges.map { [Int($0.lowerBound), Int($0.upperBound)] }, count: v.count)
            },
            dnp3: dnp3.keys.sorted().map { k in
                let v = dnp3[k]!
                return BaselineFile.DNP3(master: ip(k.master), outstation: ip(k.outstation), outstationAddress: Int(k.address),
                                         function: Int(k.function), name: v.name, objects: v.groups.sorted(), count: v.count)
            },
            dicom: dicom.keys.sorted().map { k in
                let v = dicom[k]!
                return BaselineFile.DICOM(scu: ip(k.scu), scp: ip(k.scp), callingAE: k.calling, calledAE: k.called,
                                          commands: v.commands.sorted(), sopClasses: v.sopClasses.sorted(),
                                          moveDestinations: v.destinations.sorted(), count: v.count)
            },
            hl7: hl7.keys.sorted().map { k in
                let v = hl7[k]!
                return BaselineFile.HL7(sender: ip(k.sender), receiver: ip(k.receiver), sending: k.sending, receiving: k.receiving,
                                        messageTypes: v.messageTypes.sorted(), count: v.count)
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
        let f: BaselineFile
        do { f = try JSONDecoder().decode(BaselineFile.self, from: data) } catch {
            throw BaselineError(description: "\(path): not a SpanSight baseline (\(error))")
        }
        guard f.format == "spansight-baseline", f.version == 1 else {
            throw BaselineError(description: "\(path): unsupported baseline format \(f.format) version \(f.version)")
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
        for m in f.modbus {
            var e = ModbusEntry(name: m.name, operation: m.access, count: m.count)
            for r in m.ranges where r.count == 2 && r[0] <= r[1] { e.ranges.insert(u32(r[0])...u32(r[1])) }
            modbus[ModbusKey(client: try ip(m.client), server: try ip(m.server), unit: u32(m.unit), function: u16(m.function), sub: u16(m.subfunction))] = e
        }
        for d in f.dnp3 {
            dnp3[DNP3Key(master: try ip(d.master), outstation: try ip(d.outstation), address: u32(d.outstationAddress), function: u16(d.function))] =
                DNP3Entry(name: d.name, groups: Set(d.objects), count: d.count)
        }
        for d in f.dicom {
            dicom[DICOMKey(scu: try ip(d.scu), scp: try ip(d.scp), calling: d.callingAE, called: d.calledAE)] =
                DICOMEntry(commands: Set(d.commands), sopClasses: Set(d.sopClasses), destinations: Set(d.moveDestinations), count: d.count)
        }
        for h in f.hl7 {
            hl7[HL7Key(sender: try ip(h.sender), receiver: try ip(h.receiver), sending: h.sending, receiving: h.receiving)] =
                HL7Entry(messageTypes: Set(h.messageTypes), count: h.count)
        }
        for r in f.rates {
            rates[RateKey(client: try ip(r.client), server: try ip(r.server), app: r.app)] =
                RateEnvelope(windows: r.windows, maxPerWindow: r.maxPerWindow, total: Int((r.meanPerWindow * Double(r.windows)).rounded()))
        }
    }
}

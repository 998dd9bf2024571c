import SpanSightEngine
import SpanSightWire

/// The command-level facts the learner records and the detector checks, derived the same way
/// from the observations by both (so what was learned is exactly what is checked).

struct TalkerPair: Hashable, Comparable {
    var client: IPAddress
    var server: IPAddress
    var proto: UInt8
    var port: UInt16
    static func < (a: TalkerPair, b: TalkerPair) -> Bool {
        (a.client, a.server, a.proto, a.port) < (b.client, b.server, b.proto, b.port)
    }
}

struct ModbusKey: Hashable, Comparable {
    var client: IPAddress
    var server: IPAddress
    var unit: UInt32
    var function: UInt16
    /// Sub-function of FC 8 and MEI type of FC 43 (0 otherwise).
    var sub: UInt16
    static func < (a: ModbusKey, b: ModbusKey) -> Bool {
        (a.client, a.server, a.unit, a.function, a.sub) < (b.client, b.server, b.unit, b.function, b.sub)
    }
}

struct DNP3Key: Hashable, Comparable {
    var master: IPAddress
    var outstation: IPAddress
    var address: UInt32
    var function: UInt16
    static func < (a: DNP3Key, b: DNP3Key) -> Bool {
        (a.master, a.outstation, a.address, a.function) < (b.master, b.outstation, b.address, b.function)
    }
}

struct DICOMKey: Hashable, Comparable {
    var scu: IPAddress
    var scp: IPAddress
    var calling: String
    var called: String
    static func < (a: DICOMKey, b: DICOMKey) -> Bool {
        (a.scu, a.scp, a.calling, a.called) < (b.scu, b.scp, b.calling, b.called)
    }
}

struct HL7Key: Hashable, Comparable {
    var sender: IPAddress
    var receiver: IPAddress
    var sending: String
    var receiving: String
    static func < (a: HL7Key, b: HL7Key) -> Bool {
        (a.sender, a.receiver, a.sending, a.receiving) < (b.sender, b.receiver, b.sending, b.receiving)
    }
}

struct RateKey: Hashable, Comparable {
    var client: IPAddress
    var server: IPAddress
    var app: String
    static func < (a: RateKey, b: RateKey) -> Bool { (a.client, a.server, a.app) < (b.client, b.server, b.app) }
}

/// One command as a fact.
enum CommandFact {
    case modbus(ModbusKey, range: ClosedRange<UInt32>?, write: Bool)
    case dnp3(DNP3Key, groups: [String])
    case dicom(DICOMKey, command: String, sopClass: String?, destination: String?)
    case hl7(HL7Key, messageType: String)
}

/// What a flow's observations said about its endpoints' application identities (the keys its
/// module keeps, `ProtocolModule.flowIdentityKeys`), per side.
struct FlowFacts {
    var identities = FlowIdentities()
    /// The flow's pair and talkers were checked (baseline mode).
    var pairChecked = false

    func ae(_ side: Side) -> String { identities.value(side, "dicom.ae_title") ?? "" }

    func hl7Identity(_ side: Side) -> String {
        (identities.value(side, "hl7.application") ?? "") + "^" + (identities.value(side, "hl7.facility") ?? "")
    }
}

/// Per-flow facts, bounded (flows beyond the cap get none; counted).
struct FlowFactsTable {
    private(set) var flows: [UInt64: FlowFacts] = [:]
    let cap: Int
    private(set) var dropped: UInt64 = 0

    init(cap: Int) { self.cap = cap }
    var count: Int { flows.count }

    /// The facts of flow `id`, created on first use (nil when the table is full).
    mutating func with<R>(_ id: UInt64, _ body: (inout FlowFacts) -> R) -> R? {
        if flows[id] == nil {
            guard flows.count < cap else { dropped &+= 1; return nil }
            flows[id] = FlowFacts()
        }
        return body(&flows[id]!)
    }

    func get(_ id: UInt64) -> FlowFacts? { flows[id] }
    mutating func remove(_ id: UInt64) { flows.removeValue(forKey: id) }
}

enum Facts {
    static func address(_ flow: borrowing FlowRecord, _ side: Side) -> IPAddress {
        side == .client ? flow.key.client : flow.key.server
    }

    /// The fact of a command, or nil for protocols without command-level learning.
    static func command(_ c: Command, flow: borrowing FlowRecord, app: ProtocolModule?, facts: FlowFacts?) -> CommandFact? {
        let issuer = address(flow, c.issuer), other = address(flow, c.issuer.other)
        switch app.map({ "\($0.name)" }) ?? "" {
        case "modbus":
            let sub: UInt16 = (c.function == 8 || c.function == 43) ? c.subfunction : 0
            let key = ModbusKey(client: issuer, server: other, unit: c.unit, function: c.function, sub: sub)
            let range: ClosedRange<UInt32>? = c.addressCount > 0
                ? c.addressStart...(c.addressStart &+ min(c.addressCount, 0xFFFF) &- 1) : nil
            return .modbus(key, range: range, write: c.operation == .write)
        case "dnp3":
            let groups = (c.detail ?? "").split(separator: " ").map(String.init)
            return .dnp3(DNP3Key(master: issuer, outstation: other, address: c.unit, function: c.function), groups: groups)
        case "dicom":
            let f = facts ?? FlowFacts()
            let key = DICOMKey(scu: issuer, scp: other, calling: f.ae(c.issuer), called: f.ae(c.issuer.other))
            return .dicom(key, command: c.name.description, sopClass: c.function == 1 ? nil : c.detail, destination: c.function == 1 ? nil : c.target)
        case "hl7":
            let f = facts ?? FlowFacts()
            let key = HL7Key(sender: issuer, receiver: other, sending: c.target ?? f.hl7Identity(c.issuer),
                             receiving: f.hl7Identity(c.issuer.other))
            return .hl7(key, messageType: c.detail ?? "")
        default:
            return nil
        }
    }
}

/// Closed address ranges, merged (overlapping and adjacent ranges become one).
struct RangeSet: Equatable {
    private(set) var ranges: [ClosedRange<UInt32>] = []

    mutating func insert(_ r: ClosedRange<UInt32>) {
        var lo = r.lowerBound, hi = r.upperBound
        var kept: [ClosedRange<UInt32>] = []
        for x in ranges {
            if x.upperBound &+ 1 < lo && x.upperBound != .max || hi &+ 1 < x.lowerBound && hi != .max {
                kept.append(x)
            } else {
                lo = min(lo, x.lowerBound)
                hi = max(hi, x.upperBound)
            }
        }
        kept.append(lo...hi)
        ranges = kept.sorted { $0.lowerBound < $1.lowerBound }
    }

    func contains(_ r: ClosedRange<UInt32>) -> Bool {
        ranges.contains { $0.lowerBound <= r.lowerBound && r.upperBound <= $0.upperBound }
    }
}

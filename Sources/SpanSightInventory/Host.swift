import SpanSightEngine
import SpanSightWire

/// Evidence for a claim: the flow, the time and what was seen.
public struct Evidence: Sendable, Equatable {
    public var flowID: UInt64
    public var timestampNanos: Int64
    /// Where the fact came from: "modbus.read_device_identification", "tcp.syn", "dicom.a_associate_rq".
    public var source: String
}

/// One identity value (a device-identification object, an AE title, an HL7 application),
/// with when it was first and last seen and where.
public struct IdentityValue: Sendable {
    public var key: String
    public var value: String
    public var firstSeen: Int64
    public var lastSeen: Int64
    public var evidence: Evidence
}

/// A device behind a host's address: a Modbus unit id or a DNP3 link address.
public struct ChildDevice: Sendable {
    public var kind: String
    public var id: UInt32
    public var firstSeen: Int64
    public var lastSeen: Int64
    public var identities: [IdentityValue] = []
    /// The most commands a child keeps per function (inventory evidence, bounded).
    public var commands: UInt64 = 0
}

/// A recorded identity change (the detection engine alerts on them).
public struct ChangeRecord: Sendable {
    public var kind: String
    public var timestampNanos: Int64
    public var key: String
    public var oldValue: String
    public var newValue: String
    public var flowID: UInt64
}

/// A MAC address seen with a host's IP, and when.
public struct MACSighting: Sendable {
    public var mac: UInt64
    public var firstSeen: Int64
    public var lastSeen: Int64
}

/// A listening service: (transport, port) with the application found on it.
public struct ServiceKey: Hashable, Sendable, Comparable {
    public var proto: UInt8
    public var port: UInt16
    public static func < (a: ServiceKey, b: ServiceKey) -> Bool { (a.proto, a.port) < (b.proto, b.port) }
}

public struct ServiceStats: Sendable {
    public var app: String
    public var flows: UInt64
    public var firstSeen: Int64
    public var lastSeen: Int64
}

/// Traffic with one peer.
public struct PeerStats: Sendable {
    public var flows: UInt64 = 0
    public var bytes: UInt64 = 0
    public var apps: Set<String> = []
}

/// Everything known about one IP address. The inventory groups hosts into assets by MAC.
public struct HostRecord: Sendable {
    public let address: IPAddress
    public var firstSeen: Int64
    public var lastSeen: Int64
    public var macs: [MACSighting] = []
    public var packetsSent: UInt64 = 0
    public var packetsReceived: UInt64 = 0
    public var bytesSent: UInt64 = 0
    public var bytesReceived: UInt64 = 0
    public var flowsAsClient: UInt64 = 0
    public var flowsAsServer: UInt64 = 0
    /// Protocol roles ("modbus.server"), with the evidence of their first sighting.
    public var roles: [String: Evidence] = [:]
    public var services: [ServiceKey: ServiceStats] = [:]
    public var peers: [IPAddress: PeerStats] = [:]
    /// Peers not kept because of the per-host cap.
    public var peersDropped: UInt64 = 0
    public var identities: [IdentityValue] = []
    public var children: [ChildDevice] = []
    public var stack: StackObservation? = nil
    public var changes: [ChangeRecord] = []
    /// TTL of the host's packets as last seen (SYN/SYN+ACK), for the hop distance.
    public var lastTTL: UInt8 = 0
    /// The span of this run's flows with the host (packet time; `.max`/`.min` while none):
    /// the store's per-sensor sighting.
    var runFirstSeen: Int64 = .max
    var runLastSeen: Int64 = .min

    init(address: IPAddress, at t: Int64) {
        self.address = address
        firstSeen = t
        lastSeen = t
    }

    public var currentMAC: UInt64? { macs.max(by: { $0.lastSeen < $1.lastSeen })?.mac }

    func identity(_ key: String) -> IdentityValue? { identities.first { $0.key == key } }
}

enum MAC {
    static func text(_ m: UInt64) -> String {
        let hex: [Character] = Array("0123456789abcdef")
        var s = ""
        s.reserveCapacity(17)
        for i in stride(from: 40, through: 0, by: -8) {
            let b = Int((m >> UInt64(i)) & 0xFF)
            s.append(hex[b >> 4]); s.append(hex[b & 15])
            if i > 0 { s.append(":") }
        }
        return s
    }

    /// Locally administered (random or assigned by software: containers, VMs, namespaces).
    static func isLocal(_ m: UInt64) -> Bool { (m >> 40) & 0x02 != 0 }
    static func isMulticast(_ m: UInt64) -> Bool { (m >> 40) & 0x01 != 0 }
}

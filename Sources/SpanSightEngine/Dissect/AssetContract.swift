import SpanSightWire

/// The contract between the asset inventory and the detection engine, kept here so neither
/// module depends on the other: the inventory tells listeners when an identity changes, and
/// answers "what is the device at this address" for risk scoring.

/// A change in what the inventory knows of a device.
public struct AssetChange: Sendable {
    /// Stable names: "new_asset", "mac_moved" (a MAC seen at another IP), "ip_moved" (an IP
    /// seen with another MAC), "device_id_changed" (a protocol identity answer changed),
    /// "os_fingerprint_changed", "role_changed".
    public var kind: StaticString
    public var timestampNanos: Int64
    public var address: IPAddress
    public var mac: UInt64
    /// The identity key that changed ("modbus.vendor_name", "tcp.os"), empty when none.
    public var key: String
    public var oldValue: String
    public var newValue: String
    /// The flow in which the change was seen (0 when none).
    public var flowID: UInt64

    public init(kind: StaticString, timestampNanos: Int64, address: IPAddress, mac: UInt64 = 0,
                key: String = "", oldValue: String = "", newValue: String = "", flowID: UInt64 = 0) {
        self.kind = kind
        self.timestampNanos = timestampNanos
        self.address = address
        self.mac = mac
        self.key = key
        self.oldValue = oldValue
        self.newValue = newValue
        self.flowID = flowID
    }
}

public protocol AssetChangeListener: AnyObject {
    func assetChanged(_ change: AssetChange)
}

/// Device classes of the inventory (issue 5), in the order a report lists them.
public enum DeviceClass: UInt8, Sendable, CaseIterable {
    case plc, rtu, hmi, historian, modality, pacs, interfaceEngine, itServer, workstation, unknown

    public var name: StaticString {
        switch self {
        case .plc: "plc"
        case .rtu: "rtu"
        case .hmi: "hmi_engineering_workstation"
        case .historian: "historian"
        case .modality: "medical_modality"
        case .pacs: "pacs"
        case .interfaceEngine: "interface_engine_his_lis"
        case .itServer: "it_server"
        case .workstation: "workstation"
        case .unknown: "unknown"
        }
    }

    /// How much harm a malicious command to such a device can do, 0-100 (risk scoring).
    public var criticality: Int {
        switch self {
        case .plc, .rtu: 95
        case .modality: 90
        case .pacs, .interfaceEngine: 80
        case .hmi, .historian: 70
        case .itServer: 50
        case .workstation: 35
        case .unknown: 50
        }
    }
}

/// Network domains.
public enum AssetDomain: UInt8, Sendable {
    case it, ot, iomt, unknown
    public var name: StaticString {
        switch self {
        case .it: "it"
        case .ot: "ot"
        case .iomt: "iomt"
        case .unknown: "unknown"
        }
    }
}

/// What the inventory currently believes about the device at an address.
public struct AssetProfile: Sendable {
    public var deviceClass: DeviceClass
    public var domain: AssetDomain
    /// Confidence of the classification, 0-100.
    public var confidence: Int
    public init(deviceClass: DeviceClass, domain: AssetDomain, confidence: Int) {
        self.deviceClass = deviceClass
        self.domain = domain
        self.confidence = confidence
    }
}

public protocol AssetLookup: AnyObject {
    func profile(of address: IPAddress) -> AssetProfile?
}

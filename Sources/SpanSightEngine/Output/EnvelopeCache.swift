// UNSAFE: the rendered parts live in one raw block (allocated on first use, fixed size, freed
// with the cache); every access is to an entry index masked into range and a length checked
// against the entry's room when rendered.
import SpanSightWire

/// The parts of an event's envelope that repeat for every event of one flow direction,
/// rendered once and copied afterwards: `,"flow_id":N` and everything from `,"vlan"` or
/// `,"src_ip"` to `app_proto`. Formatting the addresses, ports and flow id was most of an
/// envelope's cost, and events of a flow come in runs.
///
/// Direct-mapped by flow slot, `entries` entries of `stride` bytes (bounded memory whatever the
/// traffic): flows whose slots differ modulo `entries` never share an entry, so while the flow
/// table has held at most `entries` flows at once, none do. An entry is used only when every
/// field it was rendered from is equal, so a slot reused by another flow, a collision or a
/// flow id seen again costs a render, never a wrong envelope.
struct EnvelopeCache: ~Copyable {
    static let entries = 4096
    static let flowIDRoom = 32
    static let stride = 320
    static let tailRoom = stride - flowIDRoom

    /// What an entry was rendered from (flow id 0: empty).
    struct Key: Equatable {
        var flowID: UInt64 = 0
        var sourceIP = IPAddress.zero
        var destinationIP = IPAddress.zero
        var sourcePort: UInt16 = 0
        var destinationPort: UInt16 = 0
        var proto: UInt8 = 0
        var vlanCount: UInt8 = 0
        var vlanOuter: UInt16 = 0
        var vlanInner: UInt16 = 0
        /// The app name's literal (address and length); nil when none.
        var app: UnsafeRawPointer? = nil
        var appCount: Int = 0
        var flowIDCount: UInt16 = 0
        var tailCount: UInt16 = 0

        /// The key of an envelope, nil when it cannot be cached (no flow, or an app name that
        /// is not a plain literal).
        init?(_ env: EventEnvelope) {
            guard env.flowID != 0, env.proto != 0 else { return nil }
            if let a = env.appProto {
                guard a.hasPointerRepresentation else { return nil }
                app = UnsafeRawPointer(a.utf8Start)
                appCount = a.utf8CodeUnitCount
            }
            flowID = env.flowID
            sourceIP = env.sourceIP
            destinationIP = env.destinationIP
            sourcePort = env.sourcePort
            destinationPort = env.destinationPort
            proto = env.proto
            vlanCount = env.vlanCount
            vlanOuter = env.vlanOuter
            vlanInner = env.vlanInner
        }

        init() {}

        /// Equal in every field an envelope is rendered from (the counts are the render's).
        func renders(like k: Key) -> Bool {
            flowID == k.flowID && sourcePort == k.sourcePort && destinationPort == k.destinationPort
                && sourceIP == k.sourceIP && destinationIP == k.destinationIP && proto == k.proto
                && vlanCount == k.vlanCount && vlanOuter == k.vlanOuter && vlanInner == k.vlanInner
                && app == k.app && appCount == k.appCount
        }
    }

    private var keys: UnsafeMutablePointer<Key>?
    private var bytes: UnsafeMutablePointer<UInt8>?
    /// Renders a missing entry (its own buffer: the event's writer is mid-event).
    private var scratch = JSONWriter(capacity: 512)
    private(set) var hits: UInt64 = 0
    private(set) var renders: UInt64 = 0

    init() {}

    deinit {
        if let k = keys { k.deinitialize(count: Self.entries); k.deallocate() }
        bytes?.deallocate()
    }

    /// The entry of a flow slot; of a hash of the flow when there is no slot.
    static func index(_ env: EventEnvelope) -> Int {
        if env.flowSlot >= 0 { return Int(env.flowSlot) & (entries - 1) }
        let h = (env.flowID &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(env.sourcePort) &* 0xC2B2_AE3D_27D4_EB4F)
        return Int(truncatingIfNeeded: h >> 40) & (entries - 1)
    }

    /// Writes `,"flow_id":N`, then calls `middle` (the per-event fields), then writes the rest
    /// of the envelope: from the cache when an entry was rendered from the same fields, else
    /// rendered now (and kept when it fits its entry).
    mutating func write(_ env: EventEnvelope, _ key: Key, into w: inout JSONWriter, _ middle: (inout JSONWriter) -> Void) {
        if keys == nil {
            let k = UnsafeMutablePointer<Key>.allocate(capacity: Self.entries)
            k.initialize(repeating: Key(), count: Self.entries)
            keys = k
            let b = UnsafeMutablePointer<UInt8>.allocate(capacity: Self.entries * Self.stride)
            b.initialize(repeating: 0, count: Self.entries * Self.stride)
            bytes = b
        }
        guard let keys, let bytes else { return }
        let i = Self.index(env)
        let entry = bytes + i * Self.stride
        if keys[i].renders(like: key) {
            hits &+= 1
            let e = keys[i]
            w.rawBytes(entry, Int(e.flowIDCount))
            middle(&w)
            w.rawBytes(entry + Self.flowIDRoom, Int(e.tailCount))
            return
        }
        renders &+= 1
        // A member of the event's object: keys get their leading comma.
        scratch.reset()
        scratch.depth = 1
        scratch.hasMember = 1 << 1
        scratch.field("flow_id", env.flowID)
        let flowIDCount = scratch.bytes.count
        Self.renderTail(env, &scratch)
        let tailCount = scratch.bytes.count - flowIDCount
        // The scratch writer's own block (always allocated): valid until its next write.
        do {
            let p = UnsafePointer(scratch.bytes.storage.base)
            w.rawBytes(p, flowIDCount)
            middle(&w)
            w.rawBytes(p + flowIDCount, tailCount)
            if flowIDCount <= Self.flowIDRoom && tailCount <= Self.tailRoom {
                entry.update(from: p, count: flowIDCount)
                (entry + Self.flowIDRoom).update(from: p + flowIDCount, count: tailCount)
                var k = key
                k.flowIDCount = UInt16(flowIDCount)
                k.tailCount = UInt16(tailCount)
                keys[i] = k
            } else {
                keys[i] = Key()
            }
        }
    }

    /// The envelope from `vlan` to `app_proto` (the order of `EventOutput.begin`).
    static func renderTail(_ env: EventEnvelope, _ w: inout JSONWriter) {
        if env.vlanCount > 0 {
            w.beginArray("vlan")
            w.value(Int(env.vlanOuter))
            if env.vlanCount > 1 { w.value(Int(env.vlanInner)) }
            w.endArray()
        }
        if env.proto != 0 {
            w.field("src_ip", env.sourceIP)
            w.field("src_port", Int(env.sourcePort))
            w.field("dest_ip", env.destinationIP)
            w.field("dest_port", Int(env.destinationPort))
            switch env.proto {
            case 6: w.field("proto", "TCP")
            case 17: w.field("proto", "UDP")
            default: w.field("proto", Int(env.proto))
            }
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { b in
                CommunityID.write(source: env.sourceIP, sourcePort: env.sourcePort, destination: env.destinationIP,
                                  destinationPort: env.destinationPort, proto: env.proto, into: b.baseAddress!)
                w.key("community_id")
                w.plainStringValue(UnsafePointer(b.baseAddress!), CommunityID.length)
            }
            if let app = env.appProto { w.field("app_proto", app) }
        } else if env.sourceIP != .zero {
            // An event about a host rather than a flow (an identity change): its address.
            w.field("src_ip", env.sourceIP)
            w.field("dest_ip", env.destinationIP)
        }
    }
}

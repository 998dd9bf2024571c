// UNSAFE: the flow records' buffer (`FlowTable.base`) and its subscript;
// every slot is range-checked, records are plain values.
import SpanSightWire

/// A flow's identity, oriented client -> server, fixed size (41 bytes: the protocol byte
/// last, so that the flow record packs its per-packet fields right after the key).
public struct FlowKey: Equatable, Sendable {
    public var client: IPAddress
    public var server: IPAddress
    public var clientPort: UInt16
    public var serverPort: UInt16
    public var vlanOuter: UInt16
    public var vlanInner: UInt16
    public var proto: UInt8

    public init(client: IPAddress, server: IPAddress, clientPort: UInt16, serverPort: UInt16,
                proto: UInt8, vlanOuter: UInt16, vlanInner: UInt16) {
        self.client = client
        self.server = server
        self.clientPort = clientPort
        self.serverPort = serverPort
        self.vlanOuter = vlanOuter
        self.vlanInner = vlanInner
        self.proto = proto
    }
}

/// TCP connection state as far as a passive observer can tell.
public enum TCPState: UInt8, Sendable {
    case none = 0, synSent, synReceived, established, closing, closed, reset

    public var name: StaticString {
        switch self {
        case .none: "none"
        case .synSent: "syn_sent"
        case .synReceived: "syn_recv"
        case .established: "established"
        case .closing: "closing"
        case .closed: "closed"
        case .reset: "closed"
        }
    }
}

/// Timeout classes, each with its own idle list (its head is the next to expire).
enum TimeoutClass: UInt8 {
    case tcpNew = 0, tcpEstablished = 1, tcpClosed = 2, udp = 3
    static let count = 4
    static let all: [TimeoutClass] = [.tcpNew, .tcpEstablished, .tcpClosed, .udp]
}

/// One direction of a TCP stream as the reassembler tracks it (35 bytes: the 8-byte
/// counters first, the flags last, so that it packs into its direction's cache line).
public struct StreamState {
    public var deliveredBytes: UInt64 = 0
    public var gapBytes: UInt64 = 0
    public var nextSeq: UInt32 = 0
    /// Out-of-order segments queued (segment pool index of the first, -1 when none).
    var oooHead: Int32 = -1
    /// Pool memory the queued segments hold (whole pages), held to the per-flow cap.
    var oooHeld: Int32 = 0
    var oooSegments: Int32 = 0
    public var started = false
    public var synSeen = false
    public var finSeen = false
}

/// Everything SpanSight keeps per flow; plain values only (no references), so that the table
/// is one contiguous array with no reference counting on the fast path.
///
/// The layout is part of the design (pinned by FlowTableTests.testRecordLayout): 320 bytes,
/// five cache lines in a 64-byte aligned table. A packet touches line 0 (key, state, clock)
/// and its direction's line (1 to the server, 2 to the client); lines 3 and 4 are read when
/// a flow starts, a direction sees its first packet, the flow is re-queued or ends. Swift
/// lays out a struct's stored properties in declaration order.
///
/// Two clocks: `activeNanos` and `queuedNanos` are engine time (packet time made monotonic,
/// see `Engine.nowNanos`), which idle timeouts and eviction compare; every other time here
/// is the packets' own, as events report it.
/// Which dissector a flow is bound to (a registry index), or that none is yet or ever will be.
/// Two bytes in the flow record's first line.
public struct FlowApp: Equatable, Sendable, BitwiseCopyable {
    public let rawValue: Int16
    /// Still probing: no dissector has claimed the flow's bytes yet.
    public static let probing = FlowApp(rawValue: -1)
    /// Every probe refused it, or its UDP probe datagrams ran out: no dissector will
    /// (Suricata's `app_proto: failed`).
    public static let failed = FlowApp(rawValue: -2)
    /// Bound to dissector `index` of the registry.
    @inline(__always) public static func dissector(_ index: Int) -> FlowApp { FlowApp(rawValue: Int16(index)) }
    /// The registry index, nil while probing or when failed.
    @inline(__always) public var dissector: Int? { rawValue >= 0 ? Int(rawValue) : nil }
    @inline(__always) init(rawValue: Int16) { self.rawValue = rawValue }
}

public struct FlowRecord {
    // Line 0: identity and the per-packet state of both directions.
    public var key: FlowKey
    /// The flow's dissector.
    public var app: FlowApp = .probing
    public var tcpState: TCPState = .none
    var timeoutClass: TimeoutClass = .tcpNew
    /// Directions with out-of-order segments queued (bit 0 to the server, bit 1 to the
    /// client), kept by `setStream`: an ACK checks the other direction's queue here without
    /// reading that direction's line.
    var queued: UInt8 = 0
    /// `hasMAC`, `directionBySYN`, `live` and the probes' verdicts (below).
    var bits: UInt8 = 0
    /// The flow's dissector session, retained by the engine from `startSession` to `endFlow`
    /// (unmanaged here so that records stay plain values and a delivery costs no reference
    /// counting); nil before a probe matched.
    var session: Unmanaged<DissectorSession>?
    /// Engine time of the flow's last packet (idle timeouts, eviction).
    var activeNanos: Int64

    // Line 1: to the server.
    public var packetsToServer: UInt64 = 0
    /// Bytes of the frames to the server as on the wire (Suricata's and tshark's count).
    public var bytesToServer: UInt64 = 0
    public var toServer = StreamState()
    /// Operation classes seen in the flow (`OperationClass.bit`), set by the dissector
    /// (requests travel to the server: the same line).
    public var operations: UInt16 = 0
    public var vlanCount: UInt8 = 0
    /// TCP flags seen to the server.
    public var flagsToServer: UInt8 = 0
    /// Packet time of the last packet to the server (valid once `packetsToServer > 0`).
    public var lastToServer: Int64 = 0

    // Line 2: to the client.
    public var packetsToClient: UInt64 = 0
    public var bytesToClient: UInt64 = 0
    public var toClient = StreamState()
    /// TCP flags seen to the client.
    public var flagsToClient: UInt8 = 0
    /// UDP datagrams probed without a decision.
    var datagramsProbed: UInt8 = 0
    /// Packet time of the last packet to the client (valid once `packetsToClient > 0`).
    public var lastToClient: Int64 = 0

    // Line 3: read when the flow starts, is probed, expires or ends.
    public var id: UInt64
    /// Packet time of the flow's first packet.
    public var firstNanos: Int64
    public var firstPacket: UInt64
    public var clientMAC: UInt64 = 0
    public var serverMAC: UInt64 = 0
    /// Engine time at which the flow was (re)queued on its idle list; the lists are ordered by
    /// it, and a flow is re-queued lazily when found at the head while still active.
    var queuedNanos: Int64 = 0
    /// Probe buffers (page chain, -1 when none) and their fill per direction, while the flow is
    /// unclassified; kept apart from the stream state so that delivery and reassembly never
    /// write the same fields.
    var probePage: (Int32, Int32) = (-1, -1)
    var probeLength: (Int32, Int32) = (0, 0)

    // Line 4: written when a direction sees its first packet, and by the idle lists.
    /// Packet time of the first packet to the server (valid once `packetsToServer > 0`).
    public var firstToServer: Int64 = 0
    /// Packet time of the first packet to the client (valid once `packetsToClient > 0`).
    public var firstToClient: Int64 = 0
    var lruPrev: Int32 = -1
    var lruNext: Int32 = -1
    /// Sequence number of each direction's first SYN (valid once its stream's `synSeen`):
    /// a SYN with another opens a new connection.
    var synSeq: (UInt32, UInt32) = (0, 0)
    /// Transactions the flow's dissector numbered (Suricata's `flow.tx_cnt`): the highest
    /// `tx_id` written plus one.
    public var txCount: UInt32 = 0
    /// The holes reassembly gave up last, per direction (to the server `.0`/`.1`, to the
    /// client `.2`/`.3`): from the first hole's start to the last one's end, in sequence
    /// space; empty (equal) until a hole is given up. A segment behind the stream that falls
    /// in them is late, not a retransmission (read only on that path).
    var givenUp: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
    /// To 320 bytes (five whole lines).
    private var padding0: UInt32 = 0
    private var padding: UInt64 = 0

    init(key: FlowKey, id: UInt64, firstNanos: Int64, activeNanos: Int64, firstPacket: UInt64) {
        self.key = key
        self.activeNanos = activeNanos
        self.id = id
        self.firstNanos = firstNanos
        self.firstPacket = firstPacket
    }

    /// Packet time of the flow's latest packet (the later of the two directions' last).
    public var lastNanos: Int64 {
        if packetsToClient == 0 { return packetsToServer == 0 ? firstNanos : lastToServer }
        if packetsToServer == 0 { return lastToClient }
        return max(lastToServer, lastToClient)
    }

    static let hasMACBit: UInt8 = 1, bySYNBit: UInt8 = 2, liveBit: UInt8 = 4
    static let rejectedToServerBit: UInt8 = 8, rejectedToClientBit: UInt8 = 16
    static let refusalToServerBit: UInt8 = 32, refusalToClientBit: UInt8 = 64

    private func bit(_ b: UInt8) -> Bool { bits & b != 0 }
    private mutating func set(_ b: UInt8, _ on: Bool) { if on { bits |= b } else { bits &= ~b } }

    /// The MACs below were seen (the link carried them).
    public var hasMAC: Bool { get { bit(Self.hasMACBit) } set { set(Self.hasMACBit, newValue) } }
    /// Which side the first packet came from was decided by (syn, port heuristic).
    public var directionBySYN: Bool { get { bit(Self.bySYNBit) } set { set(Self.bySYNBit, newValue) } }
    var live: Bool { get { bit(Self.liveBit) } set { set(Self.liveBit, newValue) } }
    /// The probes said no for a direction (or gave up).
    func probeRejected(_ d: Direction) -> Bool {
        bit(d == .toServer ? Self.rejectedToServerBit : Self.rejectedToClientBit)
    }
    mutating func setProbeRejected(_ d: Direction) {
        set(d == .toServer ? Self.rejectedToServerBit : Self.rejectedToClientBit, true)
    }
    /// A probe's refusal (a `proto_detect` anomaly) was reported for a direction.
    func probeRefusalReported(_ d: Direction) -> Bool {
        bit(d == .toServer ? Self.refusalToServerBit : Self.refusalToClientBit)
    }
    mutating func setProbeRefusalReported(_ d: Direction) {
        set(d == .toServer ? Self.refusalToServerBit : Self.refusalToClientBit, true)
    }
}

/// Symmetric hash of a flow: the same whichever way a packet travels.
@inline(__always)
func mix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// One endpoint folded by odd multipliers (cheap, and distinct endpoints stay distinct with
/// high probability); the flow hash adds both endpoints (the same either way) and mixes once.
@inline(__always)
func endpointHash(_ ip: IPAddress, _ port: UInt16) -> UInt64 {
    (ip.hi &* 0x9E37_79B9_7F4A_7C15) ^ (ip.lo &* 0xC2B2_AE3D_27D4_EB4F) ^ (UInt64(port) &* 0x1656_67B1_9E37_79F9)
}

@inline(__always)
func flowHash(_ a: IPAddress, _ ap: UInt16, _ b: IPAddress, _ bp: UInt16, proto: UInt8, vlanOuter: UInt16, vlanInner: UInt16) -> UInt64 {
    mix64((endpointHash(a, ap) &+ endpointHash(b, bp)) ^ (UInt64(proto) | UInt64(vlanOuter) << 8 | UInt64(vlanInner) << 24))
}

/// Open-addressing flow table (linear probing, backward-shift deletion) over a contiguous
/// array of records, with per-timeout-class idle lists. Capacity grows up to `maxFlows`;
/// once grown, nothing on the lookup/insert/remove path allocates.
public final class FlowTable {
    /// The records: one allocation, doubled as flows are added (never past the flow cap:
    /// slots are reused). A raw buffer owned by this class, so that writing a field of a
    /// record on the per-packet path is a plain store (an Array checks its uniqueness at
    /// every write, four times a packet). This buffer and the subscript are the table's only
    /// unsafe code: records are plain values (no references); every slot is range-checked.
    @usableFromInline var base: UnsafeMutablePointer<FlowRecord>
    @usableFromInline var recordCount = 0
    private var recordCapacity: Int
    /// The hash index, 4 bytes a bucket (the whole index stays small enough to stay cached):
    /// 0 when empty, else a tag of the flow's hash (its high half; buckets use the low bits)
    /// above the flow's slot + 1
    /// (`slotBits` wide). A lookup compares the tag before reading a record, so a probe past
    /// another flow rarely reads one. Records keep no hash: removal and growth, which need an
    /// entry's home bucket, recompute it from the record's key.
    var index: [UInt32]
    var mask: Int
    var freeSlots: [Int32] = []
    /// Entries reserved for `freeSlots` (its logical size, charged; see `reservedSize`).
    var freeSlotsReserved = 0
    public private(set) var count = 0
    public let maxFlows: Int
    /// Bits of an index entry that hold slot + 1 (enough for `maxFlows`); the rest is the tag.
    let slotBits: Int
    let slotMask: UInt32
    var heads: [Int32] = [Int32](repeating: -1, count: TimeoutClass.count)
    var tails: [Int32] = [Int32](repeating: -1, count: TimeoutClass.count)

    public init(maxFlows: Int) {
        // At most 2^30 flows (256 GiB of records): slot + 1 and a tag share 32 bits.
        self.maxFlows = min(max(1, maxFlows), 1 << 30)
        slotBits = 64 - UInt64(self.maxFlows).leadingZeroBitCount
        slotMask = UInt32(truncatingIfNeeded: (UInt64(1) << UInt64(slotBits)) - 1)
        // Start small and double at half load: a table sized to the flows actually seen stays
        // in cache (a lookup is one index probe and one record compare).
        let size = 1024
        index = [UInt32](repeating: 0, count: size)
        mask = size - 1
        recordCapacity = min(self.maxFlows, 1024)
        base = FlowTable.allocateRecords(recordCapacity)
    }

    /// Records start on a cache line, so that each record's lines are its own (the layout
    /// puts what a packet touches into two of them).
    static let recordAlignment = 64

    static func allocateRecords(_ n: Int) -> UnsafeMutablePointer<FlowRecord> {
        UnsafeMutableRawPointer.allocate(byteCount: n * MemoryLayout<FlowRecord>.stride, alignment: recordAlignment)
            .bindMemory(to: FlowRecord.self, capacity: n)
    }

    static func deallocateRecords(_ p: UnsafeMutablePointer<FlowRecord>) {
        UnsafeMutableRawPointer(p).deallocate()
    }

    @inline(__always)
    func tag(_ hash: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: hash >> 32) & ~slotMask }
    @inline(__always)
    func entry(_ hash: UInt64, _ slot: Int32) -> UInt32 { tag(hash) | (UInt32(bitPattern: slot) &+ 1) }
    @inline(__always)
    func slot(_ entry: UInt32) -> Int32 { Int32(bitPattern: (entry & slotMask) &- 1) }
    /// An entry's home bucket (from its record's key).
    func home(_ entry: UInt32, _ mask: Int) -> Int { Int(truncatingIfNeeded: hash(of: slot(entry))) & mask }

    /// The hash of a stored flow.
    func hash(of slot: Int32) -> UInt64 {
        let k = self[slot].key
        return flowHash(k.client, k.clientPort, k.server, k.serverPort, proto: k.proto,
                        vlanOuter: k.vlanOuter, vlanInner: k.vlanInner)
    }

    /// Finds the flow of a packet. Returns the slot and the packet's direction.
    public func find(hash: UInt64, src: IPAddress, srcPort: UInt16, dst: IPAddress, dstPort: UInt16,
                     proto: UInt8, vlanOuter: UInt16, vlanInner: UInt16) -> (slot: Int32, direction: Direction)? {
        var i = Int(truncatingIfNeeded: hash) & mask
        let t = tag(hash), tagMask = ~slotMask
        let recs = base
        return index.withUnsafeBufferPointer { idx in
            while true {
                let e = idx[i]
                if e == 0 { return nil }
                if e & tagMask == t {
                    let s = slot(e)
                    let k = recs[Int(s)].key
                    if k.proto == proto && k.vlanOuter == vlanOuter && k.vlanInner == vlanInner {
                        if k.clientPort == srcPort && k.serverPort == dstPort && k.client == src && k.server == dst {
                            return (s, .toServer)
                        }
                        if k.clientPort == dstPort && k.serverPort == srcPort && k.client == dst && k.server == src {
                            return (s, .toClient)
                        }
                    }
                }
                i = (i + 1) & mask
            }
        }
    }

    /// True when a new flow needs an eviction first.
    public var isFull: Bool { count >= maxFlows }

    /// Bytes a flow costs the table at most: its record, and its share of the index (at most
    /// four 4-byte entries per flow, as the index doubles past half full) and of the free list.
    public static let bytesPerFlow = MemoryLayout<FlowRecord>.stride + 4 * 4 + 4

    /// Bytes the table holds now: records, index and free list (what it charges the budget).
    public var allocatedBytes: Int {
        recordCapacity * MemoryLayout<FlowRecord>.stride + index.count * 4 + freeSlotsReserved * 4
    }

    /// Inserts a new record with its flow hash (the caller made room when `isFull`). Returns its slot.
    public func insert(_ record: FlowRecord, hash: UInt64) -> Int32 {
        let k = record.key
        precondition(hash == flowHash(k.client, k.clientPort, k.server, k.serverPort, proto: k.proto,
                                      vlanOuter: k.vlanOuter, vlanInner: k.vlanInner), "flow hash does not match its key")
        if (count + 1) * 2 > index.count { grow() }
        var rec = record
        rec.live = true
        let slot: Int32
        if let s = freeSlots.popLast() {
            slot = s
            base[Int(s)] = rec
        } else {
            slot = Int32(recordCount)
            appendRecord(rec)
        }
        var i = Int(truncatingIfNeeded: hash) & mask
        while index[i] != 0 { i = (i + 1) & mask }
        index[i] = entry(hash, slot)
        count += 1
        lruAppend(slot, rec.timeoutClass)
        return slot
    }

    /// Removes a flow from the table and its idle list; its record stays readable until the
    /// slot is reused.
    public func remove(_ slot: Int32) {
        let h = hash(of: slot)
        let want = entry(h, slot)
        var i = Int(truncatingIfNeeded: h) & mask
        while index[i] != want {
            // A live flow is always in the index (inserted with the hash of its key).
            precondition(index[i] != 0, "flow \(slot) missing from the flow index")
            i = (i + 1) & mask
        }
        // Backward-shift deletion keeps probe sequences intact without tombstones.
        var hole = i
        var j = (i + 1) & mask
        while index[j] != 0 {
            let ideal = home(index[j], mask)
            // Move j into the hole when its ideal position is not cyclically in (hole, j].
            let distJ = (j - ideal) & mask
            let distHole = (j - hole) & mask
            if distJ >= distHole {
                index[hole] = index[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        index[hole] = 0
        lruUnlink(slot)
        self[slot].live = false
        if freeSlots.count == freeSlotsReserved {
            freeSlotsReserved = reservedSize(for: freeSlots.count + 1, floor: 64)
            freeSlots.reserveCapacity(freeSlotsReserved)
        }
        freeSlots.append(slot)
        count -= 1
    }

    func grow() {
        let size = index.count * 2
        precondition(size <= 1 << 31, "flow index past 2^31 buckets")
        var newIndex = [UInt32](repeating: 0, count: size)
        let newMask = size - 1
        for e in index where e != 0 {
            var i = home(e, newMask)
            while newIndex[i] != 0 { i = (i + 1) & newMask }
            newIndex[i] = e
        }
        index = newIndex
        mask = newMask
    }

    // MARK: records

    @inlinable
    public subscript(slot: Int32) -> FlowRecord {
        unsafeAddress {
            precondition(slot >= 0 && Int(slot) < recordCount, "flow slot out of range")
            return UnsafePointer(base + Int(slot))
        }
        unsafeMutableAddress {
            precondition(slot >= 0 && Int(slot) < recordCount, "flow slot out of range")
            return base + Int(slot)
        }
    }

    /// The address of a record (tests check its alignment).
    func withRecordAddress<R>(_ slot: Int32, _ body: (UnsafeRawPointer) -> R) -> R {
        precondition(slot >= 0 && Int(slot) < recordCount, "flow slot out of range")
        return body(UnsafeRawPointer(base + Int(slot)))
    }

    deinit {
        base.deinitialize(count: recordCount)
        FlowTable.deallocateRecords(base)
    }

    private func appendRecord(_ record: FlowRecord) {
        if recordCount == recordCapacity {
            let bigger = FlowTable.allocateRecords(recordCapacity * 2)
            bigger.moveInitialize(from: base, count: recordCount)
            FlowTable.deallocateRecords(base)
            base = bigger
            recordCapacity *= 2
        }
        (base + recordCount).initialize(to: record)
        recordCount += 1
    }

    // MARK: idle lists

    func lruAppend(_ slot: Int32, _ cls: TimeoutClass) {
        let c = Int(cls.rawValue)
        self[slot].timeoutClass = cls
        self[slot].lruNext = -1
        self[slot].lruPrev = tails[c]
        if tails[c] >= 0 { self[tails[c]].lruNext = slot } else { heads[c] = slot }
        tails[c] = slot
    }

    func lruUnlink(_ slot: Int32) {
        let c = Int(self[slot].timeoutClass.rawValue)
        let p = self[slot].lruPrev
        let n = self[slot].lruNext
        if p >= 0 { self[p].lruNext = n } else { heads[c] = n }
        if n >= 0 { self[n].lruPrev = p } else { tails[c] = p }
        self[slot].lruPrev = -1
        self[slot].lruNext = -1
    }

    /// Moves a flow to the tail of an idle list (queued at `now`). Seeing a packet does not
    /// move a flow (that would write to three records per packet); the expiry scan re-queues
    /// flows it finds still active, so lists stay ordered by queue time.
    func requeue(_ slot: Int32, _ cls: TimeoutClass, now: Int64) {
        lruUnlink(slot)
        self[slot].queuedNanos = now
        lruAppend(slot, cls)
    }

    /// The least recently seen flow of a timeout class.
    func head(_ cls: TimeoutClass) -> Int32 { heads[Int(cls.rawValue)] }

    /// Slots of all live flows, in the order they were created (deterministic).
    public func liveSlots() -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(count)
        for i in 0..<recordCount where base[i].live { out.append(Int32(i)) }
        out.sort { self[$0].firstPacket < self[$1].firstPacket }
        return out
    }
}

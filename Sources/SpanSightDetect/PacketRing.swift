// UNSAFE: packet bytes borrowed from the capture layer are copied into the ring's own arena
// during `append` only; what the ring lends to `forEach` is valid during the call only.
import SpanSightCapture
import SpanSightEngine
import SpanSightWire

/// The most recent packets of a live capture, for alert evidence (`live --alert-pcap DIR`):
/// a byte arena and a record table, both allocated once, used as one ring shared by all flows.
/// A packet evicts the oldest ones whose bytes it overwrites, or the oldest when the table is
/// full; so what a flow's evidence holds is its packets still in the ring when it is written
/// (its handshake when that was recent enough). No allocation per packet.
public final class PacketRing {
    struct Record {
        var flowID: UInt64
        var nanos: Int64
        var offset: Int
        var caplen: Int
        var wireLength: Int
    }

    private var arena: [UInt8]
    private var records: [Record]
    /// Index of the oldest record and how many are held.
    private var oldest = 0
    public private(set) var count = 0
    /// Where the next packet's bytes go in the arena.
    private var writeOffset = 0
    /// Packets larger than the arena (not kept), and packets evicted to make room.
    public private(set) var tooLarge: UInt64 = 0
    public private(set) var evicted: UInt64 = 0

    /// Memory the ring holds (charged to the detection share).
    public var bytes: Int { arena.count + records.count * MemoryLayout<Record>.stride }

    public init(bytes: Int, packets: Int) {
        arena = [UInt8](repeating: 0, count: max(bytes, 2048))
        records = [Record](repeating: Record(flowID: 0, nanos: 0, offset: 0, caplen: 0, wireLength: 0), count: max(packets, 16))
    }

    /// Keeps a copy of one packet of flow `flowID` (0: none); the bytes are the capture's,
    /// valid during the call.
    public func append(_ packet: UnsafeRawBufferPointer, wireLength: Int, nanos: Int64, flowID: UInt64 = 0) {
        let n = packet.count
        guard n <= arena.count else { tooLarge &+= 1; return }
        if writeOffset + n > arena.count {
            // Back to the start: the packets past the write position are the oldest; they go
            // first (the ones at the start are newer than they are).
            while count > 0 && records[oldest].offset >= writeOffset { pop() }
            writeOffset = 0
        }
        let start = writeOffset, end = writeOffset + n
        // Evict the oldest packets whose bytes lie in [start, end), and one if the table is full.
        while count > 0 {
            let r = records[oldest]
            let overlaps = r.offset < end && start < r.offset + r.caplen
            guard overlaps || count == records.count else { break }
            pop()
        }
        if n > 0 {
            arena.withUnsafeMutableBytes { dst in
                UnsafeMutableRawBufferPointer(rebasing: dst[start..<end]).copyBytes(from: packet)
            }
        }
        records[(oldest + count) % records.count] = Record(flowID: flowID, nanos: nanos, offset: start, caplen: n, wireLength: wireLength)
        count += 1
        writeOffset = end
    }

    private func pop() {
        oldest = (oldest + 1) % records.count
        count -= 1
        evicted &+= 1
    }

    /// Every packet held (of flow `flowID` only, when given), oldest first: its bytes (valid
    /// during the call), wire length, time.
    public func forEach(flowID: UInt64? = nil, _ body: (UnsafeRawBufferPointer, Int, Int64) -> Void) {
        arena.withUnsafeBytes { all in
            for i in 0..<count {
                let r = records[(oldest + i) % records.count]
                if let id = flowID, r.flowID != id { continue }
                body(UnsafeRawBufferPointer(rebasing: all[r.offset..<(r.offset + r.caplen)]), r.wireLength, r.nanos)
            }
        }
    }
}

/// `live --alert-pcap DIR`: a flow that raises an alert gets `DIR/flow-<flow_id>.pcap` at
/// once, with its packets still in the ring (its handshake when that was recent enough); its
/// later packets follow as they come, up to `maxPacketsPerFlow`, and the file is finished
/// (synced, renamed into place) when the flow ends or the capture stops.
public final class LiveEvidence {
    public let ring: PacketRing
    public let directory: String
    private let linkType: Int32
    public let maxPacketsPerFlow: Int
    /// Alerted flows whose file is being written.
    private var open: [UInt64: EvidencePcapWriter] = [:]
    /// Flows whose file was written (not opened again if they alert after a port reuse check).
    private var finished: Set<UInt64> = []
    public private(set) var files = 0
    public private(set) var packets = 0
    /// Most alerted flows written at once; more are counted, not written.
    public let maxOpenFiles: Int
    public private(set) var flowsNotWritten: UInt64 = 0

    public init(ring: PacketRing, directory: String, linkType: Int32, maxPacketsPerFlow: Int = 10_000, maxOpenFiles: Int = 64) {
        self.ring = ring
        self.directory = directory
        self.linkType = linkType
        self.maxPacketsPerFlow = maxPacketsPerFlow
        self.maxOpenFiles = maxOpenFiles
    }

    /// After each packet (already in the ring): a flow that has just alerted gets its file,
    /// an open one its packet. `alerted`: the flows with alerts that have not ended.
    public func packet(_ bytes: UnsafeRawBufferPointer, wireLength: Int, nanos: Int64, flowID: UInt64, alerted: Set<UInt64>) throws(BaselineError) {
        guard flowID != 0 else { return }
        if let w = open[flowID] {
            if w.packets < maxPacketsPerFlow { w.write(bytes, wireLength: wireLength, nanos: nanos) }
        } else if !alerted.isEmpty && alerted.contains(flowID) && !finished.contains(flowID) {
            try start(flowID)
        }
    }

    /// Every second and at the end: files for alerted flows not yet written (alerts raised
    /// by timers), and the files of flows that ended finished. `final`: every file finished.
    public func sweep(alerted: Set<UInt64>, final: Bool = false) throws(BaselineError) {
        for id in alerted where open[id] == nil && !finished.contains(id) { try start(id) }
        for id in Array(open.keys) where final || !alerted.contains(id) {
            let w = open.removeValue(forKey: id)!
            finished.insert(id)
            packets += w.packets
            try w.close()
        }
    }

    private func start(_ id: UInt64) throws(BaselineError) {
        guard open.count < maxOpenFiles else { flowsNotWritten &+= 1; finished.insert(id); return }
        let w = try EvidencePcapWriter(path: "\(directory)/flow-\(id).pcap", linkType: UInt32(bitPattern: linkType))
        ring.forEach(flowID: id) { bytes, wireLength, nanos in
            if w.packets < maxPacketsPerFlow { w.write(bytes, wireLength: wireLength, nanos: nanos) }
        }
        open[id] = w
        files += 1
    }
}

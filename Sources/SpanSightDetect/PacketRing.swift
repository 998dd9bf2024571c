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
        // An empty capture is no evidence (and a record of no bytes would overlap nothing).
        guard n > 0 else { return }
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
        arena.withUnsafeMutableBytes { dst in
            UnsafeMutableRawBufferPointer(rebasing: dst[start..<end]).copyBytes(from: packet)
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

/// `live --alert-pcap DIR`: a flow that raises an alert gets `DIR/flow-<flow_id>.pcap`, with
/// its packets still in the ring (its handshake when that was recent enough), then its later
/// packets as they come. The file is finished (synced, renamed into place, so visible) when
/// the flow ends, when it holds `maxPacketsPerFlow` packets, when it has been open for
/// `maxOpenNanos` of packet time (a Modbus or DNP3 session can last for days: its evidence is
/// the first minute from the alert), or when the capture stops. Until then it is a hidden
/// temporary file beside the target.
public final class LiveEvidence {
    public let ring: PacketRing
    public let directory: String
    private let linkType: Int32
    public let maxPacketsPerFlow: Int
    public let maxOpenNanos: Int64
    /// Most files open at once; a flow past it waits for the next sweep.
    public let maxOpenFiles: Int
    /// Alerted flows whose file is being written, and when it was started (packet time).
    private var open: [UInt64: (writer: EvidencePcapWriter, since: Int64)] = [:]
    /// Flows whose file was written or failed (never started again).
    private var finished: Set<UInt64> = []
    public private(set) var files = 0
    public private(set) var packets = 0
    /// Files that could not be written, and the first reason.
    public private(set) var failures = 0
    public private(set) var firstFailure: String?

    public init(ring: PacketRing, directory: String, linkType: Int32, maxPacketsPerFlow: Int = 10_000,
                maxOpenNanos: Int64 = 60_000_000_000, maxOpenFiles: Int = 64) {
        self.ring = ring
        self.directory = directory
        self.linkType = linkType
        self.maxPacketsPerFlow = maxPacketsPerFlow
        self.maxOpenNanos = maxOpenNanos
        self.maxOpenFiles = maxOpenFiles
    }

    /// After each packet (already in the ring): a flow that has just alerted gets its file,
    /// an open one its packet. `alerted`: the flows with alerts that have not ended.
    public func packet(_ bytes: UnsafeRawBufferPointer, wireLength: Int, nanos: Int64, flowID: UInt64, alerted: Set<UInt64>) {
        guard flowID != 0 else { return }
        if let (w, since) = open[flowID] {
            w.write(bytes, wireLength: wireLength, nanos: nanos)
            if w.packets >= maxPacketsPerFlow || nanos - since >= maxOpenNanos { finish(flowID) }
        } else if !alerted.isEmpty && alerted.contains(flowID) && !finished.contains(flowID) {
            start(flowID, at: nanos)
        }
    }

    /// Every second and at the end (`final`: every file finished): files for alerted flows not
    /// yet started (alerts raised by timers, flows past the open-file cap), and the files of
    /// flows that ended, or have been open too long, finished. `nowNanos`: packet time now.
    public func sweep(alerted: Set<UInt64>, nowNanos: Int64, final: Bool = false) {
        for id in Array(open.keys) where final || !alerted.contains(id) || nowNanos - open[id]!.since >= maxOpenNanos {
            finish(id)
        }
        if !final {
            for id in alerted where open[id] == nil && !finished.contains(id) { start(id, at: nowNanos) }
        }
    }

    private func start(_ id: UInt64, at nanos: Int64) {
        guard open.count < maxOpenFiles else { return }
        let w: EvidencePcapWriter
        do { w = try EvidencePcapWriter(path: "\(directory)/flow-\(id).pcap", linkType: UInt32(bitPattern: linkType)) } catch {
            fail(id, error.description)
            return
        }
        ring.forEach(flowID: id) { bytes, wireLength, nanos in
            if w.packets < maxPacketsPerFlow { w.write(bytes, wireLength: wireLength, nanos: nanos) }
        }
        open[id] = (w, nanos)
        files += 1
    }

    private func finish(_ id: UInt64) {
        guard let (w, _) = open.removeValue(forKey: id) else { return }
        finished.insert(id)
        packets += w.packets
        do { try w.close() } catch { fail(id, error.description); files -= 1; packets -= w.packets }
    }

    private func fail(_ id: UInt64, _ reason: String) {
        finished.insert(id)
        failures += 1
        if firstFailure == nil { firstFailure = reason }
    }
}

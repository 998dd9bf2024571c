// UNSAFE: flows hold their session unretained (`Unmanaged`, one retain owned by the flow) and
// deliveries call it through `_withUnsafeGuaranteedRef`; probe buffers are read and written
// through pool page addresses within `probeLimit` (bytes) and the chunk records past it.
#if canImport(Glibc)
import Glibc
#endif
import CSpanSightHints
import SpanSightWire

/// Limits and timeouts of the engine. Every cap here is enforced.
public struct EngineConfig: Sendable {
    /// Everything the pipeline holds (flows, reassembly, dissector state, inventory,
    /// detection), cut into shares (`MemoryBudget.shares`).
    public var memoryBudget = MemoryBudget.defaultTotal
    /// Most flows tracked at once; the oldest idle flow is evicted to make room. nil: as many
    /// as the budget's flow share holds, at most 262,144.
    public var maxFlows: Int? = nil
    public var tcpNewTimeoutNanos: Int64 = 60 * 1_000_000_000
    public var tcpEstablishedTimeoutNanos: Int64 = 600 * 1_000_000_000
    public var tcpClosedTimeoutNanos: Int64 = 60 * 1_000_000_000
    public var udpTimeoutNanos: Int64 = 120 * 1_000_000_000
    /// Memory that out-of-order segments may hold per flow direction (whole pool pages: a
    /// segment takes at least one) before a gap is declared.
    public var reassemblyPerFlowBytes = 256 * 1024
    /// Out-of-order and probe bytes queued over all flows (page pool size). nil: a quarter of
    /// the memory budget.
    public var reassemblyTotalBytes: Int? = nil
    public var pageSize = 2048
    /// Bytes of a direction buffered while probing for its protocol (at most one page).
    public var probeBytes = 1024
    /// UDP datagrams probed per flow before giving up.
    public var udpProbeDatagrams = 8
    /// Emit a `flow` event when a flow ends.
    public var flowEvents = true
    public var dissectors: [DissectorEntry] = []

    public init() {}

    /// The budget's shares for this configuration: nil when an explicit flow count or
    /// reassembly size leaves the dissectors less than an eighth of the budget.
    public var memoryShares: MemoryBudget.Shares? {
        MemoryBudget.shares(total: memoryBudget, reassembly: reassemblyTotalBytes,
                            flows: maxFlows.map { $0 * FlowTable.bytesPerFlow })
    }

    /// Flows tracked at most: the explicit `maxFlows`, or what the flow share holds.
    public var effectiveMaxFlows: Int {
        if let maxFlows { return maxFlows }
        let share = memoryShares?.flows ?? memoryBudget / 8
        return max(1, min(262_144, share / FlowTable.bytesPerFlow))
    }
}

/// Why a flow ended.
public enum FlowEndReason: Sendable {
    /// Idle past its timeout; the table was full; end of input; a new connection (a SYN) on
    /// the same addresses and ports.
    case timeout, evicted, shutdown, tcpReuse
    var name: StaticString {
        switch self {
        case .timeout: "timeout"
        case .evicted: "evicted"
        case .shutdown: "shutdown"
        case .tcpReuse: "tcp_reuse"
        }
    }
}

/// The pipeline after capture: decode, flows, reassembly, dissectors, events. Single-threaded;
/// one call to `process` per packet. Packet bytes are only borrowed for that call.
public final class Engine {
    public let config: EngineConfig
    public let counters = EngineCounters()
    public let output: EventOutput
    /// Listener for observations, handshakes and flow ends (inventory, detection); nil: none.
    public var observer: (any EngineObserver)? { didSet { hasObserver = observer != nil } }
    /// `observer != nil`, kept as a plain flag for the per-packet paths.
    private(set) var hasObserver = false
    /// `output.isEnabled`, read once (the output's setting does not change during a run).
    let eventsEnabled: Bool
    /// `output`, unretained: contexts write events through it with no reference counting.
    let outputRef: Unmanaged<EventOutput>
    /// A dissector session is being called (its flow must not end meanwhile: the engine holds
    /// the session's only retain, and calls it unretained).
    private(set) var inSession = false
    @usableFromInline let table: FlowTable
    let pool: PagePool
    /// The memory budget every component charges (dissector sessions through their account).
    public let budget: MemoryBudget
    /// `budget.refusalCount` when last looked at: a session's delivery that changed it had a
    /// charge refused (reported once per flow).
    var refusalsSeen: UInt64 = 0
    var segments = SegmentPool()
    var decoder = PacketDecoder(link: .ethernet)
    var packet = DecodedPacket()
    /// Number of the current packet (1-based over the whole run, all inputs).
    public private(set) var pcapCount: UInt64 = 0
    /// The `flow_id` of the flow the last packet belonged to (0: none, e.g. not TCP or UDP).
    public private(set) var packetFlowID: UInt64 = 0
    /// Engine time: the latest packet time seen, the clock of idle timeouts, eviction and the
    /// dissectors' latencies (never the wall clock; never goes back). Flows record their
    /// activity in it, so packets whose time steps back (a clock set back, merged captures
    /// with skewed clocks, files given out of order) neither end flows nor split them; while
    /// packet time is behind, idle flows wait for it to catch up.
    public private(set) var nowNanos: Int64 = 0
    /// The current packet's own time: what events report.
    public private(set) var packetNanos: Int64 = 0
    public private(set) var firstNanos: Int64 = 0
    /// Idle timeout by `TimeoutClass`.
    let timeouts: InlineArray<4, Int64>
    /// The dissectors' `app_proto` names, by registry index.
    let appNames: [StaticString]
    /// Packet time at which the expiry scan next has something to look at.
    var nextExpiryCheck = Int64.max
    /// Bytes of the current packet's IP datagram past the snaplen cut.
    var packetMissingBytes = 0

    /// Wall time (monotonic clock) the engine started: `stats.uptime` of a live capture, never analysis.
    let startedMonotonic = UptimeClock.nanos()

    public init(config: EngineConfig, output: EventOutput) {
        self.config = config
        self.output = output
        self.eventsEnabled = output.isEnabled
        self.outputRef = Unmanaged.passUnretained(output)
        let shares = config.memoryShares ?? MemoryBudget.Shares(
            flows: config.effectiveMaxFlows * FlowTable.bytesPerFlow,
            reassembly: config.reassemblyTotalBytes ?? config.memoryBudget / 4,
            appLayer: config.memoryBudget / 8, inventory: config.memoryBudget / 16, detection: config.memoryBudget / 16,
            perFlow: max(256 << 10, config.memoryBudget / 512))
        self.budget = MemoryBudget(total: config.memoryBudget, shares: shares)
        self.table = FlowTable(maxFlows: config.effectiveMaxFlows)
        self.pool = PagePool(pageSize: config.pageSize, maxBytes: shares.reassembly)
        self.appNames = config.dissectors.map(\.name)
        self.timeouts = [config.tcpNewTimeoutNanos, config.tcpEstablishedTimeoutNanos,
                         config.tcpClosedTimeoutNanos, config.udpTimeoutNanos]
        budget.chargeUnchecked(.flows, table.allocatedBytes)
        budget.reclaim = { [unowned self] bytes, account in self.reclaim(bytes, for: account) }
    }

    /// Flows never ended (no `finish`): their sessions' retains are given back.
    deinit {
        for slot in table.liveSlots() { table[slot].session?.release() }
    }

    /// Selects the link-layer decoder for the next packets. Returns false for a link type
    /// SpanSight does not decode.
    public func setLinkType(dlt: Int32) -> Bool {
        guard let kind = LinkKind(dlt: dlt) else { return false }
        decoder = PacketDecoder(link: kind)
        return true
    }

    public var activeFlows: Int { table.count }
    public var reassemblyBytesInUse: Int { pool.bytesInUse }

    // MARK: per packet

    /// Runs one packet through the pipeline.
    public func process(_ bytes: UnsafeRawBufferPointer, wireLength: Int, timestampNanos: Int64) {
        pcapCount &+= 1
        packetFlowID = 0
        counters.packets &+= 1
        counters.bytes &+= UInt64(wireLength)
        packetNanos = timestampNanos
        if timestampNanos > nowNanos { nowNanos = timestampNanos }
        if firstNanos == 0 { firstNanos = timestampNanos }
        decoder.decode(ByteView(bytes), wireLength: wireLength, into: &packet)
        switch packet.ipVersion {
        case 4: counters.ipv4 &+= 1
        case 6: counters.ipv6 &+= 1
        default: break
        }
        if packet.isCut {
            counters.snaplenCut &+= 1
            // Bounded by what the frame lost: an IP length can lie.
            packetMissingBytes = min(max(0, packet.cutBytes), max(0, wireLength - bytes.count))
        }
        switch packet.outcome {
        case .transport:
            if let e = packet.optionsError { counters.countDecodeError(e) }
            if nowNanos >= nextExpiryCheck { expireIdle() }
            handleTransport(timestampNanos, wireLength: wireLength)
        case .error:
            if let e = packet.error { counters.countDecodeError(e) }
        case .nonIP: counters.nonIP &+= 1
        case .fragment: counters.fragments &+= 1
        case .icmp: counters.icmp &+= 1
        case .otherIP: counters.otherIP &+= 1
        }
    }


    func handleTransport(_ ts: Int64, wireLength: Int) {
        // The fields used here, read once (a copy of the whole decoded packet costs more).
        let proto = packet.ipProto, vlanOuter = packet.vlanOuter, vlanInner = packet.vlanInner
        let source = packet.source, destination = packet.destination
        let sourcePort = packet.sourcePort, destinationPort = packet.destinationPort
        let tcpFlags = packet.tcpFlags
        let isTCP = proto == 6
        if isTCP { counters.tcp &+= 1 } else { counters.udp &+= 1 }
        let hash = flowHash(source, sourcePort, destination, destinationPort,
                            proto: proto, vlanOuter: vlanOuter, vlanInner: vlanInner)
        let slot: Int32
        let dir: Direction
        if let found = table.find(hash: hash, src: source, srcPort: sourcePort, dst: destination,
                                  dstPort: destinationPort, proto: proto,
                                  vlanOuter: vlanOuter, vlanInner: vlanInner),
           !endsBefore(found.slot, found.direction, isTCP: isTCP, flags: tcpFlags) {
            slot = found.slot
            dir = found.direction
        } else {
            (slot, dir) = createFlow(hash: hash, ts: ts)
        }
        packetFlowID = table[slot].id

        // The session's object is read when the payload is delivered, after the flow's
        // counters, state and reassembly: its first three lines (in this package's sessions,
        // the object header, the framers' counts and the table's handle) start loading now;
        // with thousands of flows interleaved it is rarely still cached.
        if let session = table[slot].session {
            let p = UnsafeRawPointer(session.toOpaque())
            CSpanSightHints_prefetch(p)
            CSpanSightHints_prefetch(p + 64)
            CSpanSightHints_prefetch(p + 128)
        }

        // Counters, flags, times.
        let wire = UInt64(truncatingIfNeeded: wireLength)
        let flags = tcpFlags.rawValue
        table[slot].activeNanos = nowNanos
        if dir == .toServer {
            if table[slot].packetsToServer == 0 { table[slot].firstToServer = ts }
            table[slot].packetsToServer &+= 1
            table[slot].bytesToServer &+= wire
            table[slot].flagsToServer |= flags
            table[slot].lastToServer = ts
        } else {
            if table[slot].packetsToClient == 0 { table[slot].firstToClient = ts }
            table[slot].packetsToClient &+= 1
            table[slot].bytesToClient &+= wire
            table[slot].flagsToClient |= flags
            table[slot].lastToClient = ts
        }

        if isTCP {
            if tcpFlags.contains(.syn), let observer { observer.handshake(handshakeSample(slot, dir)) }
            let cls = updateTCPState(slot, dir, tcpFlags)
            if cls != table[slot].timeoutClass { requeue(slot, cls) }
            tcpSegment(slot, dir)
        } else {
            let payload = packet.payload
            if !payload.isEmpty { datagram(slot, dir, payload) }
        }
    }

    static let synAckRst = TCPFlags.syn.rawValue | TCPFlags.ack.rawValue | TCPFlags.rst.rawValue

    /// Whether the packet's flow ended before it, which then starts a new one: idle past its
    /// timeout (engine time; the expiry scan ends such flows only when a list head is due,
    /// up to a timeout late), or a SYN opening a new connection on the same ports.
    @inline(__always)
    func endsBefore(_ slot: Int32, _ dir: Direction, isTCP: Bool, flags: TCPFlags) -> Bool {
        if nowNanos &- table[slot].activeNanos > timeouts[Int(table[slot].timeoutClass.rawValue)] {
            endFlow(slot, reason: .timeout)
            return true
        }
        return isTCP && flags.rawValue & Engine.synAckRst == TCPFlags.syn.rawValue && startsNewConnection(slot, dir)
    }

    /// A SYN (without ACK) on a known TCP flow opens a new connection on the same addresses
    /// and ports (port reuse) when its sequence number is not the one this direction's SYN
    /// had (as tshark decides), or, in a direction that never had a SYN, when the flow was
    /// closing, closed or reset, or the SYN lies outside the bytes seen (picked up mid-stream). The old flow then ends (`tcp_reuse`) and the caller starts
    /// a new one, with fresh reassembly. Returns whether it did.
    func startsNewConnection(_ slot: Int32, _ dir: Direction) -> Bool {
        let st = table[slot].stream(dir)
        let reused: Bool
        if st.synSeen {
            // A SYN repeating the first (a retransmission, a retry after a refusal, a late
            // copy) is the same attempt.
            reused = packet.tcpSequence != table[slot].synSeq(dir)
        } else {
            switch table[slot].tcpState {
            case .closing, .closed, .reset:
                reused = true
            default:
                // Picked up mid-stream: a SYN within the bytes seen is a late copy of this
                // connection's own (a mirror can reorder); anywhere else, a new connection.
                let behind = seqDiff(st.nextSeq, packet.tcpSequence &+ 1)
                reused = st.started && (behind < 0 || UInt64(behind) > st.deliveredBytes &+ st.gapBytes)
            }
        }
        guard reused, !inSession else { return false }
        endFlow(slot, reason: .tcpReuse)
        return true
    }

    /// The stack-fingerprint inputs of the current SYN or SYN+ACK.
    func handshakeSample(_ slot: Int32, _ dir: Direction) -> HandshakeSample {
        let p = packet
        var h = HandshakeSample()
        h.timestampNanos = packetNanos
        h.flowID = table[slot].id
        h.source = p.source
        h.hasMAC = p.hasMAC
        h.sourceMAC = p.sourceMAC
        h.isSYNACK = p.tcpFlags.contains(.ack)
        h.ipVersion = p.ipVersion
        h.ttl = p.ttl
        h.dontFragment = p.dontFragment
        h.ipID = p.ipID
        h.window = p.tcpWindow
        h.options = p.tcpOptions
        h.payloadLength = UInt16(clamping: p.payload.count)
        h.ackNonZeroInSYN = !h.isSYNACK && p.tcpAcknowledgment != 0
        h.urgentNonZero = p.tcpFlags.contains(.urg)
        h.ecn = p.tcpFlags.contains(.ece) || p.tcpFlags.contains(.cwr)
        return h
    }

    func createFlow(hash: UInt64, ts: Int64) -> (Int32, Direction) {
        if table.isFull { evictOldest() }
        let p = packet
        // Who is the client? The SYN says so when seen; otherwise the ports hint.
        var srcIsClient: Bool
        var bySYN = false
        if p.ipProto == 6 && p.tcpFlags.contains(.syn) {
            srcIsClient = !p.tcpFlags.contains(.ack)
            bySYN = true
        } else {
            srcIsClient = Engine.serverScore(p.destinationPort) >= Engine.serverScore(p.sourcePort)
        }
        let key = srcIsClient
            ? FlowKey(client: p.source, server: p.destination, clientPort: p.sourcePort, serverPort: p.destinationPort,
                      proto: p.ipProto, vlanOuter: p.vlanOuter, vlanInner: p.vlanInner)
            : FlowKey(client: p.destination, server: p.source, clientPort: p.destinationPort, serverPort: p.sourcePort,
                      proto: p.ipProto, vlanOuter: p.vlanOuter, vlanInner: p.vlanInner)
        var rec = FlowRecord(key: key,
                             id: Engine.flowID(hash: hash, ts: ts, packet: pcapCount),
                             firstNanos: ts, activeNanos: nowNanos, firstPacket: pcapCount)
        rec.directionBySYN = bySYN
        rec.vlanCount = p.vlanCount
        if p.hasMAC {
            rec.hasMAC = true
            rec.clientMAC = srcIsClient ? p.sourceMAC : p.destinationMAC
            rec.serverMAC = srcIsClient ? p.destinationMAC : p.sourceMAC
        }
        rec.timeoutClass = p.ipProto == 6 ? .tcpNew : .udp
        rec.queuedNanos = nowNanos
        let slot = table.insert(rec, hash: hash)
        let tableBytes = table.allocatedBytes
        if tableBytes != budget.used[MemoryKind.flows.rawValue] { budget.chargeUnchecked(.flows, tableBytes - budget.used[MemoryKind.flows.rawValue]) }
        noteQueued(rec.timeoutClass, at: nowNanos)
        counters.flowsCreated &+= 1
        if p.ipProto == 6 { counters.tcpFlows &+= 1 } else { counters.udpFlows &+= 1 }
        return (slot, srcIsClient ? .toServer : .toClient)
    }

    /// How likely a port is a server's: 2 for a protocol port SpanSight knows, 1 below 1024.
    static func serverScore(_ port: UInt16) -> Int {
        switch port {
        case 502, 20000, 2575, 104, 11112, 102, 44818, 2222, 2404, 4840, 47808, 1883, 8883, 5020, 6661:
            return 2
        default:
            return port < 1024 ? 1 : 0
        }
    }

    /// A 51-bit flow id (fits a JSON number exactly everywhere), unique per flow in practice and
    /// the same for the same capture.
    static func flowID(hash: UInt64, ts: Int64, packet: UInt64) -> UInt64 {
        let v = mix64(hash ^ mix64(UInt64(bitPattern: ts) ^ packet)) & ((1 << 51) - 1)
        return v == 0 ? 1 : v
    }


    func updateTCPState(_ slot: Int32, _ dir: Direction, _ f: TCPFlags) -> TimeoutClass {
        var state = table[slot].tcpState
        if f.contains(.rst) {
            state = .reset
        } else if f.contains(.syn) {
            if !f.contains(.ack) { if state == .none { state = .synSent } }
            else if state == .none || state == .synSent { state = .synReceived }
        } else if f.contains(.fin) {
            let otherFin = dir == .toServer ? table[slot].flagsToClient & TCPFlags.fin.rawValue != 0
                                            : table[slot].flagsToServer & TCPFlags.fin.rawValue != 0
            if state != .reset { state = otherFin ? .closed : .closing }
        } else if f.contains(.ack) {
            if state == .none || state == .synReceived || state == .synSent { state = .established }
        }
        table[slot].tcpState = state
        switch state {
        case .closed, .reset: return .tcpClosed
        case .established, .closing: return .tcpEstablished
        default: return .tcpNew
        }
    }

    // MARK: expiry


    /// Ends flows idle for longer than their class's timeout (engine time). Lists are ordered
    /// by queue time, so only heads are looked at; a head that saw packets since it was queued
    /// is re-queued instead. A flow with no further packets therefore ends between one and two
    /// timeouts after its last (one with a further packet ends before it, `endsBefore`); the
    /// scan runs only when the earliest head can be due (one compare per packet).
    func expireIdle() {
        let now = nowNanos
        guard now >= nextExpiryCheck else { return }
        var next = Int64.max
        for cls in TimeoutClass.all {
            let timeout = timeouts[Int(cls.rawValue)]
            var h = table.head(cls)
            // Differences, not sums: a hostile timestamp near the end of the range cannot wrap.
            while h >= 0 && now &- table[h].queuedNanos > timeout {
                if now &- table[h].activeNanos > timeout {
                    endFlow(h, reason: .timeout)
                } else {
                    table.requeue(h, cls, now: now)
                }
                h = table.head(cls)
            }
            if h >= 0 { next = min(next, Engine.due(table[h].queuedNanos, timeout)) }
        }
        nextExpiryCheck = next
    }

    /// Moves engine time forward without a packet (a live capture on an idle link: its packet
    /// times are the wall clock's), ending flows that became idle. Never moves it back.
    public func advanceClock(toNanos t: Int64) {
        guard t > nowNanos else { return }
        nowNanos = t
        if nowNanos >= nextExpiryCheck { expireIdle() }
    }

    /// Moves a flow to another timeout class's list.
    func requeue(_ slot: Int32, _ cls: TimeoutClass) {
        table.requeue(slot, cls, now: nowNanos)
        noteQueued(cls, at: nowNanos)
    }

    func noteQueued(_ cls: TimeoutClass, at t: Int64) {
        nextExpiryCheck = min(nextExpiryCheck, Engine.due(t, timeouts[Int(cls.rawValue)]))
    }

    /// When a flow queued at `t` can be due (saturated at the end of the range).
    static func due(_ t: Int64, _ timeout: Int64) -> Int64 {
        let (sum, overflow) = t.addingReportingOverflow(timeout)
        return overflow ? Int64.max : sum
    }

    /// Ends the least recently active flow to make room (the flow table is full).
    func evictOldest() {
        while true {
            var best: Int32 = -1
            for cls in TimeoutClass.all {
                let h = table.head(cls)
                if h >= 0 && (best < 0 || table[h].queuedNanos < table[best].queuedNanos) { best = h }
            }
            guard best >= 0 else { return }
            // Seen since it was queued: not the oldest after all; re-queue it and look again.
            if table[best].activeNanos > table[best].queuedNanos {
                // At the tail with the current time, so that the list stays in queue order.
                table.requeue(best, table[best].timeoutClass, now: nowNanos)
                continue
            }
            endFlow(best, reason: .evicted)
            return
        }
    }

    /// Ends a flow: flushes reassembly (reporting holes as gaps), lets its session finish,
    /// emits its `flow` event and frees its slot.
    func endFlow(_ slot: Int32, reason: FlowEndReason) {
        // Only the engine ends flows, never from inside a session's call (an observer that
        // calls `finish()` from `observe` would free the session under its own feet).
        precondition(!inSession, "a flow cannot end while a dissector session is being called")
        // What the flow delivers and reports now belongs to its last packet, not to the
        // packet that ended it (expiry, eviction, reuse) or to the end of input.
        let (now, packetTime, count) = (nowNanos, packetNanos, pcapCount)
        nowNanos = table[slot].activeNanos
        packetNanos = table[slot].lastNanos
        pcapCount = 0
        defer { (nowNanos, packetNanos, pcapCount) = (now, packetTime, count) }
        flushQueued(slot, .toServer)
        flushQueued(slot, .toClient)
        concludeProbe(slot, .toServer)
        concludeProbe(slot, .toClient)
        releaseProbe(slot, .toServer)
        releaseProbe(slot, .toClient)
        if let retained = table[slot].session {
            table[slot].session = nil
            let session = retained.takeRetainedValue()
            var ctx = context(slot)
            session.finish(context: &ctx)
        }
        switch reason {
        case .timeout: counters.flowsTimedOut &+= 1
        case .evicted: counters.flowsEvicted &+= 1
        case .shutdown: counters.flowsEnded &+= 1
        case .tcpReuse: counters.flowsReused &+= 1
        }
        let app = table[slot].app
        let name = app.dissector.map { config.dissectors[$0].name.description } ?? "none"
        counters.flowsByApp[name, default: 0] += 1
        if app == .failed {
            if table[slot].key.proto == 17 { counters.flowsFailedUDP &+= 1 } else { counters.flowsFailedTCP &+= 1 }
        }
        // Observers first: what they raise as the flow ends (alert aggregates) precedes its
        // `flow` event, which then says whether the flow alerted.
        if let observer {
            observer.flowEnded(table[slot], app: app.dissector.map { config.dissectors[$0].module },
                               operations: table[slot].operations)
        }
        if config.flowEvents && output.isEnabled && output.wants("flow") { emitFlowEvent(slot, reason: reason) }
        if !output.alertedFlows.isEmpty { output.alertedFlows.remove(table[slot].id) }
        table.remove(slot)
    }

    /// Ends every flow (end of input or stop), in creation order.
    public func finish() {
        for slot in table.liveSlots() { endFlow(slot, reason: .shutdown) }
        counters.reassemblyMemoryPeak = UInt64(pool.peakPagesInUse * pool.pageSize)
    }

    // MARK: dissector plumbing


    /// Runs `body` as if the packet being processed were `stamp`'s: queued bytes delivered
    /// after a gap are dated by the packet they came in (engine time stays as it is).
    func asPacket(_ stamp: PacketStamp, _ body: () -> Void) {
        let (t, n) = (packetNanos, pcapCount)
        (packetNanos, pcapCount) = (stamp.packetNanos, stamp.pcapCount)
        body()
        (packetNanos, pcapCount) = (t, n)
    }

    func context(_ slot: Int32) -> DissectContext {
        DissectContext(engine: self, slot: slot, dissector: Int(table[slot].app.rawValue))
    }

    /// The envelope of a flow's events, stamped with the current packet.
    func envelope(_ slot: Int32) -> EventEnvelope {
        let r = table[slot]
        var env = EventEnvelope()
        env.timestampNanos = packetNanos
        env.flowID = r.id
        env.pcapCount = pcapCount
        env.sourceIP = r.key.client
        env.sourcePort = r.key.clientPort
        env.destinationIP = r.key.server
        env.destinationPort = r.key.serverPort
        env.proto = r.key.proto
        env.appProto = r.app.dissector.map { appNames[$0] }
        env.vlanCount = r.vlanCount
        env.vlanOuter = r.key.vlanOuter
        env.vlanInner = r.key.vlanInner
        env.flowSlot = slot
        return env
    }

    func flowInfo(_ slot: Int32) -> FlowInfo {
        let k = table[slot].key
        return FlowInfo(proto: k.proto, clientPort: k.clientPort, serverPort: k.serverPort, client: k.client, server: k.server)
    }

    /// Hands in-order stream bytes (or a datagram) of a direction to the flow's dissector,
    /// probing for one first while the flow is unclassified.
    func deliver(_ slot: Int32, _ dir: Direction, _ bytes: ByteView) {
        if bytes.isEmpty { return }
        let app = table[slot].app
        if let index = app.dissector {
            guard let session = table[slot].session else { return }
            var ctx = DissectContext(engine: self, slot: slot, dissector: index)
            // The flow's retain keeps the session alive: no flow ends during a delivery.
            inSession = true
            session._withUnsafeGuaranteedRef { $0.receive(bytes, direction: dir, context: &ctx) }
            inSession = false
            if budget.refusalCount != refusalsSeen { reportMemoryRefusal(slot) }
            return
        }
        if app == .probing { probeAndDeliver(slot, dir, bytes) }
    }

    
    func probeAndDeliver(_ slot: Int32, _ dir: Direction, _ bytes: ByteView) {
        let isUDP = table[slot].key.proto == 17
        if table[slot].probeRejected(dir) { return }
        let info = flowInfo(slot)
        let buffered = Int(table[slot].probeLength(dir))
        if buffered == 0 {
            let outcome = runProbes(bytes, dir, info, udp: isUDP)
            switch outcome.result {
            case .match:
                startSession(slot, outcome.entry, info)
                // The other direction's buffered packets all came before this one.
                deliverBuffered(slot, dir.reversed)
                deliver(slot, dir, bytes)
            case .needMore where !isUDP:
                appendProbe(slot, dir, bytes)
            default:
                reportRefusal(slot, dir, outcome)
                rejectProbe(slot, dir, isUDP: isUDP)
            }
            return
        }
        // Bytes already buffered: add these, probe the whole buffer.
        let limit = probeLimit
        let take = min(bytes.count, limit - buffered)
        if take > 0 { appendProbe(slot, dir, bytes.prefix(take)) }
        let page = table[slot].probePage(dir)
        let have = Int(table[slot].probeLength(dir))
        let view = ByteView(start: UnsafeRawPointer(pool.pointer(page)), count: have)
        let outcome = runProbes(view, dir, info, udp: false)
        switch outcome.result {
        case .match:
            startSession(slot, outcome.entry, info)
            // Both directions' buffered packets in the order they came (a connect request, its
            // confirm, then the request that matched), then the rest of this packet.
            deliverBufferedInOrder(slot)
            if take < bytes.count { deliver(slot, dir, bytes.suffix(from: take)) }
        case .needMore where have < limit:
            break
        default:
            reportRefusal(slot, dir, outcome)
            releaseProbe(slot, dir)
            rejectProbe(slot, dir, isUDP: false)
        }
    }

    /// What the probes said of a direction's first bytes: `match` (by `entry`), `needMore` or
    /// `noMatch`, and the first refusal (in probe order) of a protocol the bytes resemble,
    /// which is reported once the direction is given up.
    struct ProbeOutcome {
        var result: ProbeResult
        var entry: Int
        var refusal: ProbeRejection?
        var refusedBy: Int
    }

    /// Runs the probes of the dissectors for this transport, port-hinted ones first.
    func runProbes(_ bytes: ByteView, _ dir: Direction, _ info: FlowInfo, udp: Bool) -> ProbeOutcome {
        let transport: TransportSet = udp ? .udp : .tcp
        var sawNeedMore = false
        var outcome = ProbeOutcome(result: .noMatch, entry: -1, refusal: nil, refusedBy: -1)
        for pass in 0..<2 {
            for (i, e) in config.dissectors.enumerated() where e.transports.contains(transport) {
                let hinted = e.hintPorts.contains(info.serverPort) || e.hintPorts.contains(info.clientPort)
                if (pass == 0) != hinted { continue }
                switch e.probe(bytes, dir, info) {
                case .match:
                    outcome.result = .match
                    outcome.entry = i
                    return outcome
                case .needMore: sawNeedMore = true
                case .noMatch: break
                case .rejected(let why):
                    if outcome.refusal == nil {
                        outcome.refusal = why
                        outcome.refusedBy = i
                    }
                }
            }
        }
        if sawNeedMore { outcome.result = .needMore }
        return outcome
    }

    /// A direction given up by the probes whose bytes a protocol refused for a reason it
    /// defines: one `anomaly` (layer `proto_detect`, `app_proto` the protocol the bytes
    /// resembled) per flow direction, counted in `stats` like every anomaly.
    func reportRefusal(_ slot: Int32, _ dir: Direction, _ outcome: ProbeOutcome) {
        guard let why = outcome.refusal, !table[slot].probeRefusalReported(dir) else { return }
        table[slot].setProbeRefusalReported(dir)
        let context = DissectContext(engine: self, slot: slot, dissector: outcome.refusedBy)
        context.anomaly(why.name, layer: "proto_detect") { w in
            w.field("direction", dir == .toServer ? "to_server" : "to_client")
            w.field(why.field, why.value)
        }
    }

    /// At flow end, a direction still buffered for its probes (one said "need more", and no
    /// more came) gets its verdict: a refusal of what it holds is reported.
    func concludeProbe(_ slot: Int32, _ dir: Direction) {
        let page = table[slot].probePage(dir)
        let have = Int(table[slot].probeLength(dir))
        guard table[slot].app == .probing, page >= 0, have > 0 else { return }
        let view = ByteView(start: UnsafeRawPointer(pool.pointer(page)), count: have)
        let outcome = runProbes(view, dir, flowInfo(slot), udp: table[slot].key.proto == 17)
        if outcome.result != .match { reportRefusal(slot, dir, outcome) }
    }

    func startSession(_ slot: Int32, _ entry: Int, _ info: FlowInfo) {
        table[slot].app = .dissector(entry)
        let session = config.dissectors[entry].makeSession(info)
        session.memory.chargeUnchecked(.sessions, heapSize(of: session))
        session.memory.attach(budget, slot: slot)
        table[slot].session = Unmanaged.passRetained(session)
    }

    // MARK: probe buffers
    //
    // A direction's probe buffer is one pool page: its first `probeLimit` bytes hold the
    // direction's bytes; its tail holds a count and one `ProbeChunk` per packet that added
    // bytes, so that a session started by a match hears both directions' buffered packets in
    // the order they came, each stamped with its own packet's time and number.

    /// Where a buffered packet's bytes end in its direction's buffer, and its stamp.
    struct ProbeChunk {
        var end: Int32
        var pcapCount: UInt64
        var packetNanos: Int64
    }

    /// Bytes of a probe buffer (the rest of its page holds its chunk records).
    var probeLimit: Int { min(config.probeBytes, pool.pageSize) }
    static let chunkStride = MemoryLayout<ProbeChunk>.stride
    /// Chunk records a probe page holds (0: the page has no room; the buffer is then one chunk).
    var probeChunkCapacity: Int { max(0, (pool.pageSize - probeLimit - 8) / Self.chunkStride) }

    private func chunkArea(_ page: Int32) -> UnsafeMutableRawPointer { pool.pointer(page) + probeLimit }

    /// The chunk records of a direction's buffer (one covering it all when the page has no room for them).
    func probeChunks(_ slot: Int32, _ dir: Direction) -> [ProbeChunk] {
        let page = table[slot].probePage(dir)
        let have = Int32(table[slot].probeLength(dir))
        guard page >= 0, have > 0 else { return [] }
        guard probeChunkCapacity > 0 else { return [ProbeChunk(end: have, pcapCount: 0, packetNanos: packetNanos)] }
        let area = chunkArea(page)
        let n = Int(area.loadUnaligned(as: Int64.self))
        return (0..<n).map { area.loadUnaligned(fromByteOffset: 8 + $0 * Self.chunkStride, as: ProbeChunk.self) }
    }

    /// Records that the current packet's bytes now end at `end` in the direction's buffer.
    private func recordProbeChunk(_ page: Int32, end: Int) {
        let capacity = probeChunkCapacity
        guard capacity > 0 else { return }
        let area = chunkArea(page)
        var n = Int(area.loadUnaligned(as: Int64.self))
        if n > 0 {
            let last = area.loadUnaligned(fromByteOffset: 8 + (n - 1) * Self.chunkStride, as: ProbeChunk.self)
            // The same packet again, or no room left: the last record grows.
            if last.pcapCount == pcapCount || n == capacity {
                var grown = last
                grown.end = Int32(end)
                area.storeBytes(of: grown, toByteOffset: 8 + (n - 1) * Self.chunkStride, as: ProbeChunk.self)
                return
            }
        }
        let chunk = ProbeChunk(end: Int32(end), pcapCount: pcapCount, packetNanos: packetNanos)
        area.storeBytes(of: chunk, toByteOffset: 8 + n * Self.chunkStride, as: ProbeChunk.self)
        n += 1
        area.storeBytes(of: Int64(n), as: Int64.self)
    }

    /// Delivers bytes as the packet stamped `chunk` (its time and number), then restores the current packet's.
    private func deliver(_ slot: Int32, _ dir: Direction, _ bytes: ByteView, as chunk: ProbeChunk) {
        guard chunk.pcapCount != 0, chunk.pcapCount != pcapCount else { return deliver(slot, dir, bytes) }
        let (packetTime, count) = (packetNanos, pcapCount)
        packetNanos = chunk.packetNanos
        pcapCount = chunk.pcapCount
        defer { (packetNanos, pcapCount) = (packetTime, count) }
        deliver(slot, dir, bytes)
    }

    /// Hands a direction's probe buffer (if any) to the new session, packet by packet, and frees it.
    func deliverBuffered(_ slot: Int32, _ dir: Direction) {
        let page = table[slot].probePage(dir)
        var start = 0
        for c in probeChunks(slot, dir) {
            let bytes = ByteView(start: UnsafeRawPointer(pool.pointer(page)) + start, count: Int(c.end) - start)
            deliver(slot, dir, bytes, as: c)
            start = Int(c.end)
        }
        releaseProbe(slot, dir)
    }

    /// Hands both directions' probe buffers to the new session, merged in packet order, and frees them.
    func deliverBufferedInOrder(_ slot: Int32) {
        let toServer = probeChunks(slot, .toServer), toClient = probeChunks(slot, .toClient)
        let pages = (table[slot].probePage(.toServer), table[slot].probePage(.toClient))
        var i = 0, j = 0, startS = 0, startC = 0
        while i < toServer.count || j < toClient.count {
            let serverFirst = j == toClient.count || (i < toServer.count && toServer[i].pcapCount <= toClient[j].pcapCount)
            if serverFirst {
                let c = toServer[i]
                deliver(slot, .toServer, ByteView(start: UnsafeRawPointer(pool.pointer(pages.0)) + startS, count: Int(c.end) - startS), as: c)
                startS = Int(c.end)
                i += 1
            } else {
                let c = toClient[j]
                deliver(slot, .toClient, ByteView(start: UnsafeRawPointer(pool.pointer(pages.1)) + startC, count: Int(c.end) - startC), as: c)
                startC = Int(c.end)
                j += 1
            }
        }
        releaseProbe(slot, .toServer)
        releaseProbe(slot, .toClient)
    }

    func rejectProbe(_ slot: Int32, _ dir: Direction, isUDP: Bool) {
        if isUDP {
            table[slot].datagramsProbed &+= 1
            if Int(table[slot].datagramsProbed) >= config.udpProbeDatagrams { table[slot].app = .failed }
            return
        }
        table[slot].setProbeRejected(dir)
        if table[slot].probeRejected(.toServer) && table[slot].probeRejected(.toClient) { table[slot].app = .failed }
    }

    func appendProbe(_ slot: Int32, _ dir: Direction, _ bytes: ByteView) {
        var page = table[slot].probePage(dir)
        if page < 0 {
            guard let p = pool.take(1) else { rejectProbe(slot, dir, isUDP: false); return }
            page = p
            table[slot].setProbePage(dir, page)
            if probeChunkCapacity > 0 { chunkArea(page).storeBytes(of: Int64(0), as: Int64.self) }
        }
        let have = Int(table[slot].probeLength(dir))
        let n = min(bytes.count, probeLimit - have)
        guard n > 0, let base = bytes.buffer.baseAddress else { return }
        (pool.pointer(page) + have).copyMemory(from: base, byteCount: n)
        table[slot].setProbeLength(dir, Int32(have + n))
        recordProbeChunk(page, end: have + n)
    }

    func releaseProbe(_ slot: Int32, _ dir: Direction) {
        let page = table[slot].probePage(dir)
        if page >= 0 {
            pool.release(page)
            table[slot].setProbePage(dir, -1)
        }
        table[slot].setProbeLength(dir, 0)
    }

    /// A gap in a direction: the session hears of it; an unclassified direction restarts probing.
    func deliverGap(_ slot: Int32, _ dir: Direction, _ length: Int) {
        counters.reassemblyGaps &+= 1
        counters.reassemblyGapBytes &+= UInt64(length)
        let app = table[slot].app
        if app.dissector != nil, let session = table[slot].session {
            var ctx = context(slot)
            inSession = true
            session._withUnsafeGuaranteedRef { $0.gap(length, direction: dir, context: &ctx) }
            inSession = false
        } else if app == .probing {
            releaseProbe(slot, dir)
        }
    }


    func datagram(_ slot: Int32, _ dir: Direction, _ payload: ByteView) {
        deliver(slot, dir, payload)
    }

    // MARK: memory budget

    /// Brings the sampled kinds (flow table, reassembly pool) up to date in the budget.
    public func syncMemory() {
        budget.set(.flows, table.allocatedBytes)
        budget.set(.reassembly, pool.bytesInUse, peak: pool.peakPagesInUse * pool.pageSize)
        for (kind, sample) in budget.samplers {
            let s = sample()
            budget.set(kind, s.used, peak: s.peak)
        }
    }

    /// Makes room in the app-layer share for `account`: sheds the open transactions and partial
    /// PDUs of other flows, least recently active first, until `bytes` are freed. It looks at
    /// 512 flows at most per call, from the heads of the idle lists (the least recently
    /// queued); flows found holding nothing, and flows shed, go to the tail of their list, so
    /// the next call looks further (an idle flow moved this way times out at most one timeout
    /// later). Each flow shed gets one `applayer.memcap` anomaly; its state is counted in
    /// `stats.memory.<kind>.shed`. Returns the bytes freed.
    func reclaim(_ bytes: Int, for account: MemoryAccount) -> Int {
        var candidates: [(active: Int64, slot: Int32)] = []
        var empty: [Int32] = []
        var cursors = TimeoutClass.all.map { table.head($0) }
        for _ in 0..<512 {
            var pick = -1
            for (i, c) in cursors.enumerated() where c >= 0 {
                if pick < 0 || table[c].queuedNanos < table[cursors[pick]].queuedNanos { pick = i }
            }
            guard pick >= 0 else { break }
            let slot = cursors[pick]
            cursors[pick] = table[slot].lruNext
            guard slot != account.slot else { continue }
            if let retained = table[slot].session {
                let m = retained.takeUnretainedValue().memory
                if m.held.transactions + m.held.pdus > 0 && !m.closed {
                    candidates.append((table[slot].activeNanos, slot))
                    continue
                }
            }
            empty.append(slot)
        }
        for slot in empty { table.requeue(slot, table[slot].timeoutClass, now: nowNanos) }
        candidates.sort { $0.active < $1.active || ($0.active == $1.active && $0.slot < $1.slot) }
        var freed = 0
        for (_, slot) in candidates where freed < bytes {
            guard let retained = table[slot].session else { continue }
            let victim = retained.takeUnretainedValue().memory
            let before = (victim.held.transactions, victim.held.pdus)
            victim.closed = true
            var ctx = context(slot)
            let items = retained._withUnsafeGuaranteedRef { $0.shed(context: &ctx) }
            victim.closed = false
            table.requeue(slot, table[slot].timeoutClass, now: nowNanos)
            let after = (victim.held.transactions, victim.held.pdus)
            let freedTx = before.0 - after.0, freedPDU = before.1 - after.1
            budget.countShed(.transactions, items: freedTx > 0 ? max(1, items) : 0, bytes: freedTx)
            budget.countShed(.pdus, items: freedPDU > 0 ? 1 : 0, bytes: freedPDU)
            freed += freedTx + freedPDU
            ctx.anomaly("applayer.memcap") { w in
                w.field("cause", "budget")
                w.field("items", items)
                w.field("bytes", freedTx + freedPDU)
                w.field("memory_budget", self.budget.total)
            }
        }
        return freed
    }

    /// A charge of the current flow's session was refused (its per-flow cap, or the app-layer
    /// share with nothing left to shed): the session did without (dropped its oldest
    /// transaction or a partial PDU, itself reported); one anomaly per flow says why.
    func reportMemoryRefusal(_ slot: Int32) {
        refusalsSeen = budget.refusalCount
        guard let retained = table[slot].session else { return }
        let account = retained.takeUnretainedValue().memory
        guard !account.capReported, account.refusals > 0 else { return }
        account.capReported = true
        let atCap = account.lastRefusalAtCap
        let cap = account.cap, held = account.total
        context(slot).anomaly("applayer.memcap") { w in
            w.field("cause", atCap ? "flow_cap" : "budget")
            w.field("held", held)
            w.field("flow_cap", cap)
            w.field("memory_budget", self.budget.total)
        }
    }
}

extension FlowRecord {
    func probePage(_ d: Direction) -> Int32 { d == .toServer ? probePage.0 : probePage.1 }
    func probeLength(_ d: Direction) -> Int32 { d == .toServer ? probeLength.0 : probeLength.1 }
    func synSeq(_ d: Direction) -> UInt32 { d == .toServer ? synSeq.0 : synSeq.1 }
    mutating func setSynSeq(_ d: Direction, _ v: UInt32) { if d == .toServer { synSeq.0 = v } else { synSeq.1 = v } }
    mutating func setProbePage(_ d: Direction, _ v: Int32) { if d == .toServer { probePage.0 = v } else { probePage.1 = v } }
    mutating func setProbeLength(_ d: Direction, _ v: Int32) { if d == .toServer { probeLength.0 = v } else { probeLength.1 = v } }
    func stream(_ d: Direction) -> StreamState { d == .toServer ? toServer : toClient }
    @inline(__always)
    mutating func setStream(_ d: Direction, _ s: StreamState) {
        if d == .toServer { toServer = s } else { toClient = s }
        let bit: UInt8 = d == .toServer ? 1 : 2
        queued = queued & ~bit | (s.oooHead >= 0 ? bit : 0)
    }
    /// Out-of-order segments are queued in this direction (read from line 0).
    func hasQueued(_ d: Direction) -> Bool { queued & (d == .toServer ? 1 : 2) != 0 }
}

/// The monotonic clock, for `stats.uptime` only (analysis runs on packet time).
enum UptimeClock {
    static func nanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

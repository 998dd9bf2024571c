import SpanSightCapture
import SpanSightDetect
import SpanSightEngine
import SpanSightInventory
#if canImport(Glibc)
import Glibc
#endif

/// One run of the engine over files or an interface, with the human summary.
final class Analysis {
    let engine: Engine
    let output: EventOutput
    private var wallStart = MonotonicClock.now()
    private var wallEnd: Double = 0
    var warnings: [String] = []
    /// The run failed before any packet: no events, no summary.
    private(set) var nothingRead = false
    /// Writing events failed: the run stopped there (one error line, no summary).
    private(set) var outputFailed = false

    init(config: EngineConfig, output: EventOutput) {
        self.output = output
        self.engine = Engine(config: config, output: output)
    }

    /// Observers of the run (inventory, detection), in the order they hear of each observation.
    private var observers: [any EngineObserver] = []
    /// Work done once the engine has finished (flows ended), before the final `stats` event:
    /// writing reports, baselines, databases. A thrown error is a one-line error, exit 1.
    var onFinish: [() throws -> Void] = []
    /// Reports written after all `onFinish` work (the inventory's, which include alert risk).
    var reports: [() throws -> Void] = []
    /// Live: the ring of recent packets kept for alert evidence (nil: none), and the writer of
    /// each alerted flow's pcap.
    var packetRing: PacketRing?
    var liveEvidence: LiveEvidence?
    /// Live: the Prometheus exporter (`--metrics-port`; nil: none), updated once a second.
    var metrics: MetricsServer?
    /// Live: the rolling capture of every packet (`--write-pcap`; nil: none).
    var recording: RollingCapture?
    private var recordingFailureReported = false
    private var evidenceFailureReported = false
    /// Live: the link type of the capture (known once it is open).
    var liveLinkType: Int32? { interfaces.first?.handle.linkType.rawValue }

    /// State saved periodically by a long-running capture (`live --persist-interval`), each a
    /// transaction of its own; a failure is a warning and the capture goes on.
    var persisters: [() throws -> Void] = []
    /// Lines added to the human summary.
    var summaryLines: [() -> [String]] = []

    func attach(_ observer: any EngineObserver) {
        // What the observer holds is part of the memory budget (sampled for stats and summary).
        if let inventory = observer as? Inventory {
            engine.budget.addSampler(.inventory) { [unowned inventory] in (inventory.chargedBytes, inventory.peakBytes) }
        } else if let detector = observer as? Detector {
            // The live evidence ring is detection's too.
            engine.budget.addSampler(.detection) { [unowned detector, unowned self] in (detector.estimatedBytes + (self.packetRing?.bytes ?? 0), nil) }
        }
        observers.append(observer)
        engine.observer = observers.count == 1 ? observer : ObserverGroup(observers)
    }

    /// Runs the end-of-run work; false (after a one-line error) when some failed.
    private func runFinishers() -> Bool {
        var ok = true
        for f in onFinish + reports {
            do { try f() } catch {
                Stderr.line("spansight: error: \(error)")
                ok = false
            }
        }
        return ok
    }

    /// Reads files in order through one engine (flows continue across files).
    /// Returns the exit status: 0, 1 (error) or 3 (partial).
    func readFiles(_ paths: [String], filter: String?, progress: Bool) -> Int32 {
        wallStart = MonotonicClock.now()
        var status: Int32 = 0
        var packet = CapturedPacket()
        let bar = progress ? ProgressBar() : nil
        fileLoop: for path in paths {
            let handle: PcapHandle
            do {
                handle = try PcapHandle.openOffline(path: path)
                if let f = filter, !f.isEmpty { try handle.setFilter(f) }
            } catch where error.kind == .empty {
                // Like an empty pcap: nothing to analyse, said once, not an error.
                warn(error.description)
                continue fileLoop
            } catch {
                Stderr.line("spansight: error: \(error.description)")
                status = 1
                if engine.pcapCount == 0 { nothingRead = true; return status }
                break fileLoop
            }
            guard engine.setLinkType(dlt: handle.linkType.rawValue) else {
                Stderr.line("spansight: error: \(path): unsupported link type \(handle.linkType.name) (\(handle.linkType.rawValue), \(handle.linkType.longDescription)); SpanSight decodes EN10MB, LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL and LOOP")
                status = 1
                if engine.pcapCount == 0 { nothingRead = true; return status }
                break fileLoop
            }
            // Standard input from a pipe: a first signal reads on to its end (`tcpdump | spansight
            // read -`: tcpdump flushes its last packets as it exits on the same signal).
            StopSignals.install(for: handle, drain: handle.readsStream)
            output.setPcapFilename(path == "-" ? nil : path)
            let size = path == "-" ? 0 : FileSize.of(path)
            bar?.start(name: path, total: size)
            var readInFile: UInt64 = 0
            var reachedEnd = false
            readLoop: while true {
                switch handle.next(&packet) {
                case .packet:
                    readInFile &+= 1
                    engine.process(packet.bytes, wireLength: packet.wireLength, timestampNanos: packet.timestampNanos)
                    if output.failed { break fileLoop }
                    if let b = bar, readInFile & 0x3FFF == 0 { b.update(handle.fileOffset) }
                case .end:
                    reachedEnd = true
                    break readLoop
                case .interrupted:
                    warn("\(path): stopped by signal after \(readInFile) packets")
                    StopSignals.detach()
                    break fileLoop
                case .timeout:
                    continue
                case .error(let message):
                    let offset = handle.fileOffset
                    warn("\(path): capture truncated or corrupt after packet \(readInFile)\(offset >= 0 ? " (byte offset \(offset))" : ""): \(message); analysed everything before it")
                    status = 3
                    break readLoop
                }
            }
            StopSignals.detach()
            bar?.finish()
            if readInFile == 0 && reachedEnd {
                warn("\(path == "-" ? "standard input" : path): no packets (an empty capture)")
            }
            if StopSignals.requested { break fileLoop }
        }
        StopSignals.detach()
        bar?.finish()
        return finishRun(status)
    }

    /// After the last packet: ends the flows, runs the end-of-run work, writes the final
    /// stats; the exit status. A failed write of events stops the run without them.
    private func finishRun(_ status: Int32) -> Int32 {
        var status = status
        if !output.failed {
            engine.finish()
            // A report or baseline not written is an error, also after a partial input.
            if !runFinishers() { status = 1 }
            engine.emitStats()
            // Redis and other forwarders send what they hold, within their drain deadline.
            output.finishForwarders()
        } else {
            // The events file failed: the forwarders still send what they were handed (or count it).
            for f in output.forwarders { f.finish() }
        }
        wallEnd = MonotonicClock.now()
        if let failure = output.failure {
            outputFailed = true
            WriteFailures.report(failure)
            return 1
        }
        // Events a forwarder could not deliver are an output that could not be written: the
        // run still ends with its summary, and exit 1.
        for f in output.forwarders {
            let c = f.counters
            if c.dropped > 0 || c.rejected > 0 {
                Stderr.line("spansight: error: \(f.kind) \(f.label): \(c.dropped + c.rejected) of \(c.sent + c.dropped + c.rejected) events not delivered (dropped \(c.dropped), rejected \(c.rejected))")
                status = 1
            }
        }
        return status
    }

    /// When live events and stats are written, and when the capture ends.
    struct LiveSchedule {
        /// Seconds between `stats` events (0: only at the end).
        var statsInterval = 60
        /// Most seconds an event waits in the buffer before it is written (0: after the packet
        /// or timer that produced it).
        var flushInterval = 1
        /// Stop after this many packets (0: no limit) or seconds (0: no limit).
        var maxPackets = 0
        var maxSeconds = 0
        /// Seconds between saves of the state a run keeps (`persisters`; 0: only at the end).
        var persistInterval = 60
    }

    /// One live capture interface and what its counters said last.
    private struct LiveInterface {
        let name: String
        let handle: PcapHandle
        /// The counters so far, over libpcap's 32-bit ones (which wrap: about 12 h at 100k
        /// packets a second), and what libpcap said last.
        var stats = PcapStats(received: 0, dropped: 0, interfaceDropped: 0)
        var raw = PcapStats(received: 0, dropped: 0, interfaceDropped: 0)
        /// The packet read from it and not yet analysed (its bytes stay valid until the next
        /// read on the same handle).
        var head = CapturedPacket()
        var hasHead = false
        /// When drops were last reported (monotonic seconds; 0: never).
        var dropsReported = 0.0
    }
    private var interfaces: [LiveInterface] = []

    /// Captures on one or more interfaces (one flow table) until a signal, the packet count or
    /// the duration. `afterOpen` runs once every capture is open, before the first packet (to
    /// give up privileges); a thrown error (which `afterOpen` has reported) ends the run, exit 1.
    func readLive(_ configs: [LiveCaptureConfig], _ schedule: LiveSchedule, afterOpen: () throws -> Void) -> Int32 {
        for config in configs {
            let handle: PcapHandle
            do { handle = try PcapHandle.openLive(config) } catch {
                Stderr.line("spansight: error: \(error.description)")
                nothingRead = true
                return 1
            }
            guard engine.setLinkType(dlt: handle.linkType.rawValue) else {
                Stderr.line("spansight: error: \(config.interface): unsupported link type \(handle.linkType.name) (\(handle.linkType.rawValue))")
                nothingRead = true
                return 1
            }
            if let first = interfaces.first, first.handle.linkType != handle.linkType {
                Stderr.line("spansight: error: \(config.interface): link type \(handle.linkType.name) differs from \(first.name)'s (\(first.handle.linkType.name)); one sensor reads interfaces of one link type")
                nothingRead = true
                return 1
            }
            interfaces.append(LiveInterface(name: config.interface, handle: handle))
        }
        do { try afterOpen() } catch {
            nothingRead = true
            return 1
        }
        let handles = interfaces.map(\.handle)
        StopSignals.install(for: handles[0])
        ReopenSignal.install()
        wallStart = MonotonicClock.now()
        let deadline = schedule.maxSeconds > 0 ? wallStart + Double(schedule.maxSeconds) : Double.infinity
        let statsEvery = Double(schedule.statsInterval)
        let flushEvery = Double(schedule.flushInterval)
        let persistEvery = Double(schedule.persistInterval)
        var lastStats = wallStart
        var lastCounters = wallStart
        var lastPersist = wallStart
        /// When the oldest event not yet written was built (nil: none waiting).
        var pendingSince: Double? = nil
        var n = 0
        var status: Int32 = 0
        loop: while !StopSignals.requested {
            // The next packet: of those ready, the earliest, so that the directions of a flow
            // seen on two ports are analysed in time order as far as both have been delivered.
            var pick = -1
            for i in interfaces.indices {
                if !interfaces[i].hasHead {
                    switch interfaces[i].handle.next(&interfaces[i].head) {
                    case .packet: interfaces[i].hasHead = true
                    case .timeout: break
                    case .end, .interrupted: break loop
                    case .error(let message):
                        Stderr.line("spansight: error: \(interfaces[i].name): capture failed: \(message)")
                        status = 1
                        break loop
                    }
                }
                if interfaces[i].hasHead && (pick < 0 || interfaces[i].head.timestampNanos < interfaces[pick].head.timestampNanos) {
                    pick = i
                }
            }
            var now = MonotonicClock.now()
            if pick >= 0 {
                interfaces[pick].hasHead = false
                let p = interfaces[pick].head
                output.selectInterface(pick)
                engine.process(p.bytes, wireLength: p.wireLength, timestampNanos: p.timestampNanos)
                recording?.packet(p.bytes, wireLength: p.wireLength, nanos: p.timestampNanos)
                if let ring = packetRing {
                    let id = engine.packetFlowID
                    ring.append(p.bytes, wireLength: p.wireLength, nanos: p.timestampNanos, flowID: id)
                    liveEvidence?.packet(p.bytes, wireLength: p.wireLength, nanos: p.timestampNanos, flowID: id, alerted: output.alertedFlows)
                }
                n += 1
                if schedule.maxPackets > 0 && n >= schedule.maxPackets { break loop }
            } else {
                // Nothing to read: wait for packets, at most until the next thing due (the end,
                // a stats event, a flush) and a quarter of a second (a signal ends the wait).
                var wait = min(0.25, deadline - now)
                if statsEvery > 0 { wait = min(wait, lastStats + statsEvery - now) }
                if let since = pendingSince { wait = min(wait, since + flushEvery - now) }
                if persistEvery > 0 && !persisters.isEmpty { wait = min(wait, lastPersist + persistEvery - now) }
                if wait > 0 { PcapHandle.waitForPackets(handles, milliseconds: Int32((wait * 1000).rounded(.up))) }
                // An idle link: engine time follows the wall clock (live packet times are
                // the kernel's wall clock), so idle flows still time out and stats are dated.
                engine.advanceClock(toNanos: WallClock.nanos())
                now = MonotonicClock.now()
            }
            if now >= deadline { break }
            if now - lastCounters >= 1 {
                lastCounters = now
                updateCaptureStats(now: now)
                updateMetrics()
                if let e = liveEvidence {
                    e.sweep(alerted: output.alertedFlows, nowNanos: engine.nowNanos)
                    if let f = e.firstFailure, !evidenceFailureReported {
                        evidenceFailureReported = true
                        warn("alert evidence: \(f) (the analysis goes on; the summary counts what was not written)")
                    }
                }
                if let r = recording {
                    r.flush()
                    if let f = r.failure, !recordingFailureReported {
                        recordingFailureReported = true
                        warn("the rolling capture stopped (the analysis goes on): \(f)")
                    }
                }
            }
            if statsEvery > 0 && now - lastStats >= statsEvery {
                lastStats = now
                updateCaptureStats(now: now)
                engine.emitStats()
            }
            if ReopenSignal.take() { reopenOutputs() }
            if persistEvery > 0 && now - lastPersist >= persistEvery {
                lastPersist = now
                persist()
                now = MonotonicClock.now()
            }
            // Every event is written within the flush interval of the packet or timer that
            // built it, however busy or idle the link.
            if output.hasPending {
                let since = pendingSince ?? now
                if now - since >= flushEvery { output.flush(); pendingSince = nil } else { pendingSince = since }
            } else {
                pendingSince = nil
            }
            if output.failed { break }
        }
        updateCaptureStats(now: MonotonicClock.now())
        updateMetrics()
        StopSignals.detach()
        if let r = recording {
            r.close()
            if let f = r.failure, !recordingFailureReported { warn("the rolling capture stopped (the analysis goes on): \(f)") }
        }
        return finishRun(status)
    }

    /// Saves what the run keeps (the inventory store); a failed save is a warning, said once
    /// until a save succeeds again, and the next interval tries again.
    private func persist() {
        for save in persisters {
            do {
                try save()
                if persistFailures > 0 {
                    warn("periodic save succeeded again after \(persistFailures) failed (it holds what they could not store)")
                }
                persistFailures = 0
            } catch {
                if persistFailures == 0 { warn("periodic save failed (the capture goes on; the next interval tries again): \(error)") }
                persistFailures += 1
            }
        }
    }
    private var persistFailures = 0

    private func updateMetrics() {
        metrics?.update(engine: engine, events: output.eventCount, alerts: output.alertsWritten,
                        interfaces: interfaces.map { ($0.name, $0.stats.received, $0.stats.dropped, $0.stats.interfaceDropped) })
    }

    /// SIGHUP: the events file is closed and opened again at its path (after logrotate moved
    /// it, a new file). When it cannot be, events go on to the file open before.
    private func reopenOutputs() {
        if let failure = output.reopen() {
            warn("SIGHUP: cannot reopen \(failure.description); events go on to the file open before")
        }
    }

    /// The kernel's counters of every interface, summed into the engine's (the `stats`
    /// event); a warning when an interface starts dropping packets.
    private func updateCaptureStats(now: Double) {
        var total = PcapStats(received: 0, dropped: 0, interfaceDropped: 0)
        for i in interfaces.indices {
            guard let now32 = interfaces[i].handle.stats() else { continue }
            let before = interfaces[i].stats
            // libpcap's counters are 32-bit: add what each moved, modulo 2^32.
            func moved(_ new: UInt64, _ old: UInt64) -> UInt64 { UInt64(UInt32(truncatingIfNeeded: new &- old)) }
            let last = interfaces[i].raw
            interfaces[i].raw = now32
            var s = before
            s.received &+= moved(now32.received, last.received)
            s.dropped &+= moved(now32.dropped, last.dropped)
            s.interfaceDropped &+= moved(now32.interfaceDropped, last.interfaceDropped)
            interfaces[i].stats = s
            let dropped = s.dropped &+ s.interfaceDropped, droppedBefore = before.dropped &+ before.interfaceDropped
            // Once when drops start, again when they start after a minute without any.
            if dropped > droppedBefore {
                if interfaces[i].dropsReported == 0 || now - interfaces[i].dropsReported >= 60 {
                    warn("\(interfaces[i].name): the capture is dropping packets (\(s.dropped) dropped by the kernel, \(s.interfaceDropped) by the interface, of \(s.received)); a larger --buffer-size or a narrower --filter helps")
                }
                interfaces[i].dropsReported = now
            }
            total.received &+= s.received
            total.dropped &+= s.dropped
            total.interfaceDropped &+= s.interfaceDropped
        }
        engine.counters.captureLive = true
        engine.counters.captureReceived = total.received
        engine.counters.captureDropped = total.dropped
        engine.counters.captureInterfaceDropped = total.interfaceDropped
    }

    /// The summary's `memory:` line: the peak against the budget, by share, and what was shed
    /// or refused to stay within it.
    static func memoryLine(_ engine: Engine) -> String {
        engine.syncMemory()
        let b = engine.budget
        func mib(_ n: Int) -> String { Format.mebibytes(n) }
        func peak(_ k: MemoryKind) -> Int { b.peak[k.rawValue] }
        var line = "memory: peak \(mib(b.totalPeak)) of \(mib(b.total)) budget (flows \(mib(peak(.flows))), reassembly \(mib(peak(.reassembly))), dissectors \(mib(b.appLayerPeak)) of \(mib(b.shares.appLayer)), inventory \(mib(peak(.inventory))), detection \(mib(peak(.detection))))"
        var shed: [String] = []
        for k in MemoryKind.allCases where b.shedItems[k.rawValue] > 0 || b.shedBytes[k.rawValue] > 0 {
            shed.append("\(b.shedItems[k.rawValue]) \(k.name) (\(mib(Int(b.shedBytes[k.rawValue]))))")
        }
        if !shed.isEmpty { line += "; shed " + shed.joined(separator: ", ") }
        let refused = b.refused.reduce(0, +)
        if refused > 0 { line += "; refused \(refused) (flow cap \(b.perFlowCapHits))" }
        return line
    }

    private func warn(_ s: String) {
        warnings.append(s)
        Stderr.line("spansight: warning: \(s)")
    }

    /// The human summary on standard error.
    func printSummary() {
        if nothingRead || outputFailed { return }
        let c = engine.counters
        let elapsed = max(wallEnd - wallStart, 1e-9)
        let rate = Double(c.packets) / elapsed
        var lines: [String] = []
        lines.append("spansight: \(c.packets) packets, \(c.bytes) bytes in \(Format.seconds(elapsed)) (\(Format.rate(rate)) packets/s)")
        lines.append("  flows: \(c.flowsCreated) (tcp \(c.tcpFlows), udp \(c.udpFlows)); ended by timeout \(c.flowsTimedOut), evicted \(c.flowsEvicted), port reuse \(c.flowsReused)")
        let apps = c.flowsByApp.keys.sorted().map { "\($0) \(c.flowsByApp[$0] ?? 0)" }.joined(separator: ", ")
        if !apps.isEmpty { lines.append("  protocols (flows): \(apps)") }
        lines.append("  decode errors: \(c.decodeErrors); non-IP: \(c.nonIP); fragments: \(c.fragments); reassembly gaps: \(c.reassemblyGaps) (\(c.reassemblyGapBytes) bytes)")
        if c.anomalies > 0 { lines.append("  anomalies: \(c.anomalies)") }
        if c.captureReceived > 0 || c.captureDropped > 0 {
            lines.append("  capture: received \(c.captureReceived), dropped \(c.captureDropped), interface dropped \(c.captureInterfaceDropped)")
            if interfaces.count > 1 {
                for i in interfaces {
                    lines.append("    \(i.name): received \(i.stats.received), dropped \(i.stats.dropped), interface dropped \(i.stats.interfaceDropped)")
                }
            }
        }
        lines.append("  " + Self.memoryLine(engine))
        for extra in summaryLines { lines += extra() }
        lines.append("  events: \(output.eventCount)")
        for f in output.forwarders {
            let c = f.counters
            lines.append("  \(f.kind) \(f.label): sent \(c.sent), dropped \(c.dropped), rejected \(c.rejected), reconnects \(c.reconnects)")
        }
        for l in lines { Stderr.line(l) }
    }
}

/// The wall clock, for live capture only: on an idle link it stands in for the packet times
/// the kernel would have stamped.
enum WallClock {
    static func nanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
    }
}

enum MonotonicClock {
    /// Seconds on the monotonic clock (for elapsed time and UI only, never for analysis).
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

enum FileSize {
    static func of(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : 0
    }
}

enum Format {
    static func seconds(_ s: Double) -> String {
        s < 1 ? "\(Int((s * 1000).rounded())) ms" : "\(Double(Int(s * 100)) / 100) s"
    }
    static func rate(_ r: Double) -> String {
        if r >= 1e6 { return "\(Double(Int(r / 1e4)) / 100)M" }
        if r >= 1e3 { return "\(Double(Int(r / 10)) / 100)k" }
        return "\(Int(r))"
    }
    /// Bytes as MiB with one decimal ("12.5 MiB").
    static func mebibytes(_ n: Int) -> String {
        let tenths = (max(0, n) * 10 + (1 << 19)) >> 20
        return "\(tenths / 10).\(tenths % 10) MiB"
    }
}

/// A one-line progress bar on standard error (only when it is a terminal).
final class ProgressBar {
    private var total = 0
    private var name = ""
    private var lastDraw = 0.0

    func start(name: String, total: Int) {
        self.name = name
        self.total = total
    }

    func update(_ offset: Int) {
        guard total > 0, offset >= 0 else { return }
        let now = MonotonicClock.now()
        guard now - lastDraw >= 0.2 else { return }
        lastDraw = now
        let frac = min(1.0, Double(offset) / Double(total))
        let width = 30
        let filled = Int(frac * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        Stderr.raw("\r[\(bar)] \(Int(frac * 100))% \(name)")
    }

    func finish() {
        if lastDraw > 0 { Stderr.raw("\r\u{1B}[K") }
    }
}

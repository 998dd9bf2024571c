// UNSAFE: the last-resort message on standard error is written with write(2) from a
// buffer's base address, within its count.
import ArgumentParser
import Foundation
import SpanSightProtocols
import SpanSightCapture
import SpanSightDetect
import SpanSightEngine
import SpanSightRedis
#if canImport(Glibc)
import Glibc
#endif

struct SpanSightCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spansight",
        abstract: "Passive analyzer for OT and IoMT protocols (\(Registry.modules.map { "\($0.title)" }.joined(separator: ", "))).",
        discussion: """
            Reads pcap/pcapng files or a live interface, never transmits, and writes EVE-style \
            NDJSON events. Exit status: 0 success, 1 error (including an output that cannot be \
            written), 3 partial (input truncated or corrupt: everything readable was analysed), \
            64 usage error.
            """,
        version: SpanSightVersion.string,
        subcommands: [Read.self, Live.self, Assets.self, Learn.self, Simulate.self, Policy.self, Interfaces.self, Bench.self, Synth.self],
        defaultSubcommand: nil
    )
}

enum SpanSightVersion {
    static let string = "0.1.0"
}

/// Options shared by `read` and `live`.
struct AnalysisOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Read options from this YAML file: each key an option's long name without the dashes (`flush-interval: 1`, `interface: [eth1, eth2]`, `immediate: true`). The command line wins over the file.", valueName: "file"))
    var config: String?

    @Option(name: [.short, .long], help: ArgumentHelp("Where events go instead of standard output: a file, '-' (standard output), or Redis (\(RedisTarget.usage); docs/deploy.md). Repeat for several at once: one file or standard output, and any number of Redis targets.", valueName: "file|-|redis://..."))
    var output: [String] = []

    @Option(help: ArgumentHelp("Memory for everything the analysis holds: flows, reassembly, dissector state, inventory and detection (bytes, or with K, M, G: 512M, 2G). Shared out as documented in docs/architecture.md; state past a share is shed, counted and reported. Default: 512M.", valueName: "bytes"))
    var memoryBudget: String?

    @Option(help: "Most flows tracked at once (oldest idle flows are evicted beyond it). Default: what an eighth of --memory-budget holds (at most 262144).")
    var maxFlows: Int?

    @Option(help: "Memory out-of-order segments may hold per flow direction before a gap is declared (whole 2 KiB pages; 0: no reordering).")
    var reassemblyFlowBytes: Int = 256 * 1024

    @Option(help: "Memory for out-of-order segments and probe buffers over all flows. Default: a quarter of --memory-budget.")
    var reassemblyTotalBytes: Int?

    @Option(help: "Idle timeout of established TCP flows, in seconds (packet time).")
    var tcpTimeout: Int = 600

    @Option(help: "Idle timeout of UDP flows, in seconds (packet time).")
    var udpTimeout: Int = 120

    @Flag(help: "Do not emit `flow` events.")
    var noFlowEvents = false

    @Flag(name: [.short, .long], help: "No summary on standard error.")
    var quiet = false

    @Option(help: ArgumentHelp("Event types to write, comma-separated (Suricata's eve-log types), e.g. alert,flow,stats,asset; 'all,-\(Registry.modules[0].name)' (or --eve-types=-\(Registry.modules[0].name)) drops one type. Types: \(Self.eventTypes.joined(separator: ", ")). Default: all.", valueName: "list"))
    var eveTypes: String?

    /// Every event type a run can write.
    static var eventTypes: [String] {
        ["alert", "alert_summary", "anomaly", "flow", "stats", "asset"] + Registry.all.map { $0.name.description }
    }

    /// The `--eve-types` selection (nil: all), or a usage error naming the unknown type.
    func selectedEventTypes() throws -> Set<String>? {
        guard let list = eveTypes else { return nil }
        let known = Set(Self.eventTypes)
        var selected = Set<String>()
        let items = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw ValidationError("--eve-types: no event type given") }
        if items.allSatisfy({ $0.hasPrefix("-") }) { selected = known }
        for item in items {
            if item == "all" { selected = known; continue }
            let removing = item.hasPrefix("-")
            let name = removing ? String(item.dropFirst()) : item
            guard known.contains(name) else {
                throw ValidationError("--eve-types: unknown event type '\(name)' (known: all, \(Self.eventTypes.joined(separator: ", ")))")
            }
            if removing { selected.remove(name) } else { selected.insert(name) }
        }
        return selected
    }

    @Option(help: ArgumentHelp("The sensor's name, written as `host` in every event (Suricata's sensor-name; default: the hostname).", valueName: "name"))
    var sensorName: String?

    /// `--sensor-name`, else the machine's hostname.
    var resolvedSensorName: String {
        if let sensorName { return sensorName }
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    @Option(help: ArgumentHelp("Replace patient identifiers (the fields each protocol's page in docs/ names) with keyed pseudonyms: HMAC-SHA256 keyed with this file's bytes (trailing newline removed; at least 16 bytes).", valueName: "file"))
    var pseudonymKey: String?

    /// The option's first name, kept for scripts written before the key applied to every protocol.
    @Option(help: .hidden)
    var hl7PseudonymKey: String?

    /// The key file given by either name.
    var pseudonymKeyFile: String? { pseudonymKey ?? hl7PseudonymKey }

    func validate() throws {
        _ = try selectedEventTypes()
        _ = try eventDestinations()
        if let name = sensorName {
            guard !name.isEmpty, name.utf8.count <= 255 else { throw ValidationError("--sensor-name must be 1 to 255 bytes") }
        }
        if pseudonymKey != nil && hl7PseudonymKey != nil {
            throw ValidationError("--pseudonym-key is given twice (once by its old name)")
        }
        if let path = pseudonymKeyFile {
            guard let key = Self.readKey(path) else { throw ValidationError("--pseudonym-key: cannot read \(path)") }
            guard key.count >= 16 else { throw ValidationError("--pseudonym-key: the key in \(path) is shorter than 16 bytes") }
        }
        let budget = try memoryBudgetBytes()
        if let maxFlows { try OptionBounds.check("max-flows", maxFlows, 1...OptionBounds.maxFlows) }
        try OptionBounds.check("reassembly-flow-bytes", reassemblyFlowBytes, 0...OptionBounds.maxReassemblyFlowBytes, "bytes")
        let page = EngineConfig().pageSize
        if reassemblyFlowBytes > 0 && reassemblyFlowBytes < page {
            // A queued segment takes at least a page: a smaller cap could queue nothing.
            throw ValidationError("--reassembly-flow-bytes must be 0 (no reordering) or at least one \(page)-byte page, got \(reassemblyFlowBytes)")
        }
        if let reassemblyTotalBytes {
            try OptionBounds.check("reassembly-total-bytes", reassemblyTotalBytes, 1...OptionBounds.maxReassemblyTotalBytes, "bytes")
        }
        var c = EngineConfig()
        c.memoryBudget = budget
        c.maxFlows = maxFlows
        c.reassemblyTotalBytes = reassemblyTotalBytes
        if c.memoryShares == nil {
            throw ValidationError("--max-flows and --reassembly-total-bytes take \(((maxFlows ?? 0) * FlowTable.bytesPerFlow + (reassemblyTotalBytes ?? budget / 4)) >> 20) MiB of the \(budget >> 20) MiB --memory-budget, leaving the dissectors less than an eighth: raise --memory-budget or lower them")
        }
        try OptionBounds.seconds("tcp-timeout", tcpTimeout)
        try OptionBounds.seconds("udp-timeout", udpTimeout)
    }

    /// The events output (a stream, or standard output) and the key file read.
    func addFiles(to files: inout RunFiles) {
        let destinations = try? eventDestinations()
        files.output("--output", destinations?.file, .stream)
        if destinations?.standardOutput ?? true { files.writesStandardOutput = true }
        files.input("--pseudonym-key", pseudonymKeyFile)
    }

    /// `--memory-budget` in bytes (the default when absent), or a usage error.
    func memoryBudgetBytes() throws -> Int {
        guard let text = memoryBudget else { return MemoryBudget.defaultTotal }
        guard let bytes = MemoryBudget.parseSize(text) else {
            throw ValidationError("--memory-budget: '\(text)' is not a size (bytes, or a number with K, M or G, e.g. 512M)")
        }
        try OptionBounds.check("memory-budget", bytes, MemoryBudget.minimumTotal...OptionBounds.maxMemoryBudget, "bytes")
        return bytes
    }

    func engineConfig() -> EngineConfig {
        var c = EngineConfig()
        c.memoryBudget = (try? memoryBudgetBytes()) ?? MemoryBudget.defaultTotal
        c.maxFlows = maxFlows
        c.reassemblyPerFlowBytes = reassemblyFlowBytes
        c.reassemblyTotalBytes = reassemblyTotalBytes
        c.tcpEstablishedTimeoutNanos = Int64(tcpTimeout) * 1_000_000_000
        c.udpTimeoutNanos = Int64(udpTimeout) * 1_000_000_000
        c.flowEvents = !noFlowEvents
        c.dissectors = Registry.entries(DissectorOptions(pseudonymKey: pseudonymKeyFile.flatMap { Self.readKey($0) }))
        return c
    }

    /// A key file's bytes without a trailing CR/LF (at most 4 KiB are read); nil when unreadable.
    static func readKey(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = fread(&buffer, 1, buffer.count, f)
        guard ferror(f) == 0 else { return nil }
        var key = Array(buffer[0..<n])
        while let last = key.last, last == 0x0A || last == 0x0D { key.removeLast() }
        return key
    }
}

/// A one-line error on standard error and a non-zero exit.
func fail(_ message: String, code: Int32 = 1) -> ExitCode {
    Stderr.line("spansight: error: \(message)")
    return ExitCode(code)
}

enum WriteFailures {
    /// A failed write: one line on standard error. A reader that went away (EPIPE:
    /// `spansight read x | head`) ends the process quietly, as SIGPIPE ends other tools, also
    /// when SIGPIPE was ignored and the write reported EPIPE instead.
    static func report(_ failure: WriteFailure) {
        if failure.isBrokenPipe {
            signal(SIGPIPE, SIG_DFL)
            raise(SIGPIPE)
            exit(128 + SIGPIPE)
        }
        Stderr.line("spansight: error: \(failure)")
    }
}

enum Stderr {
    static func line(_ s: String) { raw(s + "\n") }

    /// Writes to file descriptor 2 directly (unbuffered, no shared FILE state).
    static func raw(_ s: String) {
        var s = s
        s.withUTF8 { b in
            var off = 0
            while off < b.count {
                let n = write(2, b.baseAddress! + off, b.count - off)
                if n <= 0 { return }
                off += n
            }
        }
    }
    static var isTerminal: Bool { isatty(2) != 0 }
}

struct Read: ParsableCommand, ChecksRunFiles {
    static let configuration = CommandConfiguration(
        abstract: "Analyse pcap/pcapng files in order ('-' reads standard input).")

    @Argument(help: "Capture files (pcap or pcapng); '-' for standard input.")
    var files: [String]

    @OptionGroup var options: AnalysisOptions

    @Option(help: "Only analyse packets matching this BPF expression.")
    var filter: String?

    @Flag(inversion: .prefixedNo, help: "Progress bar on standard error when it is a terminal.")
    var progress = true

    @OptionGroup(title: "Asset inventory") var inventory: InventoryOptions
    @OptionGroup var detect: DetectOptions

    var runFiles: RunFiles {
        var f = RunFiles()
        f.inputs("capture file", files)
        options.addFiles(to: &f)
        inventory.addFiles(to: &f)
        detect.addFiles(to: &f)
        return f
    }

    func validate() throws { try validateRunFiles() }

    func run() throws {
        try runFiles.checkWritable()
        let out = try options.makeEventOutput(appending: false)
        out.setSensor(name: options.resolvedSensorName)
        out.select(types: try options.selectedEventTypes())
        let analysis = Analysis(config: options.engineConfig(), output: out)
        let inventory = try self.inventory.attach(to: analysis, source: files.joined(separator: " "), sensor: options.resolvedSensorName)
        let detector = try detect.attach(to: analysis, inputs: files)
        try Wiring.connect(inventory: inventory, detector: detector, store: self.inventory.noInventory ? nil : self.inventory.db)
        options.startForwarders(out)
        let status = analysis.readFiles(files, filter: filter, progress: progress && Stderr.isTerminal)
        if !options.quiet { analysis.printSummary() }
        if status != 0 { throw ExitCode(status) }
    }
}

struct Live: ParsableCommand, ChecksRunFiles {
    static let configuration = CommandConfiguration(
        abstract: "Analyse live traffic on one or more interfaces (passive: never transmits). SIGINT/SIGTERM stop cleanly; SIGHUP reopens the events file.")

    @Option(name: [.short, .long], help: ArgumentHelp("Capture interface (see `spansight interfaces`); repeat for several (one flow table, `in_iface` on every event).", valueName: "interface"))
    var interface: [String] = []

    @Option(help: ArgumentHelp("Only capture packets matching this BPF expression: once for every interface, or once per --interface, in order.", valueName: "expression"))
    var filter: [String] = []

    @Option(help: "Bytes captured per packet.")
    var snaplen: Int32 = 262_144

    @Option(help: "Kernel capture buffer in bytes, per interface (0: libpcap's default).")
    var bufferSize: Int32 = 0

    @Flag(help: "Deliver packets as soon as they arrive.")
    var immediate = false

    @Flag(help: "Do not put the interface in promiscuous mode.")
    var noPromiscuous = false

    @Option(help: "Seconds between `stats` events (0: only at the end).")
    var statsInterval: Int = 60

    @Option(help: "Most seconds an event waits before it is written (0: after the packet that produced it).")
    var flushInterval: Int = 1

    @Option(help: "Seconds between saves of the inventory to --db (each a transaction: a sensor killed at any moment leaves the last complete save; 0: only at the end).")
    var persistInterval: Int = 60

    @Option(help: ArgumentHelp("Run as this user once the capture is open (root only; `root` keeps root). Default: \(Privileges.defaultUser) when that account exists.", valueName: "name"))
    var user: String?

    @Option(help: "Stop after this many packets (0: no limit).")
    var count: Int = 0

    @Option(help: "Stop after this many seconds (0: no limit).")
    var duration: Int = 0

    @Option(help: "With --alert-pcap DIR: MiB of recent packets kept for evidence (charged to detection's share of --memory-budget, at most half of it).")
    var alertRingMegabytes: Int = 8

    @Option(help: "With --alert-pcap DIR: most packets the evidence ring keeps.")
    var alertRingPackets: Int = 16_384

    @Option(help: "With --alert-pcap DIR: seconds (packet time) an alerted flow's file takes packets before it is finished, if the flow has not ended by then.")
    var alertFlowSeconds: Int = 60

    @Option(help: ArgumentHelp("Serve the `stats` counters as Prometheus metrics on 127.0.0.1:PORT (GET /metrics; loopback only; 0: a free port, named on standard error). Default: none.", valueName: "port"))
    var metricsPort: Int?

    @Option(help: ArgumentHelp("Also record every captured packet to DIR/capture-N.pcap (a rolling capture for evidence, like tcpdump -C/-W).", valueName: "dir"))
    var writePcap: String?

    @Option(help: "With --write-pcap: MiB per file before the next one starts.")
    var rotateMegabytes: Int = 100

    @Option(help: "With --write-pcap: files kept, the oldest overwritten (0: no limit).")
    var rotateFiles: Int = 10

    @OptionGroup var options: AnalysisOptions

    @OptionGroup(title: "Asset inventory") var inventory: InventoryOptions
    @OptionGroup var detect: DetectOptions

    func validate() throws {
        guard !interface.isEmpty else { throw ValidationError("Missing expected argument '--interface <interface>'") }
        if let dup = Dictionary(grouping: interface, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw ValidationError("--interface \(dup) is given twice")
        }
        guard filter.count <= 1 || filter.count == interface.count else {
            throw ValidationError("--filter: give one expression for every interface, or one per --interface (\(interface.count)), not \(filter.count)")
        }
        try OptionBounds.check("snaplen", Int(snaplen), 1...OptionBounds.maxSnaplen, "bytes")
        try OptionBounds.check("buffer-size", Int(bufferSize), 0...Int(Int32.max), "bytes")
        try OptionBounds.seconds("stats-interval", statsInterval, zeroAllowed: true)
        try OptionBounds.seconds("flush-interval", flushInterval, zeroAllowed: true)
        try OptionBounds.seconds("persist-interval", persistInterval, zeroAllowed: true)
        guard count >= 0 else { throw ValidationError("--count must be 0 (no limit) or more, got \(count)") }
        try OptionBounds.seconds("duration", duration, zeroAllowed: true, max: OptionBounds.maxDurationSeconds)
        try OptionBounds.check("alert-ring-megabytes", alertRingMegabytes, 1...4096, "MiB")
        try OptionBounds.check("alert-ring-packets", alertRingPackets, 16...(1 << 24), "packets")
        try OptionBounds.seconds("alert-flow-seconds", alertFlowSeconds)
        try OptionBounds.check("rotate-megabytes", rotateMegabytes, 1...(1 << 20), "MiB")
        try OptionBounds.check("rotate-files", rotateFiles, 0...100_000, "files")
        try validateFolders()
        if let p = metricsPort { try OptionBounds.check("metrics-port", p, 0...65_535, "") }
        try validateRunFiles()
    }

    var runFiles: RunFiles {
        var f = RunFiles()
        options.addFiles(to: &f)
        inventory.addFiles(to: &f)
        detect.addFiles(to: &f, alertPcapIsFile: false)
        return f
    }

    /// The folders live writes files into (`--alert-pcap DIR`, `--write-pcap DIR`).
    private var folders: [(option: String, dir: String)] {
        [("--alert-pcap", detect.alertPcap), ("--write-pcap", writePcap)].compactMap { o, d in d.map { (o, $0) } }
    }

    /// For `validate()`: each folder is there (a file there is the `read` habit of
    /// `--alert-pcap FILE`: a usage error).
    private func validateFolders() throws {
        for (option, dir) in folders {
            var st = stat()
            guard stat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                throw ValidationError("\(option) \(dir): live writes a folder of pcaps there (one per alerted flow, or the rolling capture's files), and there is no folder there")
            }
        }
    }

    /// The run (after any switch of user) can create files in each folder.
    private func checkFolders(as user: String? = nil) throws {
        for (option, dir) in folders where access(dir, W_OK | X_OK) != 0 {
            throw fail("\(option) \(dir): cannot create files there\(user.map { " as \($0)" } ?? ""): \(String(cString: strerror(errno)))")
        }
    }

    /// The rolling capture, once the capture's link type is known.
    private func attachRecording(_ analysis: Analysis) {
        guard let dir = writePcap, let dlt = analysis.liveLinkType else { return }
        let r = RollingCapture(directory: dir, megabytesPerFile: rotateMegabytes, files: rotateFiles, linkType: dlt, snaplen: snaplen)
        analysis.recording = r
        analysis.summaryLines.append { ["  recorded: \(r.packets) packets in \(r.opened) files of \(dir)"] }
    }

    /// The evidence ring and its writer, once the capture's link type is known.
    private func attachEvidence(_ analysis: Analysis, _ detector: Detector?) throws {
        guard let dir = detect.alertPcap, let detector, let dlt = analysis.liveLinkType else { return }
        let bytes = alertRingMegabytes << 20
        let share = analysis.engine.budget.shares.detection
        guard bytes <= share / 2 else {
            throw fail("--alert-ring-megabytes \(alertRingMegabytes): more than half of detection's share (\(share >> 20) MiB of --memory-budget); raise the budget or lower the ring")
        }
        let ring = PacketRing(bytes: bytes, packets: alertRingPackets)
        let evidence = LiveEvidence(ring: ring, directory: dir, linkType: dlt, maxOpenNanos: Int64(alertFlowSeconds) * 1_000_000_000)
        analysis.packetRing = ring
        analysis.liveEvidence = evidence
        let output = analysis.output
        // After the flows ended (the engine's finish): every file finished.
        let engine = analysis.engine
        analysis.onFinish.append { evidence.sweep(alerted: output.alertedFlows, nowNanos: engine.nowNanos, final: true) }
        analysis.summaryLines.append {
            var line = "  alert evidence: \(evidence.files) pcaps (\(evidence.packets) packets) in \(dir); ring \(ring.count) packets held, \(ring.evicted) evicted"
            if evidence.failures > 0 { line += "; \(evidence.failures) not written (\(evidence.firstFailure ?? "?"))" }
            return [line]
        }
    }

    func run() throws {
        try runFiles.checkWritable()
        try checkFolders()
        let configs = interface.enumerated().map { i, name in
            var live = LiveCaptureConfig(interface: name)
            live.snaplen = snaplen
            live.bufferSize = bufferSize
            live.immediateMode = immediate
            live.promiscuous = !noPromiscuous
            live.filter = filter.isEmpty ? "" : filter[filter.count == 1 ? 0 : i]
            return live
        }
        let out = try options.makeEventOutput(appending: true)
        out.setSensor(name: options.resolvedSensorName, interfaces: interface)
        out.select(types: try options.selectedEventTypes())
        let analysis = Analysis(config: options.engineConfig(), output: out)
        let inventory = try self.inventory.attach(to: analysis, source: "live:\(interface.joined(separator: ","))", sensor: options.resolvedSensorName, live: true)
        let detector = try detect.attach(to: analysis, inputs: nil)
        try Wiring.connect(inventory: inventory, detector: detector, store: self.inventory.noInventory ? nil : self.inventory.db)
        if let port = metricsPort {
            do { analysis.metrics = try MetricsServer(port: UInt16(port)) } catch { throw fail("\(error)") }
            if let m = analysis.metrics { Stderr.line("spansight: metrics on http://127.0.0.1:\(m.port)/metrics") }
        }
        let schedule = Analysis.LiveSchedule(statsInterval: statsInterval, flushInterval: flushInterval, maxPackets: count, maxSeconds: duration, persistInterval: persistInterval)
        let status = analysis.readLive(configs, schedule) {
            try dropPrivileges(events: out)
            options.startForwarders(out)
            try attachEvidence(analysis, detector)
            attachRecording(analysis)
            analysis.metrics?.start()
        }
        if !options.quiet { analysis.printSummary() }
        if status != 0 { throw ExitCode(status) }
    }

    /// Once the capture is open: a root sensor becomes `--user` (default `spansight` when it
    /// exists) and takes its events file along; an unprivileged one with file capabilities
    /// clears them. The files written at the end of the run are checked again as the user the
    /// run now is.
    private func dropPrivileges(events: EventOutput) throws {
        var name = user
        if name == nil && Privileges.isRoot {
            guard Privileges.userExists(Privileges.defaultUser) else {
                Stderr.line("spansight: warning: running as root for the whole capture: no user '\(Privileges.defaultUser)' to switch to (create it, or pass --user NAME; --user root keeps root without this warning)")
                return
            }
            name = Privileges.defaultUser
        }
        let outcome: Privileges.Outcome
        // The files it keeps writing pass to the user: the events file, and the store (created
        // as root when the inventory was loaded), with SQLite's journal files beside it.
        let store = inventory.noInventory ? nil : inventory.db
        do {
            outcome = try Privileges.drop(to: name) { uid, gid in
                events.changeOwner(uid: uid, gid: gid)
                if let store { for p in [store, store + "-wal", store + "-shm"] { _ = chown(p, uid, gid) } }
            }
        }
        catch { throw fail(error.description) }
        guard case .switched(let who, _, _) = outcome else { return }
        try runFiles.checkWritable(as: "user \(who)")
        try checkFolders(as: "user \(who)")
        if let path = try? options.eventDestinations().file, !CheckedFile.canCreate(beside: path) {
            Stderr.line("spansight: warning: user \(who) cannot create files in the folder of \(path): a SIGHUP reopen (log rotation) will fail; make the folder writable by \(who)")
        }
    }
}

struct Interfaces: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List capture interfaces.")

    func run() throws {
        let list: [CaptureInterface]
        do { list = try CaptureInterfaces.list() } catch { throw fail(error.description) }
        if list.isEmpty { Stderr.line("spansight: no capture interfaces (are you allowed to capture?)") }
        for i in list {
            var flags: [String] = []
            if i.isUp { flags.append("up") }
            if i.isRunning { flags.append("running") }
            if i.isLoopback { flags.append("loopback") }
            var line = i.name
            line += "\t" + (flags.isEmpty ? "-" : flags.joined(separator: ","))
            line += "\t" + (i.addresses.isEmpty ? "-" : i.addresses.joined(separator: ","))
            if let d = i.description { line += "\t" + d }
            print(line)
        }
    }
}

enum UsageError {
    /// A usage error in one form: the error on one line ("Error: ..."), then the usage hint
    /// ("Usage: ...", "See '... --help'"); what the parser adds between them (the "Help:" line
    /// of a missing argument) is left out. Exit status 64.
    static func report(_ message: String) -> Never {
        let lines = message.split(separator: "\n", omittingEmptySubsequences: false)
        var kept = lines.prefix(1)
        if let usage = lines.firstIndex(where: { $0.hasPrefix("Usage:") }) { kept += lines[usage...] }
        var text = kept.joined(separator: "\n")
        if !text.hasSuffix("\n") { text += "\n" }
        Stderr.raw(text)
        exit(ExitCode.validationFailure.rawValue)
    }
}

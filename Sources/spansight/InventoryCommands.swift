import ArgumentParser
import SpanSightProtocols
import SpanSightEngine
import SpanSightInventory

/// Options of the asset inventory, shared by `read`, `live` and `assets`.
struct InventoryOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Write the asset inventory here at the end of the run: JSON, or CSV when the name ends in .csv (repeatable).", valueName: "file"))
    var assets: [String] = []

    @Option(help: ArgumentHelp("Write the communication map here: Graphviz DOT, or a self-contained HTML report when the name ends in .html (repeatable).", valueName: "file"))
    var map: [String] = []

    @Option(help: ArgumentHelp("The store: a SQLite file, or postgresql://USER@HOST:PORT/DB (a fleet's shared store). The site's inventory is loaded from it first; what the run gained is merged back at the end (live: also every --persist-interval), so runs and sensors accumulate.", valueName: "file|url"))
    var db: String?

    @Option(help: ArgumentHelp("The site the inventory belongs to in the store: addresses are scoped by it, so sites with overlapping address plans never merge (default: default).", valueName: "name"))
    var site = "default"

    @Option(help: "Most hosts (IP addresses) the inventory keeps; more are counted as dropped.")
    var maxAssets = 65_536

    @Option(help: ArgumentHelp("Directory of the IEEE registries (oui.csv, mam.csv, oui36.csv) for MAC vendors.", valueName: "dir"))
    var ouiDir = OUIRegistry.defaultDirectory

    @Flag(help: "No inventory: no `asset` events, no reports.")
    var noInventory = false

    func validate() throws {
        guard maxAssets > 0 else { throw ValidationError("--max-assets must be positive") }
        guard !site.isEmpty, site.utf8.count <= 255, !site.contains(where: { $0.isNewline }) else {
            throw ValidationError("--site must be 1 to 255 bytes on one line")
        }
        if noInventory && (!assets.isEmpty || !map.isEmpty || db != nil) {
            throw ValidationError("--no-inventory cannot be combined with --assets, --map or --db")
        }
    }

    /// The reports and the store written, the vendor registries read (none with --no-inventory).
    func addFiles(to files: inout RunFiles) {
        guard !noInventory else { return }
        files.outputs("--assets", assets)
        files.outputs("--map", map)
        // The store is read and written in place by SQLite (a transaction, a journal beside
        // it): checked as a whole-file output (its folder writable) and against every input.
        if let db, !StoreTarget.isPostgresURL(db) { files.output("--db", db) }
        for name in OUIRegistry.fileNames { files.input("MAC vendor registry", ouiDir + "/" + name) }
    }

    /// Builds the inventory, attaches it to the analysis and schedules its reports.
    /// `events`: whether `asset` events go to the event stream.
    @discardableResult
    /// `sensor`: the name the store records this run's sightings under; `live`: a store
    /// server that cannot be reached at the start is a warning (the sensor starts empty and
    /// its saves merge what it sees once the server answers), not an error.
    func attach(to analysis: Analysis, events: Bool = true, source: String, sensor: String = "", live: Bool = false) throws -> Inventory? {
        guard !noInventory else { return nil }
        var config = InventoryConfig()
        config.protocols = Registry.modules
        config.maxHosts = maxAssets
        config.maxBytes = analysis.engine.budget.shares.inventory
        config.events = events
        let inventory = Inventory(config: config, oui: OUIRegistry(directory: ouiDir), output: analysis.output)
        let store = db.map { StoreTarget($0, site: site, sensor: sensor) }
        if let store {
            do {
                try InventoryStore.load(store, into: inventory) { old in
                    Stderr.line("spansight: warning: \(store.label): inventory store of schema \(old) migrated to schema \(InventoryStore.currentSchema) (once; an older SpanSight cannot read it now)")
                }
            } catch {
                guard live, error.transient else { throw fail(error.description) }
                Stderr.line("spansight: warning: cannot load the inventory: \(error.description); the sensor starts without it and each save tries again")
            }
        }
        analysis.attach(inventory)
        let assets = self.assets, map = self.map
        nonisolated(unsafe) var saved: (rows: Int, seconds: Double)?
        analysis.reports.append {
            let list = inventory.assets()
            for path in assets {
                if path.hasSuffix(".csv") { try FileOutput.write(path, InventoryReport.csv(list)) }
                else { try FileOutput.write(path, InventoryReport.json(inventory, assets: list)) }
            }
            for path in map {
                if path.hasSuffix(".html") || path.hasSuffix(".htm") {
                    try FileOutput.write(path, CommunicationMap.html(inventory, assets: list, title: "SpanSight asset inventory: \(source)"))
                } else {
                    try FileOutput.write(path, CommunicationMap.dot(inventory, assets: list))
                }
            }
            // `assets --db` without captures (no source) is a query: it never writes the store.
            if let store, !source.isEmpty {
                let start = MonotonicClock.now()
                let rows = try InventoryStore.save(store, inventory, source: source)
                saved = (rows, MonotonicClock.now() - start)
            }
        }
        if let store { analysis.persisters.append { try InventoryStore.save(store, inventory, source: source, endOfRun: false) } }
        analysis.summaryLines.append {
            guard let store, let (rows, seconds) = saved else { return [] }
            return ["  store: \(rows) rows merged into \(store.label) (site \(store.site)) in \(Int((seconds * 1000).rounded())) ms"]
        }
        analysis.summaryLines.append {
            var s = "  assets: \(inventory.assets().count) (\(inventory.hosts.count) addresses"
            if inventory.hostsDropped > 0 { s += ", \(inventory.hostsDropped) dropped by --max-assets" }
            s += "), identity changes: \(inventory.changesRecorded)"
            return [s]
        }
        return inventory
    }
}

/// `spansight assets CAPTURE...`: the inventory as a table in the terminal.
struct Assets: ParsableCommand, ChecksRunFiles {
    static let configuration = CommandConfiguration(
        abstract: "Print the asset inventory of captures as a table (or JSON/CSV).")

    @Argument(help: "Capture files (pcap or pcapng); '-' for standard input. None with --db: print the stored inventory.")
    var files: [String] = []

    @OptionGroup var inventory: InventoryOptions

    @Option(help: "Output format: table, json or csv.")
    var format = "table"

    @Option(help: "Only analyse packets matching this BPF expression.")
    var filter: String?

    func validate() throws {
        guard ["table", "json", "csv"].contains(format) else { throw ValidationError("--format must be table, json or csv") }
        guard !inventory.noInventory else { throw ValidationError("--no-inventory makes no sense here") }
        guard !files.isEmpty || inventory.db != nil else { throw ValidationError("give capture files, or --db to print a stored inventory") }
        try validateRunFiles()
    }

    var runFiles: RunFiles {
        var f = RunFiles()
        f.inputs("capture file", files)
        inventory.addFiles(to: &f)
        f.writesStandardOutput = true
        return f
    }

    func run() throws {
        try runFiles.checkWritable()
        var config = EngineConfig()
        config.dissectors = Registry.all
        config.flowEvents = false
        let analysis = Analysis(config: config, output: EventOutput.disabled())
        guard let inv = try inventory.attach(to: analysis, events: false, source: files.joined(separator: " ")) else { return }
        var status: Int32 = 0
        if !files.isEmpty {
            status = analysis.readFiles(files, filter: filter, progress: Stderr.isTerminal)
            if status == 1 && analysis.engine.pcapCount == 0 { throw ExitCode(1) }
        } else {
            analysis.engine.finish()
            for f in analysis.onFinish + analysis.reports { do { try f() } catch { throw fail("\(error)") } }
        }
        let list = inv.assets()
        let text: String
        switch format {
        case "json": text = String(decoding: InventoryReport.json(inv, assets: list), as: UTF8.self)
        case "csv": text = InventoryReport.csv(list)
        default: text = InventoryReport.table(inv, assets: list)
        }
        print(text, terminator: "")
        if status != 0 { throw ExitCode(status) }
    }
}

enum FileOutput {
    static func write(_ path: String, _ text: String) throws { try write(path, Array(text.utf8)) }

    /// Writes a whole file (to a temporary file renamed over `path` when complete); a failure
    /// ("cannot write map.html: No space left on device") is thrown and `path` keeps what it had.
    static func write(_ path: String, _ bytes: [UInt8]) throws {
        let file = try CheckedFile(path: path, label: "cannot write \(path)", mode: .replace)
        file.write(bytes)
        try file.close()
    }
}

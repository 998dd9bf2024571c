#if canImport(Glibc)
import Glibc
#endif
import SpanSightEngine
import SpanSightWire

/// What the store held of an inventory's additive counters when it was loaded or last saved.
/// A save adds only what the inventory gained since (current minus this), so what other
/// writers (a second run, another sensor on the same file) added in between is kept.
/// Everything else merges without it: first seen is the minimum, last seen the maximum, the
/// newest observation of a value wins. One entry per row the inventory holds, so it is
/// bounded by the inventory's own caps.
struct StoreBaseline {
    struct Host { var packetsSent: UInt64 = 0, packetsReceived: UInt64 = 0, bytesSent: UInt64 = 0, bytesReceived: UInt64 = 0
                  var flowsAsClient: UInt64 = 0, flowsAsServer: UInt64 = 0, peersDropped: UInt64 = 0, changes = 0 }
    struct Service: Hashable { var ip: IPAddress; var key: ServiceKey }
    struct Peer: Hashable { var ip: IPAddress; var peer: IPAddress }
    var hosts: [IPAddress: Host] = [:]
    var services: [Service: UInt64] = [:]
    var peers: [Peer: (flows: UInt64, bytes: UInt64)] = [:]
    var edges: [EdgeKey: (flows: UInt64, packets: UInt64, bytes: UInt64)] = [:]
    var risk: [IPAddress: (sum: Int, alerts: Int)] = [:]

    /// The inventory's counters as they are now (after a save: what the store has of them).
    init(_ inv: Inventory, risk accounts: [StoredAlertRisk]?, keeping old: StoreBaseline?) {
        for h in inv.hosts {
            hosts[h.address] = Host(packetsSent: h.packetsSent, packetsReceived: h.packetsReceived, bytesSent: h.bytesSent,
                                    bytesReceived: h.bytesReceived, flowsAsClient: h.flowsAsClient, flowsAsServer: h.flowsAsServer,
                                    peersDropped: h.peersDropped, changes: h.changes.count)
            for (k, v) in h.services { services[Service(ip: h.address, key: k)] = v.flows }
            for (p, v) in h.peers { peers[Peer(ip: h.address, peer: p)] = (v.flows, v.bytes) }
        }
        for (k, e) in inv.edges { edges[k] = (e.flows, e.packets, e.bytes) }
        if let accounts {
            for a in accounts { risk[a.address] = (a.sumRisk, a.alerts) }
        } else if let old {
            risk = old.risk
        }
    }

    init() {}
}

/// Times in the store: ISO-8601 UTC text with nanoseconds, fixed width
/// (`2026-11-26T12:00:00.000123456Z`), so that text order is time order (MIN/MAX in SQL).
enum StoreTime {
    static func text(_ nanos: Int64) -> String {
        let n = max(0, nanos)
        let secs = n / 1_000_000_000, frac = n % 1_000_000_000
        let (y, m, d) = SpanSightEngine.Timestamp.civil(days: secs / 86_400)
        let rem = secs % 86_400
        func pad(_ v: Int64, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(pad(min(9999, y), 4))-\(pad(Int64(m), 2))-\(pad(Int64(d), 2))T\(pad(rem / 3600, 2)):\(pad(rem / 60 % 60, 2)):\(pad(rem % 60, 2)).\(pad(frac, 9))Z"
    }

    /// The text's nanoseconds; nil for anything that is not `text`'s form (or an integer,
    /// which a schema-1 store held: accepted as nanoseconds).
    static func nanos(_ t: String) -> Int64? {
        if let n = Int64(t) { return n }
        let b = Array(t.utf8)
        guard b.count == 30, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A, b[19] == 0x2E, b[29] == 0x5A else { return nil }
        func num(_ r: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for i in r { guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }; v = v * 10 + Int64(b[i] - 0x30) }
            return v
        }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16),
              let s = num(17..<19), let f = num(20..<29), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61,
              (1970...2261).contains(y) else { return nil }   // Int64 nanoseconds end in 2262
        // days-from-civil (the inverse of Timestamp.civil).
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return ((days * 86_400 + h * 3600 + mi * 60 + s) * 1_000_000_000) + f
    }
}

extension MAC {
    /// "aa:bb:cc:dd:ee:ff" back to the 48-bit value (nil when not that form).
    static func parse(_ t: String) -> UInt64? {
        let parts = t.split(separator: ":")
        guard parts.count == 6 else { return nil }
        var v: UInt64 = 0
        for p in parts {
            guard p.count == 2, let b = UInt8(p, radix: 16) else { return nil }
            v = v << 8 | UInt64(b)
        }
        return v
    }
}

/// Where an inventory is stored and as whom: a SQLite file or a PostgreSQL URL; the site whose
/// inventory it is (addresses are scoped by it: two plants' 192.168.1.0/24 never merge); the
/// sensor that writes (its sightings of each host are kept apart).
public struct StoreTarget: Sendable {
    public var location: String
    public var site: String
    public var sensor: String

    public init(_ location: String, site: String = "default", sensor: String = "") {
        self.location = location
        self.site = site
        self.sensor = sensor
    }

    public var isPostgres: Bool { StoreTarget.isPostgresURL(location) }
    public static func isPostgresURL(_ s: String) -> Bool { s.hasPrefix("postgresql://") || s.hasPrefix("postgres://") }
    /// The location as messages show it (a URL's password hidden).
    public var label: String { isPostgres ? Postgres.withoutPassword(location) : location }
}

/// The inventory's store: assets, identities and the map accumulate across runs, live
/// sessions and sensors. `load` fills an inventory with a site's state (one read
/// transaction: a consistent state even while others write); `save` merges what the
/// inventory gained since it was loaded or last saved, in one write transaction of upserts:
/// runs and sensors sharing the store lose nothing of each other's, and a reader never sees
/// half a save. The same schema and SQL on SQLite (a file) and PostgreSQL (the fleet's).
public enum InventoryStore {
    static let schemaVersion: Int64 = 2
    /// The schema this version writes (older ones are migrated when opened).
    public static var currentSchema: Int64 { schemaVersion }

    static let tables = """
    CREATE TABLE IF NOT EXISTS hosts (site TEXT, ip TEXT, first_seen TEXT, last_seen TEXT,
      packets_sent INTEGER, packets_received INTEGER, bytes_sent INTEGER, bytes_received INTEGER,
      flows_client INTEGER, flows_server INTEGER, peers_dropped INTEGER, PRIMARY KEY (site, ip));
    CREATE TABLE IF NOT EXISTS host_macs (site TEXT, ip TEXT, mac TEXT, first_seen TEXT, last_seen TEXT, PRIMARY KEY (site, ip, mac));
    CREATE TABLE IF NOT EXISTS roles (site TEXT, ip TEXT, role TEXT, flow_id INTEGER, first_seen TEXT, source TEXT, PRIMARY KEY (site, ip, role));
    CREATE TABLE IF NOT EXISTS services (site TEXT, ip TEXT, proto INTEGER, port INTEGER, app TEXT, flows INTEGER,
      first_seen TEXT, last_seen TEXT, PRIMARY KEY (site, ip, proto, port));
    CREATE TABLE IF NOT EXISTS children (site TEXT, ip TEXT, kind TEXT, id INTEGER, first_seen TEXT, last_seen TEXT, PRIMARY KEY (site, ip, kind, id));
    CREATE TABLE IF NOT EXISTS identities (site TEXT, ip TEXT, child_kind TEXT, child_id INTEGER, key TEXT, value TEXT,
      first_seen TEXT, last_seen TEXT, flow_id INTEGER, evidence_time TEXT, source TEXT,
      PRIMARY KEY (site, ip, child_kind, child_id, key, value));
    CREATE TABLE IF NOT EXISTS stacks (site TEXT, ip TEXT, signature TEXT, label TEXT, family TEXT, quality TEXT,
      initial_ttl INTEGER, distance INTEGER, from_synack INTEGER, flow_id INTEGER, seen TEXT, source TEXT, PRIMARY KEY (site, ip));
    CREATE TABLE IF NOT EXISTS changes (site TEXT, ip TEXT, seq INTEGER, kind TEXT, ts TEXT, key TEXT, old_value TEXT,
      new_value TEXT, flow_id INTEGER, PRIMARY KEY (site, ip, seq));
    CREATE TABLE IF NOT EXISTS peers (site TEXT, ip TEXT, peer TEXT, flows INTEGER, bytes INTEGER, apps TEXT, PRIMARY KEY (site, ip, peer));
    CREATE TABLE IF NOT EXISTS edges (site TEXT, client TEXT, server TEXT, service TEXT, flows INTEGER, packets INTEGER, bytes INTEGER,
      operations INTEGER, first_seen TEXT, last_seen TEXT, PRIMARY KEY (site, client, server, service));
    CREATE TABLE IF NOT EXISTS alert_risk (site TEXT, ip TEXT, max_risk INTEGER, sum_risk INTEGER, alerts INTEGER, PRIMARY KEY (site, ip));
    CREATE TABLE IF NOT EXISTS sightings (site TEXT, ip TEXT, sensor TEXT, first_seen TEXT, last_seen TEXT, packets INTEGER,
      PRIMARY KEY (site, ip, sensor));
    CREATE TABLE IF NOT EXISTS runs (seq INTEGER PRIMARY KEY AUTOINCREMENT, site TEXT, sensor TEXT, source TEXT, hosts INTEGER, edges INTEGER);
    """

    /// Schema 1 → 2: a site in every key (`default` for what was there), times as ISO-8601
    /// text, MACs as text, an identity keyed by its value too (schema 1 kept one value per
    /// key, losing the others of a multi-valued key such as a DICOM AE title), per-sensor
    /// sightings. Each table is copied into its new form, in one transaction.
    static let migrationFrom1: [(table: String, select: String)] = {
        func iso(_ c: String) -> String {
            "strftime('%Y-%m-%dT%H:%M:%S', \(c) / 1000000000, 'unixepoch') || printf('.%09dZ', \(c) % 1000000000)"
        }
        let mac = "printf('%02x:%02x:%02x:%02x:%02x:%02x', (mac >> 40) & 255, (mac >> 32) & 255, (mac >> 24) & 255, (mac >> 16) & 255, (mac >> 8) & 255, mac & 255)"
        return [
            ("hosts", "'default', ip, \(iso("first_seen")), \(iso("last_seen")), packets_sent, packets_received, bytes_sent, bytes_received, flows_client, flows_server, peers_dropped"),
            ("host_macs", "'default', ip, \(mac), \(iso("first_seen")), \(iso("last_seen"))"),
            ("roles", "'default', ip, role, flow_id, \(iso("first_seen")), source"),
            ("services", "'default', ip, proto, port, app, flows, \(iso("first_seen")), \(iso("last_seen"))"),
            ("children", "'default', ip, kind, id, \(iso("first_seen")), \(iso("last_seen"))"),
            ("identities", "'default', ip, child_kind, child_id, key, value, \(iso("first_seen")), \(iso("last_seen")), flow_id, \(iso("evidence_time")), source"),
            ("stacks", "'default', ip, signature, label, family, quality, initial_ttl, distance, from_synack, flow_id, \(iso("seen")), source"),
            ("changes", "'default', ip, seq, kind, \(iso("ts")), key, old_value, new_value, flow_id"),
            ("peers", "'default', ip, peer, flows, bytes, apps"),
            ("edges", "'default', client, server, service, flows, packets, bytes, operations, \(iso("first_seen")), \(iso("last_seen"))"),
            ("alert_risk", "'default', ip, max_risk, sum_risk, alerts"),
            ("runs", "seq, 'default', '', source, hosts, edges"),
        ]
    }()

    /// The schema version a store holds (nil: a new one), read in the caller's transaction.
    static func version(_ db: any StoreConnection) throws(StoreError) -> Int64? {
        let exists = try db.prepare(db.dialect.metaExists)
        exists.bind([])
        guard try exists.step() else { return nil }
        let st = try db.prepare("SELECT value FROM meta WHERE key = 'schema_version'")
        st.bind([])
        guard try st.step() else { return nil }
        guard let v = Int64(st.text(0)) else { throw StoreError(description: "\(db.label): inventory schema version '\(st.text(0))' is not a number") }
        return v
    }

    static func connect(_ location: String) throws(StoreError) -> any StoreConnection {
        if StoreTarget.isPostgresURL(location) { return try Postgres(url: location) }
        let db = try SQLite(path: location)
        // Write-ahead logging: a reader (`assets --db`) never waits for, nor sees half of, a
        // sensor's save; a save killed part-way is rolled back at the next open.
        try db.exec("PRAGMA journal_mode=WAL")
        return db
    }

    /// Opens the store, creating or migrating its schema (once, in a write transaction, so
    /// that two processes opening an old or new store set it up once). `migrated`: told the
    /// version a migrated store had.
    static func open(_ location: String, migrated: ((Int64) -> Void)? = nil) throws(StoreError) -> any StoreConnection {
        let db = try connect(location)
        if try version(db) == schemaVersion { return db }
        try db.exec(db.dialect.beginWrite)
        do throws(StoreError) {
            if let lock = db.dialect.schemaLock { try db.exec(lock) }
            switch try version(db) {
            case nil:
                try db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                try db.exec(tables)
                try db.exec("INSERT INTO meta (key, value) VALUES ('schema_version', '\(schemaVersion)')")
            case 1? where db.dialect == .sqlite:
                // Stores of schema 1 made before detection saved risk have no alert_risk table.
                try db.exec("CREATE TABLE IF NOT EXISTS alert_risk (ip TEXT PRIMARY KEY, max_risk INTEGER, sum_risk INTEGER, alerts INTEGER)")
                for (table, _) in migrationFrom1 {
                    try db.exec("ALTER TABLE \(table) RENAME TO \(table)_v1")
                }
                try db.exec(tables)
                for (table, select) in migrationFrom1 {
                    try db.exec("INSERT INTO \(table) SELECT \(select) FROM \(table)_v1")
                    try db.exec("DROP TABLE \(table)_v1")
                }
                try db.exec("UPDATE meta SET value = '\(schemaVersion)' WHERE key = 'schema_version'")
                migrated?(1)
            case let v?:
                if v != schemaVersion {
                    throw StoreError(description: "\(db.label): inventory schema version \(v), this SpanSight reads \(schemaVersion) (and migrates 1)")
                }
            }
            try db.exec("COMMIT")
        } catch {
            try? db.exec("ROLLBACK")
            throw error
        }
        return db
    }

    static func u(_ v: UInt64) -> StoreValue { .int(Int64(bitPattern: v)) }
    static func i(_ v: Int64) -> StoreValue { .int(v) }
    static func t(_ s: String) -> StoreValue { .text(s) }
    static func time(_ nanos: Int64) -> StoreValue { .text(StoreTime.text(nanos)) }
    /// What the inventory gained since the baseline (counters never go back; a baseline above
    /// the value, which cannot happen, counts as nothing gained).
    static func gain(_ now: UInt64, _ then: UInt64?) -> StoreValue { u(now >= (then ?? 0) ? now - (then ?? 0) : 0) }

    /// The alert risk the store holds per address of a site (detection restores it before any traffic).
    public static func loadAlertRisk(_ target: StoreTarget) throws(StoreError) -> [StoredAlertRisk] {
        let db = try open(target.location)
        return try alertRisk(db, site: target.site)
    }

    public static func loadAlertRisk(_ path: String) throws(StoreError) -> [StoredAlertRisk] { try loadAlertRisk(StoreTarget(path)) }

    static func alertRisk(_ db: any StoreConnection, site: String) throws(StoreError) -> [StoredAlertRisk] {
        let st = try db.prepare("SELECT ip, max_risk, sum_risk, alerts FROM alert_risk WHERE site = ? ORDER BY ip")
        st.bind([t(site)])
        var out: [StoredAlertRisk] = []
        while try st.step() {
            guard let ip = IPAddress(st.text(0)) else { continue }
            out.append(StoredAlertRisk(address: ip, maxRisk: Int(st.int(1)), sumRisk: Int(st.int(2)), alerts: Int(st.int(3))))
        }
        return out
    }

    public static func load(_ path: String, into inv: Inventory, migrated: ((Int64) -> Void)? = nil) throws(StoreError) {
        try load(StoreTarget(path), into: inv, migrated: migrated)
    }

    /// Fills `inv` (before any traffic) with what the store holds of the target's site, read
    /// in one transaction. `migrated`: told the schema version of a store this open migrated.
    public static func load(_ target: StoreTarget, into inv: Inventory, migrated: ((Int64) -> Void)? = nil) throws(StoreError) {
        do throws(StoreError) {
            try loadOnce(target, into: inv, migrated: migrated)
        } catch {
            // Part of the store may be in the inventory already (a connection lost halfway):
            // what was restored is what the store has of it, so that a sensor going on
            // without the rest never saves it a second time.
            inv.recharge()
            inv.storeBaseline = StoreBaseline(inv, risk: inv.storedAlertRisk, keeping: nil)
            throw error
        }
    }

    static func loadOnce(_ target: StoreTarget, into inv: Inventory, migrated: ((Int64) -> Void)?) throws(StoreError) {
        let db = try open(target.location, migrated: migrated)
        try db.exec(db.dialect.beginRead)
        defer { try? db.exec("COMMIT") }
        let site = t(target.site)
        func when(_ st: any StoreStatement, _ c: Int) -> Int64 { StoreTime.nanos(st.text(c)) ?? 0 }
        let hs = try db.prepare("SELECT ip, first_seen, last_seen, packets_sent, packets_received, bytes_sent, bytes_received, flows_client, flows_server, peers_dropped FROM hosts WHERE site = ? ORDER BY first_seen, ip")
        hs.bind([site])
        while try hs.step() {
            guard let ip = IPAddress(hs.text(0)) else { continue }
            var h = HostRecord(address: ip, at: when(hs, 1))
            h.lastSeen = when(hs, 2)
            h.packetsSent = UInt64(bitPattern: hs.int(3)); h.packetsReceived = UInt64(bitPattern: hs.int(4))
            h.bytesSent = UInt64(bitPattern: hs.int(5)); h.bytesReceived = UInt64(bitPattern: hs.int(6))
            h.flowsAsClient = UInt64(bitPattern: hs.int(7)); h.flowsAsServer = UInt64(bitPattern: hs.int(8))
            h.peersDropped = UInt64(bitPattern: hs.int(9))
            inv.restore(h)
        }
        func each(_ sql: String, _ body: (any StoreStatement, Int) -> Void) throws(StoreError) {
            let st = try db.prepare(sql)
            st.bind([site])
            while try st.step() {
                guard let ip = IPAddress(st.text(0)), let k = inv.index[ip] else { continue }
                body(st, k)
            }
        }
        try each("SELECT ip, mac, first_seen, last_seen FROM host_macs WHERE site = ? ORDER BY ip, first_seen, mac") { st, k in
            guard let mac = MAC.parse(st.text(1)) else { return }
            inv.restoreMAC(k, MACSighting(mac: mac, firstSeen: when(st, 2), lastSeen: when(st, 3)))
        }
        try each("SELECT ip, role, flow_id, first_seen, source FROM roles WHERE site = ?") { st, k in
            inv.hosts[k].roles[st.text(1)] = Evidence(flowID: UInt64(bitPattern: st.int(2)), timestampNanos: when(st, 3), source: st.text(4))
        }
        try each("SELECT ip, proto, port, app, flows, first_seen, last_seen FROM services WHERE site = ?") { st, k in
            inv.hosts[k].services[ServiceKey(proto: UInt8(truncatingIfNeeded: st.int(1)), port: UInt16(truncatingIfNeeded: st.int(2)))] =
                ServiceStats(app: st.text(3), flows: UInt64(bitPattern: st.int(4)), firstSeen: when(st, 5), lastSeen: when(st, 6))
        }
        try each("SELECT ip, kind, id, first_seen, last_seen FROM children WHERE site = ? ORDER BY ip, kind, id") { st, k in
            guard inv.hosts[k].children.count < inv.config.maxChildrenPerHost else { return }
            inv.hosts[k].children.append(ChildDevice(kind: st.text(1), id: UInt32(truncatingIfNeeded: st.int(2)), firstSeen: when(st, 3), lastSeen: when(st, 4)))
        }
        // Newest first, so that of a single-valued key the latest value is the one kept (two
        // writers may each have stored theirs).
        try each("SELECT ip, child_kind, child_id, key, value, first_seen, last_seen, flow_id, evidence_time, source FROM identities WHERE site = ? ORDER BY ip, last_seen DESC, key, value") { st, k in
            let v = IdentityValue(key: st.text(3), value: st.text(4), firstSeen: when(st, 5), lastSeen: when(st, 6),
                                  evidence: Evidence(flowID: UInt64(bitPattern: st.int(7)), timestampNanos: when(st, 8), source: st.text(9)))
            let single = !inv.multiValued.contains(v.key)
            func add(_ list: inout [IdentityValue]) {
                guard list.count < inv.config.maxIdentitiesPerHost, !(single && list.contains { $0.key == v.key }) else { return }
                list.append(v)
            }
            let kind = st.text(1)
            if kind.isEmpty {
                add(&inv.hosts[k].identities)
            } else if let c = inv.hosts[k].children.firstIndex(where: { $0.kind == kind && $0.id == UInt32(truncatingIfNeeded: st.int(2)) }) {
                add(&inv.hosts[k].children[c].identities)
            }
        }
        for k in inv.hosts.indices {
            inv.hosts[k].identities.sort { ($0.firstSeen, $0.key, $0.value) < ($1.firstSeen, $1.key, $1.value) }
            for c in inv.hosts[k].children.indices {
                inv.hosts[k].children[c].identities.sort { ($0.firstSeen, $0.key, $0.value) < ($1.firstSeen, $1.key, $1.value) }
            }
        }
        try each("SELECT ip, signature, label, family, quality, initial_ttl, distance, from_synack, flow_id, seen, source FROM stacks WHERE site = ?") { st, k in
            inv.hosts[k].stack = StackObservation(signature: st.text(1), label: st.text(2), family: st.text(3), quality: st.text(4),
                                                  initialTTL: Int(st.int(5)), distance: Int(st.int(6)), fromSYNACK: st.int(7) != 0,
                                                  evidence: Evidence(flowID: UInt64(bitPattern: st.int(8)), timestampNanos: when(st, 9), source: st.text(10)))
        }
        // The most recent records within the per-host cap, oldest first.
        try each("SELECT ip, kind, ts, key, old_value, new_value, flow_id FROM changes WHERE site = ? ORDER BY ip, seq DESC") { st, k in
            guard inv.hosts[k].changes.count < inv.config.maxChangesPerHost else { return }
            inv.hosts[k].changes.insert(ChangeRecord(kind: st.text(1), timestampNanos: when(st, 2), key: st.text(3), oldValue: st.text(4),
                                                     newValue: st.text(5), flowID: UInt64(bitPattern: st.int(6))), at: 0)
        }
        try each("SELECT ip, peer, flows, bytes, apps FROM peers WHERE site = ?") { st, k in
            guard let peer = IPAddress(st.text(1)), inv.hosts[k].peers.count < inv.config.maxPeersPerHost else { return }
            inv.hosts[k].peers[peer] = PeerStats(flows: UInt64(bitPattern: st.int(2)), bytes: UInt64(bitPattern: st.int(3)),
                                                 apps: Set(st.text(4).split(separator: " ").map(String.init)))
        }
        let es = try db.prepare("SELECT client, server, service, flows, packets, bytes, operations, first_seen, last_seen FROM edges WHERE site = ?")
        es.bind([site])
        while try es.step() {
            guard let c = IPAddress(es.text(0)), let s = IPAddress(es.text(1)) else { continue }
            inv.restoreEdge(EdgeKey(client: c, server: s, service: es.text(2)),
                            EdgeStats(flows: UInt64(bitPattern: es.int(3)), packets: UInt64(bitPattern: es.int(4)), bytes: UInt64(bitPattern: es.int(5)),
                                      operations: UInt16(truncatingIfNeeded: es.int(6)), firstSeen: when(es, 7), lastSeen: when(es, 8)))
        }
        inv.recharge()
        let risk = try alertRisk(db, site: target.site)
        inv.storedAlertRisk = risk
        inv.storeBaseline = StoreBaseline(inv, risk: risk, keeping: nil)
    }

    @discardableResult
    public static func save(_ path: String, _ inv: Inventory, source: String, endOfRun: Bool = true) throws(StoreError) -> Int {
        try save(StoreTarget(path), inv, source: source, endOfRun: endOfRun)
    }

    /// Merges what `inv` gained since it was loaded or last saved into the target's site, in
    /// one transaction of upserts (nothing is deleted but a single-valued identity's
    /// superseded value). Rows are written in one order (by address, then key) by every
    /// writer, so that PostgreSQL's row locks are taken in one order: no deadlock; one the
    /// server reports all the same (or a serialisation failure) is tried again, twice. A save
    /// that fails leaves the baseline where it was: the next one carries the gain.
    /// `endOfRun`: a row in `runs` records the run (periodic saves of a live run add none).
    /// Returns the rows it upserted.
    @discardableResult
    public static func save(_ target: StoreTarget, _ inv: Inventory, source: String, endOfRun: Bool = true) throws(StoreError) -> Int {
        var attempt = 0
        while true {
            attempt += 1
            do throws(StoreError) {
                return try saveOnce(target, inv, source: source, endOfRun: endOfRun)
            } catch {
                guard error.retryNow, attempt < 3 else { throw error }
                usleep(UInt32(100_000 * attempt))
            }
        }
    }

    static func saveOnce(_ target: StoreTarget, _ inv: Inventory, source: String, endOfRun: Bool) throws(StoreError) -> Int {
        let db = try open(target.location)
        var rows = 0
        func put(_ st: any StoreStatement, _ values: [StoreValue]) throws(StoreError) {
            try db.write(st, values)
            rows += 1
        }
        let base = inv.storeBaseline ?? StoreBaseline()
        let accounts = inv.alertRiskAccounts?()
        let site = t(target.site), sensor = t(target.sensor)
        try db.exec(db.dialect.beginWrite)
        do throws(StoreError) {
            let host = try db.prepare("""
                INSERT INTO hosts VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (site, ip) DO UPDATE SET
                first_seen = LEAST(hosts.first_seen, excluded.first_seen), last_seen = GREATEST(hosts.last_seen, excluded.last_seen),
                packets_sent = hosts.packets_sent + excluded.packets_sent, packets_received = hosts.packets_received + excluded.packets_received,
                bytes_sent = hosts.bytes_sent + excluded.bytes_sent, bytes_received = hosts.bytes_received + excluded.bytes_received,
                flows_client = hosts.flows_client + excluded.flows_client, flows_server = hosts.flows_server + excluded.flows_server,
                peers_dropped = hosts.peers_dropped + excluded.peers_dropped
                """)
            let mac = try db.prepare("""
                INSERT INTO host_macs VALUES (?,?,?,?,?) ON CONFLICT (site, ip, mac) DO UPDATE SET
                first_seen = LEAST(host_macs.first_seen, excluded.first_seen), last_seen = GREATEST(host_macs.last_seen, excluded.last_seen)
                """)
            let role = try db.prepare("""
                INSERT INTO roles VALUES (?,?,?,?,?,?) ON CONFLICT (site, ip, role) DO UPDATE SET
                flow_id = excluded.flow_id, first_seen = excluded.first_seen, source = excluded.source
                WHERE excluded.first_seen < roles.first_seen
                """)
            let service = try db.prepare("""
                INSERT INTO services VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (site, ip, proto, port) DO UPDATE SET
                app = CASE WHEN excluded.app <> '' THEN excluded.app ELSE services.app END, flows = services.flows + excluded.flows,
                first_seen = LEAST(services.first_seen, excluded.first_seen), last_seen = GREATEST(services.last_seen, excluded.last_seen)
                """)
            let child = try db.prepare("""
                INSERT INTO children VALUES (?,?,?,?,?,?) ON CONFLICT (site, ip, kind, id) DO UPDATE SET
                first_seen = LEAST(children.first_seen, excluded.first_seen), last_seen = GREATEST(children.last_seen, excluded.last_seen)
                """)
            let ident = try db.prepare("""
                INSERT INTO identities VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (site, ip, child_kind, child_id, key, value) DO UPDATE SET
                flow_id = CASE WHEN excluded.first_seen < identities.first_seen THEN excluded.flow_id ELSE identities.flow_id END,
                evidence_time = CASE WHEN excluded.first_seen < identities.first_seen THEN excluded.evidence_time ELSE identities.evidence_time END,
                source = CASE WHEN excluded.first_seen < identities.first_seen THEN excluded.source ELSE identities.source END,
                first_seen = LEAST(identities.first_seen, excluded.first_seen), last_seen = GREATEST(identities.last_seen, excluded.last_seen)
                """)
            // A single-valued key's other values that were last seen before this one: superseded.
            let superseded = try db.prepare("""
                DELETE FROM identities WHERE site = ? AND ip = ? AND child_kind = ? AND child_id = ? AND key = ? AND value <> ? AND last_seen <= ?
                """)
            let stack = try db.prepare("""
                INSERT INTO stacks VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (site, ip) DO UPDATE SET
                signature = excluded.signature, label = excluded.label, family = excluded.family, quality = excluded.quality,
                initial_ttl = excluded.initial_ttl, distance = excluded.distance, from_synack = excluded.from_synack,
                flow_id = excluded.flow_id, seen = excluded.seen, source = excluded.source WHERE excluded.seen >= stacks.seen
                """)
            let change = try db.prepare("""
                INSERT INTO changes SELECT ?1, ?2, COALESCE((SELECT MAX(seq) + 1 FROM changes WHERE site = ?1 AND ip = ?2), 0), ?3, ?4, ?5, ?6, ?7, CAST(?8 AS INTEGER)
                WHERE NOT EXISTS (SELECT 1 FROM changes WHERE site = ?1 AND ip = ?2 AND kind = ?3 AND ts = ?4 AND key = ?5 AND old_value = ?6 AND new_value = ?7)
                """)
            // The protocols seen with a peer: the union of what is stored and what was seen.
            let appsUnion = db.dialect == .postgres
                ? "(SELECT COALESCE(string_agg(DISTINCT a, ' ' ORDER BY a), '') FROM unnest(string_to_array(COALESCE(peers.apps, '') || ' ' || excluded.apps, ' ')) AS a WHERE a <> '')"
                : "excluded.apps"
            let peerApps = db.dialect == .sqlite ? try db.prepare("SELECT apps FROM peers WHERE site = ? AND ip = ? AND peer = ?") : nil
            let peer = try db.prepare("""
                INSERT INTO peers VALUES (?,?,?,?,?,?) ON CONFLICT (site, ip, peer) DO UPDATE SET
                flows = peers.flows + excluded.flows, bytes = peers.bytes + excluded.bytes, apps = \(appsUnion)
                """)
            let sighting = try db.prepare("""
                INSERT INTO sightings VALUES (?,?,?,?,?,?) ON CONFLICT (site, ip, sensor) DO UPDATE SET
                first_seen = LEAST(sightings.first_seen, excluded.first_seen), last_seen = GREATEST(sightings.last_seen, excluded.last_seen),
                packets = sightings.packets + excluded.packets
                """)
            let edge = try db.prepare("""
                INSERT INTO edges VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (site, client, server, service) DO UPDATE SET
                flows = edges.flows + excluded.flows, packets = edges.packets + excluded.packets, bytes = edges.bytes + excluded.bytes,
                operations = edges.operations | excluded.operations,
                first_seen = LEAST(edges.first_seen, excluded.first_seen), last_seen = GREATEST(edges.last_seen, excluded.last_seen)
                """)
            for h in inv.hosts.sorted(by: { $0.address < $1.address }) {
                let ip = t(h.address.text)
                let b = base.hosts[h.address]
                try put(host, [site, ip, time(h.firstSeen), time(h.lastSeen), gain(h.packetsSent, b?.packetsSent), gain(h.packetsReceived, b?.packetsReceived),
                                  gain(h.bytesSent, b?.bytesSent), gain(h.bytesReceived, b?.bytesReceived), gain(h.flowsAsClient, b?.flowsAsClient),
                                  gain(h.flowsAsServer, b?.flowsAsServer), gain(h.peersDropped, b?.peersDropped)])
                for m in h.macs.sorted(by: { $0.mac < $1.mac }) { try put(mac, [site, ip, t(MAC.text(m.mac)), time(m.firstSeen), time(m.lastSeen)]) }
                for (r, e) in h.roles.sorted(by: { $0.key < $1.key }) { try put(role, [site, ip, t(r), u(e.flowID), time(e.timestampNanos), t(e.source)]) }
                for (k, s) in h.services.sorted(by: { $0.key < $1.key }) {
                    try put(service, [site, ip, i(Int64(k.proto)), i(Int64(k.port)), t(s.app), gain(s.flows, base.services[.init(ip: h.address, key: k)]),
                                         time(s.firstSeen), time(s.lastSeen)])
                }
                func identity(_ kind: String, _ id: Int64, _ v: IdentityValue) throws(StoreError) {
                    if !inv.multiValued.contains(v.key) {
                        try put(superseded, [site, ip, t(kind), i(id), t(v.key), t(v.value), time(v.lastSeen)])
                    }
                    try put(ident, [site, ip, t(kind), i(id), t(v.key), t(v.value), time(v.firstSeen), time(v.lastSeen), u(v.evidence.flowID),
                                       time(v.evidence.timestampNanos), t(v.evidence.source)])
                }
                for v in h.identities.sorted(by: { ($0.key, $0.value) < ($1.key, $1.value) }) { try identity("", 0, v) }
                for c in h.children.sorted(by: { ($0.kind, $0.id) < ($1.kind, $1.id) }) {
                    try put(child, [site, ip, t(c.kind), i(Int64(c.id)), time(c.firstSeen), time(c.lastSeen)])
                    for v in c.identities.sorted(by: { ($0.key, $0.value) < ($1.key, $1.value) }) { try identity(c.kind, Int64(c.id), v) }
                }
                if let s = h.stack {
                    try put(stack, [site, ip, t(s.signature), t(s.label), t(s.family), t(s.quality), i(Int64(s.initialTTL)),
                                       i(Int64(s.distance)), i(s.fromSYNACK ? 1 : 0), u(s.evidence.flowID), time(s.evidence.timestampNanos), t(s.evidence.source)])
                }
                // Only the records made since the baseline; one another writer stored already is not repeated.
                for c in h.changes.dropFirst(min(h.changes.count, b?.changes ?? 0)) {
                    try put(change, [site, ip, t(c.kind), time(c.timestampNanos), t(c.key), t(c.oldValue), t(c.newValue), u(c.flowID)])
                }
                for (p, s) in h.peers.sorted(by: { $0.key < $1.key }) {
                    var apps = s.apps
                    if let peerApps {
                        peerApps.bind([site, ip, t(p.text)])
                        if try peerApps.step() { apps.formUnion(peerApps.text(0).split(separator: " ").map(String.init)) }
                    }
                    let was = base.peers[.init(ip: h.address, peer: p)]
                    try put(peer, [site, ip, t(p.text), gain(s.flows, was?.flows), gain(s.bytes, was?.bytes), t(apps.sorted().joined(separator: " "))])
                }
                // This sensor's sighting: what it saw of the host since the baseline.
                let packets = h.packetsSent &+ h.packetsReceived, before = (b?.packetsSent ?? 0) &+ (b?.packetsReceived ?? 0)
                if packets > before, h.runFirstSeen <= h.runLastSeen {
                    try put(sighting, [site, ip, sensor, time(h.runFirstSeen), time(h.runLastSeen), u(packets - before)])
                }
            }
            for (k, e) in inv.edges.sorted(by: { ($0.key.client, $0.key.server, $0.key.service) < ($1.key.client, $1.key.server, $1.key.service) }) {
                let was = base.edges[k]
                try put(edge, [site, t(k.client.text), t(k.server.text), t(k.service), gain(e.flows, was?.flows), gain(e.packets, was?.packets),
                                  gain(e.bytes, was?.bytes), i(Int64(e.operations)), time(e.firstSeen), time(e.lastSeen)])
            }
            // Alert risk, when detection ran (its ledger started from what was stored): the
            // highest risk is the maximum, the sum and the count add what was gained.
            if let accounts {
                let risk = try db.prepare("""
                    INSERT INTO alert_risk VALUES (?,?,?,?,?) ON CONFLICT (site, ip) DO UPDATE SET
                    max_risk = GREATEST(alert_risk.max_risk, excluded.max_risk), sum_risk = alert_risk.sum_risk + excluded.sum_risk,
                    alerts = alert_risk.alerts + excluded.alerts
                    """)
                for a in accounts.sorted(by: { $0.address < $1.address }) {
                    let was = base.risk[a.address]
                    try put(risk, [site, t(a.address.text), i(Int64(a.maxRisk)), i(Int64(max(0, a.sumRisk - (was?.sum ?? 0)))),
                                      i(Int64(max(0, a.alerts - (was?.alerts ?? 0))))])
                }
            }
            if endOfRun {
                let run = try db.prepare("INSERT INTO runs (site, sensor, source, hosts, edges) VALUES (?,?,?,?,?)")
                try put(run, [site, sensor, t(source), i(Int64(inv.hosts.count)), i(Int64(inv.edges.count))])
            }
            try db.flushWrites()
            try db.exec("COMMIT")
        } catch {
            try? db.flushWrites()
            try? db.exec("ROLLBACK")
            throw error
        }
        inv.storeBaseline = StoreBaseline(inv, risk: accounts, keeping: base)
        return rows
    }
}

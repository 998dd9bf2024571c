// UNSAFE BOUNDARY: the only file that calls SQLite's C API (handles and statement pointers).
import CSQLite
import SpanSightEngine
import SpanSightWire

/// One address's alert risk as the store keeps it (the detection ledger's account).
public struct StoredAlertRisk: Sendable, Equatable {
    public var address: IPAddress
    public var maxRisk: Int
    public var sumRisk: Int
    public var alerts: Int
    public init(address: IPAddress, maxRisk: Int, sumRisk: Int, alerts: Int) {
        self.address = address
        self.maxRisk = maxRisk
        self.sumRisk = sumRisk
        self.alerts = alerts
    }
}

public struct StoreError: Error, CustomStringConvertible {
    public let description: String
}

/// A thin typed handle over one SQLite connection.
final class SQLite {
    private var db: OpaquePointer?
    let path: String

    init(path: String) throws(StoreError) {
        self.path = path
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil)
        guard rc == SQLITE_OK, let handle else {
            let msg = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(handle)
            throw StoreError(description: "\(path): \(msg)")
        }
        db = handle
        sqlite3_busy_timeout(handle, 5000)
    }

    deinit { sqlite3_close(db) }

    func exec(_ sql: String) throws(StoreError) {
        var err: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(db, sql, nil, nil, &err) != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "error"
            sqlite3_free(err)
            throw StoreError(description: "\(path): \(msg)")
        }
    }

    final class Statement {
        fileprivate var stmt: OpaquePointer?
        let sql: String
        fileprivate init(_ stmt: OpaquePointer?, _ sql: String) { self.stmt = stmt; self.sql = sql }
        deinit { sqlite3_finalize(stmt) }

        func bind(_ values: [Value]) {
            sqlite3_reset(stmt)
            sqlite3_clear_bindings(stmt)
            for (i, v) in values.enumerated() {
                switch v {
                case .int(let x): sqlite3_bind_int64(stmt, Int32(i + 1), x)
                case .text(let s):
                    let bytes = Array(s.utf8)
                    bytes.withUnsafeBufferPointer { b in
                        b.withMemoryRebound(to: CChar.self) { c in
                            _ = CSQLite_bind_text(stmt, Int32(i + 1), c.baseAddress, Int32(c.count))
                        }
                    }
                case .null: sqlite3_bind_null(stmt, Int32(i + 1))
                }
            }
        }

        /// Steps once: true while rows come.
        func step() throws(StoreError) -> Bool {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_ROW { return true }
            if rc == SQLITE_DONE { return false }
            throw StoreError(description: "sqlite step failed (\(rc)) in: \(sql.prefix(60))")
        }

        func int(_ c: Int) -> Int64 { sqlite3_column_int64(stmt, Int32(c)) }
        func text(_ c: Int) -> String {
            guard let p = sqlite3_column_text(stmt, Int32(c)) else { return "" }
            return String(cString: p)
        }
    }

    enum Value {
        case int(Int64)
        case text(String)
        case null
    }

    func prepare(_ sql: String) throws(StoreError) -> Statement {
        var s: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &s, nil) == SQLITE_OK else {
            throw StoreError(description: "\(path): \(String(cString: sqlite3_errmsg(db))) in: \(sql.prefix(60))")
        }
        return Statement(s, sql)
    }

    func run(_ st: Statement, _ values: [Value]) throws(StoreError) {
        st.bind(values)
        _ = try st.step()
    }
}

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
              let s = num(17..<19), let f = num(20..<29), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61 else { return nil }
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

/// The inventory's embedded store: assets, identities and the map accumulate across runs and
/// live sessions. `load` fills an inventory from the file (one read transaction: a consistent
/// state even while another process writes); `save` merges what the inventory gained since it
/// was loaded or last saved, in one write transaction of upserts: two runs or sensors sharing
/// the file lose nothing of each other's, and a reader never sees half a save.
public enum InventoryStore {
    static let schemaVersion: Int64 = 2
    /// The schema this version writes (older ones are migrated when opened).
    public static var currentSchema: Int64 { schemaVersion }

    static let tables = """
    CREATE TABLE IF NOT EXISTS hosts (ip TEXT PRIMARY KEY, first_seen TEXT, last_seen TEXT,
      packets_sent INTEGER, packets_received INTEGER, bytes_sent INTEGER, bytes_received INTEGER,
      flows_client INTEGER, flows_server INTEGER, peers_dropped INTEGER);
    CREATE TABLE IF NOT EXISTS host_macs (ip TEXT, mac TEXT, first_seen TEXT, last_seen TEXT, PRIMARY KEY (ip, mac));
    CREATE TABLE IF NOT EXISTS roles (ip TEXT, role TEXT, flow_id INTEGER, first_seen TEXT, source TEXT, PRIMARY KEY (ip, role));
    CREATE TABLE IF NOT EXISTS services (ip TEXT, proto INTEGER, port INTEGER, app TEXT, flows INTEGER,
      first_seen TEXT, last_seen TEXT, PRIMARY KEY (ip, proto, port));
    CREATE TABLE IF NOT EXISTS children (ip TEXT, kind TEXT, id INTEGER, first_seen TEXT, last_seen TEXT, PRIMARY KEY (ip, kind, id));
    CREATE TABLE IF NOT EXISTS identities (ip TEXT, child_kind TEXT, child_id INTEGER, key TEXT, value TEXT,
      first_seen TEXT, last_seen TEXT, flow_id INTEGER, evidence_time TEXT, source TEXT,
      PRIMARY KEY (ip, child_kind, child_id, key, value));
    CREATE TABLE IF NOT EXISTS stacks (ip TEXT PRIMARY KEY, signature TEXT, label TEXT, family TEXT, quality TEXT,
      initial_ttl INTEGER, distance INTEGER, from_synack INTEGER, flow_id INTEGER, seen TEXT, source TEXT);
    CREATE TABLE IF NOT EXISTS changes (ip TEXT, seq INTEGER, kind TEXT, ts TEXT, key TEXT, old_value TEXT,
      new_value TEXT, flow_id INTEGER, PRIMARY KEY (ip, seq));
    CREATE TABLE IF NOT EXISTS peers (ip TEXT, peer TEXT, flows INTEGER, bytes INTEGER, apps TEXT, PRIMARY KEY (ip, peer));
    CREATE TABLE IF NOT EXISTS edges (client TEXT, server TEXT, service TEXT, flows INTEGER, packets INTEGER, bytes INTEGER,
      operations INTEGER, first_seen TEXT, last_seen TEXT, PRIMARY KEY (client, server, service));
    CREATE TABLE IF NOT EXISTS runs (seq INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT, hosts INTEGER, edges INTEGER);
    CREATE TABLE IF NOT EXISTS alert_risk (ip TEXT PRIMARY KEY, max_risk INTEGER, sum_risk INTEGER, alerts INTEGER);
    """

    /// Schema 1 → 2: times as ISO-8601 text, MACs as text, an identity keyed by its value too
    /// (schema 1 kept one value per key, losing the others of a multi-valued key such as a
    /// DICOM AE title). Each table is copied into its new form, in one transaction.
    static let migrationFrom1: [(table: String, select: String)] = {
        func iso(_ c: String) -> String {
            "strftime('%Y-%m-%dT%H:%M:%S', \(c) / 1000000000, 'unixepoch') || printf('.%09dZ', \(c) % 1000000000)"
        }
        let mac = "printf('%02x:%02x:%02x:%02x:%02x:%02x', (mac >> 40) & 255, (mac >> 32) & 255, (mac >> 24) & 255, (mac >> 16) & 255, (mac >> 8) & 255, mac & 255)"
        return [
            ("hosts", "ip, \(iso("first_seen")), \(iso("last_seen")), packets_sent, packets_received, bytes_sent, bytes_received, flows_client, flows_server, peers_dropped"),
            ("host_macs", "ip, \(mac), \(iso("first_seen")), \(iso("last_seen"))"),
            ("roles", "ip, role, flow_id, \(iso("first_seen")), source"),
            ("services", "ip, proto, port, app, flows, \(iso("first_seen")), \(iso("last_seen"))"),
            ("children", "ip, kind, id, \(iso("first_seen")), \(iso("last_seen"))"),
            ("identities", "ip, child_kind, child_id, key, value, \(iso("first_seen")), \(iso("last_seen")), flow_id, \(iso("evidence_time")), source"),
            ("stacks", "ip, signature, label, family, quality, initial_ttl, distance, from_synack, flow_id, \(iso("seen")), source"),
            ("changes", "ip, seq, kind, \(iso("ts")), key, old_value, new_value, flow_id"),
            ("edges", "client, server, service, flows, packets, bytes, operations, \(iso("first_seen")), \(iso("last_seen"))"),
        ]
    }()

    /// The schema version a file holds (nil: a new file), read in the caller's transaction.
    static func version(_ db: SQLite) throws(StoreError) -> Int64? {
        let exists = try db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'")
        exists.bind([])
        guard try exists.step() else { return nil }
        let st = try db.prepare("SELECT value FROM meta WHERE key = 'schema_version'")
        st.bind([])
        guard try st.step() else { return nil }
        guard let v = Int64(st.text(0)) else { throw StoreError(description: "\(db.path): inventory schema version '\(st.text(0))' is not a number") }
        return v
    }

    /// Opens the store, creating or migrating its schema (once, in a write transaction, so
    /// that two processes opening an old file migrate it once). `migrated`: told the version
    /// a migrated file had.
    static func open(_ path: String, migrated: ((Int64) -> Void)? = nil) throws(StoreError) -> SQLite {
        let db = try SQLite(path: path)
        // Write-ahead logging: a reader (`assets --db`) never waits for, nor sees half of, a
        // sensor's save; a save killed part-way is rolled back at the next open.
        try db.exec("PRAGMA journal_mode=WAL")
        if try version(db) == schemaVersion { return db }
        try db.exec("BEGIN IMMEDIATE")
        do throws(StoreError) {
            switch try version(db) {
            case nil:
                try db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                try db.exec(tables)
                try db.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '\(schemaVersion)')")
            case 1?:
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
                    throw StoreError(description: "\(path): inventory schema version \(v), this SpanSight reads \(schemaVersion) (and migrates 1)")
                }
            }
            try db.exec("COMMIT")
        } catch {
            try? db.exec("ROLLBACK")
            throw error
        }
        return db
    }

    static func u(_ v: UInt64) -> SQLite.Value { .int(Int64(bitPattern: v)) }
    static func i(_ v: Int64) -> SQLite.Value { .int(v) }
    static func t(_ s: String) -> SQLite.Value { .text(s) }
    static func time(_ nanos: Int64) -> SQLite.Value { .text(StoreTime.text(nanos)) }
    /// What the inventory gained since the baseline (counters never go back; a baseline above
    /// the value, which cannot happen, counts as nothing gained).
    static func gain(_ now: UInt64, _ then: UInt64?) -> SQLite.Value { u(now >= (then ?? 0) ? now - (then ?? 0) : 0) }

    /// The alert risk the store holds per address (detection restores it before any traffic).
    public static func loadAlertRisk(_ path: String) throws(StoreError) -> [StoredAlertRisk] {
        let db = try open(path)
        return try alertRisk(db)
    }

    static func alertRisk(_ db: SQLite) throws(StoreError) -> [StoredAlertRisk] {
        let st = try db.prepare("SELECT ip, max_risk, sum_risk, alerts FROM alert_risk ORDER BY ip")
        st.bind([])
        var out: [StoredAlertRisk] = []
        while try st.step() {
            guard let ip = IPAddress(st.text(0)) else { continue }
            out.append(StoredAlertRisk(address: ip, maxRisk: Int(st.int(1)), sumRisk: Int(st.int(2)), alerts: Int(st.int(3))))
        }
        return out
    }

    /// Fills `inv` (before any traffic) with what the store holds, read in one transaction.
    /// `migrated`: told the schema version of a file this open migrated.
    public static func load(_ path: String, into inv: Inventory, migrated: ((Int64) -> Void)? = nil) throws(StoreError) {
        let db = try open(path, migrated: migrated)
        try db.exec("BEGIN")
        defer { try? db.exec("COMMIT") }
        func when(_ st: SQLite.Statement, _ c: Int) -> Int64 { StoreTime.nanos(st.text(c)) ?? 0 }
        let hs = try db.prepare("SELECT ip, first_seen, last_seen, packets_sent, packets_received, bytes_sent, bytes_received, flows_client, flows_server, peers_dropped FROM hosts ORDER BY rowid")
        hs.bind([])
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
        func each(_ sql: String, _ body: (SQLite.Statement, Int) -> Void) throws(StoreError) {
            let st = try db.prepare(sql)
            st.bind([])
            while try st.step() {
                guard let ip = IPAddress(st.text(0)), let k = inv.index[ip] else { continue }
                body(st, k)
            }
        }
        try each("SELECT ip, mac, first_seen, last_seen FROM host_macs ORDER BY ip, first_seen") { st, k in
            guard let mac = MAC.parse(st.text(1)) else { return }
            inv.restoreMAC(k, MACSighting(mac: mac, firstSeen: when(st, 2), lastSeen: when(st, 3)))
        }
        try each("SELECT ip, role, flow_id, first_seen, source FROM roles") { st, k in
            inv.hosts[k].roles[st.text(1)] = Evidence(flowID: UInt64(bitPattern: st.int(2)), timestampNanos: when(st, 3), source: st.text(4))
        }
        try each("SELECT ip, proto, port, app, flows, first_seen, last_seen FROM services") { st, k in
            inv.hosts[k].services[ServiceKey(proto: UInt8(truncatingIfNeeded: st.int(1)), port: UInt16(truncatingIfNeeded: st.int(2)))] =
                ServiceStats(app: st.text(3), flows: UInt64(bitPattern: st.int(4)), firstSeen: when(st, 5), lastSeen: when(st, 6))
        }
        try each("SELECT ip, kind, id, first_seen, last_seen FROM children ORDER BY ip, kind, id") { st, k in
            guard inv.hosts[k].children.count < inv.config.maxChildrenPerHost else { return }
            inv.hosts[k].children.append(ChildDevice(kind: st.text(1), id: UInt32(truncatingIfNeeded: st.int(2)), firstSeen: when(st, 3), lastSeen: when(st, 4)))
        }
        // Newest first, so that of a single-valued key the latest value is the one kept (two
        // writers may each have stored theirs).
        try each("SELECT ip, child_kind, child_id, key, value, first_seen, last_seen, flow_id, evidence_time, source FROM identities ORDER BY ip, last_seen DESC, key") { st, k in
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
        try each("SELECT ip, signature, label, family, quality, initial_ttl, distance, from_synack, flow_id, seen, source FROM stacks") { st, k in
            inv.hosts[k].stack = StackObservation(signature: st.text(1), label: st.text(2), family: st.text(3), quality: st.text(4),
                                                  initialTTL: Int(st.int(5)), distance: Int(st.int(6)), fromSYNACK: st.int(7) != 0,
                                                  evidence: Evidence(flowID: UInt64(bitPattern: st.int(8)), timestampNanos: when(st, 9), source: st.text(10)))
        }
        // The most recent records within the per-host cap, oldest first.
        try each("SELECT ip, kind, ts, key, old_value, new_value, flow_id FROM changes ORDER BY ip, seq DESC") { st, k in
            guard inv.hosts[k].changes.count < inv.config.maxChangesPerHost else { return }
            inv.hosts[k].changes.insert(ChangeRecord(kind: st.text(1), timestampNanos: when(st, 2), key: st.text(3), oldValue: st.text(4),
                                                     newValue: st.text(5), flowID: UInt64(bitPattern: st.int(6))), at: 0)
        }
        try each("SELECT ip, peer, flows, bytes, apps FROM peers") { st, k in
            guard let peer = IPAddress(st.text(1)), inv.hosts[k].peers.count < inv.config.maxPeersPerHost else { return }
            inv.hosts[k].peers[peer] = PeerStats(flows: UInt64(bitPattern: st.int(2)), bytes: UInt64(bitPattern: st.int(3)),
                                                 apps: Set(st.text(4).split(separator: " ").map(String.init)))
        }
        let es = try db.prepare("SELECT client, server, service, flows, packets, bytes, operations, first_seen, last_seen FROM edges")
        es.bind([])
        while try es.step() {
            guard let c = IPAddress(es.text(0)), let s = IPAddress(es.text(1)) else { continue }
            inv.restoreEdge(EdgeKey(client: c, server: s, service: es.text(2)),
                            EdgeStats(flows: UInt64(bitPattern: es.int(3)), packets: UInt64(bitPattern: es.int(4)), bytes: UInt64(bitPattern: es.int(5)),
                                      operations: UInt16(truncatingIfNeeded: es.int(6)), firstSeen: when(es, 7), lastSeen: when(es, 8)))
        }
        inv.recharge()
        let risk = try alertRisk(db)
        inv.storedAlertRisk = risk
        inv.storeBaseline = StoreBaseline(inv, risk: risk, keeping: nil)
    }

    /// Merges what `inv` gained since it was loaded or last saved into the store, in one
    /// transaction of upserts (nothing is deleted but a single-valued identity's superseded
    /// value). `endOfRun`: a row in `runs` records the run (periodic saves of a live run add
    /// none).
    public static func save(_ path: String, _ inv: Inventory, source: String, endOfRun: Bool = true) throws(StoreError) {
        let db = try open(path)
        let base = inv.storeBaseline ?? StoreBaseline()
        let accounts = inv.alertRiskAccounts?()
        try db.exec("BEGIN IMMEDIATE")
        do {
            let host = try db.prepare("""
                INSERT INTO hosts VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (ip) DO UPDATE SET
                first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen),
                packets_sent = packets_sent + excluded.packets_sent, packets_received = packets_received + excluded.packets_received,
                bytes_sent = bytes_sent + excluded.bytes_sent, bytes_received = bytes_received + excluded.bytes_received,
                flows_client = flows_client + excluded.flows_client, flows_server = flows_server + excluded.flows_server,
                peers_dropped = peers_dropped + excluded.peers_dropped
                """)
            let mac = try db.prepare("""
                INSERT INTO host_macs VALUES (?,?,?,?) ON CONFLICT (ip, mac) DO UPDATE SET
                first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen)
                """)
            let role = try db.prepare("""
                INSERT INTO roles VALUES (?,?,?,?,?) ON CONFLICT (ip, role) DO UPDATE SET
                flow_id = excluded.flow_id, first_seen = excluded.first_seen, source = excluded.source
                WHERE excluded.first_seen < roles.first_seen
                """)
            let service = try db.prepare("""
                INSERT INTO services VALUES (?,?,?,?,?,?,?) ON CONFLICT (ip, proto, port) DO UPDATE SET
                app = CASE WHEN excluded.app <> '' THEN excluded.app ELSE app END, flows = flows + excluded.flows,
                first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen)
                """)
            let child = try db.prepare("""
                INSERT INTO children VALUES (?,?,?,?,?) ON CONFLICT (ip, kind, id) DO UPDATE SET
                first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen)
                """)
            let ident = try db.prepare("""
                INSERT INTO identities VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (ip, child_kind, child_id, key, value) DO UPDATE SET
                flow_id = CASE WHEN excluded.first_seen < first_seen THEN excluded.flow_id ELSE flow_id END,
                evidence_time = CASE WHEN excluded.first_seen < first_seen THEN excluded.evidence_time ELSE evidence_time END,
                source = CASE WHEN excluded.first_seen < first_seen THEN excluded.source ELSE source END,
                first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen)
                """)
            // A single-valued key's other values that were last seen before this one: superseded.
            let superseded = try db.prepare("""
                DELETE FROM identities WHERE ip = ? AND child_kind = ? AND child_id = ? AND key = ? AND value <> ? AND last_seen <= ?
                """)
            let stack = try db.prepare("""
                INSERT INTO stacks VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (ip) DO UPDATE SET
                signature = excluded.signature, label = excluded.label, family = excluded.family, quality = excluded.quality,
                initial_ttl = excluded.initial_ttl, distance = excluded.distance, from_synack = excluded.from_synack,
                flow_id = excluded.flow_id, seen = excluded.seen, source = excluded.source WHERE excluded.seen >= stacks.seen
                """)
            let change = try db.prepare("""
                INSERT INTO changes SELECT ?1, COALESCE((SELECT MAX(seq) + 1 FROM changes WHERE ip = ?1), 0), ?2, ?3, ?4, ?5, ?6, ?7
                WHERE NOT EXISTS (SELECT 1 FROM changes WHERE ip = ?1 AND kind = ?2 AND ts = ?3 AND key = ?4 AND old_value = ?5 AND new_value = ?6)
                """)
            let peerApps = try db.prepare("SELECT apps FROM peers WHERE ip = ? AND peer = ?")
            let peer = try db.prepare("""
                INSERT INTO peers VALUES (?,?,?,?,?) ON CONFLICT (ip, peer) DO UPDATE SET
                flows = flows + excluded.flows, bytes = bytes + excluded.bytes, apps = excluded.apps
                """)
            let edge = try db.prepare("""
                INSERT INTO edges VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (client, server, service) DO UPDATE SET
                flows = flows + excluded.flows, packets = packets + excluded.packets, bytes = bytes + excluded.bytes,
                operations = operations | excluded.operations,
                first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen)
                """)
            for h in inv.hosts {
                let ip = t(h.address.text)
                let b = base.hosts[h.address]
                try db.run(host, [ip, time(h.firstSeen), time(h.lastSeen), gain(h.packetsSent, b?.packetsSent), gain(h.packetsReceived, b?.packetsReceived),
                                  gain(h.bytesSent, b?.bytesSent), gain(h.bytesReceived, b?.bytesReceived), gain(h.flowsAsClient, b?.flowsAsClient),
                                  gain(h.flowsAsServer, b?.flowsAsServer), gain(h.peersDropped, b?.peersDropped)])
                for m in h.macs { try db.run(mac, [ip, t(MAC.text(m.mac)), time(m.firstSeen), time(m.lastSeen)]) }
                for (r, e) in h.roles { try db.run(role, [ip, t(r), u(e.flowID), time(e.timestampNanos), t(e.source)]) }
                for (k, s) in h.services {
                    try db.run(service, [ip, i(Int64(k.proto)), i(Int64(k.port)), t(s.app), gain(s.flows, base.services[.init(ip: h.address, key: k)]),
                                         time(s.firstSeen), time(s.lastSeen)])
                }
                func identity(_ kind: String, _ id: Int64, _ v: IdentityValue) throws(StoreError) {
                    if !inv.multiValued.contains(v.key) {
                        try db.run(superseded, [ip, t(kind), i(id), t(v.key), t(v.value), time(v.lastSeen)])
                    }
                    try db.run(ident, [ip, t(kind), i(id), t(v.key), t(v.value), time(v.firstSeen), time(v.lastSeen), u(v.evidence.flowID),
                                       time(v.evidence.timestampNanos), t(v.evidence.source)])
                }
                for v in h.identities { try identity("", 0, v) }
                for c in h.children {
                    try db.run(child, [ip, t(c.kind), i(Int64(c.id)), time(c.firstSeen), time(c.lastSeen)])
                    for v in c.identities { try identity(c.kind, Int64(c.id), v) }
                }
                if let s = h.stack {
                    try db.run(stack, [ip, t(s.signature), t(s.label), t(s.family), t(s.quality), i(Int64(s.initialTTL)),
                                       i(Int64(s.distance)), i(s.fromSYNACK ? 1 : 0), u(s.evidence.flowID), time(s.evidence.timestampNanos), t(s.evidence.source)])
                }
                // Only the records made since the baseline; one another writer stored already is not repeated.
                for c in h.changes.dropFirst(min(h.changes.count, b?.changes ?? 0)) {
                    try db.run(change, [ip, t(c.kind), time(c.timestampNanos), t(c.key), t(c.oldValue), t(c.newValue), u(c.flowID)])
                }
                for (p, s) in h.peers {
                    var apps = s.apps
                    peerApps.bind([ip, t(p.text)])
                    if try peerApps.step() { apps.formUnion(peerApps.text(0).split(separator: " ").map(String.init)) }
                    let was = base.peers[.init(ip: h.address, peer: p)]
                    try db.run(peer, [ip, t(p.text), gain(s.flows, was?.flows), gain(s.bytes, was?.bytes), t(apps.sorted().joined(separator: " "))])
                }
            }
            for (k, e) in inv.edges {
                let was = base.edges[k]
                try db.run(edge, [t(k.client.text), t(k.server.text), t(k.service), gain(e.flows, was?.flows), gain(e.packets, was?.packets),
                                  gain(e.bytes, was?.bytes), i(Int64(e.operations)), time(e.firstSeen), time(e.lastSeen)])
            }
            // Alert risk, when detection ran (its ledger started from what was stored): the
            // highest risk is the maximum, the sum and the count add what was gained.
            if let accounts {
                let risk = try db.prepare("""
                    INSERT INTO alert_risk VALUES (?,?,?,?) ON CONFLICT (ip) DO UPDATE SET
                    max_risk = MAX(max_risk, excluded.max_risk), sum_risk = sum_risk + excluded.sum_risk, alerts = alerts + excluded.alerts
                    """)
                for a in accounts {
                    let was = base.risk[a.address]
                    try db.run(risk, [t(a.address.text), i(Int64(a.maxRisk)), i(Int64(max(0, a.sumRisk - (was?.sum ?? 0)))),
                                      i(Int64(max(0, a.alerts - (was?.alerts ?? 0))))])
                }
            }
            if endOfRun {
                let run = try db.prepare("INSERT INTO runs (source, hosts, edges) VALUES (?,?,?)")
                try db.run(run, [t(source), i(Int64(inv.hosts.count)), i(Int64(inv.edges.count))])
            }
            try db.exec("COMMIT")
        } catch {
            try? db.exec("ROLLBACK")
            throw error
        }
        inv.storeBaseline = StoreBaseline(inv, risk: accounts, keeping: base)
    }
}

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

/// The inventory's embedded store: assets, identities and the map accumulate across runs and
/// live sessions. `load` fills an inventory from the file; `save` writes its whole state back
/// in one transaction (the inventory holds the merge of what was stored and what was seen).
public enum InventoryStore {
    static let schemaVersion: Int64 = 1

    static let schema = """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS hosts (ip TEXT PRIMARY KEY, first_seen INTEGER, last_seen INTEGER,
      packets_sent INTEGER, packets_received INTEGER, bytes_sent INTEGER, bytes_received INTEGER,
      flows_client INTEGER, flows_server INTEGER, peers_dropped INTEGER);
    CREATE TABLE IF NOT EXISTS host_macs (ip TEXT, mac INTEGER, first_seen INTEGER, last_seen INTEGER, PRIMARY KEY (ip, mac));
    CREATE TABLE IF NOT EXISTS roles (ip TEXT, role TEXT, flow_id INTEGER, first_seen INTEGER, source TEXT, PRIMARY KEY (ip, role));
    CREATE TABLE IF NOT EXISTS services (ip TEXT, proto INTEGER, port INTEGER, app TEXT, flows INTEGER,
      first_seen INTEGER, last_seen INTEGER, PRIMARY KEY (ip, proto, port));
    CREATE TABLE IF NOT EXISTS children (ip TEXT, kind TEXT, id INTEGER, first_seen INTEGER, last_seen INTEGER, PRIMARY KEY (ip, kind, id));
    CREATE TABLE IF NOT EXISTS identities (ip TEXT, child_kind TEXT, child_id INTEGER, key TEXT, value TEXT,
      first_seen INTEGER, last_seen INTEGER, flow_id INTEGER, evidence_time INTEGER, source TEXT,
      PRIMARY KEY (ip, child_kind, child_id, key));
    CREATE TABLE IF NOT EXISTS stacks (ip TEXT PRIMARY KEY, signature TEXT, label TEXT, family TEXT, quality TEXT,
      initial_ttl INTEGER, distance INTEGER, from_synack INTEGER, flow_id INTEGER, seen INTEGER, source TEXT);
    CREATE TABLE IF NOT EXISTS changes (ip TEXT, seq INTEGER, kind TEXT, ts INTEGER, key TEXT, old_value TEXT,
      new_value TEXT, flow_id INTEGER, PRIMARY KEY (ip, seq));
    CREATE TABLE IF NOT EXISTS peers (ip TEXT, peer TEXT, flows INTEGER, bytes INTEGER, apps TEXT, PRIMARY KEY (ip, peer));
    CREATE TABLE IF NOT EXISTS edges (client TEXT, server TEXT, service TEXT, flows INTEGER, packets INTEGER, bytes INTEGER,
      operations INTEGER, first_seen INTEGER, last_seen INTEGER, PRIMARY KEY (client, server, service));
    CREATE TABLE IF NOT EXISTS runs (seq INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT, hosts INTEGER, edges INTEGER);
    CREATE TABLE IF NOT EXISTS alert_risk (ip TEXT PRIMARY KEY, max_risk INTEGER, sum_risk INTEGER, alerts INTEGER);
    """

    static func open(_ path: String) throws(StoreError) -> SQLite {
        let db = try SQLite(path: path)
        // Write-ahead logging: a reader (`assets --db`) never waits for, nor sees half of, a
        // sensor's save; a save killed part-way is rolled back at the next open.
        try db.exec("PRAGMA journal_mode=WAL")
        try db.exec(schema)
        let st = try db.prepare("SELECT value FROM meta WHERE key = 'schema_version'")
        st.bind([])
        if try st.step() {
            guard Int64(st.text(0)) == schemaVersion else {
                throw StoreError(description: "\(path): inventory schema version \(st.text(0)), this SpanSight reads \(schemaVersion)")
            }
        } else {
            try db.exec("INSERT INTO meta (key, value) VALUES ('schema_version', '\(schemaVersion)')")
        }
        return db
    }

    static func u(_ v: UInt64) -> SQLite.Value { .int(Int64(bitPattern: v)) }
    static func i(_ v: Int64) -> SQLite.Value { .int(v) }
    static func t(_ s: String) -> SQLite.Value { .text(s) }

    /// The alert risk the store holds per address (detection restores it before any traffic).
    public static func loadAlertRisk(_ path: String) throws(StoreError) -> [StoredAlertRisk] {
        let db = try open(path)
        let st = try db.prepare("SELECT ip, max_risk, sum_risk, alerts FROM alert_risk ORDER BY ip")
        st.bind([])
        var out: [StoredAlertRisk] = []
        while try st.step() {
            guard let ip = IPAddress(st.text(0)) else { continue }
            out.append(StoredAlertRisk(address: ip, maxRisk: Int(st.int(1)), sumRisk: Int(st.int(2)), alerts: Int(st.int(3))))
        }
        return out
    }

    /// Fills `inv` (before any traffic) with what the store holds.
    public static func load(_ path: String, into inv: Inventory) throws(StoreError) {
        let db = try open(path)
        let hs = try db.prepare("SELECT ip, first_seen, last_seen, packets_sent, packets_received, bytes_sent, bytes_received, flows_client, flows_server, peers_dropped FROM hosts ORDER BY rowid")
        hs.bind([])
        while try hs.step() {
            guard let ip = IPAddress(hs.text(0)) else { continue }
            var h = HostRecord(address: ip, at: hs.int(1))
            h.lastSeen = hs.int(2)
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
            inv.restoreMAC(k, MACSighting(mac: UInt64(bitPattern: st.int(1)), firstSeen: st.int(2), lastSeen: st.int(3)))
        }
        try each("SELECT ip, role, flow_id, first_seen, source FROM roles") { st, k in
            inv.hosts[k].roles[st.text(1)] = Evidence(flowID: UInt64(bitPattern: st.int(2)), timestampNanos: st.int(3), source: st.text(4))
        }
        try each("SELECT ip, proto, port, app, flows, first_seen, last_seen FROM services") { st, k in
            inv.hosts[k].services[ServiceKey(proto: UInt8(truncatingIfNeeded: st.int(1)), port: UInt16(truncatingIfNeeded: st.int(2)))] =
                ServiceStats(app: st.text(3), flows: UInt64(bitPattern: st.int(4)), firstSeen: st.int(5), lastSeen: st.int(6))
        }
        try each("SELECT ip, kind, id, first_seen, last_seen FROM children ORDER BY ip, kind, id") { st, k in
            inv.hosts[k].children.append(ChildDevice(kind: st.text(1), id: UInt32(truncatingIfNeeded: st.int(2)), firstSeen: st.int(3), lastSeen: st.int(4)))
        }
        try each("SELECT ip, child_kind, child_id, key, value, first_seen, last_seen, flow_id, evidence_time, source FROM identities ORDER BY ip, first_seen, key") { st, k in
            let v = IdentityValue(key: st.text(3), value: st.text(4), firstSeen: st.int(5), lastSeen: st.int(6),
                                  evidence: Evidence(flowID: UInt64(bitPattern: st.int(7)), timestampNanos: st.int(8), source: st.text(9)))
            let kind = st.text(1)
            if kind.isEmpty {
                inv.hosts[k].identities.append(v)
            } else if let c = inv.hosts[k].children.firstIndex(where: { $0.kind == kind && $0.id == UInt32(truncatingIfNeeded: st.int(2)) }) {
                inv.hosts[k].children[c].identities.append(v)
            }
        }
        try each("SELECT ip, signature, label, family, quality, initial_ttl, distance, from_synack, flow_id, seen, source FROM stacks") { st, k in
            inv.hosts[k].stack = StackObservation(signature: st.text(1), label: st.text(2), family: st.text(3), quality: st.text(4),
                                                  initialTTL: Int(st.int(5)), distance: Int(st.int(6)), fromSYNACK: st.int(7) != 0,
                                                  evidence: Evidence(flowID: UInt64(bitPattern: st.int(8)), timestampNanos: st.int(9), source: st.text(10)))
        }
        try each("SELECT ip, kind, ts, key, old_value, new_value, flow_id FROM changes ORDER BY ip, seq") { st, k in
            inv.hosts[k].changes.append(ChangeRecord(kind: st.text(1), timestampNanos: st.int(2), key: st.text(3), oldValue: st.text(4),
                                                     newValue: st.text(5), flowID: UInt64(bitPattern: st.int(6))))
        }
        try each("SELECT ip, peer, flows, bytes, apps FROM peers") { st, k in
            guard let peer = IPAddress(st.text(1)) else { return }
            inv.hosts[k].peers[peer] = PeerStats(flows: UInt64(bitPattern: st.int(2)), bytes: UInt64(bitPattern: st.int(3)),
                                                 apps: Set(st.text(4).split(separator: " ").map(String.init)))
        }
        let es = try db.prepare("SELECT client, server, service, flows, packets, bytes, operations, first_seen, last_seen FROM edges")
        es.bind([])
        while try es.step() {
            guard let c = IPAddress(es.text(0)), let s = IPAddress(es.text(1)) else { continue }
            inv.restoreEdge(EdgeKey(client: c, server: s, service: es.text(2)),
                            EdgeStats(flows: UInt64(bitPattern: es.int(3)), packets: UInt64(bitPattern: es.int(4)), bytes: UInt64(bitPattern: es.int(5)),
                                      operations: UInt16(truncatingIfNeeded: es.int(6)), firstSeen: es.int(7), lastSeen: es.int(8)))
        }
        inv.recharge()
    }

    /// Writes the inventory's whole state (replacing what the store held) in one transaction.
    /// `endOfRun`: a row in `runs` records the run (periodic saves of a live run add none).
    public static func save(_ path: String, _ inv: Inventory, source: String, endOfRun: Bool = true) throws(StoreError) {
        let db = try open(path)
        try db.exec("BEGIN IMMEDIATE")
        do {
            for table in ["hosts", "host_macs", "roles", "services", "children", "identities", "stacks", "changes", "peers", "edges"] {
                try db.exec("DELETE FROM \(table)")
            }
            let host = try db.prepare("INSERT INTO hosts VALUES (?,?,?,?,?,?,?,?,?,?)")
            let mac = try db.prepare("INSERT INTO host_macs VALUES (?,?,?,?)")
            let role = try db.prepare("INSERT INTO roles VALUES (?,?,?,?,?)")
            let service = try db.prepare("INSERT INTO services VALUES (?,?,?,?,?,?,?)")
            let child = try db.prepare("INSERT INTO children VALUES (?,?,?,?,?)")
            let ident = try db.prepare("INSERT OR REPLACE INTO identities VALUES (?,?,?,?,?,?,?,?,?,?)")
            let stack = try db.prepare("INSERT INTO stacks VALUES (?,?,?,?,?,?,?,?,?,?,?)")
            let change = try db.prepare("INSERT INTO changes VALUES (?,?,?,?,?,?,?,?)")
            let peer = try db.prepare("INSERT INTO peers VALUES (?,?,?,?,?)")
            let edge = try db.prepare("INSERT INTO edges VALUES (?,?,?,?,?,?,?,?,?)")
            for h in inv.hosts {
                let ip = t(h.address.text)
                try db.run(host, [ip, i(h.firstSeen), i(h.lastSeen), u(h.packetsSent), u(h.packetsReceived), u(h.bytesSent),
                                  u(h.bytesReceived), u(h.flowsAsClient), u(h.flowsAsServer), u(h.peersDropped)])
                for m in h.macs { try db.run(mac, [ip, u(m.mac), i(m.firstSeen), i(m.lastSeen)]) }
                for (r, e) in h.roles { try db.run(role, [ip, t(r), u(e.flowID), i(e.timestampNanos), t(e.source)]) }
                for (k, s) in h.services {
                    try db.run(service, [ip, i(Int64(k.proto)), i(Int64(k.port)), t(s.app), u(s.flows), i(s.firstSeen), i(s.lastSeen)])
                }
                for v in h.identities {
                    try db.run(ident, [ip, t(""), i(0), t(v.key), t(v.value), i(v.firstSeen), i(v.lastSeen), u(v.evidence.flowID),
                                       i(v.evidence.timestampNanos), t(v.evidence.source)])
                }
                for c in h.children {
                    try db.run(child, [ip, t(c.kind), i(Int64(c.id)), i(c.firstSeen), i(c.lastSeen)])
                    for v in c.identities {
                        try db.run(ident, [ip, t(c.kind), i(Int64(c.id)), t(v.key), t(v.value), i(v.firstSeen), i(v.lastSeen),
                                           u(v.evidence.flowID), i(v.evidence.timestampNanos), t(v.evidence.source)])
                    }
                }
                if let s = h.stack {
                    try db.run(stack, [ip, t(s.signature), t(s.label), t(s.family), t(s.quality), i(Int64(s.initialTTL)),
                                       i(Int64(s.distance)), i(s.fromSYNACK ? 1 : 0), u(s.evidence.flowID), i(s.evidence.timestampNanos), t(s.evidence.source)])
                }
                for (n, c) in h.changes.enumerated() {
                    try db.run(change, [ip, i(Int64(n)), t(c.kind), i(c.timestampNanos), t(c.key), t(c.oldValue), t(c.newValue), u(c.flowID)])
                }
                for (p, s) in h.peers {
                    try db.run(peer, [ip, t(p.text), u(s.flows), u(s.bytes), t(s.apps.sorted().joined(separator: " "))])
                }
            }
            for (k, e) in inv.edges {
                try db.run(edge, [t(k.client.text), t(k.server.text), t(k.service), u(e.flows), u(e.packets), u(e.bytes),
                                  i(Int64(e.operations)), i(e.firstSeen), i(e.lastSeen)])
            }
            // Alert risk: replaced when detection ran (its ledger started from what was stored),
            // kept as it was otherwise.
            if let accounts = inv.alertRiskAccounts?() {
                try db.exec("DELETE FROM alert_risk")
                let risk = try db.prepare("INSERT INTO alert_risk VALUES (?,?,?,?)")
                for a in accounts {
                    try db.run(risk, [t(a.address.text), i(Int64(a.maxRisk)), i(Int64(a.sumRisk)), i(Int64(a.alerts))])
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
    }
}

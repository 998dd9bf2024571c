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
    /// Trying again later may succeed (a server that is away, a deadlock the server broke).
    public var transient = false
    /// Trying again at once may succeed (a deadlock or serialisation failure, a busy file):
    /// a save does, twice. A server that is away is left to the next save.
    var retryNow = false
}

/// A thin typed handle over one SQLite connection.
final class SQLite: StoreConnection {
    private var db: OpaquePointer?
    let path: String
    var label: String { path }
    var dialect: StoreDialect { .sqlite }

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
        // Another writer's save holds the file for that long at most before ours gives up
        // (and is tried again: a busy store is transient).
        sqlite3_busy_timeout(handle, 30_000)
    }

    deinit { sqlite3_close(db) }

    func execRaw(_ sql: String) throws(StoreError) {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "error"
            sqlite3_free(err)
            throw StoreError(description: "\(path): \(msg)", transient: rc == SQLITE_BUSY || rc == SQLITE_LOCKED, retryNow: rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        }
    }

    final class Statement: StoreStatement {
        fileprivate var stmt: OpaquePointer?
        let sql: String
        fileprivate init(_ stmt: OpaquePointer?, _ sql: String) { self.stmt = stmt; self.sql = sql }
        deinit { sqlite3_finalize(stmt) }

        func bind(_ values: [StoreValue]) {
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
            throw StoreError(description: "sqlite step failed (\(rc)) in: \(sql.prefix(60))", transient: rc == SQLITE_BUSY || rc == SQLITE_LOCKED, retryNow: rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        }

        func int(_ c: Int) -> Int64 { sqlite3_column_int64(stmt, Int32(c)) }
        func text(_ c: Int) -> String {
            guard let p = sqlite3_column_text(stmt, Int32(c)) else { return "" }
            return String(cString: p)
        }
    }

    func prepareRaw(_ sql: String) throws(StoreError) -> any StoreStatement {
        var s: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &s, nil) == SQLITE_OK else {
            throw StoreError(description: "\(path): \(String(cString: sqlite3_errmsg(db))) in: \(sql.prefix(60))")
        }
        return Statement(s, sql)
    }
}


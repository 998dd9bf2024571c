// UNSAFE: libpq's connection and result handles are C pointers; parameters are passed as an
// array of C strings that lives for the call.
import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// A connection to PostgreSQL through libpq (synchronous: the store is saved from the
/// persister's own thread or at the end of a run). Parameters and results in text form.
final class Postgres: StoreConnection {
    private let conn: OpaquePointer
    let label: String
    var dialect: StoreDialect { .postgres }

    /// `url`: postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DB[?...] as libpq reads it.
    init(url: String) throws(StoreError) {
        label = Postgres.withoutPassword(url)
        // A server whose address drops packets must not hold a save (and the capture) for
        // minutes: 5 s to connect unless the URL says otherwise.
        let withTimeout = url.contains("connect_timeout=") ? url : url + (url.contains("?") ? "&" : "?") + "connect_timeout=5"
        guard let c = PQconnectdb(withTimeout) else { throw StoreError(description: "\(label): cannot allocate a connection", transient: true) }
        guard PQstatus(c) == CONNECTION_OK else {
            let why = Postgres.firstLine(PQerrorMessage(c))
            PQfinish(c)
            throw StoreError(description: "\(label): \(why)", transient: true)
        }
        conn = c
        CLibPQ_quiet(c)
    }

    deinit { PQfinish(conn) }

    /// The URL as messages show it: a password replaced by "***".
    static func withoutPassword(_ url: String) -> String {
        var shown = url
        if let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") {
            let userinfo = url[scheme.upperBound..<at]
            if let colon = userinfo.firstIndex(of: ":") { shown = String(url[..<colon]) + ":***" + String(url[at...]) }
        }
        // A password given as a parameter (?password=...).
        if let q = shown.firstIndex(of: "?") {
            let params = shown[shown.index(after: q)...].split(separator: "&", omittingEmptySubsequences: false).map {
                $0.hasPrefix("password=") ? "password=***" : String($0)
            }
            shown = String(shown[...q]) + params.joined(separator: "&")
        }
        return shown
    }

    static func firstLine(_ p: UnsafePointer<CChar>?) -> String {
        guard let p else { return "unknown error" }
        let s = String(cString: p)
        let line = s.split(separator: "\n").first ?? "unknown error"
        return String(line.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }

    /// A failed result as an error: its message, and whether trying again may succeed (a
    /// deadlock, a serialisation failure, a connection that went away).
    func failure(_ r: OpaquePointer?, _ sql: String) -> StoreError {
        let state = r.flatMap { CLibPQ_sqlstate($0) }.map { String(cString: $0) } ?? ""
        let message = r.map { Postgres.firstLine(PQresultErrorMessage($0)) } ?? Postgres.firstLine(PQerrorMessage(conn))
        let lost = PQstatus(conn) != CONNECTION_OK
        let conflict = state == "40P01" || state == "40001" || state == "23505"
        return StoreError(description: "\(label): \(lost ? "connection lost: " : "")\(message)\(lost ? "" : " in: \(sql.prefix(60))")",
                          transient: lost || conflict, retryNow: conflict && !lost)
    }

    func execRaw(_ sql: String) throws(StoreError) {
        let r = PQexec(conn, sql)
        defer { PQclear(r) }
        let status = r.map { PQresultStatus($0) } ?? PGRES_FATAL_ERROR
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else { throw failure(r, sql) }
    }

    func prepareRaw(_ sql: String) throws(StoreError) -> any StoreStatement { Statement(self, sql) }

    /// Writes sent in pipeline mode and not yet read back; drained every `batch`, so that
    /// neither side's buffers fill while the other waits (a blocking client must read).
    private var pending = 0
    private let batch = 256

    func write(_ st: any StoreStatement, _ values: [StoreValue]) throws(StoreError) {
        guard let st = st as? Statement else { return try run(st, values) }
        if PQpipelineStatus(conn) == PQ_PIPELINE_OFF {
            guard PQenterPipelineMode(conn) == 1 else { throw failure(nil, "pipeline mode") }
        }
        let sent = withCStrings(st.texts(values)) { p in PQsendQueryParams(conn, st.sql, Int32(values.count), nil, p, nil, nil, 0) }
        guard sent == 1 else { throw failure(nil, st.sql) }
        pending += 1
        if pending >= batch { try drain() }
    }

    func flushWrites() throws(StoreError) {
        guard PQpipelineStatus(conn) != PQ_PIPELINE_OFF else { return }
        defer { PQexitPipelineMode(conn) }
        try drain()
    }

    /// A sync point, then every result up to it; the first failure is thrown (the server
    /// skips the statements after it up to the sync: the transaction is to be rolled back).
    private func drain() throws(StoreError) {
        guard pending > 0 else { return }
        pending = 0
        guard PQpipelineSync(conn) == 1 else { throw failure(nil, "pipeline sync") }
        var first: StoreError?
        var nulls = 0
        while true {
            guard let r = PQgetResult(conn) else {
                nulls += 1
                // Each statement's results end with a null; a broken connection gives only nulls.
                if PQstatus(conn) != CONNECTION_OK || nulls > 1_000_000 { throw first ?? failure(nil, "pipeline") }
                continue
            }
            let status = PQresultStatus(r)
            if status == PGRES_PIPELINE_SYNC { PQclear(r); break }
            if status == PGRES_FATAL_ERROR, first == nil { first = failure(r, "pipelined statement") }
            PQclear(r)
        }
        if let first { throw first }
    }

    final class Statement: StoreStatement {
        let connection: Postgres
        let sql: String
        private var values: [String?] = []
        private var result: OpaquePointer?
        private var row = -1
        private var rows = 0

        init(_ connection: Postgres, _ sql: String) {
            self.connection = connection
            self.sql = sql
        }

        deinit { PQclear(result) }

        func texts(_ values: [StoreValue]) -> [String?] {
            values.map {
                switch $0 {
                case .int(let v): return String(v)
                case .text(let t): return t
                case .null: return nil
                }
            }
        }

        func bind(_ values: [StoreValue]) {
            PQclear(result)
            result = nil
            row = -1
            self.values = texts(values)
        }

        /// Runs the statement at the first step, then walks its rows.
        func step() throws(StoreError) -> Bool {
            if result == nil {
                let r = withCStrings(values) { p in PQexecParams(connection.conn, sql, Int32(values.count), nil, p, nil, nil, 0) }
                let status = r.map { PQresultStatus($0) } ?? PGRES_FATAL_ERROR
                guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
                    let e = connection.failure(r, sql)
                    PQclear(r)
                    throw e
                }
                result = r
                rows = Int(PQntuples(r))
            }
            row += 1
            return row < rows
        }

        func text(_ c: Int) -> String {
            guard let r = result, row < rows, PQgetisnull(r, Int32(row), Int32(c)) == 0, let p = PQgetvalue(r, Int32(row), Int32(c)) else { return "" }
            return String(cString: p)
        }

        func int(_ c: Int) -> Int64 { Int64(text(c)) ?? 0 }
    }
}

/// Calls `body` with a C array of the strings (NULL for nil), valid for the call only.
private func withCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    guard !strings.isEmpty else { return body(nil) }
    var owned: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
    defer { for p in owned { free(p) } }
    return owned.withUnsafeMutableBufferPointer { b in
        guard let base = b.baseAddress else { return body(nil) }
        return base.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: b.count) { body($0) }
    }
}

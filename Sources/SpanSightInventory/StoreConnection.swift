/// One value bound to or read from a store statement.
enum StoreValue {
    case int(Int64)
    case text(String)
    case null
}

/// A prepared statement: `bind` (resets it), then `step` until it returns false.
protocol StoreStatement: AnyObject {
    func bind(_ values: [StoreValue])
    func step() throws(StoreError) -> Bool
    func int(_ c: Int) -> Int64
    func text(_ c: Int) -> String
}

/// A connection to the store's engine: SQLite (a file) or PostgreSQL (the fleet's server).
/// The inventory's SQL is written once, in SQLite's words with `?` and `?N` parameters and
/// `LEAST`/`GREATEST`; the dialect turns it into the engine's.
protocol StoreConnection: AnyObject {
    /// The store as the user named it (a path or a URL without its password), for messages.
    var label: String { get }
    var dialect: StoreDialect { get }
    /// Runs statements without results (several, separated by semicolons).
    func execRaw(_ sql: String) throws(StoreError)
    func prepareRaw(_ sql: String) throws(StoreError) -> any StoreStatement
    /// Runs a statement whose results are not read, possibly later: a server's connection
    /// sends them in batches (pipelined) and reports their first failure by `flushWrites` at
    /// the latest.
    func write(_ st: any StoreStatement, _ values: [StoreValue]) throws(StoreError)
    /// Waits for every `write` so far and throws the first that failed.
    func flushWrites() throws(StoreError)
}

extension StoreConnection {
    func exec(_ sql: String) throws(StoreError) { try execRaw(dialect.translate(sql)) }
    func prepare(_ sql: String) throws(StoreError) -> any StoreStatement { try prepareRaw(dialect.translate(sql)) }
    func run(_ st: any StoreStatement, _ values: [StoreValue]) throws(StoreError) {
        st.bind(values)
        while try st.step() {}
    }
}

extension SQLite {
    // In process: nothing to batch.
    func write(_ st: any StoreStatement, _ values: [StoreValue]) throws(StoreError) { try run(st, values) }
    func flushWrites() throws(StoreError) {}
}

enum StoreDialect {
    case sqlite, postgres

    /// The statement in this engine's words.
    func translate(_ sql: String) -> String {
        switch self {
        case .sqlite:
            return sql.replacing("LEAST(", with: "MIN(").replacing("GREATEST(", with: "MAX(")
        case .postgres:
            // `?N` → `$N`, `?` → the next `$k`; INTEGER columns are 64-bit (flow ids, counters).
            var out = ""
            var next = 1
            var chars = sql.makeIterator()
            var pending: Character? = chars.next()
            while let c = pending {
                pending = chars.next()
                guard c == "?" else { out.append(c); continue }
                var digits = ""
                while let d = pending, d.isNumber { digits.append(d); pending = chars.next() }
                if digits.isEmpty { digits = String(next); next += 1 }
                out += "$" + digits
            }
            return out.replacing("INTEGER PRIMARY KEY AUTOINCREMENT", with: "BIGSERIAL PRIMARY KEY")
                .replacing(" INTEGER", with: " BIGINT")
        }
    }

    /// Starts the transaction a save runs in: SQLite takes the write lock at once (no upgrade
    /// deadlock); PostgreSQL locks rows as the upserts reach them (in one order: see `save`).
    var beginWrite: String { self == .sqlite ? "BEGIN IMMEDIATE" : "BEGIN" }
    /// Starts a read of one consistent state.
    var beginRead: String { self == .sqlite ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" }
    /// Whether the table `meta` exists (one row when it does).
    var metaExists: String {
        self == .sqlite ? "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
                        : "SELECT 1 FROM information_schema.tables WHERE table_name = 'meta' AND table_schema = current_schema()"
    }
    /// Serialises schema creation between sensors starting at once (SQLite's write lock does it).
    var schemaLock: String? { self == .postgres ? "SELECT pg_advisory_xact_lock(7212021)" : nil }
}

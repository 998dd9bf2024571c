// UNSAFE: the forwarder contract lends the flushed lines as a scoped buffer pointer, valid
// for the call only.
/// A destination of events besides the file or standard output (`--output redis://...`):
/// `EventOutput` hands it each flush's complete NDJSON lines. A forwarder copies what it keeps
/// before returning, never blocks the analysis (what it cannot hold it drops and counts), and is
/// drained at the end of the run by `finish`.
public protocol EventForwarder: AnyObject {
    /// Its kind and target as the `stats` event and the summary name it
    /// (`redis`, `127.0.0.1:6379/spansight`).
    var kind: String { get }
    var label: String { get }
    /// `lines`: one or more events, each ending in a newline; `events`: how many.
    func forward(_ lines: UnsafeRawBufferPointer, events: Int)
    /// Sends what is still held (within the forwarder's own deadline), then stops.
    func finish()
    /// What it has done so far (read by `stats` and the summary; safe from the analysis thread).
    var counters: ForwarderCounters { get }
}

/// The counters of one forwarder (`stats.output.<kind>.<label>`, docs/events.md#stats).
public struct ForwarderCounters: Sendable, Equatable {
    /// Events the server confirmed.
    public var sent: UInt64 = 0
    /// Events given up: the buffer was full (the server unreachable or too slow), or still held
    /// when the end-of-run deadline passed.
    public var dropped: UInt64 = 0
    /// Events the server answered with an error (a key of another type, a memory limit).
    public var rejected: UInt64 = 0
    /// Events held now, waiting to be sent or confirmed, and the bytes they take.
    public var pending: UInt64 = 0
    public var pendingBytes: UInt64 = 0
    /// Connections made after the first (a server restarted or unreachable for a while).
    public var reconnects: UInt64 = 0
    /// Whether the last attempt to reach the server succeeded.
    public var connected = false
    public init() {}
}

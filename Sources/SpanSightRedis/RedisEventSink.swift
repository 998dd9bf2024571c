// UNSAFE: borrows the output's flushed bytes (a scoped buffer pointer, within its count) and
// copies them into its queue; hands each queued event to the connection as a scoped view.
import Foundation
import SpanSightEngine
#if canImport(Glibc)
import Glibc
#endif

/// `--output redis://...`: events to a Redis list, channel or stream from a thread of its own,
/// so that a slow or absent server never stalls the analysis.
///
/// The analysis thread hands each flush's lines to `forward`, which copies them into a bounded
/// buffer (`RedisTarget.bufferBytes`); what does not fit is dropped and counted. The sender
/// pipelines the buffered events (up to `batch` commands per round trip) and releases each one
/// when its reply arrives. When the connection fails it reconnects with backoff (0.1 s doubling
/// to 5 s) and sends again from the first event not confirmed: at-least-once, so an event whose
/// reply was lost with the connection may reach the server twice. An error reply (a key of
/// another type) counts the event as rejected. `finish` waits up to `drainSeconds` for the
/// buffer to empty; what is left then is dropped and counted.
public final class RedisEventSink: EventForwarder, @unchecked Sendable {
    public let target: RedisTarget
    public var kind: String { "redis" }
    public var label: String { target.label }
    /// Commands pipelined per round trip.
    let batch = 512
    /// Seconds a connect, a read or a write may take before the connection counts as failed.
    let ioTimeout = 2.0
    private let warn: @Sendable (String) -> Void

    /// Buffered events: chunks of whole lines, in order. Guarded by `lock`.
    private struct Chunk { var bytes: [UInt8]; var events: Int }
    private var queue: [Chunk] = []
    private var stats = ForwarderCounters()
    private var reservedBytes = 0
    private var stopping = false
    private var stopDeadline = Double.infinity
    private var done = false
    private let lock = NSCondition()
    private var started = false
    /// Warned once per outage (cleared when the server answers again).
    private var warnedDrop = false

    /// `warn` receives one line for each change a user should know about (the server
    /// unreachable, events dropped, an error reply), from the sender's thread.
    public init(_ target: RedisTarget, warn: @escaping @Sendable (String) -> Void) {
        self.target = target
        self.warn = warn
    }

    /// Starts the sending thread (once; `live` after it gave up privileges, so that the thread
    /// inherits none).
    public func start() {
        lock.lock()
        defer { lock.unlock() }
        guard !started else { return }
        started = true
        let thread = Thread { [self] in self.run() }
        thread.name = "redis"
        thread.start()
    }

    public var counters: ForwarderCounters {
        lock.lock()
        defer { lock.unlock() }
        return stats
    }

    /// The buffer's size as a reader wants it: "64 KiB", "16 MiB".
    private var bufferSize: String {
        target.bufferBytes >= 1 << 20 ? "\(target.bufferBytes >> 20) MiB" : "\(target.bufferBytes >> 10) KiB"
    }

    public func forward(_ lines: UnsafeRawBufferPointer, events: Int) {
        guard !lines.isEmpty, events > 0 else { return }
        lock.lock()
        let room = target.bufferBytes - reservedBytes
        var take = lines.count
        var kept = events
        if take > room {
            // Whole lines only: up to the last newline that fits.
            take = 0
            if room > 0, let end = lastNewline(lines, before: room) { take = end + 1 }
            kept = take == 0 ? 0 : newlines(UnsafeRawBufferPointer(rebasing: lines[0..<take]))
            stats.dropped &+= UInt64(events - kept)
            if !warnedDrop {
                warnedDrop = true
                let why = stats.connected ? "the server is slower than the events" : "the server is unreachable"
                let text = "redis \(label): the buffer of \(bufferSize) is full (\(why)); events are dropped and counted until it drains"
                lock.unlock()
                warn(text)
                lock.lock()
            }
        }
        reservedBytes += take
        stats.pendingBytes = UInt64(reservedBytes)
        lock.unlock()
        guard take > 0 else { return }
        let chunk = Chunk(bytes: Array(UnsafeRawBufferPointer(rebasing: lines[0..<take])), events: kept)
        lock.lock()
        queue.append(chunk)
        stats.pending &+= UInt64(kept)
        lock.signal()
        lock.unlock()
    }

    public func finish() {
        lock.lock()
        guard started else {
            // Never started (a run that ended before its first packet): nothing was sent.
            stats.dropped &+= stats.pending
            stats.pending = 0
            lock.unlock()
            return
        }
        stopping = true
        stopDeadline = MonotonicSeconds.now() + target.drainSeconds
        lock.broadcast()
        while !done { lock.wait() }
        lock.unlock()
    }

    // MARK: the sender thread

    private func run() {
        var all = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_BLOCK, &all, nil)
        var connection: RedisConnection? = nil
        var everConnected = false
        var backoff = 0.1
        var current: Chunk? = nil
        /// Byte offset of the first event of `current` not yet confirmed.
        var offset = 0
        var outageSince: Double? = nil
        var firstRejection = true
        work: while true {
            if current == nil {
                lock.lock()
                while queue.isEmpty && !stopping { lock.wait() }
                if queue.isEmpty { lock.unlock(); break work }
                current = queue.removeFirst()
                lock.unlock()
                offset = 0
            }
            if stoppingPastDeadline() { break work }
            if connection == nil {
                switch connect() {
                case .success(let c):
                    connection = c
                    backoff = 0.1
                    lock.lock()
                    if everConnected { stats.reconnects &+= 1 }
                    stats.connected = true
                    warnedDrop = false
                    lock.unlock()
                    if let since = outageSince {
                        warn("redis \(label): connected again after \(Int((MonotonicSeconds.now() - since).rounded())) s; sending the buffered events")
                        outageSince = nil
                    }
                    everConnected = true
                case .failure(let error):
                    lock.lock()
                    stats.connected = false
                    lock.unlock()
                    // Said once per outage (a lost connection said so already).
                    if outageSince == nil {
                        outageSince = MonotonicSeconds.now()
                        warn("redis \(label): cannot connect (\(error)); events are buffered (up to \(bufferSize)) and sent when it answers")
                    }
                    pause(backoff)
                    backoff = min(backoff * 2, 5)
                    continue work
                }
            }
            guard let c = connection, let chunk = current else { continue }
            // One round trip: up to `batch` events from `offset`, then their replies in order.
            var failure: String? = nil
            var confirmed = 0, confirmedBytes = 0, rejected = 0
            var rejection: String? = nil
            chunk.bytes.withUnsafeBytes { all in
                var ends: [Int] = []
                var start = offset
                while ends.count < batch && start < all.count {
                    let end = nextNewline(all, from: start) ?? all.count
                    guard c.append(event: UnsafeRawBufferPointer(rebasing: all[start..<end])) else { failure = "out of memory"; return }
                    ends.append(end + 1)
                    start = end + 1
                }
                var at = offset
                for end in ends {
                    switch c.reply() {
                    case .ok: confirmed += 1
                    case .rejected(let text):
                        rejected += 1
                        if rejection == nil { rejection = text }
                    case .failed(let reason):
                        failure = reason
                        return
                    }
                    confirmedBytes += end - at
                    at = end
                    offset = end
                }
            }
            lock.lock()
            stats.sent &+= UInt64(confirmed)
            stats.rejected &+= UInt64(rejected)
            stats.pending &-= UInt64(confirmed + rejected)
            reservedBytes -= confirmedBytes
            stats.pendingBytes = UInt64(reservedBytes)
            // Drained below half: a later overflow is a new episode, warned again.
            if reservedBytes < target.bufferBytes / 2 { warnedDrop = false }
            if failure != nil { stats.connected = false }
            lock.unlock()
            if let text = rejection, firstRejection {
                firstRejection = false
                warn("redis \(label): the server rejected an event (\(text)); rejected events are counted, not sent again")
            }
            if let reason = failure {
                connection = nil
                outageSince = MonotonicSeconds.now()
                warn("redis \(label): connection lost (\(reason)); events are buffered (up to \(bufferSize)) and sent again from the first one not confirmed")
                continue work
            }
            if offset >= chunk.bytes.count { current = nil }
        }
        connection = nil
        // Past the deadline (or stopping with events left): what is still held is dropped.
        lock.lock()
        var left = UInt64(0)
        if let chunk = current {
            left += UInt64(chunk.bytes.withUnsafeBytes { newlines(UnsafeRawBufferPointer(rebasing: $0[offset...])) })
        }
        for chunk in queue { left += UInt64(chunk.events) }
        queue = []
        stats.dropped &+= left
        stats.pending = 0
        reservedBytes = 0
        stats.pendingBytes = 0
        done = true
        lock.broadcast()
        lock.unlock()
        if left > 0 {
            warn("redis \(label): \(left) events not sent within the \(Int(target.drainSeconds)) s drain deadline were dropped")
        }
    }

    private func connect() -> Result<RedisConnection, RedisConnectionError> {
        let opened = RedisConnection.open(host: target.host, port: target.port, timeout: ioTimeout, commandPrefix: target.commandPrefix)
        guard case .success(let c) = opened, let password = target.password else { return opened }
        switch c.command(target.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]) {
        case .ok: return .success(c)
        case .rejected(let text): return .failure(RedisConnectionError("AUTH refused: \(text)"))
        case .failed(let reason): return .failure(RedisConnectionError(reason))
        }
    }

    private func stoppingPastDeadline() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping && MonotonicSeconds.now() >= stopDeadline
    }

    /// Waits `seconds`, or less when `finish` is called (so the drain deadline is kept).
    private func pause(_ seconds: Double) {
        lock.lock()
        let until = min(MonotonicSeconds.now() + seconds, stopping ? stopDeadline : .infinity)
        while MonotonicSeconds.now() < until {
            let wasStopping = stopping
            _ = lock.wait(until: Date(timeIntervalSinceNow: max(0.001, until - MonotonicSeconds.now())))
            if stopping != wasStopping { break }
        }
        lock.unlock()
    }
}

/// Newline positions in a block of NDJSON (JSON escapes a newline inside a string, so each one
/// ends an event).
func nextNewline(_ b: UnsafeRawBufferPointer, from: Int) -> Int? {
    var i = from
    while i < b.count { if b[i] == 0x0A { return i }; i += 1 }
    return nil
}

func lastNewline(_ b: UnsafeRawBufferPointer, before limit: Int) -> Int? {
    var i = min(limit, b.count) - 1
    while i >= 0 { if b[i] == 0x0A { return i }; i -= 1 }
    return nil
}

func newlines(_ b: UnsafeRawBufferPointer) -> Int {
    var n = 0
    for byte in b where byte == 0x0A { n += 1 }
    return n
}

enum MonotonicSeconds {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

// UNSAFE: hiredis's context is held as a C pointer, and each command's arguments are passed as
// C pointer and length arrays (allocated once per connection) pointing into the caller's bytes.
import CHiredis
#if canImport(Glibc)
import Glibc
#endif

/// One connection to a Redis server through hiredis (Debian's libhiredis): commands are queued
/// in its output buffer (pipelining) and their replies read in order. Used by one thread.
final class RedisConnection {
    private let context: UnsafeMutablePointer<redisContext>
    /// The fixed words of every command (`LPUSH key`, ...), copied once, and the argument arrays
    /// of one command: those words, then the event.
    private let words: [UnsafeMutablePointer<CChar>]
    private let wordLengths: [Int]
    private let argv: UnsafeMutablePointer<UnsafePointer<CChar>?>
    private let lengths: UnsafeMutablePointer<Int>
    private var errorText = [CChar](repeating: 0, count: 256)

    enum Reply {
        case ok
        /// The server's error reply (`WRONGTYPE ...`).
        case rejected(String)
        /// The connection failed (reset, timed out): what hiredis says.
        case failed(String)
    }

    /// Connects within `timeout` seconds (which also bounds each later read and write), with TCP
    /// keep-alive; the reason when it cannot.
    static func open(host: String, port: Int, timeout: Double, commandPrefix: [String]) -> Result<RedisConnection, RedisConnectionError> {
        let tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        guard let c = redisConnectWithTimeout(host, Int32(port), tv) else {
            return .failure(RedisConnectionError("cannot allocate a connection"))
        }
        if CHiredis_err(c) != 0 {
            let reason = String(cString: CHiredis_errstr(c))
            redisFree(c)
            return .failure(RedisConnectionError(reason.isEmpty ? "cannot connect" : reason))
        }
        _ = redisSetTimeout(c, tv)
        _ = redisEnableKeepAlive(c)
        return .success(RedisConnection(context: c, commandPrefix: commandPrefix))
    }

    private init(context: UnsafeMutablePointer<redisContext>, commandPrefix: [String]) {
        self.context = context
        words = commandPrefix.map { strdup($0)! }
        wordLengths = commandPrefix.map { $0.utf8.count }
        argv = .allocate(capacity: commandPrefix.count + 1)
        lengths = .allocate(capacity: commandPrefix.count + 1)
        for (i, w) in words.enumerated() {
            argv[i] = UnsafePointer(w)
            lengths[i] = wordLengths[i]
        }
    }

    deinit {
        redisFree(context)
        for w in words { free(w) }
        argv.deallocate()
        lengths.deallocate()
    }

    /// Queues the command for `event` (the prefix words, then these bytes); false when hiredis
    /// cannot (out of memory).
    func append(event: UnsafeRawBufferPointer) -> Bool {
        let n = words.count
        argv[n] = event.baseAddress?.assumingMemoryBound(to: CChar.self)
        lengths[n] = event.count
        return CHiredis_append(context, Int32(n + 1), argv, lengths) == REDIS_OK
    }

    /// Sends any other command once (AUTH at connect), waiting for its reply.
    func command(_ args: [String]) -> Reply {
        var copies = args.map { strdup($0)! }
        defer { for c in copies { free(c) } }
        let lens = args.map { $0.utf8.count }
        let ok = copies.withUnsafeMutableBufferPointer { p in
            p.withMemoryRebound(to: UnsafePointer<CChar>?.self) { q in
                lens.withUnsafeBufferPointer { CHiredis_append(context, Int32(args.count), q.baseAddress, $0.baseAddress) }
            }
        }
        guard ok == REDIS_OK else { return .failed("cannot queue a command") }
        return reply()
    }

    /// The next reply, in the order the commands were queued (queued commands are sent first).
    func reply() -> Reply {
        let r = errorText.withUnsafeMutableBufferPointer { CHiredis_reply(context, $0.baseAddress, $0.count) }
        switch r {
        case 1: return .ok
        case 0: return .rejected(errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        default:
            let reason = String(cString: CHiredis_errstr(context))
            return .failed(reason.isEmpty ? "connection lost" : reason)
        }
    }
}

struct RedisConnectionError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

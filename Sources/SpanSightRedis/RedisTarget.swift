/// Where and how events go to Redis: `redis://[[USER]:PASSWORD@]HOST[:PORT][/KEY][?OPTIONS]`,
/// Suricata's eve-log redis modes (docs/deploy.md#redis).
public struct RedisTarget: Sendable, Equatable {
    /// The Redis command each event becomes.
    public enum Mode: String, Sendable, CaseIterable {
        /// LPUSH key event (Suricata's default, also called `lpush`).
        case list
        /// RPUSH key event.
        case rpush
        /// PUBLISH key event (also called `publish`).
        case channel
        /// XADD key [MAXLEN ~ N] * FIELD event (also called `xadd`).
        case stream

        /// The mode a URL names, aliases included.
        static func named(_ s: String) -> Mode? {
            switch s.lowercased() {
            case "list", "lpush": return .list
            case "rpush": return .rpush
            case "channel", "publish": return .channel
            case "stream", "xadd": return .stream
            default: return nil
            }
        }
    }

    public var host: String
    public var port: Int = 6379
    /// The list, channel or stream key.
    public var key = "spansight"
    public var mode = Mode.list
    /// `stream`: the trim length (`MAXLEN ~ N`; nil: the stream is not trimmed).
    public var maxLength: Int? = nil
    /// `stream`: the field holding the event (Suricata's is `eve`).
    public var field = "eve"
    /// Bytes of events held while the server is slow or unreachable; beyond them events are
    /// dropped and counted.
    public var bufferBytes = 16 << 20
    /// Seconds the end of a run waits for the buffer to drain before counting the rest as
    /// dropped.
    public var drainSeconds = 10.0
    /// AUTH on connect (nil: none; user nil: the default user).
    public var user: String? = nil
    public var password: String? = nil

    /// The target as the stats and the summary name it: `HOST:PORT/KEY` (never the password).
    public var label: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "\(h):\(port)/\(key)"
    }

    public static let usage = "redis://[[USER]:PASSWORD@]HOST[:PORT][/KEY][?mode=list|rpush|channel|stream&maxlen=N&field=NAME&buffer=SIZE&drain=SECONDS]"

    /// Whether `text` is meant as a Redis URL (the scheme decides; the rest is checked by `init`).
    public static func isRedisURL(_ text: String) -> Bool { text.lowercased().hasPrefix("redis://") }

    /// Parses a URL; the error says which part is wrong.
    /// The URL with the password of its user information replaced by "***".
    static func withoutPassword(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let afterScheme = url[scheme.upperBound...]
        let authorityEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? afterScheme.endIndex
        guard let at = afterScheme[..<authorityEnd].lastIndex(of: "@") else { return url }
        let userinfo = afterScheme[..<at]
        let user = userinfo.firstIndex(of: ":").map { userinfo[..<$0] } ?? ""
        return String(url[..<scheme.upperBound]) + user + ":***" + String(afterScheme[at...])
    }

    public init(url given: String) throws(RedisTargetError) {
        // Messages name the URL with its password hidden.
        let text = Self.withoutPassword(given)
        guard Self.isRedisURL(given) else { throw RedisTargetError("'\(text)' is not a redis:// URL (\(Self.usage))") }
        var rest = Substring(given.dropFirst("redis://".count))
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") { query = rest[rest.index(after: q)...]; rest = rest[..<q] }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") { path = rest[rest.index(after: slash)...]; rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let u = Self.decode(credentials[..<colon])
                user = u.isEmpty ? nil : u
                password = Self.decode(credentials[credentials.index(after: colon)...])
            } else {
                password = Self.decode(credentials)
            }
        }
        var hostPart = rest, portPart: Substring? = nil
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw RedisTargetError("\(text): an IPv6 address in [ ] has no closing ]") }
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { portPart = after.dropFirst() } else if !after.isEmpty { throw RedisTargetError("\(text): unexpected '\(after)' after the address") }
        } else if let colon = rest.lastIndex(of: ":") {
            hostPart = rest[..<colon]
            portPart = rest[rest.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { throw RedisTargetError("\(text): no host (\(Self.usage))") }
        host = String(hostPart)
        if let p = portPart {
            guard let n = Int(p), (1...65535).contains(n) else { throw RedisTargetError("\(text): the port must be 1 to 65535, got '\(p)'") }
            port = n
        }
        let k = Self.decode(path)
        if !k.isEmpty { key = k }
        for item in query.split(separator: "&") where !item.isEmpty {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0]).lowercased(), value = pair.count > 1 ? Self.decode(pair[1]) : ""
            switch name {
            case "mode":
                guard let m = Mode.named(value) else { throw RedisTargetError("\(text): unknown mode '\(value)' (list, rpush, channel, stream)") }
                mode = m
            case "maxlen":
                guard let n = Int(value), n > 0 else { throw RedisTargetError("\(text): maxlen must be a positive number of entries, got '\(value)'") }
                maxLength = n
            case "field":
                guard !value.isEmpty else { throw RedisTargetError("\(text): field must not be empty") }
                field = value
            case "buffer":
                guard let n = Self.size(value), n >= 64 << 10, n <= 4 << 30 else { throw RedisTargetError("\(text): buffer must be a size from 64K to 4G (bytes, or with K, M, G), got '\(value)'") }
                bufferBytes = n
            case "drain":
                guard let s = Double(value), s >= 0, s <= 3600 else { throw RedisTargetError("\(text): drain must be 0 to 3600 seconds, got '\(value)'") }
                drainSeconds = s
            default:
                throw RedisTargetError("\(text): unknown option '\(name)' (mode, maxlen, field, buffer, drain)")
            }
        }
        if maxLength != nil && mode != .stream { throw RedisTargetError("\(text): maxlen applies to mode=stream only") }
    }

    /// The command's words before the event (the event is the last argument).
    var commandPrefix: [String] {
        switch mode {
        case .list: return ["LPUSH", key]
        case .rpush: return ["RPUSH", key]
        case .channel: return ["PUBLISH", key]
        case .stream:
            var words = ["XADD", key]
            if let n = maxLength { words += ["MAXLEN", "~", String(n)] }
            return words + ["*", field]
        }
    }

    /// `%XX` escapes decoded (a key or password with `/`, `?`, `@` or `&` in it).
    static func decode(_ s: Substring) -> String {
        guard s.contains("%") else { return String(s) }
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "%"), bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes, or a number with K, M or G.
    static func size(_ s: String) -> Int? {
        guard let last = s.last else { return nil }
        let shift: Int
        switch last {
        case "k", "K": shift = 10
        case "m", "M": shift = 20
        case "g", "G": shift = 30
        default: return Int(s)
        }
        guard let n = Int(s.dropLast()), n >= 0, n <= (1 << 40) >> shift else { return nil }
        return n << shift
    }
}

/// A `redis://` URL that does not parse.
public struct RedisTargetError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ d: String) { description = d }
}

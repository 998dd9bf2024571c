// UNSAFE: sockaddr_in is passed to bind/getsockname rebound as sockaddr, and the response
// bytes to send(2) through a scoped buffer pointer.
import Foundation
import Prometheus
import SpanSightEngine
#if canImport(Glibc)
import Glibc
#endif

/// `live --metrics-port N`: the `stats` counters as Prometheus metrics, served on
/// 127.0.0.1:N (`GET /metrics`, text format 0.0.4) from a thread of their own. The capture
/// loop updates the registry (swift-prometheus, thread-safe) once a second; a scrape reads
/// it. Loopback only: the sensor answers the scraper on the same host and sends nothing else.
final class MetricsServer: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    let port: UInt16
    private let socket: Int32

    /// Counters whose value SpanSight holds as a total: each update adds the difference.
    private struct Total { let counter: Counter; var last: UInt64 }
    private var totals: [String: Total] = [:]
    private var gauges: [String: Gauge] = [:]

    /// Binds 127.0.0.1:`port` (0: a free port, then `port` says which); `start` serves.
    init(port: UInt16) throws {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw MetricsError("--metrics-port: cannot open a socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw MetricsError("--metrics-port \(port): cannot listen on 127.0.0.1:\(port): \(reason)")
        }
        var got = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &got) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.port = UInt16(bigEndian: got.sin_port)
        socket = fd
    }

    /// Starts the serving thread: after the capture loop's thread has given up its privileges,
    /// so that the new thread inherits none (capabilities and no_new_privs are per thread).
    func start() {
        let thread = Thread { [self] in self.serve() }
        thread.name = "metrics"
        thread.start()
    }

    /// One request at a time: read the request head (8 KiB and 2 s at most in all), answer,
    /// close.
    private func serve() {
        // Signals are the capture loop's (its poll wakes on them), never this thread's.
        var all = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_BLOCK, &all, nil)
        while true {
            let c = accept(socket, nil, nil)
            if c < 0 {
                // Out of descriptors or a connection aborted: wait a little, go on serving.
                if errno != EINTR { usleep(100_000) }
                continue
            }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var head: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1024)
            let deadline = MonotonicClock.now() + 2
            while head.count < 8192 {
                let left = deadline - MonotonicClock.now()
                var pfd = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
                if left <= 0 || poll(&pfd, 1, Int32(left * 1000) + 1) <= 0 { break }
                let n = read(c, &chunk, chunk.count)
                if n <= 0 { break }
                head += chunk[0..<n]
                if head.count >= 4, head.suffix(4).elementsEqual([13, 10, 13, 10]) { break }
            }
            let line = String(decoding: head.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
            var body: [UInt8]
            var status = "200 OK"
            if line.count >= 2, line[0] == "GET", line[1] == "/metrics" || line[1].hasPrefix("/metrics?") {
                body = registry.emitToBuffer()
            } else {
                status = "404 Not Found"
                body = Array("spansight serves GET /metrics only\n".utf8)
            }
            let header = "HTTP/1.1 \(status)\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
            let response = Array(header.utf8) + body
            var sent = 0
            while sent < response.count {
                let n = response[sent...].withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                sent += n
            }
            close(c)
        }
    }

    private func total(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ value: UInt64) {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        var t = totals[key] ?? Total(counter: labels.isEmpty ? registry.makeCounter(name: name, help: help)
                                                             : registry.makeCounter(name: name, labels: labels, help: help), last: 0)
        if value > t.last { t.counter.increment(by: Int64(value - t.last)) }
        t.last = value
        totals[key] = t
    }

    private func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ value: Double) {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        let g = gauges[key] ?? (labels.isEmpty ? registry.makeGauge(name: name, help: help) : registry.makeGauge(name: name, labels: labels, help: help))
        gauges[key] = g
        g.set(value)
    }

    /// From the capture loop (its thread), once a second and at the end.
    func update(engine: Engine, events: UInt64, alerts: UInt64, interfaces: [(name: String, received: UInt64, dropped: UInt64, interfaceDropped: UInt64)]) {
        let c = engine.counters
        total("spansight_packets_total", "Packets analysed", [], c.packets)
        total("spansight_bytes_total", "Bytes of the packets analysed (wire length)", [], c.bytes)
        total("spansight_decode_errors_total", "Packets that did not decode", [], c.decodeErrors)
        total("spansight_flows_total", "Flows created", [], c.flowsCreated)
        total("spansight_anomalies_total", "Protocol anomalies", [], c.anomalies)
        total("spansight_events_total", "Events written", [], events)
        total("spansight_alerts_total", "Alerts written", [], alerts)
        gauge("spansight_flows_active", "Flows in the flow table", [], Double(engine.activeFlows))
        for i in interfaces {
            total("spansight_kernel_packets_total", "Packets the kernel passed to the capture", [("interface", i.name)], i.received)
            total("spansight_kernel_drops_total", "Packets the kernel dropped (buffer full)", [("interface", i.name)], i.dropped)
            total("spansight_kernel_ifdrops_total", "Packets the interface dropped", [("interface", i.name)], i.interfaceDropped)
        }
        engine.syncMemory()
        let b = engine.budget
        gauge("spansight_memory_budget_bytes", "The memory budget (--memory-budget)", [], Double(b.total))
        for k in MemoryKind.allCases {
            gauge("spansight_memory_bytes", "Memory held, by kind", [("kind", "\(k.name)")], Double(b.used[k.rawValue]))
            total("spansight_memory_shed_items_total", "Items shed to stay within the budget, by kind", [("kind", "\(k.name)")], b.shedItems[k.rawValue])
        }
    }
}

struct MetricsError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

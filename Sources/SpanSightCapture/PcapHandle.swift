// UNSAFE BOUNDARY: this file is the only place that calls libpcap and holds the pointers it
// lends. A packet's bytes are valid only until the next call to `next(_:)` on the same handle;
// they are handed upwards as an UnsafeRawBufferPointer that must not escape the caller's scope.
import CPcap

#if canImport(Glibc)
import Glibc
#endif

/// One packet as libpcap lends it.
public struct CapturedPacket {
    /// Packet time in nanoseconds since the Unix epoch (UTC).
    public var timestampNanos: Int64 = 0
    /// Bytes captured (may be less than `wireLength` when the snaplen cut it).
    public var bytes: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    /// Length of the packet on the wire.
    public var wireLength: Int = 0
    public init() {}
}

/// What `PcapHandle.next` found.
public enum ReadStatus: Equatable {
    case packet
    /// Live capture: no packet is ready now (live handles do not block);
    /// `waitForPackets(milliseconds:)` waits for one.
    case timeout
    /// Offline capture: end of file.
    case end
    /// `breakLoop()` was called, or a read was interrupted, by a stop signal (`StopSignals`).
    case interrupted
    /// libpcap reported an error; for an offline file this usually means the file is truncated
    /// or corrupt after the packets already returned.
    case error(String)
}

/// Kernel/libpcap counters of a live capture (`pcap_stats`).
public struct PcapStats: Sendable, Equatable {
    public var received: UInt64
    public var dropped: UInt64
    public var interfaceDropped: UInt64
    public init(received: UInt64 = 0, dropped: UInt64 = 0, interfaceDropped: UInt64 = 0) {
        self.received = received
        self.dropped = dropped
        self.interfaceDropped = interfaceDropped
    }
}

/// Settings for a live capture.
public struct LiveCaptureConfig: Sendable {
    public var interface: String
    public var snaplen: Int32 = 262_144
    public var promiscuous: Bool = true
    /// Kernel buffer size in bytes (0: libpcap's default).
    public var bufferSize: Int32 = 0
    public var immediateMode: Bool = false
    /// Most milliseconds the kernel holds captured packets before handing them over (libpcap's
    /// read timeout: TPACKET_V3 retires a block of packets after it).
    public var timeoutMillis: Int32 = 200
    /// A BPF expression (empty: no filter).
    public var filter: String = ""

    public init(interface: String) { self.interface = interface }
}

/// A libpcap handle (`pcap_t`), offline or live. Not thread-safe except `breakLoop()`.
public final class PcapHandle {
    @usableFromInline let raw: OpaquePointer
    public let linkType: LinkType
    public let isLive: Bool
    /// Snapshot length of the capture.
    public let snaplen: Int

    private init(raw: OpaquePointer, isLive: Bool) {
        self.raw = raw
        self.isLive = isLive
        self.linkType = LinkType(rawValue: pcap_datalink(raw))
        self.snaplen = Int(pcap_snapshot(raw))
    }

    deinit { pcap_close(raw) }

    /// Opens a pcap or pcapng file (or "-" for standard input) with nanosecond timestamps.
    public static func openOffline(path: String) throws(CaptureError) -> PcapHandle {
        if path != "-" {
            var st = stat()
            if stat(path, &st) != 0 {
                let e = errno
                if e == ENOENT { throw CaptureError(.fileNotFound, "\(path): no such file") }
                throw CaptureError(.captureFailed, "\(path): \(String(cString: strerror(e)))")
            }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                throw CaptureError(.notACapture, "\(path): is a directory, not a capture file")
            }
            if access(path, R_OK) != 0 {
                throw CaptureError(.permissionDenied, "\(path): permission denied")
            }
        }
        var err = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let p = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &err) else {
            let msg = String(cString: err)
            let name = path == "-" ? "standard input" : path
            // libpcap reached the end of a pcapng file before any interface description
            // block: no packets (a packet block before one is another error, a corrupt file).
            if msg.contains("has no Interface Description Blocks") {
                throw CaptureError(.empty, "\(name): no packets (a pcapng file without an interface description block)")
            }
            if msg.contains("unknown file format") || msg.contains("truncated dump file") && msg.contains("header")
                || msg.contains("bad dump file format") || msg.contains("file header") || msg.contains("pcapng") {
                throw CaptureError(.notACapture, "\(name): not a pcap or pcapng capture (\(msg))")
            }
            throw CaptureError(.notACapture, "\(name): \(msg)")
        }
        return PcapHandle(raw: p, isLive: false)
    }

    /// Opens and activates a live capture on an interface. Never transmits. The handle does not
    /// block: `next` returns `.timeout` when no packet is ready, and `waitForPackets` waits, so
    /// that the caller's clock (duration, periodic stats) and stop signals are honoured on an
    /// idle link.
    public static func openLive(_ config: LiveCaptureConfig) throws(CaptureError) -> PcapHandle {
        var err = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let p = pcap_create(config.interface, &err) else {
            throw CaptureError(.noSuchDevice, "\(config.interface): \(String(cString: err))")
        }
        pcap_set_snaplen(p, config.snaplen)
        pcap_set_promisc(p, config.promiscuous ? 1 : 0)
        pcap_set_timeout(p, config.timeoutMillis)
        if config.bufferSize > 0 { pcap_set_buffer_size(p, config.bufferSize) }
        if config.immediateMode { pcap_set_immediate_mode(p, 1) }
        _ = pcap_set_tstamp_precision(p, Int32(PCAP_TSTAMP_PRECISION_NANO))
        let rc = pcap_activate(p)
        if rc < 0 {
            let detail = String(cString: pcap_geterr(p))
            pcap_close(p)
            let iface = config.interface
            switch rc {
            case PCAP_ERROR_NO_SUCH_DEVICE:
                throw CaptureError(.noSuchDevice, "\(iface): no such capture interface (see `spansight interfaces`)")
            case PCAP_ERROR_PERM_DENIED, PCAP_ERROR_PROMISC_PERM_DENIED:
                throw CaptureError(.permissionDenied, "\(iface): no permission to capture (run as root or grant CAP_NET_RAW): \(detail)")
            case PCAP_ERROR_IFACE_NOT_UP:
                throw CaptureError(.captureFailed, "\(iface): interface is down")
            default:
                throw CaptureError(.captureFailed, "\(iface): cannot start capture: \(detail.isEmpty ? String(cString: pcap_statustostr(rc)) : detail)")
            }
        }
        let handle = PcapHandle(raw: p, isLive: true)
        if !config.filter.isEmpty { try handle.setFilter(config.filter) }
        if pcap_setnonblock(p, 1, &err) != 0 {
            throw CaptureError(.captureFailed, "\(config.interface): cannot read without blocking: \(String(cString: err))")
        }
        return handle
    }

    /// Compiles and installs a BPF filter.
    public func setFilter(_ expression: String) throws(CaptureError) {
        var program = bpf_program()
        if pcap_compile(raw, &program, expression, 1, PCAP_NETMASK_UNKNOWN) != 0 {
            throw CaptureError(.badFilter, "bad filter expression '\(expression)': \(String(cString: pcap_geterr(raw)))")
        }
        defer { pcap_freecode(&program) }
        if pcap_setfilter(raw, &program) != 0 {
            throw CaptureError(.badFilter, "cannot install filter '\(expression)': \(String(cString: pcap_geterr(raw)))")
        }
    }

    /// Reads the next packet into `packet`. The bytes stay valid only until the next call.
    @inline(__always)
    public func next(_ packet: inout CapturedPacket) -> ReadStatus {
        var header: UnsafeMutablePointer<pcap_pkthdr>? = nil
        var data: UnsafePointer<UInt8>? = nil
        let rc = pcap_next_ex(raw, &header, &data)
        if rc == 1, let h = header {
            let seconds = CPcap_headerSeconds(h)
            let fraction = CPcap_headerFraction(h)
            packet.timestampNanos = seconds &* 1_000_000_000 &+ fraction
            packet.bytes = UnsafeRawBufferPointer(start: data, count: Int(CPcap_headerCaplen(h)))
            packet.wireLength = Int(CPcap_headerLen(h))
            return .packet
        }
        switch rc {
        case 0: return .timeout
        case -2 /* PCAP_ERROR_BREAK: end of a savefile, or pcap_breakloop */:
            return isLive || StopSignals.stopNow ? .interrupted : .end
        default:
            // A read from a pipe that a stop signal interrupted (EINTR) is a stop, not damage.
            return StopSignals.stopNow ? .interrupted : .error(String(cString: pcap_geterr(raw)))
        }
    }

    /// Live: waits until packets may be ready, `milliseconds` pass, or a signal arrives (poll on
    /// libpcap's selectable descriptor). For when `next` said `.timeout`.
    public func waitForPackets(milliseconds: Int32) {
        var ms = max(0, milliseconds)
        if let t = pcap_get_required_select_timeout(raw) {
            ms = min(ms, Int32(clamping: Int(t.pointee.tv_sec) * 1000 + Int(t.pointee.tv_usec) / 1000))
        }
        var p = pollfd(fd: pcap_get_selectable_fd(raw), events: Int16(POLLIN), revents: 0)
        guard p.fd >= 0 else { usleep(UInt32(ms) * 1000); return }
        _ = poll(&p, 1, ms)
    }

    /// Live on several interfaces: waits until one of `handles` may have packets ready,
    /// `milliseconds` pass, or a signal arrives.
    public static func waitForPackets(_ handles: [PcapHandle], milliseconds: Int32) {
        if handles.count == 1 { return handles[0].waitForPackets(milliseconds: milliseconds) }
        var ms = max(0, milliseconds)
        for h in handles {
            if let t = pcap_get_required_select_timeout(h.raw) {
                ms = min(ms, Int32(clamping: Int(t.pointee.tv_sec) * 1000 + Int(t.pointee.tv_usec) / 1000))
            }
        }
        withUnsafeTemporaryAllocation(of: pollfd.self, capacity: handles.count) { fds in
            var n = 0
            for h in handles {
                let fd = pcap_get_selectable_fd(h.raw)
                if fd >= 0 { fds[n] = pollfd(fd: fd, events: Int16(POLLIN), revents: 0); n += 1 }
            }
            if n == 0 { usleep(UInt32(ms) * 1000); return }
            _ = poll(fds.baseAddress, nfds_t(n), ms)
        }
    }

    /// Offline: the capture comes from a pipe, socket or terminal rather than a regular file,
    /// so its end is when the writer closes it (`tcpdump -w - | spansight read -`).
    public var readsStream: Bool {
        guard !isLive, let f = pcap_file(raw) else { return false }
        var st = stat()
        return fstat(fileno(f), &st) == 0 && (st.st_mode & S_IFMT) != S_IFREG
    }

    /// Makes a blocked or future `next` return `.interrupted`. Safe from a signal handler.
    public func breakLoop() { pcap_breakloop(raw) }

    /// libpcap's counters for a live capture; nil offline or when unsupported.
    public func stats() -> PcapStats? {
        guard isLive else { return nil }
        var s = pcap_stat()
        guard pcap_stats(raw, &s) == 0 else { return nil }
        return PcapStats(received: UInt64(s.ps_recv), dropped: UInt64(s.ps_drop), interfaceDropped: UInt64(s.ps_ifdrop))
    }

    /// Byte offset of the next record in an offline file (-1 when unknown, e.g. live or a pipe).
    public var fileOffset: Int { Int(CPcap_fileOffset(raw)) }
}

/// A capture device as `pcap_findalldevs` lists it.
public struct CaptureInterface: Sendable {
    public var name: String
    public var description: String?
    public var addresses: [String]
    public var isUp: Bool
    public var isRunning: Bool
    public var isLoopback: Bool
}

public enum CaptureInterfaces {
    /// All devices libpcap can capture on.
    public static func list() throws(CaptureError) -> [CaptureInterface] {
        var err = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        var devs: UnsafeMutablePointer<pcap_if_t>? = nil
        if pcap_findalldevs(&devs, &err) != 0 {
            throw CaptureError(.captureFailed, "cannot list capture interfaces: \(String(cString: err))")
        }
        defer { if let d = devs { pcap_freealldevs(d) } }
        var out: [CaptureInterface] = []
        var cur = devs
        while let d = cur {
            let flags = d.pointee.flags
            var addrs: [String] = []
            var a = d.pointee.addresses
            while let addr = a {
                if let sa = addr.pointee.addr, let s = Self.format(sa) { addrs.append(s) }
                a = addr.pointee.next
            }
            out.append(CaptureInterface(
                name: String(cString: d.pointee.name),
                description: d.pointee.description.map { String(cString: $0) },
                addresses: addrs,
                isUp: flags & UInt32(PCAP_IF_UP) != 0,
                isRunning: flags & UInt32(PCAP_IF_RUNNING) != 0,
                isLoopback: flags & UInt32(PCAP_IF_LOOPBACK) != 0))
            cur = d.pointee.next
        }
        return out
    }

    private static func format(_ sa: UnsafeMutablePointer<sockaddr>) -> String? {
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(sa.pointee.sa_family) {
        case AF_INET:
            return sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin -> String? in
                var addr = sin.pointee.sin_addr
                guard inet_ntop(AF_INET, &addr, &buf, socklen_t(buf.count)) != nil else { return nil }
                return String(cString: buf)
            }
        case AF_INET6:
            return sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin -> String? in
                var addr = sin.pointee.sin6_addr
                guard inet_ntop(AF_INET6, &addr, &buf, socklen_t(buf.count)) != nil else { return nil }
                return String(cString: buf)
            }
        default:
            return nil
        }
    }
}

/// SIGINT/SIGTERM handling for a capture loop. The first signal stops the read at once: the
/// handler records it and calls pcap_breakloop on the handle being read. Reading a stream
/// (`drain`: a pipe, a FIFO, a terminal), the first signal only says to stop at the stream's
/// end, so that what the writer flushes as it exits on the same signal (tcpdump in a
/// pipeline) is analysed; a second signal interrupts the read and stops. Handlers restart
/// interrupted reads and writes (SA_RESTART) until a stop is due, so that a signal is never
/// mistaken for a broken input or output. Once a stop is due, a further signal ends the
/// process (the default action): a clean stop stuck on a blocked write (a stalled reader of
/// standard output) cannot hold it.
public enum StopSignals {
    nonisolated(unsafe) private static var target: OpaquePointer?
    /// Keeps the target's handle open while a signal may reach it.
    nonisolated(unsafe) private static var owner: PcapHandle?
    nonisolated(unsafe) private static var received: sig_atomic_t = 0
    nonisolated(unsafe) private static var stopping: sig_atomic_t = 0
    nonisolated(unsafe) private static var draining: sig_atomic_t = 0

    /// True once SIGINT or SIGTERM arrived.
    public static var requested: Bool { received != 0 }
    /// True once the read is to stop at once (not at the end of a stream).
    public static var stopNow: Bool { stopping != 0 }

    /// Routes SIGINT and SIGTERM to `handle` (replacing any handle set before). `drain`: a
    /// first signal lets the read go on to the end of the stream.
    public static func install(for handle: PcapHandle, drain: Bool = false) {
        owner = handle
        target = handle.raw
        draining = drain ? 1 : 0
        setHandler(restart: true)
    }

    /// Stops routing signals to a handle that is about to close.
    public static func detach() {
        target = nil
        owner = nil
    }

    private static func setHandler(restart: Bool) {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in StopSignals.signalArrived() }
        sigemptyset(&action.sa_mask)
        action.sa_flags = restart ? SA_RESTART : 0
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
    }

    /// In the handler: only async-signal-safe work (flags, sigaction, write, pcap_breakloop).
    private static func signalArrived() {
        received = 1
        if draining != 0 {
            draining = 0
            // The next signal interrupts a blocked read.
            setHandler(restart: false)
            let note: StaticString = "spansight: reading the input stream to its end (signal again to stop now)\n"
            _ = write(2, note.utf8Start, note.utf8CodeUnitCount)
            return
        }
        stopping = 1
        if let t = target { pcap_breakloop(t) }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = SIG_DFL
        sigemptyset(&action.sa_mask)
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
    }
}

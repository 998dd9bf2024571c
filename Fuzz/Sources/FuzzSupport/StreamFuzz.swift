import SpanSightEngine
import SpanSightWire

/// The dissector targets: the input is one conversation between a client and a server, run
/// through `Engine.process` with only the target's dissector registered, so that its probe,
/// stream parser, gap and end paths and its events all run behind the engine's reassembly.
///
///     input   := flags variant record*
///     flags   : bit 0 UDP (when the dissector runs over UDP; TCP otherwise), bit 1 no handshake
///               (picked up mid-stream), bit 2 no events built, bit 3 an observer listens
///               (sessions build observations), bit 4 the server's port on the client's side,
///               bit 5 no FIN at the end (the flow ends at `finish`), bit 6 small reassembly caps
///               (one page per direction, 8 in all), bit 7 IPv6
///     variant : bits 0-3 pick one of the target's dissector entries (its options), bit 4 initial
///               sequence numbers just below 2^32 (the streams wrap), bit 5 the target's
///               `rewrite` runs over each payload (DNP3: checksums made right, so that mutated
///               frames reach the transport and application layers)
///     record  := ctl length(2 bytes, big-endian) payload   (a short last record is kept;
///                a lost record has no payload)
///     ctl     : bit 0 direction (0 client to server, 1 server to client); bit 1 lost (the
///               sequence number moves on by the length, nothing is sent: a gap once the peer
///               acknowledges past it); bits 2-4 clock step before the packet (ClockStep); bit 5 sent twice
///               (a retransmission); bit 6 followed by a FIN, bit 7 by an RST, from this side
///
/// Seeds (Fuzz/seeds.py) are the TCP payloads of real conversations, one record per segment.
public enum StreamFuzz {
    public static func run(_ input: ByteView, entries: [DissectorEntry], rewrite: ((inout [UInt8]) -> Void)? = nil) {
        precondition(!entries.isEmpty)
        var r = InputReader(input)
        let flags = r.byte(), variant = r.byte()
        let entry = entries[Int(variant & 0x0F) % entries.count]
        let udp = flags & 1 != 0 && entry.transports.contains(.udp)
        var config = EngineConfig()
        config.dissectors = [entry]
        config.maxFlows = 16
        if flags & 0x40 != 0 {
            config.reassemblyPerFlowBytes = config.pageSize
            config.reassemblyTotalBytes = 8 * config.pageSize
        }
        var run = FuzzRun(config: config, events: flags & 4 == 0, observe: flags & 8 != 0)
        var frames = FrameBuilder(ipv6: flags & 0x80 != 0)
        let hint = entry.hintPorts.first ?? 9
        // The server listens on the dissector's port; bit 4 puts that port on the client
        // instead (a server answering from an ephemeral port, or a capture's odd orientation).
        let (clientPort, serverPort): (UInt16, UInt16) = flags & 0x10 != 0 ? (hint, 40_001) : (40_001, hint)
        let wrap = variant & 0x10 != 0
        let rewriting = variant & 0x20 != 0 ? rewrite : nil
        var rewritten: [UInt8] = []
        // Next sequence number per side (0 client, 1 server).
        var seq: [UInt32] = wrap ? [0xFFFF_FF00, 0xFFFF_F000] : [1_000, 500_000]

        func send(_ side: Int, _ flags: UInt8, _ payload: ByteView, advance: Bool = true) {
            let fromClient = side == 0
            let frame = udp
                ? frames.udp(fromClient: fromClient, srcPort: fromClient ? clientPort : serverPort,
                             dstPort: fromClient ? serverPort : clientPort, payload: payload)
                : frames.tcp(fromClient: fromClient, srcPort: fromClient ? clientPort : serverPort,
                             dstPort: fromClient ? serverPort : clientPort, seq: seq[side], ack: seq[1 - side],
                             flags: flags, payload: payload)
            run.packet(frame)
            if advance && !udp {
                seq[side] &+= UInt32(payload.count) + (flags & (FrameBuilder.syn | FrameBuilder.fin) != 0 ? 1 : 0)
            }
        }

        if !udp && flags & 2 == 0 {
            send(0, FrameBuilder.syn, .empty)
            run.step(0)
            send(1, FrameBuilder.syn | FrameBuilder.ack, .empty)
            run.step(0)
            send(0, FrameBuilder.ack, .empty)
        }
        while !r.atEnd {
            let ctl = r.byte()
            let length = r.length()
            let side = Int(ctl & 1)
            run.step(ctl >> 2)
            if ctl & 2 != 0 {
                if !udp { seq[side] &+= UInt32(length) }
                continue
            }
            let payload = r.take(min(length, FrameBuilder.maxPayload))
            func data(_ payload: ByteView) {
                if ctl & 0x20 != 0 { send(side, FrameBuilder.psh | FrameBuilder.ack, payload, advance: false) }
                send(side, FrameBuilder.psh | FrameBuilder.ack, payload)
            }
            if let rewriting {
                rewritten.removeAll(keepingCapacity: true)
                payload.withBytes { rewritten.append(contentsOf: $0) }
                rewriting(&rewritten)
                ByteView.with(rewritten) { data($0) }
            } else {
                data(payload)
            }
            if !udp && ctl & 0x40 != 0 { send(side, FrameBuilder.fin | FrameBuilder.ack, .empty) }
            if !udp && ctl & 0x80 != 0 { send(side, FrameBuilder.rst | FrameBuilder.ack, .empty) }
        }
        if !udp && flags & 0x20 == 0 {
            run.step(0)
            send(0, FrameBuilder.fin | FrameBuilder.ack, .empty)
            run.step(0)
            send(1, FrameBuilder.fin | FrameBuilder.ack, .empty)
            run.step(0)
            send(0, FrameBuilder.ack, .empty)
        }
        run.end()
    }
}

import SpanSightEngine
import SpanSightWire

/// The pipeline target: the input is a capture without pcap framing, every frame through
/// `Engine.process` with all the dissectors registered (decoders, flows, TCP state, reassembly,
/// probes, sessions, flow and stats events).
///
///     input   := flags record*
///     flags   : bits 0-2 link type (LinkTypes.dlt), bit 3 an observer listens, bit 4 no events
///               built, bit 5 small limits (8 flows, one reassembly page per direction, 8 in all)
///     record  := length(2 bytes, big-endian) step frame   (a short last record is kept)
///     step    : bits 0-2 clock step before the frame (ClockStep), bit 3 the frame was cut by a
///               snaplen (its wire length is 100 bytes more)
///
/// Seeds (Fuzz/seeds.py) are the fixtures' and corpus captures, one record per frame.
public enum PipelineFuzz {
    /// The link types a capture can have here, by the flags' 3-bit code (DLT values: Ethernet,
    /// Linux SLL, SLL2, BSD loopback, OpenBSD loopback, raw IP, raw IPv4, raw IPv6).
    public static let dlt: [Int32] = [1, 113, 276, 0, 108, 101, 228, 229]

    public static func run(_ input: ByteView, dissectors: [DissectorEntry]) {
        var r = InputReader(input)
        let flags = r.byte()
        var config = EngineConfig()
        config.dissectors = dissectors
        if flags & 0x20 != 0 {
            config.maxFlows = 8
            config.reassemblyPerFlowBytes = config.pageSize
            config.reassemblyTotalBytes = 8 * config.pageSize
        } else {
            config.maxFlows = 1024
        }
        var run = FuzzRun(config: config, events: flags & 0x10 == 0, observe: flags & 8 != 0)
        guard run.engine.setLinkType(dlt: dlt[Int(flags & 7)]) else { preconditionFailure("a listed link type") }
        while !r.atEnd {
            let length = r.length()
            let step = r.byte()
            let frame = r.take(length)
            run.step(step)
            run.packet(frame, wireLength: frame.count + (step & 8 != 0 ? 100 : 0))
        }
        run.end()
    }
}

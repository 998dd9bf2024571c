import SpanSightEngine
import SpanSightWire

/// DNP3 dissector (placeholder entry until the dissector lands; probes nothing).
public enum DNP3 {
    public static let entry = DissectorEntry(
        name: "dnp3", transports: [.tcp, .udp], hintPorts: [20000],
        probe: { _, _, _ in .noMatch },
        makeSession: { _ in PlaceholderSession() })
}

final class PlaceholderSession: DissectorSession {
    func receive(_ bytes: ByteView, direction: Direction, context: inout DissectContext) {}
    func gap(_ length: Int, direction: Direction, context: inout DissectContext) {}
    func finish(context: inout DissectContext) {}
}

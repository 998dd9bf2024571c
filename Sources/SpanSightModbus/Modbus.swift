import SpanSightEngine
import SpanSightWire

/// Modbus/TCP dissector (placeholder entry until the dissector lands; probes nothing).
public enum Modbus {
    public static let entry = DissectorEntry(
        name: "modbus", transports: [.tcp, .udp], hintPorts: [502],
        probe: { _, _, _ in .noMatch },
        makeSession: { _ in PlaceholderSession() })
}

final class PlaceholderSession: DissectorSession {
    func receive(_ bytes: ByteView, direction: Direction, context: inout DissectContext) {}
    func gap(_ length: Int, direction: Direction, context: inout DissectContext) {}
    func finish(context: inout DissectContext) {}
}

import SpanSightEngine
import SpanSightWire

/// Modbus/TCP and Modbus/UDP (MBAP framing): probe, stream framing with resynchronisation,
/// decoding of every public function code, request/response pairing and spec-limit anomalies.
/// Output fields and anomaly names: docs/modbus.md.
public enum Modbus {
    public static let entry = DissectorEntry(
        name: "modbus", transports: [.tcp, .udp], hintPorts: [502],
        probe: { bytes, _, _ in probe(bytes) },
        makeSession: { info in ModbusSession(udp: info.proto == 17) })
}

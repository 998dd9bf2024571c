import SpanSightEngine
import SpanSightWire

/// Modbus/TCP and Modbus/UDP (MBAP framing): probe, stream framing with resynchronisation,
/// decoding of every public function code, request/response pairing and spec-limit anomalies.
/// Output fields and anomaly names: docs/modbus.md.
public enum Modbus {
    /// The registered Modbus/TCP server port.
    public static let modbusPort: UInt16 = 502

    public static let entry = DissectorEntry(
        name: "modbus", transports: [.tcp, .udp], hintPorts: [502], module: module,
        probe: { bytes, _, info in
            probe(bytes, onModbusPort: info.serverPort == modbusPort || info.clientPort == modbusPort)
        },
        makeSession: { info in
            // Port 502 marks the Modbus server: when the engine's client (the SYN sender) owns
            // port 502 and the other side does not, requests travel to the engine's client.
            let inverted = info.clientPort == modbusPort && info.serverPort != modbusPort
            return ModbusSession(udp: info.proto == 17, requestDirection: inverted ? .toClient : .toServer)
        })
}

import SpanSightEngine
import SpanSightWire

/// Modbus/TCP and Modbus/UDP (MBAP framing): probe, stream framing with resynchronisation,
/// decoding of every public function code, request/response pairing and spec-limit anomalies.
/// Output fields and anomaly names: docs/modbus.md.
public enum Modbus {
    /// The registered Modbus/TCP server port.
    public static let modbusPort: UInt16 = 502

    public static let entry = DissectorEntry(
        name: "modbus", transports: [.tcp, .udp], hintPorts: [502],
        probe: { bytes, _, info in
            probe(bytes, onModbusPort: info.serverPort == modbusPort || info.clientPort == modbusPort)
        },
        makeSession: { info in
            // Port 502 marks the Modbus server: when the engine's client (the SYN sender) owns
            // port 502 and the other side does not, requests travel to the engine's client.
            let inverted = info.clientPort == modbusPort && info.serverPort != modbusPort
            return ModbusSession(udp: info.proto == 17, requestDirection: inverted ? .toClient : .toServer)
        },
        alertObject: { command, w in writeAlertObject(command, &w) })

    /// The `modbus` object of an alert on a request, in Suricata's names: what the command
    /// observation holds of the request (unit, function, sub-function, first address and count).
    static func writeAlertObject(_ c: Command, _ w: inout JSONWriter) {
        let raw = UInt8(truncatingIfNeeded: c.function)
        let fc = raw & 0x7F
        w.beginObject(c.issuer == .client ? "request" : "response")
        w.field("unit_id", Int(c.unit))
        w.field("function_raw", Int(raw))
        w.field("function_code", SuricataModbusNames.functionCode(raw))
        w.field("access_type", SuricataModbusNames.accessType(raw))
        let category: StaticString
        if raw >= 0x80 || !SuricataModbusNames.isNamed(raw) {
            category = SuricataModbusNames.unnamedCategory(raw)
        } else if fc == 8 {
            category = SuricataModbusNames.isAssignedDiagnostic(c.subfunction) ? "PUBLIC_ASSIGNED" : "RESERVED"
        } else if fc == 43 {
            category = c.subfunction == 13 || c.subfunction == 14 ? "PUBLIC_ASSIGNED" : "RESERVED"
        } else {
            category = "PUBLIC_ASSIGNED"
        }
        w.field("category", category)
        switch fc {
        case 1...4:
            w.beginObject("read")
            w.field("address", Int(c.addressStart))
            w.field("quantity", Int(c.addressCount))
            w.endObject()
        case 5, 6, 22:
            w.beginObject("write")
            w.field("address", Int(c.addressStart))
            w.endObject()
        case 15, 16, 23:
            w.beginObject("write")
            w.field("address", Int(c.addressStart))
            w.field("quantity", Int(c.addressCount))
            w.endObject()
        case 8:
            w.beginObject("diagnostic")
            w.field("raw", Int(c.subfunction))
            w.field("code", SuricataModbusNames.diagnostic(c.subfunction))
            w.endObject()
        case 43:
            w.beginObject("mei")
            w.field("raw", Int(c.subfunction))
            w.field("code", SuricataModbusNames.mei(UInt8(truncatingIfNeeded: c.subfunction)))
            w.endObject()
        default:
            break
        }
        w.endObject()
    }
}

import SpanSightEngine
import SpanSightWire

/// What a Modbus flow tells the inventory and the detection engine: the client and server
/// roles, the unit ids behind the server's address, device identification answers (FC 43/14),
/// every request as a command, exceptions as outcomes.
struct ModbusObservations {
    var rolesReported = false
    /// Unit ids already reported as child devices (256 bits).
    var unitsSeen: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    /// The operation class of a request (spec 6.x; sub-functions decide for FC 8).
    static func operation(_ p: ModbusPDU) -> OperationClass {
        switch p.baseFunction {
        case 1, 2, 3, 4, 24: return .read
        case 5, 6, 15, 16, 22, 23: return .write
        case 7, 11, 12: return .diagnostics
        case 8:
            // 1 restarts communications, 4 forces listen-only mode: both control the device.
            return p.subfunction == 1 || p.subfunction == 4 ? .control : .diagnostics
        case 17, 43: return .discovery
        case 20, 21: return .file
        default: return .other
        }
    }

    mutating func note<S: DissectorSink>(_ p: ModbusPDU, _ pdu: ByteView, serverSide: Side, txID: Int64 = -1, _ sink: inout S) {
        if !rolesReported {
            rolesReported = true
            sink.observe(.role(serverSide.other, "modbus.client"))
            sink.observe(.role(serverSide, "modbus.server"))
        }
        // A unit id is a device behind the server once it answers normally (a server that
        // only returns exceptions for a unit id, pymodbus's "server device failure" for an
        // unconfigured one or a gateway's code 10/11, gives no evidence of a device).
        if !p.isRequest && !p.fields.contains(.exception) && markUnit(p.unitID) {
            sink.observe(.child(serverSide, kind: "modbus.unit", id: UInt32(p.unitID)))
        }
        if p.isRequest {
            var c = Command(issuer: serverSide.other, operation: ModbusObservations.operation(p),
                            function: UInt16(p.baseFunction), name: ModbusNames.function(p.function),
                            unit: UInt32(p.unitID))
            if p.fields.contains(.readWrite) {
                c.addressStart = UInt32(p.writeAddress)
                c.addressCount = UInt32(p.writeQuantity)
            } else if p.fields.contains(.address) {
                c.addressStart = UInt32(p.address)
                c.addressCount = p.fields.contains(.quantity) ? UInt32(p.quantity) : 1
            }
            if p.fields.contains(.subfunction) { c.subfunction = p.subfunction }
            if p.fields.contains(.mei) { c.subfunction = UInt16(p.meiType) }
            // An alert on the command carries the request as the transaction's event writes it.
            sink.observe(.command(c), txID: txID, direction: nil) { w in
                var scratch: [UInt8] = []
                w.field("id", Int(txID))
                w.beginObject("request")
                ModbusJSON.write(p, pdu: pdu, bitLimit: nil, into: &w, scratch: &scratch)
                w.endObject()
            }
            return
        }
        if p.fields.contains(.exception) {
            sink.observe(.outcome(serverSide, name: "modbus.exception", success: false, code: UInt32(p.exceptionCode)))
        }
        if p.fields.contains(.deviceIDResponse) {
            let unit = UInt32(p.unitID)
            ModbusDeviceObjects.walk(pdu.suffix(from: 7), count: Int(p.numObjects)) { id, value, _ in
                guard let key = ModbusObservations.identityKey(id) else { return }
                let text = value.utf8String
                sink.observe(.childIdentity(serverSide, kind: "modbus.unit", id: unit, key: key, value: text))
            }
        }
    }

    /// Inventory keys of the standard device identification objects (spec 6.21, table 2).
    static func identityKey(_ id: UInt8) -> StaticString? {
        switch id {
        case 0: "modbus.vendor_name"
        case 1: "modbus.product_code"
        case 2: "modbus.revision"
        case 3: "modbus.vendor_url"
        case 4: "modbus.product_name"
        case 5: "modbus.model_name"
        case 6: "modbus.user_application_name"
        default: nil
        }
    }

    /// True the first time a unit id is seen.
    mutating func markUnit(_ u: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(u & 63)
        switch u >> 6 {
        case 0: if unitsSeen.0 & bit != 0 { return false }; unitsSeen.0 |= bit
        case 1: if unitsSeen.1 & bit != 0 { return false }; unitsSeen.1 |= bit
        case 2: if unitsSeen.2 & bit != 0 { return false }; unitsSeen.2 |= bit
        default: if unitsSeen.3 & bit != 0 { return false }; unitsSeen.3 |= bit
        }
        return true
    }
}

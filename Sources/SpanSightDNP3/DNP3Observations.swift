// UNSAFE: a device name is decoded from a rebased slice of a stack buffer, within its count.
import SpanSightEngine
import SpanSightWire

/// What a DNP3 flow tells the inventory and the detection engine: master and outstation roles
/// (from which side sends requests), link addresses behind each IP, device attributes (g0)
/// read from the outstation, every request as a command, IIN restart bits as outcomes.
struct DNP3Observations {
    var rolesReported = false
    /// Link addresses already reported, per side (a few per flow; bounded).
    var addresses: [(Side, UInt16)] = []
    static let maxAddresses = 64

    /// The operation class of a request function code (IEEE 1815-2012 table 4-1).
    static func operation(_ fc: UInt8, firstGroup: UInt8) -> OperationClass {
        switch fc {
        case 1: return .read
        case 2: return firstGroup == 50 ? .time : .write
        case 3...18, 20, 21, 31: return .control
        case 19, 22: return .write
        case 23, 24: return .time
        case 25...30: return .file
        default: return .other
        }
    }

    /// Group of the first object header of a request (0 when none).
    static func firstGroup(_ a: ByteView, fc: UInt8) -> UInt8 {
        if case .object(let h, _, _) = DNP3Objects.next(a, DNP3Objects.objectsOffset(fc), fc: fc) { return h.group }
        return 0
    }

    mutating func address(_ side: Side, _ a: UInt16) -> Bool {
        if addresses.contains(where: { $0.0 == side && $0.1 == a }) { return false }
        if addresses.count >= DNP3Observations.maxAddresses { return false }
        addresses.append((side, a))
        return true
    }

    /// A complete fragment from `sender` (the side whose bytes carried it).
    mutating func note(_ a: ByteView, fc: UInt8, source: UInt16, destination: UInt16, sender: Side,
                       txID: Int64 = -1, direction: Direction? = nil, appObject: (inout JSONWriter) -> Void = { _ in },
                       _ context: inout some DissectorSink) {
        let isResponse = DNP3Names.isResponse(fc)
        let master = isResponse ? sender.other : sender
        let outstation = master.other
        let masterAddress = isResponse ? destination : source
        let outstationAddress = isResponse ? source : destination
        if !rolesReported {
            rolesReported = true
            context.observe(.role(master, "dnp3.master"))
            context.observe(.role(outstation, "dnp3.outstation"))
        }
        if address(master, masterAddress) {
            context.observe(.child(master, kind: "dnp3.address", id: UInt32(masterAddress)))
        }
        if address(outstation, outstationAddress) {
            context.observe(.child(outstation, kind: "dnp3.address", id: UInt32(outstationAddress)))
        }
        if !isResponse {
            guard fc != 0 else { return }  // confirmations are not commands
            // "g60v2 g60v3 ...": written into a stack buffer, then one String (inline when it
            // fits 15 bytes; one allocation otherwise, never one per group).
            var first: UInt8 = 0
            let groups: String = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16 * 9) { buf in
                var w = 0
                func put(_ b: UInt8) { buf[w] = b; w += 1 }
                func number(_ v: UInt8) {
                    if v >= 100 { put(0x30 + v / 100) }
                    if v >= 10 { put(0x30 + v / 10 % 10) }
                    put(0x30 + v % 10)
                }
                var off = DNP3Objects.objectsOffset(fc)
                var n = 0
                while n < 16, case .object(let h, _, let next) = DNP3Objects.next(a, off, fc: fc) {
                    if n == 0 { first = h.group }
                    if n > 0 { put(0x20) }
                    put(0x67)                   // g
                    number(h.group)
                    put(0x76)                   // v
                    number(h.variation)
                    off = next
                    n += 1
                }
                return String(decoding: UnsafeBufferPointer(rebasing: buf[0..<w]), as: UTF8.self)
            }
            context.observe(.command(Command(issuer: master, operation: DNP3Observations.operation(fc, firstGroup: first),
                                             function: UInt16(fc), name: DNP3Names.function(fc),
                                             unit: UInt32(outstationAddress),
                                             detail: groups.isEmpty ? nil : groups)),
                            txID: txID, direction: direction, appObject: appObject)
            return
        }
        // IIN1.7: the outstation restarted.
        if let iin1 = a.u8(at: 2), iin1 & 0x80 != 0 {
            context.observe(.outcome(outstation, name: "dnp3.iin_device_restart", success: true, code: UInt32(outstationAddress)))
        }
        if let iin2 = a.u8(at: 3), iin2 & 0x01 != 0 {
            context.observe(.outcome(outstation, name: "dnp3.iin_no_func_code_support", success: false, code: UInt32(fc)))
        }
        attributes(a, fc: fc, outstation: outstation, address: outstationAddress, &context)
    }

    /// Device attributes (group 0) in a response: the identity strings among them.
    func attributes(_ a: ByteView, fc: UInt8, outstation: Side, address: UInt16, _ context: inout some DissectorSink) {
        var off = DNP3Objects.objectsOffset(fc)
        var n = 0
        while n < 64, case .object(let h, let data, let next) = DNP3Objects.next(a, off, fc: fc) {
            n += 1
            off = next
            guard h.group == 0, let key = DNP3Observations.attributeKey(h.variation) else { continue }
            let p = data + h.indexPrefixSize
            guard let type = a.u8(at: p), let len = a.u8(at: p + 1), let body = a.slice(p + 2, Int(len)) else { continue }
            let value: String
            switch type {
            case 1, 5, 6: value = body.utf8String
            case 2:
                guard body.count >= 1 && body.count <= 8 else { continue }
                var x: UInt64 = 0
                for i in stride(from: body.count - 1, through: 0, by: -1) { x = x << 8 | UInt64(body._u8(i)) }
                value = String(x)
            default: continue
            }
            context.observe(.childIdentity(outstation, kind: "dnp3.address", id: UInt32(address), key: key, value: value))
        }
    }

    /// Inventory keys of the device attribute variations of group 0 (IEEE 1815-2012 11.9.x).
    static func attributeKey(_ variation: UInt8) -> StaticString? {
        switch variation {
        case 252: "dnp3.manufacturer_name"
        case 250: "dnp3.product_name"
        case 249: "dnp3.subset_level"
        case 248: "dnp3.serial_number"
        case 247: "dnp3.device_name"
        case 246: "dnp3.user_id"
        case 245: "dnp3.location"
        case 243: "dnp3.hardware_version"
        case 242: "dnp3.software_version"
        default: nil
        }
    }
}

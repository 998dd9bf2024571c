import SpanSightEngine
import SpanSightWire

/// What an S7comm flow tells the inventory and the detection engine: the client and server
/// roles, the identification lists (SZL 0x0011, 0x001C) as identities of the server, every
/// request as a command, failed answers as outcomes.
struct S7commObservations {
    var rolesReported = false
    var szl = SZLAssembler()

    /// Userdata commands are numbered 0x1000 | group << 8 | subfunction (read SZL 0x1401), apart
    /// from the job function codes (one byte).
    static func commandFunction(_ p: S7PDU) -> UInt16 {
        p.isUserdata ? 0x1000 | UInt16(p.group) << 8 | UInt16(p.subfunction) : UInt16(p.function)
    }

    /// The operation class of a request.
    static func operation(_ p: S7PDU) -> OperationClass {
        if p.isUserdata {
            switch p.group {
            case S7Userdata.programmer: return p.subfunction == 0x10 ? .write : .diagnostics
            case S7Userdata.cyclic: return .read
            case S7Userdata.blockFunctions: return .discovery
            case S7Userdata.cpuFunctions: return p.subfunction == S7Userdata.readSZL ? .discovery : .diagnostics
            case S7Userdata.security: return .association
            case S7Userdata.timeFunctions: return .time
            case S7Userdata.ncProgramming: return .file
            default: return .other
            }
        }
        guard p.hasFunction else { return .other }
        switch p.function {
        case S7Function.setupCommunication: return .association
        case S7Function.readVar: return .read
        case S7Function.writeVar: return .write
        case S7Function.plcStop: return .control
        case S7Function.plcControl:
            switch p.piService {
            case .insertBlock, .deleteBlock, .copyRAMToROM: return .file
            default: return .control
            }
        case S7Function.requestDownload, S7Function.downloadBlock, S7Function.downloadEnded,
             S7Function.startUpload, S7Function.upload, S7Function.endUpload: return .file
        default: return .other
        }
    }

    /// The command's stable name: the function's, with PLC control named by its service.
    static func commandName(_ p: S7PDU) -> StaticString {
        if p.isUserdata { return S7commNames.userdataFunction(group: p.group, subfunction: p.subfunction) }
        guard p.hasFunction else { return "unknown" }
        if p.function == S7Function.plcControl {
            switch p.piService {
            case .start: return "plc_start"
            case .insertBlock: return "plc_insert_block"
            case .deleteBlock: return "plc_delete_block"
            case .compress: return "plc_compress_memory"
            case .copyRAMToROM: return "plc_copy_ram_to_rom"
            case .other: return "plc_control"
            }
        }
        return S7commNames.function(p.function)
    }

    /// Roles, once per flow: `clientSide` is the side that connects and sends jobs.
    mutating func roles<S: DissectorSink>(clientSide: Side, _ sink: inout S) {
        guard !rolesReported else { return }
        rolesReported = true
        sink.observe(.role(clientSide, "s7comm.client"))
        sink.observe(.role(clientSide.other, "s7comm.server"))
    }

    /// A request as a command (`issuer`: the side that sent it; the PLC sends the download
    /// block and download ended jobs of a download).
    func command<S: DissectorSink>(_ p: S7PDU, _ pdu: ByteView, issuer: Side, txID: Int64, direction: Direction,
                                     _ sink: inout S) {
        var c = Command(issuer: issuer, operation: S7commObservations.operation(p),
                        function: S7commObservations.commandFunction(p), name: S7commObservations.commandName(p))
        if !p.isUserdata && (p.function == S7Function.readVar || p.function == S7Function.writeVar) && p.itemsFound > 0 {
            // The first item: its area as the sub-function, its DB as the unit, its byte (or
            // element) address; the count is the elements of every item.
            c.subfunction = UInt16(p.firstArea)
            c.unit = UInt32(p.firstDB)
            c.addressStart = S7commNames.isNumberedArea(p.firstArea) ? p.firstAddress : p.firstAddress >> 3
            c.addressCount = p.totalCount
            var d = "\(S7commNames.area(p.firstArea))"
            if p.firstArea == 0x84 || p.firstArea == 0x85 { d += "\(p.firstDB)" }
            d += S7commNames.isNumberedArea(p.firstArea) ? " \(p.firstAddress)" : " \(p.firstAddress >> 3).\(p.firstAddress & 7)"
            d += " x\(p.firstCount)"
            if p.itemCount > 1 { d += " +\(p.itemCount - 1) items" }
            c.detail = d
        } else if p.isUserdata && p.hasSZL {
            c.subfunction = p.szlID
            c.addressStart = UInt32(p.szlIndex)
        } else if !p.isUserdata && (p.function == S7Function.plcControl || p.function == S7Function.plcStop) {
            let param = p.parameter(pdu)
            let bl = p.function == S7Function.plcControl ? Int(param.u16(at: 8) ?? 0) : 0
            let at = p.function == S7Function.plcControl ? 10 + bl : 6
            if let name = lengthPrefixed(param, at: at) { c.detail = name.utf8String }
            if p.function == S7Function.plcControl, bl > 0, let block = param.slice(10, bl) {
                c.target = S7commObservations.blocksText(block) ?? block.utf8String
            }
        } else if !p.isUserdata, let name = lengthPrefixed(p.parameter(pdu), at: 8),
                  p.function == S7Function.startUpload || p.function == S7Function.requestDownload
                    || p.function == S7Function.downloadBlock || p.function == S7Function.downloadEnded {
            c.detail = name.utf8String
        } else if p.isUserdata && p.group == S7Userdata.blockFunctions && p.subfunction == S7Userdata.blockInfo,
                  let b = S7BlockName(p.userdataPayload(pdu)) {
            c.detail = "\(S7commNames.blockType(b.type))\(b.number.map(String.init) ?? "")"
        }
        sink.observe(.command(c), txID: txID, direction: direction) { w in
            w.field("id", Int(txID))
            w.beginObject("request")
            S7commJSON.write(p, pdu: pdu, into: &w)
            w.endObject()
        }
    }

    /// "DB5 OB1": the block ids of an _INSE / _DELE parameter block.
    static func blocksText(_ block: ByteView) -> String? {
        guard let n = block.u8(at: 0), n > 0, block.count >= 2 + 8 * Int(n) else { return nil }
        var parts: [String] = []
        for i in 0..<min(Int(n), 16) {
            guard let id = block.slice(2 + 8 * i, 8), let b = S7BlockName(id) else { continue }
            parts.append("\(S7commNames.blockType(b.type))\(b.number.map(String.init) ?? "")")
        }
        return parts.joined(separator: " ")
    }

    /// A response: outcomes when it failed, identities from identification lists.
    /// `request`: its request (nil when unmatched); `serverSide`: the side that answers.
    mutating func response<S: DissectorSink>(_ p: S7PDU, _ pdu: ByteView, request: S7PDU?, serverSide: Side,
                                               _ sink: inout S) {
        if p.hasHeaderError && p.headerError != 0 {
            sink.observe(.outcome(serverSide, name: "s7comm.error", success: false, code: UInt32(p.headerError)))
        } else if p.parameterErrorCode != 0 {
            sink.observe(.outcome(serverSide, name: "s7comm.userdata_error", success: false, code: UInt32(p.parameterErrorCode)))
        } else if p.isUserdata && p.hasUserdataData && p.returnCode != 0xFF {
            sink.observe(.outcome(serverSide, name: "s7comm.return_code", success: false, code: UInt32(p.returnCode)))
        }
        if p.failedItems > 0 {
            sink.observe(.outcome(serverSide, name: "s7comm.item_error", success: false, code: UInt32(p.firstFailure)))
        }
        guard p.isUserdata, p.group == S7Userdata.cpuFunctions, p.subfunction == S7Userdata.readSZL,
              p.hasUserdataData, p.returnCode == 0xFF else { return }
        let followUp = request.map { !$0.hasSZL } ?? false
        let more = p.hasUserdataExtension && p.lastDataUnit != 0
        let payload = p.userdataPayload(pdu)
        func emit(_ list: UInt16, _ record: ByteView) {
            S7SZL.identity(list: list, record: record) { f, t, v in
                let value = t.map { $0.utf8String } ?? v.map(S7SZL.versionString) ?? ""
                sink.observe(.identity(serverSide, key: f.key, value: value))
            }
        }
        if followUp { szl.resume(payload, more: more, emit) } else { szl.start(payload, more: more, emit) }
    }
}

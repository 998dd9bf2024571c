import SpanSightEngine
import SpanSightWire

/// Writes one side (`request`, `response` or `notification`) of an `s7comm` event, and the
/// COTP connection TPDUs. Variable parts are read from the PDU's bytes (live for the PDU just
/// received, the bounded copy for a stored request). Every value written from the wire is
/// bounded: at most `maxItems` items, `maxDataBytes` bytes of hex per value, `maxTextBytes`
/// of a name. Layout and meaning: docs/s7comm.md.
enum S7commJSON {
    static let maxItems = 32
    static let maxDataBytes = 32
    static let maxTextBytes = 64
    static let maxBlockNumbers = 64

    /// `continuation`: a response to a follow-up SZL request (its records continue the
    /// previous answer's, without the list header).
    static func write(_ p: S7PDU, pdu: ByteView, continuation: Bool = false, into w: inout JSONWriter) {
        w.field("rosctr", S7commNames.rosctr(p.rosctr))
        w.field("rosctr_raw", Int(p.rosctr))
        w.field("pdu_ref", Int(p.pduReference))
        if p.redundancy != 0 { w.field("redundancy_id", Int(p.redundancy)) }
        w.field("param_length", Int(p.parameterLength))
        w.field("data_length", Int(p.dataLength))
        if p.hasHeaderError {
            w.field("error_class", Int(p.errorClass))
            w.field("error_code", Int(p.errorCode))
            w.field("error_class_name", S7commNames.errorClass(p.errorClass))
        }
        if p.flaws.contains(.invalidPDULength) {
            w.field("pdu_bytes", Int(p.available))
            return
        }
        if p.isUserdata {
            userdata(p, pdu, continuation: continuation, &w)
        } else if p.hasFunction {
            w.field("function", S7commNames.function(p.function))
            w.field("function_raw", Int(p.function))
            function(p, pdu, &w)
        }
    }

    // MARK: job, ack, ack_data

    static func function(_ p: S7PDU, _ pdu: ByteView, _ w: inout JSONWriter) {
        let param = p.parameter(pdu), data = p.data(pdu)
        let job = p.rosctr == S7Header.job
        switch p.function {
        case S7Function.setupCommunication:
            guard param.count >= 8 else { return }
            w.field("max_amq_calling", Int(p.amqCalling))
            w.field("max_amq_called", Int(p.amqCalled))
            w.field("pdu_length", Int(p.pduLength))
        case S7Function.readVar, S7Function.writeVar:
            guard param.count >= 2 else { return }
            w.field("item_count", Int(p.itemCount))
            if job {
                jobItems(p, param, data, write: p.function == S7Function.writeVar, &w)
            } else if p.function == S7Function.readVar {
                readResults(p, data, &w)
            } else {
                writeResults(p, data, &w)
            }
        case S7Function.plcControl where job:
            plcControl(param, &w)
        case S7Function.plcStop where job:
            if let name = lengthPrefixed(param, at: 6) { text("pi_service", name, &w) }
        case S7Function.startUpload, S7Function.upload, S7Function.endUpload, S7Function.requestDownload,
             S7Function.downloadBlock, S7Function.downloadEnded:
            blockTransfer(p, param, data, job: job, &w)
        default:
            if !data.isEmpty { hex("data", data, &w) }
        }
    }

    static func jobItems(_ p: S7PDU, _ param: ByteView, _ data: ByteView, write: Bool, _ w: inout JSONWriter) {
        // A write job's data items, in order, beside the variable specifications (walked along,
        // nothing collected: an event allocates nothing).
        var dataAt = 0
        w.beginArray("items")
        let walk = S7Walk.items(param, count: min(Int(p.itemCount), maxItems)) { i, item in
            w.beginObject()
            w.field("syntax_id", S7commNames.syntaxID(item.syntaxID))
            w.field("syntax_id_raw", Int(item.syntaxID))
            if item.isS7Any {
                w.field("area", S7commNames.area(item.area))
                w.field("area_raw", Int(item.area))
                if item.area == 0x84 || item.area == 0x85 || item.db != 0 { w.field("db", Int(item.db)) }
                address(item.area, item.address, &w)
                w.field("transport_size", S7commNames.itemTransportSize(item.transportSize))
                w.field("transport_size_raw", Int(item.transportSize))
                w.field("count", Int(item.count))
            } else {
                w.field("spec_length", Int(item.specLength))
            }
            // A stored request may be cut within a value (its copy is bounded): the length is
            // the item's, the hex what is there.
            if write, let ts = data.u8(at: dataAt + 1), let len = data.u16(at: dataAt + 2) {
                let n = S7Walk.byteCount(transportSize: ts, length: len)
                w.field("data_transport_size", S7commNames.dataTransportSize(ts))
                w.field("data_length", n)
                hex("data", data.suffix(from: dataAt + 4).prefix(n), &w)
                dataAt += 4 + n + (n & 1 == 1 && i + 1 < Int(p.itemCount) ? 1 : 0)
            }
            w.endObject()
        }
        w.endArray()
        if Int(p.itemCount) > walk.found && walk.found == maxItems {
            w.field("items_truncated", Int(p.itemCount) - maxItems)
        }
    }

    /// "byte.bit", or the element number of a counter or timer. Small strings (at most 10
    /// characters) are stored inline: no allocation.
    static func address(_ area: UInt8, _ a: UInt32, _ w: inout JSONWriter) {
        if S7commNames.isNumberedArea(area) {
            w.field("address", String(a))
        } else {
            w.field("address", String(a >> 3) + "." + String(a & 7))
        }
    }

    static func readResults(_ p: S7PDU, _ data: ByteView, _ w: inout JSONWriter) {
        w.beginArray("items")
        let walk = S7Walk.dataItems(data, count: min(Int(p.itemCount), maxItems), response: true) { _, d in
            w.beginObject()
            w.field("return_code", S7commNames.returnCode(d.returnCode))
            w.field("return_code_raw", Int(d.returnCode))
            w.field("transport_size", S7commNames.dataTransportSize(d.transportSize))
            w.field("transport_size_raw", Int(d.transportSize))
            if d.returnCode == 0xFF {
                w.field("length", d.byteCount)
                if d.byteCount > 0 { hex("data", d.value, &w) }
            }
            w.endObject()
        }
        w.endArray()
        if Int(p.itemCount) > walk.found && walk.found == maxItems {
            w.field("items_truncated", Int(p.itemCount) - maxItems)
        }
    }

    static func writeResults(_ p: S7PDU, _ data: ByteView, _ w: inout JSONWriter) {
        let n = min(Int(p.itemCount), data.count, maxItems)
        w.beginArray("items")
        for i in 0..<n {
            let rc = data.u8(at: i) ?? 0
            w.beginObject()
            w.field("return_code", S7commNames.returnCode(rc))
            w.field("return_code_raw", Int(rc))
            w.endObject()
        }
        w.endArray()
        if min(Int(p.itemCount), data.count) > maxItems { w.field("items_truncated", min(Int(p.itemCount), data.count) - maxItems) }
    }

    /// PI service: the service name, what it does, and its arguments: for _INSE and _DELE the
    /// blocks (a count, a reserved byte, then 8-character block ids), else the parameter block
    /// as text ("C " asks P_PROGRAM for a cold restart).
    static func plcControl(_ param: ByteView, _ w: inout JSONWriter) {
        guard let bl = param.u16(at: 8), let block = param.slice(10, Int(bl)),
              let name = lengthPrefixed(param, at: 10 + Int(bl)) else { return }
        text("pi_service", name, &w)
        let service = S7commNames.PIService(name)
        w.field("pi_operation", service.name)
        if (service == .insertBlock || service == .deleteBlock), let n = block.u8(at: 0), block.count >= 2 + 8 * Int(n) {
            w.beginArray("blocks")
            for i in 0..<min(Int(n), maxItems) {
                guard let id = block.slice(2 + 8 * i, 8), let b = S7BlockName(id) else { continue }
                w.beginObject()
                text("name", id, &w)
                blockName(b, &w)
                w.endObject()
            }
            w.endArray()
        } else if !block.isEmpty {
            text("arguments", block, &w)
        }
    }

    static func blockName(_ b: S7BlockName, _ w: inout JSONWriter) {
        w.field("block_type", S7commNames.blockType(b.type))
        if let n = b.number { w.field("block_number", n) }
        if let fs = b.fileSystem {
            w.key("filesystem")
            w.value(bytes: [fs])
        }
    }

    /// Upload and download: function status, upload id, the block's file name, lengths; the
    /// block bytes themselves are counted, never written.
    static func blockTransfer(_ p: S7PDU, _ param: ByteView, _ data: ByteView, job: Bool, _ w: inout JSONWriter) {
        if let status = param.u8(at: 1) {
            w.field("function_status", Int(status))
            if !job { w.field("more_data", status & 0x01 != 0) }
        }
        if job {
            if p.function == S7Function.endUpload || p.function == S7Function.downloadEnded,
               let e = param.u16(at: 2) { w.field("block_error_code", Int(e)) }
            if p.function != S7Function.requestDownload, let id = param.u32(at: 4) { w.field("upload_id", UInt64(id)) }
            if p.function != S7Function.upload && p.function != S7Function.endUpload, let name = lengthPrefixed(param, at: 8) {
                text("filename", name, &w)
                if let b = S7BlockName(name) { blockName(b, &w) }
                // Request download: "1", then the load memory and MC7 code lengths (6 digits each).
                if p.function == S7Function.requestDownload, let part2 = lengthPrefixed(param, at: 9 + name.count),
                   part2.count == 13 {
                    if let n = part2.slice(1, 6).flatMap(asciiNumber) { w.field("load_memory_length", n) }
                    if let n = part2.slice(7, 6).flatMap(asciiNumber) { w.field("mc7_length", n) }
                }
            }
            return
        }
        if p.function == S7Function.startUpload {
            if let id = param.u32(at: 4) { w.field("upload_id", UInt64(id)) }
            if let len = lengthPrefixed(param, at: 8), let n = asciiNumber(len) { w.field("block_length", n) }
        }
        if p.function == S7Function.upload || p.function == S7Function.downloadBlock, let n = data.u16(at: 0) {
            w.field("block_data_length", Int(n))
            w.field("data_bytes", max(0, data.count - 4))
        }
    }

    // MARK: userdata

    static func userdata(_ p: S7PDU, _ pdu: ByteView, continuation: Bool, _ w: inout JSONWriter) {
        if p.parameterLength < 8 { return }
        w.field("type", S7commNames.userdataType(p.userdataType))
        w.field("type_raw", Int(p.userdataType))
        w.field("function_group", S7commNames.functionGroup(p.group))
        w.field("function_group_raw", Int(p.group))
        w.field("subfunction_raw", Int(p.subfunction))
        w.field("function", S7commNames.userdataFunction(group: p.group, subfunction: p.subfunction))
        w.field("sequence_number", Int(p.sequenceNumber))
        if p.hasUserdataExtension {
            w.field("data_unit_reference", Int(p.dataUnitReference))
            w.field("last_data_unit", p.lastDataUnit == 0)
            w.field("param_error_code", Int(p.parameterErrorCode))
        }
        guard p.hasUserdataData else { return }
        w.field("return_code", S7commNames.returnCode(p.returnCode))
        w.field("return_code_raw", Int(p.returnCode))
        w.field("transport_size_raw", Int(p.dataTransportSize))
        let payload = p.userdataPayload(pdu)
        switch (p.group, p.subfunction) {
        case (S7Userdata.modeTransition, _):
            w.field("cpu_mode", S7commNames.cpuMode(p.subfunction))
            w.field("cpu_mode_raw", Int(p.subfunction))
        case (S7Userdata.cpuFunctions, S7Userdata.readSZL):
            szl(p, payload, continuation: continuation, &w)
        case (S7Userdata.blockFunctions, _):
            blockFunction(p, payload, &w)
        case (S7Userdata.timeFunctions, _):
            if payload.count == 10 { time(payload, &w) } else if !payload.isEmpty { hex("data", payload, &w) }
        case (S7Userdata.security, _):
            // The password (obfuscated, not encrypted) is never logged: only its length.
            if !payload.isEmpty { w.field("password_bytes", payload.count) }
        default:
            if !payload.isEmpty {
                w.field("data_bytes", payload.count)
                hex("data", payload, &w)
            }
        }
    }

    static func szl(_ p: S7PDU, _ payload: ByteView, continuation: Bool, _ w: inout JSONWriter) {
        if p.isRequest {
            if p.hasSZL {
                w.field("szl_id", Int(p.szlID))
                w.field("szl_index", Int(p.szlIndex))
                w.field("szl_name", S7commNames.szl(p.szlID))
            } else {
                w.field("follow_up", true)
            }
            return
        }
        if continuation || !p.hasSZL {
            if continuation { w.field("continuation", true) }
            if !payload.isEmpty { w.field("data_bytes", payload.count) }
            return
        }
        guard let h = S7SZL.header(payload) else { return }
        w.field("szl_id", Int(h.id))
        w.field("szl_index", Int(h.index))
        w.field("szl_name", S7commNames.szl(h.id))
        w.field("szl_record_length", h.recordLength)
        w.field("szl_record_count", h.recordCount)
        guard S7SZL.identifies(h.id), h.recordLength > 0 else { return }
        // The identification in the records this answer holds whole: each field once, from
        // the first record of its index that gives one (a repeated index would repeat a key).
        var opened = false
        var written: UInt64 = 0
        var at = S7SZL.headerSize
        var n = 0
        while n < h.recordCount, let r = payload.slice(at, h.recordLength) {
            let index = Int(r.u16(at: 0) ?? 0xFFFF)
            let bit: UInt64 = index < 64 ? 1 << UInt64(index) : 0
            if bit != 0 && written & bit == 0 { S7SZL.identity(list: h.id, record: r) { f, t, v in
                written |= bit
                if !opened { w.beginObject("identification"); opened = true }
                if let t { w.key(f.json); w.value(bytes: t.prefix(maxTextBytes)) }
                if let v { w.field(f.json, S7SZL.versionString(v)) }
            } }
            at += h.recordLength
            n += 1
        }
        if opened { w.endObject() }
    }

    static func blockFunction(_ p: S7PDU, _ payload: ByteView, _ w: inout JSONWriter) {
        switch p.subfunction {
        case S7Userdata.listBlocks where p.isResponse:
            // Entries of 4 bytes: 0x30, the type's character, the count.
            w.beginArray("blocks")
            var at = 0
            while let t = payload.u8(at: at + 1), let n = payload.u16(at: at + 2), at / 4 < maxItems {
                w.beginObject()
                w.field("block_type", S7commNames.blockType(0x3000 | UInt16(t)))
                w.field("count", Int(n))
                w.endObject()
                at += 4
            }
            w.endArray()
        case S7Userdata.listBlocksOfType where p.isRequest:
            if let t = payload.u16(at: 0) { w.field("block_type", S7commNames.blockType(t)) }
        case S7Userdata.listBlocksOfType where p.isResponse:
            // Entries of 4 bytes: the number, flags, language.
            let n = payload.count / 4
            w.beginArray("block_numbers")
            for i in 0..<min(n, maxBlockNumbers) { w.value(Int(payload.u16(at: 4 * i) ?? 0)) }
            w.endArray()
            if n > maxBlockNumbers { w.field("block_numbers_truncated", n - maxBlockNumbers) }
        case S7Userdata.blockInfo where p.isRequest:
            if let b = S7BlockName(payload) { blockName(b, &w) }
        default:
            if !payload.isEmpty { w.field("data_bytes", payload.count) }
        }
    }

    /// The clock's 10 bytes: a reserved byte, the century and the year (BCD; the S7 two-digit
    /// year of DATE_AND_TIME: 90-99 are 1990-1999, 00-89 2000-2089), month, day, hour, minute,
    /// second, three BCD digits of milliseconds and the weekday (1 Sunday .. 7 Saturday).
    static func time(_ b: ByteView, _ w: inout JSONWriter) {
        func bcd(_ i: Int) -> Int? {
            guard let v = b.u8(at: i), v >> 4 <= 9, v & 0xF <= 9 else { return nil }
            return Int(v >> 4) * 10 + Int(v & 0xF)
        }
        guard let yy = bcd(2), let mo = bcd(3), let d = bcd(4), let h = bcd(5), let mi = bcd(6), let s = bcd(7),
              let m1 = bcd(8), let last = b.u8(at: 9), last >> 4 <= 9,
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 60 else {
            hex("time_raw", b, &w)
            return
        }
        let year = yy >= 90 ? 1900 + yy : 2000 + yy
        let ms = m1 * 10 + Int(last >> 4)
        let seconds = daysFromCivil(year, mo, d) * 86_400 + Int64(h * 3600 + mi * 60 + s)
        w.timestampField("time", nanos: seconds * 1_000_000_000 + Int64(ms) * 1_000_000)
        w.field("weekday", Int(last & 0x0F))
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (days-from-civil).
    static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month), d = Int64(day)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    // MARK: COTP

    /// A CR, CC, DR, DC or ER header (the TPDU without its TPKT).
    static func cotp(_ header: ByteView, into w: inout JSONWriter) {
        let (parsed, _) = COTPHeader.parse(header)
        guard let h = parsed else { return }
        w.field("pdu_type", S7commNames.cotpType(h.type))
        w.field("pdu_type_raw", Int(h.type))
        w.field("dst_ref", Int(h.destinationReference))
        switch h.code {
        case COTP.cr, COTP.cc:
            w.field("src_ref", Int(h.sourceReference))
            let c = COTPConnect(h)
            w.field("class", Int(c.classOption >> 4))
            if c.tpduSize > 0 { w.field("tpdu_size", Int(c.tpduSize)) }
            // Each parameter once, the first of its code (a repeated one would repeat a key).
            var seen = (calling: false, called: false, preferred: false)
            h.walkParameters { code, value in
                switch code {
                case COTP.callingTSAPParameter where !seen.calling:
                    seen.calling = true
                    tsap("calling_tsap", value, called: false, &w)
                case COTP.calledTSAPParameter where !seen.called:
                    seen.called = true
                    tsap("called_tsap", value, called: true, &w)
                case COTP.preferredTPDUSizeParameter where !seen.preferred:
                    seen.preferred = true
                    var v = 0
                    for i in 0..<min(value.count, 4) { v = v << 8 | Int(value.u8(at: i) ?? 0) }
                    w.field("preferred_tpdu_size", v * 128)
                default: break
                }
            }
            let user = h.userData
            if !user.isEmpty { w.field("user_data_bytes", user.count) }
        case COTP.dr:
            w.field("src_ref", Int(h.sourceReference))
            let r = h.bytes.u8(at: COTP.Field.reason) ?? 0
            w.field("reason", S7commNames.disconnectReason(r))
            w.field("reason_raw", Int(r))
        case COTP.dc:
            w.field("src_ref", Int(h.sourceReference))
        case COTP.er:
            let c = h.bytes.u8(at: COTP.Field.rejectCause) ?? 0
            w.field("reject_cause", S7commNames.rejectCause(c))
            w.field("reject_cause_raw", Int(c))
        default:
            break
        }
    }

    /// A TSAP as hex; a two-byte S7 TSAP also as its connection type and, for the called
    /// (the PLC's), rack and slot (second byte: rack * 32 + slot); a longer printable one
    /// (S7comm-plus names "SIMATIC-ROOT-HMI") as text too.
    static func tsap(_ key: StaticString, _ v: ByteView, called: Bool, _ w: inout JSONWriter) {
        w.key(key)
        w.hexString(v, limit: maxDataBytes)
        if v.count == 2, let t = v.u8(at: 0), let rs = v.u8(at: 1) {
            if called {
                w.field("connection_type", S7commNames.connectionType(t))
                w.field("connection_type_raw", Int(t))
                w.field("called_rack", Int(rs >> 5))
                w.field("called_slot", Int(rs & 0x1F))
            }
        } else if v.count > 2, isPrintable(v) {
            w.key(called ? "called_tsap_text" : "calling_tsap_text")
            w.value(bytes: v.prefix(maxTextBytes))
        }
    }

    static func isPrintable(_ v: ByteView) -> Bool {
        for i in 0..<v.count {
            guard let c = v.u8(at: i), c >= 0x20, c < 0x7F else { return false }
        }
        return true
    }

    // MARK: helpers

    static func hex(_ key: StaticString, _ v: ByteView, _ w: inout JSONWriter) {
        w.key(key)
        w.hexString(v, limit: maxDataBytes)
    }

    static func text(_ key: StaticString, _ v: ByteView, _ w: inout JSONWriter) {
        w.key(key)
        w.value(bytes: v.prefix(maxTextBytes))
    }
}

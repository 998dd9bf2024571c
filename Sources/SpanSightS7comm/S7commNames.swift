// UNSAFE: name lookups compare bytes with a StaticString's UTF-8 through `utf8Start`, below
// its count.
import SpanSightWire

/// Stable snake_case names of S7comm and COTP values (docs/s7comm.md). Events carry the raw
/// number beside each name, so values without a name ("unknown") still reach the log.
/// Sources: RFC 1006 (TPKT), ISO 8073 / X.224 (COTP), and the public descriptions of S7comm
/// (Siemens manuals for the SZL lists and the access result codes; the Wireshark wiki's S7comm
/// page for the header and parameter layout).
enum S7commNames {
    // MARK: COTP

    /// TPDU type by its code (the high nibble of the type byte; CR, CC, AK and RJ carry a
    /// credit, DT the ROA bit, in the low nibble).
    static func cotpType(_ code: UInt8) -> StaticString {
        switch code & 0xF0 {
        case 0xE0: "CR"
        case 0xD0: "CC"
        case 0x80: "DR"
        case 0xC0: "DC"
        case 0xF0: "DT"
        case 0x10: "ED"
        case 0x60: "AK"
        case 0x20: "EA"
        case 0x50: "RJ"
        case 0x70: "ER"
        default: "unknown"
        }
    }

    /// The resource type of an S7 TSAP's first byte (the "connection type" of a client).
    static func connectionType(_ b: UInt8) -> StaticString {
        switch b {
        case 1: "pg"
        case 2: "op"
        case 3: "s7_basic"
        default: "other"
        }
    }

    /// DR reasons (ISO 8073, 13.5.3 e).
    static func disconnectReason(_ r: UInt8) -> StaticString {
        switch r {
        case 0x00: "not_specified"
        case 0x01: "congestion_at_tsap"
        case 0x02: "session_entity_not_attached"
        case 0x03: "address_unknown"
        case 0x80: "normal"
        case 0x81: "remote_congestion"
        case 0x82: "negotiation_failed"
        case 0x83: "duplicate_source_reference"
        case 0x84: "mismatched_references"
        case 0x85: "protocol_error"
        case 0x87: "reference_overflow"
        case 0x88: "refused"
        case 0x8A: "header_or_parameter_length_invalid"
        default: "unknown"
        }
    }

    /// ER reject causes (ISO 8073, 13.12.3 c).
    static func rejectCause(_ c: UInt8) -> StaticString {
        switch c {
        case 0x00: "not_specified"
        case 0x01: "invalid_parameter_code"
        case 0x02: "invalid_tpdu_type"
        case 0x03: "invalid_parameter_value"
        default: "unknown"
        }
    }

    // MARK: S7 header

    static func rosctr(_ r: UInt8) -> StaticString {
        switch r {
        case 1: "job"
        case 2: "ack"
        case 3: "ack_data"
        case 7: "userdata"
        default: "unknown"
        }
    }

    /// Header error classes (ack / ack_data).
    static func errorClass(_ c: UInt8) -> StaticString {
        switch c {
        case 0x00: "no_error"
        case 0x81: "application_relationship"
        case 0x82: "object_definition"
        case 0x83: "no_resources_available"
        case 0x84: "service_processing"
        case 0x85: "supplies"
        case 0x87: "access"
        default: "other"
        }
    }

    // MARK: job functions

    static func function(_ f: UInt8) -> StaticString {
        switch f {
        case 0x00: "cpu_services"
        case 0xF0: "setup_communication"
        case 0x04: "read_var"
        case 0x05: "write_var"
        case 0x1A: "request_download"
        case 0x1B: "download_block"
        case 0x1C: "download_ended"
        case 0x1D: "start_upload"
        case 0x1E: "upload"
        case 0x1F: "end_upload"
        case 0x28: "plc_control"
        case 0x29: "plc_stop"
        default: "unknown"
        }
    }

    static func isKnownFunction(_ f: UInt8) -> Bool {
        switch f {
        case 0x00, 0xF0, 0x04, 0x05, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x28, 0x29: true
        default: false
        }
    }

    // MARK: items

    /// Syntax ids of a variable specification (the addressing mode).
    static func syntaxID(_ s: UInt8) -> StaticString {
        switch s {
        case 0x10: "s7any"
        case 0x13: "pbc_r_id"
        case 0x15: "alarm_lockfree"
        case 0x16: "alarm_ind"
        case 0x19: "alarm_ack"
        case 0x1A: "alarm_queryreq"
        case 0x1C: "notify_ind"
        case 0x82: "nck"
        case 0x83: "nck_metric"
        case 0x84: "nck_inch"
        case 0xA2: "drive_es_any"
        case 0xB0: "s7_1200_symbolic"
        case 0xB2: "db_read"
        default: "unknown"
        }
    }

    /// Memory areas of an S7ANY address.
    static func area(_ a: UInt8) -> StaticString {
        switch a {
        case 0x03: "system_info_200"
        case 0x05: "system_flags_200"
        case 0x06: "analog_inputs_200"
        case 0x07: "analog_outputs_200"
        case 0x1C: "C"
        case 0x1D: "T"
        case 0x1E: "IEC_C"
        case 0x1F: "IEC_T"
        case 0x80: "P"
        case 0x81: "I"
        case 0x82: "Q"
        case 0x83: "M"
        case 0x84: "DB"
        case 0x85: "DI"
        case 0x86: "L"
        case 0x87: "V"
        default: "unknown"
        }
    }

    /// Areas whose address is an element number (counters and timers), not a bit address.
    static func isNumberedArea(_ a: UInt8) -> Bool { a == 0x1C || a == 0x1D || a == 0x1E || a == 0x1F }

    /// Transport sizes of an S7ANY item (the element type requested).
    static func itemTransportSize(_ t: UInt8) -> StaticString {
        switch t {
        case 0x01: "bit"
        case 0x02: "byte"
        case 0x03: "char"
        case 0x04: "word"
        case 0x05: "int"
        case 0x06: "dword"
        case 0x07: "dint"
        case 0x08: "real"
        case 0x09: "date"
        case 0x0A: "tod"
        case 0x0B: "time"
        case 0x0C: "s5time"
        case 0x0F: "date_and_time"
        case 0x1C: "counter"
        case 0x1D: "timer"
        case 0x1E: "iec_timer"
        case 0x1F: "iec_counter"
        case 0x20: "hs_counter"
        default: "unknown"
        }
    }

    /// Transport sizes of a data item (how its length field counts).
    static func dataTransportSize(_ t: UInt8) -> StaticString {
        switch t {
        case 0x00: "null"
        case 0x03: "bit"
        case 0x04: "byte_word_dword"
        case 0x05: "integer"
        case 0x06: "dinteger"
        case 0x07: "real"
        case 0x09: "octet_string"
        default: "unknown"
        }
    }

    /// Data item lengths count bits for these transport sizes, bytes for the others.
    static func lengthInBits(_ t: UInt8) -> Bool { t == 0x03 || t == 0x04 || t == 0x05 }

    /// Access result of a data item (return code).
    static func returnCode(_ r: UInt8) -> StaticString {
        switch r {
        case 0x00: "reserved"
        case 0x01: "hardware_error"
        case 0x02: "resource_unavailable"
        case 0x03: "access_denied"
        case 0x05: "address_out_of_range"
        case 0x06: "data_type_not_supported"
        case 0x07: "data_type_inconsistent"
        case 0x0A: "object_does_not_exist"
        case 0xFE: "data_unchanged"
        case 0xFF: "success"
        default: "unknown"
        }
    }

    // MARK: blocks

    /// Block types as the ASCII codes of file names and block functions write them ("0A").
    static func blockType(_ code: UInt16) -> StaticString {
        switch code {
        case 0x3038: "OB"
        case 0x3041: "DB"
        case 0x3042: "SDB"
        case 0x3043: "FC"
        case 0x3044: "SFC"
        case 0x3045: "FB"
        case 0x3046: "SFB"
        default: "unknown"
        }
    }

    // MARK: PI services

    /// What a PLC control (PI) service does, by its name.
    enum PIService: UInt8 {
        case start, insertBlock, deleteBlock, compress, copyRAMToROM, other

        init(_ name: ByteView) {
            func eq(_ s: StaticString) -> Bool {
                guard name.count == s.utf8CodeUnitCount else { return false }
                for i in 0..<name.count where name.u8(at: i) != s.utf8Start[i] { return false }
                return true
            }
            if eq("P_PROGRAM") { self = .start }
            else if eq("_INSE") { self = .insertBlock }
            else if eq("_DELE") { self = .deleteBlock }
            else if eq("_GARB") { self = .compress }
            else if eq("_MODU") { self = .copyRAMToROM }
            else { self = .other }
        }

        var name: StaticString {
            switch self {
            case .start: "start_program"
            case .insertBlock: "insert_block"
            case .deleteBlock: "delete_block"
            case .compress: "compress_memory"
            case .copyRAMToROM: "copy_ram_to_rom"
            case .other: "other"
            }
        }
    }

    // MARK: userdata

    static func userdataType(_ t: UInt8) -> StaticString {
        switch t {
        case 0x0: "push"
        case 0x4: "request"
        case 0x8: "response"
        case 0x3: "nc_push"
        case 0x7: "nc_request"
        case 0xB: "nc_response"
        default: "unknown"
        }
    }

    static func isUserdataRequest(_ t: UInt8) -> Bool { t == 0x4 || t == 0x7 }
    static func isUserdataResponse(_ t: UInt8) -> Bool { t == 0x8 || t == 0xB }

    static func functionGroup(_ g: UInt8) -> StaticString {
        switch g {
        case 0x0: "mode_transition"
        case 0x1: "programmer_commands"
        case 0x2: "cyclic_data"
        case 0x3: "block_functions"
        case 0x4: "cpu_functions"
        case 0x5: "security"
        case 0x6: "pbc"
        case 0x7: "time_functions"
        case 0xF: "nc_programming"
        default: "unknown"
        }
    }

    /// The name of a userdata function (group and subfunction).
    static func userdataFunction(group g: UInt8, subfunction s: UInt8) -> StaticString {
        switch (g, s) {
        case (0x0, _): "mode_transition"
        case (0x1, 0x01): "request_diag_data"
        case (0x1, 0x02): "vartab"
        case (0x1, 0x0C): "erase"
        case (0x1, 0x0E): "read_diag_data"
        case (0x1, 0x0F): "remove_diag_data"
        case (0x1, 0x10): "forces"
        case (0x1, 0x13): "request_diag_data_2"
        case (0x2, 0x01): "cyclic_memory"
        case (0x2, 0x04): "cyclic_unsubscribe"
        case (0x2, 0x05): "cyclic_change_driven"
        case (0x3, 0x01): "list_blocks"
        case (0x3, 0x02): "list_blocks_of_type"
        case (0x3, 0x03): "get_block_info"
        case (0x4, 0x01): "read_szl"
        case (0x4, 0x02): "message_service"
        case (0x4, 0x03): "diagnostic_message"
        case (0x4, 0x05): "alarm8_indication"
        case (0x4, 0x06): "notify_indication"
        case (0x4, 0x07): "alarm8_lock"
        case (0x4, 0x08): "alarm8_unlock"
        case (0x4, 0x09): "scan_indication"
        case (0x4, 0x0B): "alarm_ack"
        case (0x4, 0x0C): "alarm_ack_indication"
        case (0x4, 0x0D): "alarm_lock_indication"
        case (0x4, 0x0E): "alarm_unlock_indication"
        case (0x4, 0x11): "alarm_sq_indication"
        case (0x4, 0x12): "alarm_s_indication"
        case (0x4, 0x13): "alarm_query"
        case (0x4, 0x16): "notify8_indication"
        case (0x5, 0x01): "plc_password"
        case (0x5, 0x02): "clear_password"
        case (0x6, _): "pbc"
        case (0x7, 0x01): "read_clock"
        case (0x7, 0x02): "set_clock"
        case (0x7, 0x03): "read_clock_following"
        case (0x7, 0x04): "set_clock_2"
        case (0xF, _): "nc_programming"
        default: "unknown"
        }
    }

    /// CPU operating modes of a mode-transition push (its subfunction).
    static func cpuMode(_ m: UInt8) -> StaticString {
        switch m {
        case 0x00: "stop"
        case 0x01: "warm_restart"
        case 0x02: "run"
        case 0x03: "hot_restart"
        case 0x04: "hold"
        case 0x06: "cold_restart"
        case 0x09: "run_redundant"
        case 0x0B: "link_up"
        case 0x0C: "update"
        default: "unknown"
        }
    }

    /// System status lists by their partial list number (the SZL id's low byte).
    static func szl(_ id: UInt16) -> StaticString {
        switch id & 0x00FF {
        case 0x00: "szl_list"
        case 0x11: "module_identification"
        case 0x12: "cpu_characteristics"
        case 0x13: "user_memory_areas"
        case 0x14: "system_areas"
        case 0x15: "block_types"
        case 0x19: "module_led_status"
        case 0x1C: "component_identification"
        case 0x22: "interrupt_status"
        case 0x24: "operating_mode"
        case 0x25: "process_image_partitions"
        case 0x31: "communication_capabilities"
        case 0x32: "communication_status"
        case 0x37: "ethernet_details"
        case 0x74: "led_status"
        case 0x91: "module_status"
        case 0x92: "rack_station_status"
        case 0x94: "rack_station_status_2"
        case 0x96: "profinet_module_status"
        case 0xA0: "diagnostic_buffer"
        case 0xB1: "module_diagnostic_data"
        default: "unknown"
        }
    }
}

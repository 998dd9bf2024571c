/// Names of Modbus function codes, exception codes, diagnostic sub-functions and device
/// identification objects, from the Modbus Application Protocol Specification V1.1b3.
/// Every table keeps unknown values representable: the raw number is always logged beside
/// the name, and names never change once published (they are part of the EVE schema).
enum ModbusNames {
    /// Name of a function code (the exception bit, 0x80, is ignored).
    static func function(_ raw: UInt8) -> StaticString {
        switch raw & 0x7F {
        case 1: return "read_coils"
        case 2: return "read_discrete_inputs"
        case 3: return "read_holding_registers"
        case 4: return "read_input_registers"
        case 5: return "write_single_coil"
        case 6: return "write_single_register"
        case 7: return "read_exception_status"
        case 8: return "diagnostics"
        case 11: return "get_comm_event_counter"
        case 12: return "get_comm_event_log"
        case 15: return "write_multiple_coils"
        case 16: return "write_multiple_registers"
        case 17: return "report_server_id"
        case 20: return "read_file_record"
        case 21: return "write_file_record"
        case 22: return "mask_write_register"
        case 23: return "read_write_multiple_registers"
        case 24: return "read_fifo_queue"
        case 43: return "encapsulated_interface_transport"
        case 65...72, 100...110: return "user_defined"
        default: return "unknown"
        }
    }

    /// True for the public function codes this dissector decodes field by field.
    static func isPublic(_ raw: UInt8) -> Bool {
        switch raw & 0x7F {
        case 1...8, 11, 12, 15, 16, 17, 20...24, 43: return true
        default: return false
        }
    }

    static func exception(_ code: UInt8) -> StaticString {
        switch code {
        case 1: return "illegal_function"
        case 2: return "illegal_data_address"
        case 3: return "illegal_data_value"
        case 4: return "server_device_failure"
        case 5: return "acknowledge"
        case 6: return "server_device_busy"
        case 8: return "memory_parity_error"
        case 10: return "gateway_path_unavailable"
        case 11: return "gateway_target_device_failed_to_respond"
        default: return "unknown"
        }
    }

    /// FC 8 sub-functions (spec 6.8.1).
    static func diagnostic(_ sub: UInt16) -> StaticString {
        switch sub {
        case 0: return "return_query_data"
        case 1: return "restart_communications_option"
        case 2: return "return_diagnostic_register"
        case 3: return "change_ascii_input_delimiter"
        case 4: return "force_listen_only_mode"
        case 10: return "clear_counters_and_diagnostic_register"
        case 11: return "return_bus_message_count"
        case 12: return "return_bus_communication_error_count"
        case 13: return "return_bus_exception_error_count"
        case 14: return "return_server_message_count"
        case 15: return "return_server_no_response_count"
        case 16: return "return_server_nak_count"
        case 17: return "return_server_busy_count"
        case 18: return "return_bus_character_overrun_count"
        case 20: return "clear_overrun_counter_and_flag"
        default: return "reserved"
        }
    }

    /// FC 43 MEI types (spec 6.19-6.21).
    static func mei(_ type: UInt8) -> StaticString {
        switch type {
        case 13: return "canopen_general_reference"
        case 14: return "read_device_identification"
        default: return "unknown"
        }
    }

    /// Read Device ID codes of FC 43/14 (spec 6.21).
    static func readDeviceID(_ code: UInt8) -> StaticString {
        switch code {
        case 1: return "basic"
        case 2: return "regular"
        case 3: return "extended"
        case 4: return "specific"
        default: return "unknown"
        }
    }

    /// Device identification object ids (spec 6.21, table of object ids).
    static func deviceObject(_ id: UInt8) -> StaticString {
        switch id {
        case 0: return "VendorName"
        case 1: return "ProductCode"
        case 2: return "MajorMinorRevision"
        case 3: return "VendorUrl"
        case 4: return "ProductName"
        case 5: return "ModelName"
        case 6: return "UserApplicationName"
        case 0x80...0xFF: return "private"
        default: return "reserved"
        }
    }
}

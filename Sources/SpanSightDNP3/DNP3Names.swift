/// Names from IEEE 1815-2012 (application function codes, table 4-1 and clause 4.2.2.5; IIN
/// bits, clause 4.2.2.7), snake_case as they appear in the log. Unknown values keep their raw
/// number in the log beside the name "unknown".
public enum DNP3Names {
    public static func function(_ fc: UInt8) -> StaticString {
        switch fc {
        case 0: return "confirm"
        case 1: return "read"
        case 2: return "write"
        case 3: return "select"
        case 4: return "operate"
        case 5: return "direct_operate"
        case 6: return "direct_operate_no_ack"
        case 7: return "immediate_freeze"
        case 8: return "immediate_freeze_no_ack"
        case 9: return "freeze_clear"
        case 10: return "freeze_clear_no_ack"
        case 11: return "freeze_at_time"
        case 12: return "freeze_at_time_no_ack"
        case 13: return "cold_restart"
        case 14: return "warm_restart"
        case 15: return "initialize_data"
        case 16: return "initialize_application"
        case 17: return "start_application"
        case 18: return "stop_application"
        case 19: return "save_configuration"
        case 20: return "enable_unsolicited"
        case 21: return "disable_unsolicited"
        case 22: return "assign_class"
        case 23: return "delay_measure"
        case 24: return "record_current_time"
        case 25: return "open_file"
        case 26: return "close_file"
        case 27: return "delete_file"
        case 28: return "get_file_info"
        case 29: return "authenticate_file"
        case 30: return "abort_file"
        case 31: return "activate_config"
        case 32: return "authenticate_request"
        case 33: return "authenticate_error"
        case 129: return "response"
        case 130: return "unsolicited_response"
        case 131: return "authenticate_response"
        default: return "unknown"
        }
    }

    public static func isKnownFunction(_ fc: UInt8) -> Bool { fc <= 33 || (fc >= 129 && fc <= 131) }

    /// Responses carry the two IIN octets after the function code.
    public static func isResponse(_ fc: UInt8) -> Bool { fc >= 129 && fc <= 131 }

    /// Requests the outstation never answers (clause 4.4: the "no ack" forms and confirm).
    public static func expectsNoResponse(_ fc: UInt8) -> Bool {
        fc == 0 || fc == 6 || fc == 8 || fc == 10 || fc == 12
    }

    /// Suricata's name of IIN indicator `i` (0..15), in its order: the indicator's bit in
    /// IIN1 << 8 | IIN2 (IIN1 is the first octet on the wire; the log's `iin.raw`, as tshark
    /// prints it) is 0x8000 >> i. IIN2.7 and IIN2.6 are reserved (`reserved_1`, `reserved_2`).
    public static func iinIndicator(_ i: Int) -> StaticString {
        switch i {
        case 0: return "device_restart"
        case 1: return "device_trouble"
        case 2: return "local_control"
        case 3: return "need_time"
        case 4: return "class_3_events"
        case 5: return "class_2_events"
        case 6: return "class_1_events"
        case 7: return "all_stations"
        case 8: return "reserved_1"
        case 9: return "reserved_2"
        case 10: return "config_corrupt"
        case 11: return "already_executing"
        case 12: return "event_buffer_overflow"
        case 13: return "parameter_error"
        case 14: return "object_unknown"
        case 15: return "no_func_code_support"
        default: return "unknown"
        }
    }
}

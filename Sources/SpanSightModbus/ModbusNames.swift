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

/// Suricata's names for the same values, as its EVE `modbus` event writes them (its parser,
/// sawp-modbus, prints enum cases and bitflags with Rust's `Debug`): the spellings below are
/// that output, so a parser or dashboard written for Suricata reads ours unchanged. Ours
/// (snake_case, `ModbusNames`) stay beside them under other keys.
enum SuricataModbusNames {
    /// `function_code`: the function of `raw & 0x7F`.
    static func functionCode(_ raw: UInt8) -> StaticString {
        switch raw & 0x7F {
        case 1: return "RdCoils"
        case 2: return "RdDiscreteInputs"
        case 3: return "RdHoldRegs"
        case 4: return "RdInputRegs"
        case 5: return "WrSingleCoil"
        case 6: return "WrSingleReg"
        case 7: return "RdExcStatus"
        case 8: return "Diagnostic"
        case 9: return "Program484"
        case 10: return "Poll484"
        case 11: return "GetCommEventCtr"
        case 12: return "GetCommEventLog"
        case 13: return "ProgramController"
        case 14: return "PollController"
        case 15: return "WrMultCoils"
        case 16: return "WrMultRegs"
        case 17: return "ReportServerID"
        case 18: return "Program884"
        case 19: return "ResetCommLink"
        case 20: return "RdFileRec"
        case 21: return "WrFileRec"
        case 22: return "MaskWrReg"
        case 23: return "RdWrMultRegs"
        case 24: return "RdFIFOQueue"
        case 43: return "MEI"
        default: return "Unknown"
        }
    }

    /// True when `functionCode` names the code (Suricata's `FunctionCode` is not `Unknown`).
    static func isNamed(_ raw: UInt8) -> Bool {
        switch raw & 0x7F {
        case 1...24, 43: return true
        default: return false
        }
    }

    /// `function_code`, `access_type` and `category` together, as JSON members after another
    /// (the leading comma: they follow `function_raw`), for the codes whose category does not
    /// hang on their data: every named code but 8 and 43. nil for the others. The same strings
    /// as the three tables here (ModbusSuricataTests checks every code).
    static func describedFunction(_ raw: UInt8) -> StaticString? {
        switch raw & 0x7F {
        case 1: return #","function_code":"RdCoils","access_type":"READ | COILS","category":"PUBLIC_ASSIGNED""#
        case 2: return #","function_code":"RdDiscreteInputs","access_type":"READ | DISCRETES","category":"PUBLIC_ASSIGNED""#
        case 3: return #","function_code":"RdHoldRegs","access_type":"READ | HOLDING","category":"PUBLIC_ASSIGNED""#
        case 4: return #","function_code":"RdInputRegs","access_type":"READ | INPUT","category":"PUBLIC_ASSIGNED""#
        case 5: return #","function_code":"WrSingleCoil","access_type":"WRITE | COILS | SINGLE | WRITE_SINGLE","category":"PUBLIC_ASSIGNED""#
        case 6: return #","function_code":"WrSingleReg","access_type":"WRITE | HOLDING | SINGLE | WRITE_SINGLE","category":"PUBLIC_ASSIGNED""#
        case 7: return #","function_code":"RdExcStatus","access_type":"NONE","category":"PUBLIC_ASSIGNED""#
        case 9: return #","function_code":"Program484","access_type":"NONE","category":"PUBLIC_ASSIGNED""#
        case 10: return #","function_code":"Poll484","access_type":"NONE","category":"PUBLIC_ASSIGNED""#
        case 11: return #","function_code":"GetCommEventCtr","access_type":"NONE","category":"PUBLIC_ASSIGNED""#
        case 12: return #","function_code":"GetCommEventLog","access_type":"NONE","category":"PUBLIC_ASSIGNED""#
        case 13: return #","function_code":"ProgramController","access_type":"NONE","category":"PUBLIC_ASSIGNED""#
        case 14: return #","function_code":"PollController","access_type":"NONE","category":"PUBLIC_ASSIGNED""#
        case 15: return #","function_code":"WrMultCoils","access_type":"WRITE | COILS | MULTIPLE | WRITE_MULTIPLE","category":"PUBLIC_ASSIGNED""#
        case 16: return #","function_code":"WrMultRegs","access_type":"WRITE | HOLDING | MULTIPLE | WRITE_MULTIPLE","category":"PUBLIC_ASSIGNED""#
        case 17: return #","function_code":"ReportServerID","access_type":"NONE","category":"PUBLIC_ASSIGNED""#
        case 18: return #","function_code":"Program884","access_type":"NONE","category":"PUBLIC_ASSIGNED""#
        case 19: return #","function_code":"ResetCommLink","access_type":"NONE","category":"PUBLIC_ASSIGNED""#
        case 20: return #","function_code":"RdFileRec","access_type":"NONE","category":"PUBLIC_ASSIGNED""#
        case 21: return #","function_code":"WrFileRec","access_type":"NONE","category":"PUBLIC_ASSIGNED""#
        case 22: return #","function_code":"MaskWrReg","access_type":"WRITE | HOLDING","category":"PUBLIC_ASSIGNED""#
        case 23: return #","function_code":"RdWrMultRegs","access_type":"READ | WRITE | HOLDING | MULTIPLE | WRITE_MULTIPLE","category":"PUBLIC_ASSIGNED""#
        case 24: return #","function_code":"RdFIFOQueue","access_type":"NONE","category":"PUBLIC_ASSIGNED""#
        default: return nil
        }
    }

    /// `access_type`: the `AccessType` flags of the function (of `raw & 0x7F`), named in
    /// declaration order (READ, WRITE, DISCRETES, COILS, INPUT, HOLDING, SINGLE, MULTIPLE), then
    /// the composites whose bits are all set (WRITE_SINGLE, WRITE_MULTIPLE; BIT_ACCESS_MASK and
    /// FUNC_MASK never are), " | " between; no flag: NONE.
    static func accessType(_ raw: UInt8) -> StaticString {
        switch raw & 0x7F {
        case 1: return "READ | COILS"
        case 2: return "READ | DISCRETES"
        case 3: return "READ | HOLDING"
        case 4: return "READ | INPUT"
        case 5: return "WRITE | COILS | SINGLE | WRITE_SINGLE"
        case 6: return "WRITE | HOLDING | SINGLE | WRITE_SINGLE"
        case 15: return "WRITE | COILS | MULTIPLE | WRITE_MULTIPLE"
        case 16: return "WRITE | HOLDING | MULTIPLE | WRITE_MULTIPLE"
        case 22: return "WRITE | HOLDING"
        case 23: return "READ | WRITE | HOLDING | MULTIPLE | WRITE_MULTIPLE"
        default: return "NONE"
        }
    }

    /// `category` of a function code Suricata does not name, from the raw byte (0x80 included,
    /// so every exception form lands in NONE): spec V1.1b3 section 5's public, user-defined and
    /// reserved ranges.
    static func unnamedCategory(_ raw: UInt8) -> StaticString {
        switch raw {
        case 0: return "NONE"
        case 1...8: return "PUBLIC_UNASSIGNED"
        case 9...14: return "RESERVED"
        case 15...40: return "PUBLIC_UNASSIGNED"
        case 41...42: return "RESERVED"
        case 43...64: return "PUBLIC_UNASSIGNED"
        case 65...72: return "USER_DEFINED"
        case 73...89: return "PUBLIC_UNASSIGNED"
        case 90...91: return "RESERVED"
        case 92...99: return "PUBLIC_UNASSIGNED"
        case 100...110: return "USER_DEFINED"
        case 111...124: return "PUBLIC_UNASSIGNED"
        case 125...127: return "RESERVED"
        default: return "NONE"
        }
    }

    /// `error_flags`: the `ErrorFlags` bits (DATA_VALUE 1, DATA_LENGTH 2, EXC_CODE 4) named in
    /// that order.
    static func errorFlags(_ bits: UInt8) -> StaticString {
        switch bits & 7 {
        case 1: return "DATA_VALUE"
        case 2: return "DATA_LENGTH"
        case 3: return "DATA_VALUE | DATA_LENGTH"
        case 4: return "EXC_CODE"
        case 5: return "DATA_VALUE | EXC_CODE"
        case 6: return "DATA_LENGTH | EXC_CODE"
        case 7: return "DATA_VALUE | DATA_LENGTH | EXC_CODE"
        default: return "NONE"
        }
    }

    /// `exception.code`.
    static func exception(_ code: UInt8) -> StaticString {
        switch code {
        case 1: return "IllegalFunction"
        case 2: return "IllegalDataAddr"
        case 3: return "IllegalDataValue"
        case 4: return "ServerDeviceFail"
        case 5: return "Ack"
        case 6: return "ServerDeviceBusy"
        case 7: return "NegAck"
        case 8: return "MemParityErr"
        case 10: return "GatewayPathUnavailable"
        case 11: return "GatewayTargetFailToResp"
        default: return "Unknown"
        }
    }

    /// `diagnostic.code` (FC 8 sub-function).
    static func diagnostic(_ sub: UInt16) -> StaticString {
        switch sub {
        case 0: return "RetQueryData"
        case 1: return "RestartCommOpt"
        case 2: return "RetDiagReg"
        case 3: return "ChangeInputDelimiter"
        case 4: return "ForceListenOnlyMode"
        case 10: return "ClearCtrDiagReg"
        case 11: return "RetBusMsgCount"
        case 12: return "RetBusCommErrCount"
        case 13: return "RetBusExcErrCount"
        case 14: return "RetServerMsgCount"
        case 15: return "RetServerNoRespCount"
        case 16: return "RetServerNAKCount"
        case 17: return "RetServerBusyCount"
        case 18: return "RetBusCharOverrunCount"
        case 19: return "RetOverrunErrCount"
        case 20: return "ClearOverrunCounterFlag"
        case 21: return "GetClearPlusStats"
        default: return "Reserved"
        }
    }

    /// True for the sub-functions `diagnostic` names (the rest are Reserved: category RESERVED).
    static func isAssignedDiagnostic(_ sub: UInt16) -> Bool {
        sub <= 4 || (sub >= 10 && sub <= 21)
    }

    /// `mei.code` (FC 43 MEI type).
    static func mei(_ type: UInt8) -> StaticString {
        switch type {
        case 13: return "CANOpenGenRefReqResp"
        case 14: return "RdDevId"
        default: return "Unknown"
        }
    }
}

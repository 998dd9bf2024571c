// UNSAFE: UID lookups compare bytes through scoped buffer pointers, within their counts.
import SpanSightWire

/// Names of DICOM upper-layer and DIMSE values (PS3.8 section 9.3, PS3.7 annexes C and E,
/// PS3.4 and PS3.6 annex A for the UIDs). Every table keeps unknown values representable: the
/// JSON carries the raw number next to the name.
public enum DICOMNames {
    // MARK: PDU types (PS3.8 table 9-1..9-26)

    public static func pduType(_ t: UInt8) -> StaticString {
        switch t {
        case 1: "a_associate_rq"
        case 2: "a_associate_ac"
        case 3: "a_associate_rj"
        case 4: "p_data_tf"
        case 5: "a_release_rq"
        case 6: "a_release_rp"
        case 7: "a_abort"
        default: "unknown"
        }
    }

    /// Presentation context result/reason in an A-ASSOCIATE-AC (PS3.8 table 9-18).
    public static func contextResult(_ r: UInt8) -> StaticString {
        switch r {
        case 0: "acceptance"
        case 1: "user_rejection"
        case 2: "no_reason"
        case 3: "abstract_syntax_not_supported"
        case 4: "transfer_syntaxes_not_supported"
        default: "unknown"
        }
    }

    /// A-ASSOCIATE-RJ result (PS3.8 table 9-21).
    public static func rejectResult(_ r: UInt8) -> StaticString {
        switch r {
        case 1: "rejected_permanent"
        case 2: "rejected_transient"
        default: "unknown"
        }
    }

    /// A-ASSOCIATE-RJ source (PS3.8 table 9-21).
    public static func rejectSource(_ s: UInt8) -> StaticString {
        switch s {
        case 1: "service_user"
        case 2: "service_provider_acse"
        case 3: "service_provider_presentation"
        default: "unknown"
        }
    }

    /// A-ASSOCIATE-RJ reason/diagnostic, which depends on the source (PS3.8 table 9-21).
    public static func rejectReason(source: UInt8, reason: UInt8) -> StaticString {
        switch (source, reason) {
        case (1, 1): "no_reason_given"
        case (1, 2): "application_context_name_not_supported"
        case (1, 3): "calling_ae_title_not_recognized"
        case (1, 7): "called_ae_title_not_recognized"
        case (1, 4...6), (1, 8...10): "reserved"
        case (2, 1): "no_reason_given"
        case (2, 2): "protocol_version_not_supported"
        case (3, 0): "reserved"
        case (3, 1): "temporary_congestion"
        case (3, 2): "local_limit_exceeded"
        case (3, 3...7): "reserved"
        default: "unknown"
        }
    }

    /// A-ABORT source (PS3.8 table 9-26).
    public static func abortSource(_ s: UInt8) -> StaticString {
        switch s {
        case 0: "service_user"
        case 1: "reserved"
        case 2: "service_provider"
        default: "unknown"
        }
    }

    /// A-ABORT reason/diagnostic (PS3.8 table 9-26); meaningful when the source is the provider.
    public static func abortReason(_ r: UInt8) -> StaticString {
        switch r {
        case 0: "reason_not_specified"
        case 1: "unrecognized_pdu"
        case 2: "unexpected_pdu"
        case 3: "reserved"
        case 4: "unrecognized_pdu_parameter"
        case 5: "unexpected_pdu_parameter"
        case 6: "invalid_pdu_parameter_value"
        default: "unknown"
        }
    }

    /// User identity type (PS3.7 D.3.3.7.1).
    public static func userIdentityType(_ t: UInt8) -> StaticString {
        switch t {
        case 1: "username"
        case 2: "username_and_passcode"
        case 3: "kerberos"
        case 4: "saml"
        case 5: "jwt"
        default: "unknown"
        }
    }

    // MARK: DIMSE (PS3.7 annex E)

    /// Command field (0000,0100) as the standard writes it ("C-STORE-RQ").
    public static func command(_ c: UInt16) -> StaticString {
        switch c {
        case 0x0001: "C-STORE-RQ"
        case 0x8001: "C-STORE-RSP"
        case 0x0010: "C-GET-RQ"
        case 0x8010: "C-GET-RSP"
        case 0x0020: "C-FIND-RQ"
        case 0x8020: "C-FIND-RSP"
        case 0x0021: "C-MOVE-RQ"
        case 0x8021: "C-MOVE-RSP"
        case 0x0030: "C-ECHO-RQ"
        case 0x8030: "C-ECHO-RSP"
        case 0x0100: "N-EVENT-REPORT-RQ"
        case 0x8100: "N-EVENT-REPORT-RSP"
        case 0x0110: "N-GET-RQ"
        case 0x8110: "N-GET-RSP"
        case 0x0120: "N-SET-RQ"
        case 0x8120: "N-SET-RSP"
        case 0x0130: "N-ACTION-RQ"
        case 0x8130: "N-ACTION-RSP"
        case 0x0140: "N-CREATE-RQ"
        case 0x8140: "N-CREATE-RSP"
        case 0x0150: "N-DELETE-RQ"
        case 0x8150: "N-DELETE-RSP"
        case 0x0FFF: "C-CANCEL-RQ"
        default: "unknown"
        }
    }

    /// The service of a command field, without -RQ/-RSP ("C-STORE").
    public static func service(_ c: UInt16) -> StaticString {
        switch c & 0x7FFF {
        case 0x0001: "C-STORE"
        case 0x0010: "C-GET"
        case 0x0020: "C-FIND"
        case 0x0021: "C-MOVE"
        case 0x0030: "C-ECHO"
        case 0x0100: "N-EVENT-REPORT"
        case 0x0110: "N-GET"
        case 0x0120: "N-SET"
        case 0x0130: "N-ACTION"
        case 0x0140: "N-CREATE"
        case 0x0150: "N-DELETE"
        case 0x0FFF: "C-CANCEL"
        default: "unknown"
        }
    }

    /// Stable snake_case name of a command field for observations ("c_store_rq").
    public static func commandKey(_ c: UInt16) -> StaticString {
        switch c {
        case 0x0001: "c_store_rq"
        case 0x0010: "c_get_rq"
        case 0x0020: "c_find_rq"
        case 0x0021: "c_move_rq"
        case 0x0030: "c_echo_rq"
        case 0x0100: "n_event_report_rq"
        case 0x0110: "n_get_rq"
        case 0x0120: "n_set_rq"
        case 0x0130: "n_action_rq"
        case 0x0140: "n_create_rq"
        case 0x0150: "n_delete_rq"
        case 0x0FFF: "c_cancel_rq"
        default: "unknown"
        }
    }

    /// Priority (0000,0700).
    public static func priority(_ p: UInt16) -> StaticString {
        switch p {
        case 0: "medium"
        case 1: "high"
        case 2: "low"
        default: "unknown"
        }
    }

    /// Class of a DIMSE status (PS3.7 C.1..C.4).
    public enum StatusClass: Sendable {
        case success, pending, cancel, warning, failure

        public var name: StaticString {
            switch self {
            case .success: "success"
            case .pending: "pending"
            case .cancel: "cancel"
            case .warning: "warning"
            case .failure: "failure"
            }
        }
    }

    public static func statusClass(_ s: UInt16) -> StatusClass {
        switch s {
        case 0x0000: .success
        case 0xFF00, 0xFF01: .pending
        case 0xFE00: .cancel
        case 0x0001, 0x0107, 0x0116, 0xB000...0xBFFF: .warning
        default: .failure
        }
    }

    /// Name of a DIMSE status (PS3.7 annex C; service-specific ranges from PS3.4: C-STORE,
    /// C-FIND, C-MOVE, C-GET).
    public static func status(_ s: UInt16) -> StaticString {
        switch s {
        case 0x0000: "success"
        case 0xFF00: "pending"
        case 0xFF01: "pending_optional_keys_not_supported"
        case 0xFE00: "cancel"
        case 0x0001: "warning_requested_optional_attributes_not_supported"
        case 0x0107: "warning_attribute_list_error"
        case 0x0116: "warning_attribute_value_out_of_range"
        case 0xB000: "warning_coercion_or_sub_operation_failures"
        case 0xB006: "warning_elements_discarded"
        case 0xB007: "warning_data_set_does_not_match_sop_class"
        case 0xB000...0xBFFF: "warning"
        case 0x0105: "no_such_attribute"
        case 0x0106: "invalid_attribute_value"
        case 0x0110: "processing_failure"
        case 0x0111: "duplicate_sop_instance"
        case 0x0112: "no_such_sop_instance"
        case 0x0113: "no_such_event_type"
        case 0x0114: "no_such_argument"
        case 0x0115: "invalid_argument_value"
        case 0x0117: "invalid_object_instance"
        case 0x0118: "no_such_sop_class"
        case 0x0119: "class_instance_conflict"
        case 0x0120: "missing_attribute"
        case 0x0121: "missing_attribute_value"
        case 0x0122: "refused_sop_class_not_supported"
        case 0x0123: "no_such_action"
        case 0x0124: "refused_not_authorized"
        case 0x0210: "duplicate_invocation"
        case 0x0211: "unrecognized_operation"
        case 0x0212: "mistyped_argument"
        case 0x0213: "resource_limitation"
        case 0xA700...0xA7FF: "refused_out_of_resources"
        case 0xA801: "refused_move_destination_unknown"
        case 0xA900...0xA9FF: "error_data_set_does_not_match_sop_class"
        case 0xC000...0xCFFF: "error_cannot_understand"
        default: "unknown"
        }
    }

    // MARK: UIDs (PS3.6 annex A)

    /// Name of a well-known SOP class, transfer syntax or application context UID.
    public static func uid(_ uid: String) -> StaticString? { uidTable[uid] }

    /// The same from the UID's bytes, without making a String of them: a binary search of the
    /// table's UIDs in byte order.
    static func uid(bytes v: ByteView) -> StaticString? {
        v.withBytes { u -> StaticString? in
            var lo = 0, hi = uidBytes.count
            while lo < hi {
                let mid = (lo + hi) / 2
                let c = uidBytes[mid].uid.withUnsafeBufferPointer { compare($0, u) }
                if c == 0 { return uidBytes[mid].name }
                if c < 0 { lo = mid + 1 } else { hi = mid }
            }
            return nil
        }
    }

    /// -1, 0 or 1 as `a` sorts before, with or after `b` (bytes in order, then the shorter first).
    static func compare(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
        for i in 0..<min(a.count, b.count) where a[i] != b[i] { return a[i] < b[i] ? -1 : 1 }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }

    /// `uidTable`'s entries by their UTF-8 bytes, sorted.
    static let uidBytes: [(uid: [UInt8], name: StaticString)] = uidTable.map { (Array($0.key.utf8), $0.value) }
        .sorted { a, b in a.uid.withUnsafeBufferPointer { x in b.uid.withUnsafeBufferPointer { y in compare(x, y) < 0 } } }

    static let uidTable: [String: StaticString] = {
        var t: [String: StaticString] = [:]
        for (k, v) in sopClasses { t[k] = v }
        for (k, v) in transferSyntaxes { t[k] = v }
        t["1.2.840.10008.3.1.1.1"] = "DICOM Application Context Name"
        return t
    }()

    static let transferSyntaxes: [(String, StaticString)] = [
        ("1.2.840.10008.1.2", "Implicit VR Little Endian"),
        ("1.2.840.10008.1.2.1", "Explicit VR Little Endian"),
        ("1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian"),
        ("1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian"),
        ("1.2.840.10008.1.2.2", "Explicit VR Big Endian (Retired)"),
        ("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)"),
        ("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)"),
        ("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)"),
        ("1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])"),
        ("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless Image Compression"),
        ("1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless) Image Compression"),
        ("1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)"),
        ("1.2.840.10008.1.2.4.91", "JPEG 2000 Image Compression"),
        ("1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)"),
        ("1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component Image Compression"),
        ("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level"),
        ("1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level"),
        ("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1"),
        ("1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1"),
        ("1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1"),
        ("1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1"),
        ("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)"),
        ("1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)"),
        ("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression"),
        ("1.2.840.10008.1.2.5", "RLE Lossless"),
    ]

    static let sopClasses: [(String, StaticString)] = [
        ("1.2.840.10008.1.1", "Verification SOP Class"),
        ("1.2.840.10008.1.20.1", "Storage Commitment Push Model SOP Class"),
        ("1.2.840.10008.3.1.2.3.3", "Modality Performed Procedure Step SOP Class"),
        ("1.2.840.10008.3.1.2.3.4", "Modality Performed Procedure Step Retrieve SOP Class"),
        ("1.2.840.10008.3.1.2.3.5", "Modality Performed Procedure Step Notification SOP Class"),
        ("1.2.840.10008.5.1.1.1", "Basic Film Session SOP Class"),
        ("1.2.840.10008.5.1.1.2", "Basic Film Box SOP Class"),
        ("1.2.840.10008.5.1.1.4", "Basic Grayscale Image Box SOP Class"),
        ("1.2.840.10008.5.1.1.4.1", "Basic Color Image Box SOP Class"),
        ("1.2.840.10008.5.1.1.9", "Basic Grayscale Print Management Meta SOP Class"),
        ("1.2.840.10008.5.1.1.16", "Printer SOP Class"),
        ("1.2.840.10008.5.1.1.18", "Basic Color Print Management Meta SOP Class"),
        ("1.2.840.10008.5.1.4.1.1.1", "Computed Radiography Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.1.1", "Digital X-Ray Image Storage - For Presentation"),
        ("1.2.840.10008.5.1.4.1.1.1.1.1", "Digital X-Ray Image Storage - For Processing"),
        ("1.2.840.10008.5.1.4.1.1.1.2", "Digital Mammography X-Ray Image Storage - For Presentation"),
        ("1.2.840.10008.5.1.4.1.1.1.2.1", "Digital Mammography X-Ray Image Storage - For Processing"),
        ("1.2.840.10008.5.1.4.1.1.1.3", "Digital Intra-Oral X-Ray Image Storage - For Presentation"),
        ("1.2.840.10008.5.1.4.1.1.1.3.1", "Digital Intra-Oral X-Ray Image Storage - For Processing"),
        ("1.2.840.10008.5.1.4.1.1.2", "CT Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.2.1", "Enhanced CT Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.3.1", "Ultrasound Multi-frame Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.4", "MR Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.4.1", "Enhanced MR Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.4.2", "MR Spectroscopy Storage"),
        ("1.2.840.10008.5.1.4.1.1.6.1", "Ultrasound Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.6.2", "Enhanced US Volume Storage"),
        ("1.2.840.10008.5.1.4.1.1.7", "Secondary Capture Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.7.1", "Multi-frame Single Bit Secondary Capture Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.7.2", "Multi-frame Grayscale Byte Secondary Capture Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.7.3", "Multi-frame Grayscale Word Secondary Capture Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.7.4", "Multi-frame True Color Secondary Capture Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.9.1.1", "12-lead ECG Waveform Storage"),
        ("1.2.840.10008.5.1.4.1.1.9.1.2", "General ECG Waveform Storage"),
        ("1.2.840.10008.5.1.4.1.1.11.1", "Grayscale Softcopy Presentation State Storage"),
        ("1.2.840.10008.5.1.4.1.1.12.1", "X-Ray Angiographic Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.12.1.1", "Enhanced XA Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.12.2", "X-Ray Radiofluoroscopic Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.12.2.1", "Enhanced XRF Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.13.1.3", "Breast Tomosynthesis Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.20", "Nuclear Medicine Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.66", "Raw Data Storage"),
        ("1.2.840.10008.5.1.4.1.1.66.1", "Spatial Registration Storage"),
        ("1.2.840.10008.5.1.4.1.1.66.4", "Segmentation Storage"),
        ("1.2.840.10008.5.1.4.1.1.77.1.4", "VL Photographic Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.77.1.6", "VL Whole Slide Microscopy Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.88.11", "Basic Text SR Storage"),
        ("1.2.840.10008.5.1.4.1.1.88.22", "Enhanced SR Storage"),
        ("1.2.840.10008.5.1.4.1.1.88.33", "Comprehensive SR Storage"),
        ("1.2.840.10008.5.1.4.1.1.88.59", "Key Object Selection Document Storage"),
        ("1.2.840.10008.5.1.4.1.1.104.1", "Encapsulated PDF Storage"),
        ("1.2.840.10008.5.1.4.1.1.104.2", "Encapsulated CDA Storage"),
        ("1.2.840.10008.5.1.4.1.1.128", "Positron Emission Tomography Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.130", "Enhanced PET Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.481.1", "RT Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.481.2", "RT Dose Storage"),
        ("1.2.840.10008.5.1.4.1.1.481.3", "RT Structure Set Storage"),
        ("1.2.840.10008.5.1.4.1.1.481.4", "RT Beams Treatment Record Storage"),
        ("1.2.840.10008.5.1.4.1.1.481.5", "RT Plan Storage"),
        ("1.2.840.10008.5.1.4.1.1.481.6", "RT Brachy Treatment Record Storage"),
        ("1.2.840.10008.5.1.4.1.1.481.7", "RT Treatment Summary Record Storage"),
        ("1.2.840.10008.5.1.4.1.1.481.8", "RT Ion Plan Storage"),
        ("1.2.840.10008.5.1.4.1.1.481.9", "RT Ion Beams Treatment Record Storage"),
        ("1.2.840.10008.5.1.4.1.2.1.1", "Patient Root Query/Retrieve Information Model - FIND"),
        ("1.2.840.10008.5.1.4.1.2.1.2", "Patient Root Query/Retrieve Information Model - MOVE"),
        ("1.2.840.10008.5.1.4.1.2.1.3", "Patient Root Query/Retrieve Information Model - GET"),
        ("1.2.840.10008.5.1.4.1.2.2.1", "Study Root Query/Retrieve Information Model - FIND"),
        ("1.2.840.10008.5.1.4.1.2.2.2", "Study Root Query/Retrieve Information Model - MOVE"),
        ("1.2.840.10008.5.1.4.1.2.2.3", "Study Root Query/Retrieve Information Model - GET"),
        ("1.2.840.10008.5.1.4.1.2.3.1", "Patient/Study Only Query/Retrieve Information Model - FIND (Retired)"),
        ("1.2.840.10008.5.1.4.1.2.3.2", "Patient/Study Only Query/Retrieve Information Model - MOVE (Retired)"),
        ("1.2.840.10008.5.1.4.1.2.3.3", "Patient/Study Only Query/Retrieve Information Model - GET (Retired)"),
        ("1.2.840.10008.5.1.4.1.2.4.2", "Composite Instance Root Retrieve - MOVE"),
        ("1.2.840.10008.5.1.4.1.2.4.3", "Composite Instance Root Retrieve - GET"),
        ("1.2.840.10008.5.1.4.31", "Modality Worklist Information Model - FIND"),
        ("1.2.840.10008.5.1.4.33", "Instance Availability Notification SOP Class"),
        ("1.2.840.10008.5.1.4.34.6.1", "Unified Procedure Step - Push SOP Class"),
        ("1.2.840.10008.5.1.4.34.6.2", "Unified Procedure Step - Watch SOP Class"),
        ("1.2.840.10008.5.1.4.34.6.3", "Unified Procedure Step - Pull SOP Class"),
        ("1.2.840.10008.5.1.4.34.6.4", "Unified Procedure Step - Event SOP Class"),
        ("1.2.840.10008.5.1.4.34.6.5", "Unified Procedure Step - Query SOP Class"),
    ]
}

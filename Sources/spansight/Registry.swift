import SpanSightDICOM
import SpanSightDNP3
import SpanSightEngine
import SpanSightHL7
import SpanSightModbus

/// The application dissectors, in probe order. Adding a protocol: one entry here.
enum Registry {
    static let all: [DissectorEntry] = [Modbus.entry, DNP3.entry, DICOM.entry, HL7.entry]
}

import SpanSightDICOM
import SpanSightDNP3
import SpanSightEngine
import SpanSightModbus

/// The application dissectors, in probe order. Adding a protocol: one entry here.
enum Registry {
    static let all: [DissectorEntry] = [Modbus.entry, DNP3.entry, DICOM.entry]
}

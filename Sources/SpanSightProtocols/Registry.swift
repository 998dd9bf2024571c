import SpanSightDICOM
import SpanSightDNP3
import SpanSightEngine
import SpanSightHL7
import SpanSightModbus
import SpanSightS7comm

/// The registered protocols, in probe order: the one list the tool, the tests, the benchmarks
/// and the fuzz targets share. Adding a protocol: its folder, its target in Package.swift and
/// one line here (docs/architecture.md#adding-a-protocol).
public enum Registry {
    /// The dissectors with their default options.
    public static let all: [DissectorEntry] = entries()

    /// The dissectors with these options (the pseudonym key goes to the protocols that carry
    /// personal identifiers).
    public static func entries(_ options: DissectorOptions = DissectorOptions()) -> [DissectorEntry] {
        [
            Modbus.entry,
            DNP3.entry,
            DICOM.entry,
            HL7.entry(HL7Configuration(pseudonymKey: options.pseudonymKey)),
            S7comm.entry,
        ]
    }

    /// What the rest of SpanSight knows of each registered protocol.
    public static let modules: [ProtocolModule] = all.map(\.module)
}

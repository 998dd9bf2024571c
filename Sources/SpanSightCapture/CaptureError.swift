/// Everything that can go wrong at the capture boundary, as a typed value with a one-line
/// message fit for standard error.
public struct CaptureError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case fileNotFound = "file_not_found"
        case permissionDenied = "permission_denied"
        case notACapture = "not_a_capture"
        case unsupportedLinkType = "unsupported_link_type"
        case noSuchDevice = "no_such_device"
        case badFilter = "bad_filter"
        case captureFailed = "capture_failed"
        case truncated = "truncated"
        /// A capture with no packets that libpcap will not open: a pcapng file with no
        /// interface description block (an empty pcap opens and simply has no packets).
        case empty = "empty"
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        // Keep it to one line whatever libpcap said.
        self.message = message.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    }

    public var description: String { message }
}

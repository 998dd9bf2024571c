import SpanSightEngine

/// The application dissectors, in probe order. Adding a protocol: one entry here.
enum Registry {
    static let all: [DissectorEntry] = []
}

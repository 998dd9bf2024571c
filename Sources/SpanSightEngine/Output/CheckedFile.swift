// The one place that writes files through C stdio (events, reports, evidence and synthetic
// pcaps, and the end-of-run check of standard output): every write and flush is checked, and
// the first failure is kept as a typed value with the OS error.
#if canImport(Glibc)
import Glibc
#endif

/// A write that failed: which output, and the OS error (errno).
public struct WriteFailure: Error, CustomStringConvertible, Equatable, Sendable {
    /// The output as messages name it ("events output /dev/full", "cannot write map.html").
    public let output: String
    public let code: Int32

    public init(output: String, code: Int32) {
        self.output = output
        self.code = code == 0 ? EIO : code
    }

    /// The reader of a pipe went away (`spansight read x | head`).
    public var isBrokenPipe: Bool { code == EPIPE }
    /// The OS's words for `code` ("No space left on device").
    public var reason: String { String(cString: strerror(code)) }
    public var description: String { "\(output): \(reason)" }
}

/// A stdio file that remembers its first failed write. Writers call `write` as they go; after
/// a failure nothing more is written, and `failure` (or `close`) says what went wrong.
public final class CheckedFile {
    /// nil: standard output is closed (writes fail with EBADF).
    private let file: UnsafeMutablePointer<FILE>?
    private let owned: Bool
    private var closed = false
    /// How messages name this output.
    public let label: String
    public private(set) var failure: WriteFailure?

    /// Creates or truncates `path`.
    public init(path: String, label: String) throws(WriteFailure) {
        guard let f = fopen(path, "wb") else { throw WriteFailure(output: label, code: errno) }
        file = f
        owned = true
        self.label = label
    }

    /// Standard output through its own stdio stream (not closed by `close`).
    public init(standardOutputLabel label: String) {
        file = fdopen(1, "w")
        owned = false
        self.label = label
    }

    /// A stream opened elsewhere (for example `stdout`, as `print` writes it); not closed.
    public init(stream: UnsafeMutablePointer<FILE>, label: String) {
        file = stream
        owned = false
        self.label = label
    }

    deinit { if owned && !closed, let file { fclose(file) } }

    /// Writes all of `bytes` (a write interrupted by a signal goes on).
    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, let base = bytes.baseAddress else { return }
        guard let file else { return fail(EBADF) }
        var done = 0
        while done < bytes.count {
            errno = 0
            done += fwrite(base + done, 1, bytes.count - done, file)
            if done < bytes.count {
                guard errno == EINTR else { return fail(errno) }
                clearerr(file)
            }
        }
    }

    public func write(_ bytes: [UInt8]) { bytes.withUnsafeBytes { write($0) } }

    /// Hands buffered bytes to the OS.
    public func flush() {
        guard failure == nil, let file else { return }
        while fflush(file) != 0 {
            guard errno == EINTR else { return fail(errno) }
            clearerr(file)
        }
        // A write that failed earlier, outside this class (`print`), leaves the error flag.
        if ferror(file) != 0 { fail(EIO) }
    }

    /// Flushes and closes (a stream this class did not open stays open); the first failure.
    public func close() throws(WriteFailure) {
        flush()
        if owned && !closed, let file {
            closed = true
            if fclose(file) != 0 && failure == nil { fail(errno) }
        }
        if let failure { throw failure }
    }

    private func fail(_ code: Int32) {
        if failure == nil { failure = WriteFailure(output: label, code: code) }
    }
}

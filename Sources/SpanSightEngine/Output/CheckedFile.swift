// UNSAFE: stdio writes from a view's base address and mkstemp's template buffer.
// The one place that writes files through C stdio (events, reports, evidence and synthetic
// pcaps, and the end-of-run check of standard output): every write and flush is checked, and
// the first failure is kept as a typed value with the OS error. Whole-file outputs are written
// to a temporary file beside their path and renamed over it when complete; `preflight` checks
// an output before a run with the same rules the open follows.
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
    /// How a file output reaches its path.
    public enum Mode: Sendable, Equatable {
        /// Created or truncated in place and written as it goes: the events stream, which a
        /// reader may follow while it grows.
        case stream
        /// Created if missing, else appended to, and written as it goes: the events stream of a
        /// long-running sensor (a restart or a SIGHUP reopen keeps what is there).
        case append
        /// Whole-file outputs (reports, baselines, evidence and synthetic pcaps): written to a
        /// temporary file in the same folder, synced, and renamed over the path by a `close`
        /// that found no failure, so that a failed or interrupted run leaves the previous file
        /// (or none), never half a file. A symbolic link is followed (the file it names is
        /// replaced, the link stays); a device or FIFO (/dev/stdout, /dev/null) is written in
        /// place; an existing file keeps its permissions (and its owner, when allowed); other
        /// hard links to it keep the previous contents.
        case replace
    }

    /// nil: standard output is closed (writes fail with EBADF).
    private let file: UnsafeMutablePointer<FILE>?
    private let owned: Bool
    private var closed = false
    /// `.replace`: the temporary file being written, and the path it is renamed to.
    private var temporaryPath: String?
    private var finalPath: String?
    /// How messages name this output.
    public let label: String
    public private(set) var failure: WriteFailure?

    /// Opens `path` for writing in `mode` (`.stream` creates or truncates it now, `.append`
    /// creates or appends to it; `.replace` leaves it untouched until `close`).
    public init(path: String, label: String, mode: Mode) throws(WriteFailure) {
        self.label = label
        owned = true
        let plan: Plan
        switch Self.plan(path, mode) {
        case .success(let p): plan = p
        case .failure(let e): throw WriteFailure(output: e.folder.map { "\(label): folder \($0)" } ?? label, code: e.code)
        }
        guard let final = plan.replacing else {
            guard let f = fopen(path, mode == .append ? "ab" : "wb") else { throw WriteFailure(output: label, code: errno) }
            file = f
            return
        }
        // The temporary file: a hidden name beside the target (same file system, so the rename
        // is atomic), unique (mkstemp: O_EXCL, mode 0600 until set below).
        let (folder, base) = Self.split(final)
        let stem = String(decoding: Array(base.utf8.prefix(200)), as: UTF8.self)
        var template = Array("\(folder)/.\(stem).spansight-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw WriteFailure(output: "\(label): folder \(folder)", code: errno) }
        let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        // Owner first: a change of owner clears set-id bits that fchmod then restores.
        if let (uid, gid) = plan.owner { _ = fchown(fd, uid, gid) }
        _ = fchmod(fd, plan.permissions)
        guard let f = fdopen(fd, "wb") else {
            let code = errno
            Glibc.close(fd)
            unlink(temporary)
            throw WriteFailure(output: label, code: code)
        }
        file = f
        temporaryPath = temporary
        finalPath = final
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

    /// A file never closed (an error on the way) is closed; a temporary file is removed and
    /// the path keeps what it had.
    deinit {
        if owned && !closed, let file { fclose(file) }
        if let temporaryPath { unlink(temporaryPath) }
    }

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

    /// Gives the open file to another owner (a sensor about to switch user keeps writing,
    /// and reopening, its own events file). False when it cannot be changed.
    @discardableResult
    public func changeOwner(uid: UInt32, gid: UInt32) -> Bool {
        guard owned, let file else { return false }
        return fchown(fileno(file), uid, gid) == 0
    }

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
    /// `.replace`: the file is synced and renamed over its path only when nothing failed;
    /// otherwise it is removed and the path keeps what it had.
    public func close() throws(WriteFailure) {
        flush()
        if owned && !closed, let file {
            closed = true
            if temporaryPath != nil && failure == nil {
                while fsync(fileno(file)) != 0 {
                    guard errno == EINTR else { fail(errno); break }
                }
            }
            if fclose(file) != 0 && failure == nil { fail(errno) }
        }
        if let temporary = temporaryPath, let final = finalPath {
            temporaryPath = nil
            if failure == nil && rename(temporary, final) != 0 { fail(errno) }
            if failure != nil { unlink(temporary) } else { Self.syncFolder(of: final) }
        }
        if let failure { throw failure }
    }

    private func fail(_ code: Int32) {
        if failure == nil { failure = WriteFailure(output: label, code: code) }
    }

    // MARK: where an output goes, checked the same way before a run and at the open

    /// Where the bytes for a path go: in place (a new or truncated file, a device, a FIFO), or
    /// into a temporary file renamed over `replacing`.
    struct Plan {
        var replacing: String?
        var permissions: mode_t = 0o644
        var owner: (uid_t, gid_t)?
    }

    /// Why a path cannot be written: the OS error, and the folder it concerns (nil: the path).
    struct Refusal: Error {
        var code: Int32
        var folder: String?
    }

    /// The checks an open makes before it touches anything: not a directory, the file (when
    /// it exists) writable, its folder there and writable (`.replace` always, since the
    /// temporary file is made there; `.stream` when the file is to be created).
    static func plan(_ path: String, _ mode: Mode) -> Result<Plan, Refusal> {
        var st = stat()
        if stat(path, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFDIR { return .failure(Refusal(code: EISDIR)) }
            if access(path, W_OK) != 0 { return .failure(Refusal(code: errno)) }
            // Devices, FIFOs and sockets are written in place, and so is the events stream.
            guard (st.st_mode & S_IFMT) == S_IFREG, mode == .replace else { return .success(Plan()) }
            var final = path
            var lst = stat()
            if lstat(path, &lst) == 0 && (lst.st_mode & S_IFMT) == S_IFLNK {
                guard let resolved = realpath(path, nil) else { return .failure(Refusal(code: errno)) }
                final = String(cString: resolved)
                free(resolved)
            }
            let folder = split(final).folder
            if access(folder, W_OK | X_OK) != 0 { return .failure(Refusal(code: errno, folder: folder)) }
            // A sticky folder (/tmp) lets only the file's or the folder's owner replace it.
            var fst = stat()
            let me = geteuid()
            if stat(folder, &fst) == 0 && (fst.st_mode & S_ISVTX) != 0 && me != 0 && st.st_uid != me && fst.st_uid != me {
                return .failure(Refusal(code: EPERM))
            }
            return .success(Plan(replacing: final, permissions: st.st_mode & 0o7777, owner: (st.st_uid, st.st_gid)))
        }
        guard errno == ENOENT else { return .failure(Refusal(code: errno)) }
        if path.hasSuffix("/") { return .failure(Refusal(code: EISDIR)) }
        // A new file: its folder must be there and writable.
        let folder = split(path).folder
        var fst = stat()
        if stat(folder, &fst) != 0 { return .failure(Refusal(code: errno, folder: folder)) }
        if (fst.st_mode & S_IFMT) != S_IFDIR { return .failure(Refusal(code: ENOTDIR, folder: folder)) }
        if access(folder, W_OK | X_OK) != 0 { return .failure(Refusal(code: errno, folder: folder)) }
        guard mode == .replace else { return .success(Plan()) }
        let mask = umask(0)
        umask(mask)
        return .success(Plan(replacing: path, permissions: 0o666 & ~mask))
    }

    /// Checks, before a run, that `path` can be opened in `mode` (nothing is created): the
    /// failure an open would meet, named "`label`: reason" (or "`label`: folder F: reason").
    public static func preflight(path: String, label: String, mode: Mode) throws(WriteFailure) {
        if case .failure(let e) = plan(path, mode) {
            throw WriteFailure(output: e.folder.map { "\(label): folder \($0)" } ?? label, code: e.code)
        }
    }

    /// True when a file can be created in the folder of `path` (a reopen after the file was
    /// moved away: log rotation).
    public static func canCreate(beside path: String) -> Bool {
        access(split(path).folder, W_OK | X_OK) == 0
    }

    /// A path's folder ("." for a bare name) and last component.
    static func split(_ path: String) -> (folder: String, base: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let folder = slash == path.startIndex ? "/" : String(path[..<slash])
        return (folder, String(path[path.index(after: slash)...]))
    }

    /// Makes a rename durable (the folder's entry); a folder that cannot be synced is left.
    private static func syncFolder(of path: String) {
        let fd = open(split(path).folder, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        Glibc.close(fd)
    }

    // MARK: file identity

    /// A file as the kernel knows it (device and inode), whatever name or link leads to it.
    public struct Identity: Hashable, Sendable {
        public let device: UInt64
        public let inode: UInt64
    }

    /// The regular file `path` names (links followed); nil when there is none (missing, a
    /// device, a FIFO, a directory).
    public static func identity(of path: String) -> Identity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return identity(st)
    }

    /// True when something (a file, a link's target, a device, a folder) is at `path`.
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    /// The regular file open as descriptor `fd` (0: standard input, 1: standard output).
    public static func identity(ofDescriptor fd: Int32) -> Identity? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return identity(st)
    }

    private static func identity(_ st: stat) -> Identity? {
        guard (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Identity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// The absolute form of a path that may not exist yet (its folder resolved), to tell two
    /// names of one new file apart from two files; nil when the folder cannot be resolved.
    public static func canonicalNewPath(_ path: String) -> String? {
        let (folder, base) = split(path)
        guard let resolved = realpath(folder, nil) else { return nil }
        defer { free(resolved) }
        let f = String(cString: resolved)
        return f == "/" ? "/" + base : f + "/" + base
    }
}

import ArgumentParser
import SpanSightEngine

/// The files a command reads and writes, checked before anything is opened for writing.
///
/// - An output that is one of the inputs (the same file by device and inode, whatever name,
///   hard or symbolic link leads to it; standard input or output redirected to it), or the same
///   file as another output, is a usage error (`clashes`, from `validate()`: exit 64).
/// - An output that cannot be written (no such folder, a directory, no permission, a read-only
///   file system) is an error before the run (`checkWritable`, first thing in `run()`: one line,
///   exit 1), with the rules the open itself follows (`CheckedFile.preflight`).
///
/// Devices and FIFOs (/dev/null, /dev/stdout) are neither inputs nor outputs here: several
/// outputs may go to /dev/null.
struct RunFiles {
    struct File {
        /// How messages name it: an option ("--assets") or what it is ("capture file").
        var name: String
        var path: String
    }

    var inputs: [File] = []
    var outputs: [(file: File, mode: CheckedFile.Mode)] = []
    /// The command writes to standard output (events without `-o`, a printed table or policy).
    var writesStandardOutput = false

    mutating func input(_ name: String, _ path: String?) {
        if let path { inputs.append(File(name: name, path: path)) }
    }

    mutating func inputs(_ name: String, _ paths: [String]) {
        for p in paths { input(name, p) }
    }

    mutating func output(_ name: String, _ path: String?, _ mode: CheckedFile.Mode = .replace) {
        if let path { outputs.append((File(name: name, path: path), mode)) }
    }

    mutating func outputs(_ name: String, _ paths: [String]) {
        for p in paths { output(name, p) }
    }

    /// The regular file an input names ('-': standard input).
    private static func identity(ofInput path: String) -> CheckedFile.Identity? {
        path == "-" ? CheckedFile.identity(ofDescriptor: 0) : CheckedFile.identity(of: path)
    }

    private static func show(_ path: String) -> String { PrintableText.escaped(path, keepingUnicode: true) }

    private static func show(_ f: File) -> String {
        f.path == "-" ? "standard input ('-', \(f.name))" : "\(f.name) \(show(f.path))"
    }

    /// The first output that is an input or another output, as a one-line usage error.
    func clashes() -> ValidationError? {
        var inputIDs: [(CheckedFile.Identity, File)] = []
        for f in inputs { if let id = Self.identity(ofInput: f.path) { inputIDs.append((id, f)) } }
        func input(_ id: CheckedFile.Identity) -> File? { inputIDs.first(where: { $0.0 == id })?.1 }

        if writesStandardOutput, let id = CheckedFile.identity(ofDescriptor: 1), let f = input(id) {
            return ValidationError("standard output is the same file as \(Self.show(f)): an output must not overwrite an input")
        }
        // Outputs: an existing regular file by identity, a new one by its resolved path.
        enum Key: Hashable { case file(CheckedFile.Identity), new(String) }
        var seen: [Key: File] = [:]
        for (out, _) in outputs {
            let key: Key
            if let id = CheckedFile.identity(of: out.path) {
                if let f = input(id) {
                    return ValidationError("\(out.name) \(Self.show(out.path)) is the same file as \(Self.show(f)): an output must not overwrite an input")
                }
                key = .file(id)
            } else if CheckedFile.exists(out.path) {
                continue    // a device, a FIFO or a directory (refused by `checkWritable`)
            } else if let canonical = CheckedFile.canonicalNewPath(out.path) {
                key = .new(canonical)
            } else {
                continue    // no such folder: `checkWritable` says so
            }
            if let first = seen[key] {
                return ValidationError("\(out.name) \(Self.show(out.path)) is the same file as \(Self.show(first)): each output needs its own file")
            }
            seen[key] = out
        }
        return nil
    }

    /// Every output can be opened as it will be at the end of the run; else one error line
    /// and exit 1, before anything is read or written.
    /// `user`: the check after a switch of user (`live --user`), said in the error.
    func checkWritable(as user: String? = nil) throws {
        for (out, mode) in outputs {
            // The events file is open already: only the files written at the end are checked.
            if user != nil && mode != .replace { continue }
            let label = "cannot write \(Self.show(out.path))" + (user.map { " as \($0)" } ?? "")
            do { try CheckedFile.preflight(path: out.path, label: label, mode: mode) }
            catch { throw fail(error.description) }
        }
    }
}

/// A command whose files are checked before it runs.
protocol ChecksRunFiles {
    var runFiles: RunFiles { get }
}

extension ChecksRunFiles {
    /// For `validate()`: an output that is an input or another output is a usage error.
    func validateRunFiles() throws {
        if let clash = runFiles.clashes() { throw clash }
    }
}

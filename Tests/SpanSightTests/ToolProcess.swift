import Foundation

/// The tool under test as a child process (inside a network namespace when one is given),
/// for the store and fleet tests.
enum ToolProcess {
    struct Result { var status: Int32; var stdout: Data; var stderr: String }

    /// Started, not waited for; `quiet`: standard output (events) discarded rather than piped.
    static func start(_ args: [String], quiet: Bool = false, in namespace: String? = nil) throws -> (process: Process, out: Pipe, err: Pipe) {
        let p = Process()
        if let namespace {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["ip", "netns", "exec", namespace, CLITests.binary.path] + args
        } else {
            p.executableURL = CLITests.binary
            p.arguments = args
        }
        p.environment = ["TZ": "UTC", "LC_ALL": "C", "PATH": "/usr/bin:/bin"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = quiet ? FileHandle.nullDevice : out
        p.standardError = err
        try p.run()
        return (p, out, err)
    }

    /// Run to its end: its status, standard output and standard error.
    static func run(_ args: [String], in namespace: String? = nil) throws -> Result {
        let p = try start(args, in: namespace)
        let out = p.out.fileHandleForReading.readDataToEndOfFile()
        let err = p.err.fileHandleForReading.readDataToEndOfFile()
        p.process.waitUntilExit()
        return Result(status: p.process.terminationStatus, stdout: out, stderr: String(decoding: err, as: UTF8.self))
    }

    /// Packets per asset id of `assets ... --format json` (an empty map when it is not that).
    static func packets(_ json: Data) -> [String: Int] {
        guard let doc = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else { return [:] }
        var out: [String: Int] = [:]
        for case let a as [String: Any] in doc["assets"] as? [Any] ?? [] { out[a["id"] as? String ?? "?", default: 0] += a["packets"] as? Int ?? 0 }
        return out
    }
}

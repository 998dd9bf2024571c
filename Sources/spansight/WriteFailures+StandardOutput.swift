// `stdout` is a C global: imported before concurrency checking, read once at exit.
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import SpanSightEngine

extension WriteFailures {
    /// What `print` wrote (policy, simulate, assets, interfaces, bench), checked once the
    /// command succeeded: a full disk or a closed pipe is not a silent success.
    static func checkStandardOutput() {
        do { try CheckedFile(stream: stdout, label: "standard output").close() } catch {
            report(error)
            exit(1)
        }
    }
}

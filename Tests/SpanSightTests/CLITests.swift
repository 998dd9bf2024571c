import Foundation
import SpanSightTestSupport
import XCTest

/// The command-line tool as a user meets it: exit codes, one-line errors, partial input,
/// standard input, determinism.
final class CLITests: XCTestCase {
    struct Result { var status: Int32; var stdout: String; var stderr: String }

    /// The tool under test: $SPANSIGHT_BINARY when set (to run these tests against another
    /// build), else the one built beside the tests.
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["SPANSIGHT_BINARY"] { return URL(fileURLWithPath: path) }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("spansight")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        return TestPaths.packageRoot.appendingPathComponent(".build/debug/spansight")
    }

    /// Runs the tool; standard output is captured, or goes to `stdoutPath` (then "" in the result).
    func run(_ args: [String], stdin: Data? = nil, stdoutPath: String? = nil) throws -> Result {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["TZ"] = "UTC"; env["LC_ALL"] = "C"
        p.environment = env
        // Standard output goes to a file, so that a large output cannot block the child.
        let outURL = tmp("stdout-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outURL) }
        let outHandle = try FileHandle(forWritingTo: outURL)
        let err = Pipe()
        p.standardOutput = try stdoutPath.map { try FileHandle(forWritingTo: URL(fileURLWithPath: $0)) } ?? outHandle
        p.standardError = err
        let input = Pipe()
        p.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try p.run()
        if let d = stdin {
            input.fileHandleForWriting.write(d)
            try input.fileHandleForWriting.close()
        }
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try outHandle.close()
        let outData = (try? Data(contentsOf: outURL)) ?? Data()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    var fixture: URL { TestPaths.fixtures.appendingPathComponent("modbus-pymodbus.pcap") }

    func tmp(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("spansight-cli-\(getpid())-\(name)")
    }

    func assertOneLineError(_ r: Result, status: Int32 = 1, contains: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.stderr, file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "exactly one line: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("spansight: error: "), r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(contains), "\(r.stderr) should mention \(contains)", file: file, line: line)
        XCTAssertFalse(r.stderr.contains("Fatal error") || r.stderr.contains("Stack dump"), file: file, line: line)
        XCTAssertEqual(r.stdout, "", "no events on a failed start", file: file, line: line)
    }

    func testMissingFile() throws {
        assertOneLineError(try run(["read", "/nonexistent/capture.pcap"]), contains: "no such file")
    }

    func testDirectoryAndNotACapture() throws {
        assertOneLineError(try run(["read", TestPaths.fixtures.path]), contains: "is a directory")
        assertOneLineError(try run(["read", TestPaths.packageRoot.appendingPathComponent("Package.swift").path]), contains: "not a pcap or pcapng capture")
    }

    func testUnreadableFile() throws {
        guard getuid() != 0 else { throw XCTSkip("root can read any file: permission test skipped") }
        let u = tmp("unreadable.pcap")
        try Data(PcapFileWriter.data(packets: [])).write(to: u)
        chmod(u.path, 0)
        defer { try? FileManager.default.removeItem(at: u) }
        assertOneLineError(try run(["read", u.path]), contains: "permission denied")
    }

    func testUnsupportedLinkType() throws {
        let u = tmp("radiotap.pcap")
        try Data(PcapFileWriter.data(linkType: 127, packets: [(1_000_000, [1, 2, 3, 4])])).write(to: u)
        defer { try? FileManager.default.removeItem(at: u) }
        assertOneLineError(try run(["read", u.path]), contains: "unsupported link type IEEE802_11_RADIO")
    }

    func testBadFilter() throws {
        assertOneLineError(try run(["read", "--filter", "tcp port", fixture.path]), contains: "bad filter expression")
    }

    func testUnknownInterface() throws {
        let r = try run(["live", "--interface", "nosuchif0", "--duration", "1"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("nosuchif0"), r.stderr)
        if getuid() == 0 { XCTAssertTrue(r.stderr.contains("no such capture interface"), r.stderr) }
    }

    func testTruncatedCaptureYieldsWhatWasReadAndExitsPartial() throws {
        let bytes = try Data(contentsOf: fixture)
        let u = tmp("truncated.pcap")
        try bytes.prefix(bytes.count * 2 / 3).write(to: u)
        defer { try? FileManager.default.removeItem(at: u) }
        let r = try run(["read", u.path])
        XCTAssertEqual(r.status, 3, "exit 3 says partial")
        XCTAssertTrue(r.stderr.contains("warning:") && r.stderr.contains("truncated or corrupt after packet"), r.stderr)
        XCTAssertTrue(r.stdout.contains("\"event_type\":\"flow\""), "flows before the damage are reported")
        XCTAssertTrue(r.stdout.contains("\"event_type\":\"stats\""))
        XCTAssertFalse(r.stderr.contains("Fatal error"))
    }

    func testCorruptRecordLength() throws {
        var b = PcapFileWriter.data(packets: [(1_000_000, PacketBuilder.udp(src: "1.1.1.1", sport: 1, dst: "2.2.2.2", dport: 2, payload: [1]))])
        // A second record header claiming a 2 GiB packet.
        b += [0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F]
        let u = tmp("corrupt.pcap")
        try Data(b).write(to: u)
        defer { try? FileManager.default.removeItem(at: u) }
        let r = try run(["read", u.path])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stdout.contains("\"pkts\":1"), "the good packet was analysed")
    }

    func testStandardInputAndDeterminism() throws {
        let a = try run(["read", "-q", fixture.path])
        let b = try run(["read", "-q", fixture.path])
        XCTAssertEqual(a.status, 0)
        XCTAssertFalse(a.stdout.isEmpty)
        XCTAssertEqual(a.stdout, b.stdout, "byte-identical events for the same capture")
        let s = try run(["read", "-q", "-"], stdin: try Data(contentsOf: fixture))
        XCTAssertEqual(s.status, 0, s.stderr)
        // The same events, but for the file's name (`pcap_filename`: none for standard input).
        let named = ",\"pcap_filename\":\"\(fixture.path)\""
        XCTAssertTrue(a.stdout.contains(named))
        XCTAssertFalse(s.stdout.contains("pcap_filename"))
        XCTAssertEqual(s.stdout, a.stdout.replacingOccurrences(of: named, with: ""), "standard input gives the same events")
    }

    struct PipeRun { var result: Result; var ended: Bool }

    /// `producer | spansight read -q -`: the producer writes the first half of the fixture, then
    /// the rest when SIGINT or SIGTERM comes (as tcpdump flushes on exit) and exits. Once the
    /// first half is read, `signals` go to spansight half a second apart, the first also to
    /// the producer when `producerStops`.
    func readPipe(signals: [Int32], producerStops: Bool, input: String = "-") throws -> PipeRun {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else { throw XCTSkip("python3 is not installed: skipped") }
        let producer = Process()
        producer.executableURL = URL(fileURLWithPath: python)
        producer.arguments = ["-c", """
            import os, signal, sys, time
            data = open(sys.argv[1], "rb").read()
            out = sys.stdout.buffer
            def finish(*_):
                out.write(data[len(data) // 2:]); out.flush(); os._exit(0)
            signal.signal(signal.SIGINT, finish); signal.signal(signal.SIGTERM, finish)
            out.write(data[:len(data) // 2]); out.flush()
            while True: time.sleep(0.05)
            """, fixture.path]
        let pipe = Pipe()
        producer.standardOutput = pipe
        let outURL = tmp("pipe-stdout-\(UUID().uuidString)"), errURL = tmp("pipe-stderr-\(UUID().uuidString)")
        for u in [outURL, errURL] { FileManager.default.createFile(atPath: u.path, contents: nil) }
        defer { for u in [outURL, errURL] { try? FileManager.default.removeItem(at: u) } }
        let spansight = Process()
        spansight.executableURL = Self.binary
        spansight.arguments = ["read", "-q", input]
        spansight.standardInput = pipe
        spansight.standardOutput = try FileHandle(forWritingTo: outURL)
        spansight.standardError = try FileHandle(forWritingTo: errURL)
        try producer.run()
        try spansight.run()
        defer { _ = producer.waitUntilExit(within: 0) }
        XCTAssertTrue(ProcessReadiness.waitForStopHandlers(spansight.processIdentifier), "spansight never installed its stop handlers")
        Thread.sleep(forTimeInterval: 1.5)
        for (i, sig) in signals.enumerated() {
            kill(spansight.processIdentifier, sig)
            if i == 0 && producerStops { kill(producer.processIdentifier, sig) }
            Thread.sleep(forTimeInterval: 0.5)
        }
        let ended = spansight.waitUntilExit(within: 5)
        let text = { (u: URL) in (try? String(contentsOf: u, encoding: .utf8)) ?? "" }
        return PipeRun(result: Result(status: spansight.terminationStatus, stdout: text(outURL), stderr: text(errURL)), ended: ended)
    }

    /// A stop signal to `producer | spansight read -` (Ctrl-C, or a supervisor stopping the
    /// pipeline) interrupts the read of the pipe: spansight reads on to the pipe's end, so the
    /// packets the producer flushes as it exits are analysed, then stops cleanly (exit 0), never
    /// as a "truncated or corrupt" capture.
    func testStopSignalReadsAPipeToItsEnd() throws {
        for sig in [SIGINT, SIGTERM] {
            let r = try readPipe(signals: [sig], producerStops: true)
            XCTAssertTrue(r.ended, "signal \(sig): ends with the pipe")
            XCTAssertEqual(r.result.status, 0, "signal \(sig): \(r.result.stderr)")
            XCTAssertFalse(r.result.stderr.contains("truncated or corrupt"), r.result.stderr)
            XCTAssertTrue(r.result.stderr.contains("reading the input stream to its end"), r.result.stderr)
            XCTAssertTrue(r.result.stdout.contains("\"pkts\":118"), "signal \(sig): every packet, including those written after the signal")
        }
    }

    /// A second signal stops at once, even while the producer goes on: what was read is
    /// analysed and reported, exit 0.
    func testSecondStopSignalStopsAPipeAtOnce() throws {
        let r = try readPipe(signals: [SIGTERM, SIGINT], producerStops: false)
        XCTAssertTrue(r.ended, "stopped although the pipe stays open")
        XCTAssertEqual(r.result.status, 0, r.result.stderr)
        XCTAssertTrue(r.result.stderr.contains("stopped by signal"), r.result.stderr)
        XCTAssertFalse(r.result.stderr.contains("truncated or corrupt"), r.result.stderr)
        XCTAssertTrue(r.result.stdout.contains("\"event_type\":\"stats\""), "flows flushed, stats written")
        XCTAssertFalse(r.result.stdout.contains("\"pkts\":118"), "only the first half was written")
    }

    /// A stream named as a file (/dev/stdin, a FIFO, `<(...)`) is read like `-`: the first
    /// signal reads on to its end, a second stops at once, even while the writer is idle.
    func testStopSignalsStopAStreamNamedAsAFile() throws {
        let r = try readPipe(signals: [SIGINT, SIGINT], producerStops: false, input: "/dev/stdin")
        XCTAssertTrue(r.ended, "two signals stop the read of an idle stream")
        XCTAssertEqual(r.result.status, 0, r.result.stderr)
        XCTAssertTrue(r.result.stderr.contains("reading the input stream to its end"), r.result.stderr)
        XCTAssertTrue(r.result.stdout.contains("\"event_type\":\"stats\""), "flows flushed, stats written")
    }

    /// A reader of standard output that stops reading: the first signal asks for a clean stop
    /// (stuck behind the blocked write), a further signal ends the process at once.
    func testAFurtherSignalEndsARunStuckOnAStalledOutput() throws {
        let big = tmp("stall.pcap"), fifo = tmp("stall.fifo")
        defer { for u in [big, fifo] { try? FileManager.default.removeItem(at: u) } }
        XCTAssertEqual(try run(["synth", big.path, "--packets", "200000", "--connections", "4"]).status, 0)
        try? FileManager.default.removeItem(at: fifo)
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        // A reader that opens the FIFO and never reads.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/bash")
        holder.arguments = ["-c", "exec 3<\"$0\"; sleep 30", fifo.path]
        try holder.run()
        defer { holder.terminate(); _ = holder.waitUntilExit(within: 2) }
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = ["read", "-q", big.path]
        p.standardOutput = try FileHandle(forWritingTo: fifo)
        p.standardError = FileHandle.nullDevice
        try p.run()
        XCTAssertTrue(ProcessReadiness.waitForStopHandlers(p.processIdentifier), "spansight never installed its stop handlers")
        Thread.sleep(forTimeInterval: 1.5)                 // the pipe's buffer is full by now
        kill(p.processIdentifier, SIGTERM)
        Thread.sleep(forTimeInterval: 0.5)
        kill(p.processIdentifier, SIGTERM)
        XCTAssertTrue(p.waitUntilExit(within: 5), "the second signal ends the stalled run")
        XCTAssertEqual(p.terminationReason, .uncaughtSignal)
    }

    /// A failed write after a partial input (a truncated capture) is an error (exit 1), not
    /// "partial": the report, baseline or printed table was lost.
    func testWriteErrorAfterAPartialInputIsAnError() throws {
        let bytes = try Data(contentsOf: fixture)
        let u = tmp("partial-full.pcap"), full = tmp("partial-full")
        try bytes.prefix(bytes.count * 2 / 3).write(to: u)
        try? FileManager.default.removeItem(at: full)
        try FileManager.default.createSymbolicLink(atPath: full.path, withDestinationPath: "/dev/full")
        defer { for f in [u, full] { try? FileManager.default.removeItem(at: f) } }
        let enospc = "No space left on device"
        for r in [try run(["learn", "-q", u.path, "--baseline", full.path]),
                  try run(["read", "-q", u.path, "-o", "/dev/null", "--assets", full.path]),
                  try run(["assets", u.path], stdoutPath: "/dev/full")] {
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(enospc), r.stderr)
        }
        var st = stat()
        XCTAssertTrue(stat("/dev/full", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR, "/dev/full is still the device")
    }

    /// A full disk under an output (/dev/full): one line naming the output and the OS error,
    /// exit 1, no summary, never a silent success with every event lost.
    func testWriteErrorsAreErrors() throws {
        // Outputs named on the command line are a link to /dev/full, so that a tool that
        // replaces its output (write to a temporary file, then rename) replaces the link.
        let full = tmp("full")
        try? FileManager.default.removeItem(at: full)
        try FileManager.default.createSymbolicLink(atPath: full.path, withDestinationPath: "/dev/full")
        defer { try? FileManager.default.removeItem(at: full) }
        let enospc = "No space left on device"
        assertOneLineError(try run(["read", fixture.path, "-o", full.path]), contains: "events output \(full.path): \(enospc)")
        assertOneLineError(try run(["read", fixture.path], stdoutPath: "/dev/full"), contains: "events output (standard output): \(enospc)")
        // A run whose events fill the 1 MiB buffer stops at the first failed write.
        let big = tmp("big.pcap")
        defer { try? FileManager.default.removeItem(at: big) }
        XCTAssertEqual(try run(["synth", big.path, "--packets", "20000", "--connections", "4"]).status, 0)
        assertOneLineError(try run(["read", big.path], stdoutPath: "/dev/full"), contains: "events output (standard output): \(enospc)")
        // Reports, baselines, evidence, synthetic captures, and what other commands print.
        assertOneLineError(try run(["learn", "-q", fixture.path, "--baseline", full.path]), contains: "cannot write \(full.path): \(enospc)")
        assertOneLineError(try run(["synth", full.path, "--packets", "100"]), contains: "cannot write \(full.path): \(enospc)")
        assertOneLineError(try run(["assets", fixture.path], stdoutPath: "/dev/full"), contains: "standard output: \(enospc)")
        for extra in [["--assets", full.path], ["--map", full.path], ["--alert-pcap", full.path]] {
            let r = try run(["read", "-q", fixture.path, "-o", "/dev/null"] + extra)
            XCTAssertEqual(r.status, 1, "\(extra): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("spansight: error: cannot write \(full.path): \(enospc)"), "\(extra): \(r.stderr)")
        }
        var st = stat()
        XCTAssertTrue(stat("/dev/full", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR, "/dev/full is still the device")
    }

    /// `spansight read x | head -c 100`: when the reader goes away the run ends at once and
    /// quietly, killed by SIGPIPE as other tools are; also when SIGPIPE is ignored and the write
    /// says EPIPE instead (no error line, no summary, the shell's 141 either way).
    func testBrokenPipeEndsQuietly() throws {
        let big = tmp("pipe.pcap")
        defer { try? FileManager.default.removeItem(at: big) }
        XCTAssertEqual(try run(["synth", big.path, "--packets", "20000", "--connections", "4"]).status, 0)
        for trap in ["", "trap '' PIPE; "] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = ["-c", "\(trap)\"$0\" read \"$1\" | head -c 100 > /dev/null; echo ${PIPESTATUS[0]}", Self.binary.path, big.path]
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let status = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(status, "141\n", "[\(trap)] \(stderr)")
            XCTAssertEqual(stderr, "", "[\(trap)] quiet")
        }
    }

    func testSeveralFilesInOneRunAndOutputFile() throws {
        let other = TestPaths.fixtures.appendingPathComponent("modbus-pymodbus-port5020.pcap")
        let out = tmp("events.json")
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try run(["read", fixture.path, other.path, "--output", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "")
        XCTAssertTrue(r.stderr.contains("packets"), "human summary on standard error")
        let text = try String(contentsOf: out, encoding: .utf8)
        let stats = text.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(stats.contains("\"pkts\":140"), "118 + 22 packets: \(stats)")
        XCTAssertTrue(text.contains("\"dest_port\":5020"))
        // Every line is a JSON object with the EVE envelope.
        for line in text.split(separator: "\n") {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            XCTAssertNotNil(obj?["timestamp"] as? String)
            XCTAssertNotNil(obj?["event_type"] as? String)
        }
    }

    /// Numbers out of range are usage errors (exit 64), never an arithmetic trap or a wrapped
    /// value: seconds become nanoseconds, bytes become pages, counts become table sizes.
    func testNumericOptionsAreBounded() throws {
        let f = fixture.path
        let cases: [[String]] = [
            ["read", f, "--tcp-timeout", "99999999999"],
            ["read", f, "--udp-timeout", "9300000000"],
            ["read", f, "--udp-timeout", "8000000000"],
            ["read", f, "--tcp-timeout", "2592001"],
            ["read", f, "--udp-timeout", "0"],
            ["read", f, "--max-flows", "99999999999999"],
            ["read", f, "--reassembly-flow-bytes", "4294967296"],
            ["read", f, "--reassembly-flow-bytes", "1000"],           // less than a page: could queue nothing
            ["read", f, "--reassembly-total-bytes=-1"],
            ["read", f, "--sweep-window", "99999999999"],
            ["read", f, "--rate-factor", "inf"],
            ["read", f, "--rate-slack", "9223372036854775807"],
            ["read", f, "--unit-sweep-threshold", "257"],
            // No such interface: were a value let through, the run would fail, not capture.
            ["live", "--interface", "nosuchif0", "--duration=-1"],
            ["live", "--interface", "nosuchif0", "--duration", "99999999999"],
            ["live", "--interface", "nosuchif0", "--stats-interval", "99999999999"],
            ["live", "--interface", "nosuchif0", "--snaplen", "0"],
            ["live", "--interface", "nosuchif0", "--count=-5"],
            ["learn", f, "--baseline", "/dev/null", "--rate-window", "99999999999"],
            ["bench", f, "--max-flows", "0"],
            ["synth", "/dev/null", "--packets", "99999999999"],
        ]
        for args in cases {
            let r = try run(args)
            XCTAssertEqual(r.status, 64, "\(args.joined(separator: " ")): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("Error: --"), "\(args.joined(separator: " ")): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("Fatal error") || r.stderr.contains("Backtrace"), r.stderr)
            XCTAssertEqual(r.stdout, "")
        }
        let edge = try run(["read", "-q", f, "--tcp-timeout", "2592000", "--udp-timeout", "2592000", "--sweep-window", "2592000"])
        XCTAssertEqual(edge.status, 0, "30 days is allowed: \(edge.stderr)")
        let noReorder = try run(["read", "-q", f, "--reassembly-flow-bytes", "0"])
        XCTAssertEqual(noReorder.status, 0, "0 turns reordering off: \(noReorder.stderr)")
    }

    /// A baseline is input too: a rate window no `learn` would write is an error, not a trap.
    func testBaselineWithHugeRateWindowIsAnError() throws {
        let base = tmp("baseline.json")
        defer { try? FileManager.default.removeItem(at: base) }
        XCTAssertEqual(try run(["learn", "-q", fixture.path, "--baseline", base.path]).status, 0)
        var text = try String(contentsOf: base, encoding: .utf8)
        let field = try XCTUnwrap(text.range(of: #""rate_window_seconds" *: *60"#, options: .regularExpression))
        text.replaceSubrange(field, with: #""rate_window_seconds" : 99999999999"#)
        try text.write(to: base, atomically: true, encoding: .utf8)
        assertOneLineError(try run(["read", fixture.path, "--baseline", base.path]), contains: "rate_window_seconds 99999999999")
    }

    func testUsageErrorsAreOneLine() throws {
        let r = try run(["read"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertFalse(r.stderr.contains("Fatal error"))
        XCTAssertEqual(try run(["--version"]).status, 0)
    }

    /// `--memory-budget` (issue 16): sizes with units, one-line usage errors, the budget in the
    /// `stats` event and the summary's `memory:` line.
    func testMemoryBudgetOption() throws {
        for bad in ["12X", "1K", "-5M", ""] {
            let r = try run(["read", fixture.path, "--memory-budget", bad])
            XCTAssertEqual(r.status, 64, "--memory-budget \(bad): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("--memory-budget"), r.stderr)
            XCTAssertFalse(r.stderr.contains("Fatal error"))
        }
        let tooMany = try run(["read", fixture.path, "--memory-budget", "16M", "--max-flows", "100000"])
        XCTAssertEqual(tooMany.status, 64, tooMany.stderr)
        XCTAssertTrue(tooMany.stderr.contains("raise --memory-budget"), tooMany.stderr)
        let r = try run(["read", fixture.path, "--memory-budget", "64M"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let stats = try XCTUnwrap(r.stdout.split(separator: "\n").last { $0.contains("\"event_type\":\"stats\"") })
        let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stats.utf8)) as? [String: Any])
        let memory = try XCTUnwrap((o["stats"] as? [String: Any])?["memory"] as? [String: Any])
        XCTAssertEqual(memory["budget"] as? Int, 64 << 20)
        XCTAssertEqual((memory["reassembly"] as? [String: Any])?["limit"] as? Int, 16 << 20, "a quarter for reassembly")
        XCTAssertGreaterThan((memory["sessions"] as? [String: Any])?["peak"] as? Int ?? 0, 0, "the Modbus sessions were charged")
        XCTAssertEqual(memory["app_layer_used"] as? Int, 0, "everything given back at the end")
        XCTAssertTrue(r.stderr.contains("  memory: peak "), r.stderr)
        XCTAssertTrue(r.stderr.contains("of 64.0 MiB budget"), r.stderr)
    }

    func testSynthThenBench() throws {
        let u = tmp("synth.pcap")
        defer { try? FileManager.default.removeItem(at: u) }
        let g = try run(["synth", u.path, "--packets", "3000", "--connections", "4"])
        XCTAssertEqual(g.status, 0, g.stderr)
        let r = try run(["read", "-q", u.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\"pkts\":3000"))
        XCTAssertTrue(r.stdout.contains("\"errors\":0"), "synthetic frames are well formed")
        let b = try run(["bench", u.path, "--iterations", "1"])
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertTrue(b.stdout.contains("libpcap read loop (floor)"))
        XCTAssertTrue(b.stdout.contains("ratio libpcap+pipeline (no output) / floor"))
        XCTAssertTrue(b.stdout.contains("ratio libpcap+foundation (no dissectors, no output) / floor"), b.stdout)
        let none = try run(["bench", u.path, "--iterations", "1", "--dissectors", "none"])
        XCTAssertEqual(none.status, 0, none.stderr)
        XCTAssertFalse(none.stdout.contains("libpcap + foundation"), "without dissectors the pipeline is the foundation: no third pair")
        XCTAssertTrue(b.stdout.contains("dissector modbus:") && b.stdout.contains("dissector dnp3:"), b.stdout)
        XCTAssertTrue(b.stdout.contains("heap allocations per packet"))
    }
}

import Foundation
import SpanSightEngine
import SpanSightTestSupport
import XCTest

/// Outputs that cannot destroy or inject (issue 16, part 4): an output that is an input is a
/// usage error before anything is opened; whole-file outputs replace their path only when
/// complete; every output is checked before the run; generated rule sets carry nothing a
/// capture or a file name could turn into a command; usage errors and empty captures behave
/// one way.
final class OutputSafetyTests: XCTestCase {
    struct Result { var status: Int32; var stdout: String; var stderr: String }

    /// Runs the tool through bash: `prefix` runs first (`ulimit -f 1`), `wrapper` before the
    /// tool (`setpriv ...`), `redirect` after it (`< file`, `>> file`); standard output is
    /// captured unless `redirect` sends it elsewhere.
    func run(_ args: [String], prefix: String = "", wrapper: String = "", redirect: String = "") throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "\(prefix)\nexec \(wrapper) \"$0\" \"$@\" \(redirect)", CLITests.binary.path] + args
        var env = ProcessInfo.processInfo.environment
        env["TZ"] = "UTC"; env["LC_ALL"] = "C"
        p.environment = env
        let outURL = dir.appendingPathComponent(".stdout-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outURL) }
        let outHandle = try FileHandle(forWritingTo: outURL)
        let err = Pipe()
        p.standardOutput = outHandle
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try outHandle.close()
        let outData = (try? Data(contentsOf: outURL)) ?? Data()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    var fixture: URL { TestPaths.fixtures.appendingPathComponent("modbus-pymodbus.pcap") }
    /// A folder of this test's own, removed afterwards.
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("spansight-outputs-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// A copy of the fixture in the test's folder.
    func capture(_ name: String = "in.pcap") throws -> String {
        let p = path(name)
        try FileManager.default.copyItem(atPath: fixture.path, toPath: p)
        return p
    }

    func bytes(_ p: String) -> Data? { FileManager.default.contents(atPath: p) }

    /// The folder's entries other than `keep`: what a run left behind (temporary files).
    func leftovers(besides keep: Set<String>) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !keep.contains($0) && !$0.hasPrefix(".stdout-") }.sorted()
    }

    /// A usage error in the one form usage errors have: "Error: ..." on one line, then the
    /// usage hint ("Usage: ..." and "See '... --help'"), exit 64, nothing on standard output.
    func assertUsageError(_ r: Result, contains: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 64, r.stderr, file: file, line: line)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines.count, 4, "error, usage, see, final newline: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(lines.first?.hasPrefix("Error: ") ?? false, r.stderr, file: file, line: line)
        XCTAssertTrue(lines.count > 1 && lines[1].hasPrefix("Usage: spansight "), r.stderr, file: file, line: line)
        XCTAssertTrue(lines.count > 2 && lines[2].hasPrefix("  See 'spansight "), r.stderr, file: file, line: line)
        XCTAssertTrue(lines.first?.contains(contains) ?? false, "\(r.stderr) should mention \(contains)", file: file, line: line)
        XCTAssertEqual(r.stdout, "", file: file, line: line)
    }

    func assertOneLineError(_ r: Result, contains: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("spansight: error: "), r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(contains), "\(r.stderr) should mention \(contains)", file: file, line: line)
        XCTAssertEqual(r.stdout, "", "nothing ran: \(r.stdout.prefix(200))", file: file, line: line)
    }

    // MARK: an output that is an input

    /// `read X -o X` (and every other output over an input, by name, symbolic or hard link,
    /// or standard input and output redirected) is a usage error, and the input is untouched.
    func testAnOutputThatIsAnInputIsAUsageError() throws {
        let input = try capture()
        let original = try XCTUnwrap(bytes(input))
        let link = path("link.pcap"), hard = path("hard.pcap")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: input)
        try FileManager.default.linkItem(atPath: input, toPath: hard)
        let base = path("base.json"), key = path("key")
        XCTAssertEqual(try run(["learn", "-q", input, "--baseline", base]).status, 0)
        try Data("0123456789abcdef0123".utf8).write(to: URL(fileURLWithPath: key))
        let baseBytes = try XCTUnwrap(bytes(base)), keyBytes = try XCTUnwrap(bytes(key))

        let cases: [(args: [String], redirect: String, mentions: String)] = [
            (["read", input, "-o", input], "", "--output"),
            (["read", input, "--output", link], "", "--output"),
            (["read", link, "-o", hard], "", "--output"),
            (["read", input, "-o", "/dev/null", "--assets", hard], "", "--assets"),
            (["read", input, "-o", "/dev/null", "--map", link], "", "--map"),
            (["read", input, "-o", "/dev/null", "--db", input], "", "--db"),
            (["read", input, "-o", "/dev/null", "--alert-pcap", hard], "", "--alert-pcap"),
            (["read", input, "-o", base, "--baseline", base], "", "--baseline"),
            (["read", input, "-o", key, "--pseudonym-key", key], "", "--pseudonym-key"),
            (["read", input, "-o", key, "--hl7-pseudonym-key", key], "", "--pseudonym-key"),
            (["read", "-", "-o", link], "< '\(input)'", "standard input"),
            (["read", input], ">> '\(input)'", "standard output"),
            (["learn", input, "--baseline", link], "", "--baseline"),
            (["assets", input, "--assets", input], "", "--assets"),
            (["assets", input], ">> '\(hard)'", "standard output"),
            (["policy", "--baseline", base], ">> '\(base)'", "standard output"),
            (["simulate", "--baseline", base, input], ">> '\(input)'", "standard output"),
            (["live", "--interface", "nosuchif0", "-o", base, "--baseline", base], "", "--output"),
        ]
        for c in cases {
            let r = try run(c.args, redirect: c.redirect)
            assertUsageError(r, contains: c.mentions)
            XCTAssertTrue(r.stderr.contains("is the same file as"), "\(c.args) \(c.redirect): \(r.stderr)")
            XCTAssertEqual(bytes(input), original, "\(c.args) \(c.redirect): the capture is untouched")
            XCTAssertEqual(bytes(base), baseBytes, "\(c.args): the baseline is untouched")
            XCTAssertEqual(bytes(key), keyBytes, "\(c.args): the key is untouched")
        }
        XCTAssertEqual(try leftovers(besides: ["in.pcap", "link.pcap", "hard.pcap", "base.json", "key"]), [])
    }

    /// Two outputs to one file (one would overwrite the other) are a usage error; several to
    /// a device are not.
    func testTwoOutputsToOneFileIsAUsageError() throws {
        let input = try capture()
        let events = path("events.json")
        try Data("old".utf8).write(to: URL(fileURLWithPath: events))
        let cwd = dir.path
        assertUsageError(try run(["read", input, "-o", "/dev/null", "--assets", path("a.json"), "--map", "\(cwd)/./a.json"]), contains: "each output needs its own file")
        assertUsageError(try run(["read", input, "-o", events, "--assets", events]), contains: "each output needs its own file")
        assertUsageError(try run(["read", input, "-o", "/dev/null", "--assets", path("b.json"), "--db", path("b.json")]), contains: "--db")
        XCTAssertEqual(bytes(events), Data("old".utf8))
        let ok = try run(["read", "-q", input, "-o", "/dev/null", "--assets", "/dev/null", "--map", "/dev/null", "--alert-pcap", "/dev/null"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }

    // MARK: checked before the run

    /// An output that cannot be written fails at once (one line, exit 1, no events, nothing
    /// created), not after the whole run.
    func testOutputsAreCheckedBeforeTheRun() throws {
        let input = try capture()
        let missing = path("no-such-folder/out")
        let notAFolder = input + "/out"
        let cases: [(args: [String], mentions: String)] = [
            (["read", input, "-o", missing], "folder \(path("no-such-folder")): No such file or directory"),
            (["read", input, "-o", dir.path], "cannot write \(dir.path): Is a directory"),
            (["read", input, "--assets", missing], "No such file or directory"),
            (["read", input, "--assets", dir.path], "Is a directory"),
            (["read", input, "--map", notAFolder], "Not a directory"),
            (["read", input, "--alert-pcap", missing], "No such file or directory"),
            (["read", input, "--db", missing], "No such file or directory"),
            (["read", input, "--assets", dir.path + "/trailing/"], "Is a directory"),
            (["learn", input, "--baseline", missing], "No such file or directory"),
            (["learn", input, "--baseline", dir.path], "Is a directory"),
            (["assets", input, "--map", missing], "No such file or directory"),
            (["synth", missing, "--packets", "10"], "No such file or directory"),
            (["live", "--interface", "nosuchif0", "-o", missing], "No such file or directory"),
        ]
        for c in cases {
            assertOneLineError(try run(c.args), contains: c.mentions)
        }
        XCTAssertEqual(try leftovers(besides: ["in.pcap"]), [], "nothing created")
        // Permissions: as this user, or, for root (who may write anywhere), as nobody.
        var wrapper = ""
        if getuid() == 0 {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
                throw XCTSkip("root may write anywhere and setpriv is missing: the permission cases are skipped")
            }
            wrapper = "/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups"
            chmod(dir.path, 0o755)
        }
        let locked = path("locked")
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false)
        chmod(locked, 0o555)
        defer { chmod(locked, 0o700) }
        let readOnly = path("read-only.json")
        try Data("kept".utf8).write(to: URL(fileURLWithPath: readOnly))
        chmod(readOnly, 0o444)
        assertOneLineError(try run(["read", input, "--assets", locked + "/a.json"], wrapper: wrapper), contains: "folder \(locked): Permission denied")
        assertOneLineError(try run(["learn", input, "--baseline", readOnly], wrapper: wrapper), contains: "cannot write \(readOnly): Permission denied")
        assertOneLineError(try run(["synth", locked + "/s.pcap"], wrapper: wrapper), contains: "Permission denied")
        XCTAssertEqual(bytes(readOnly), Data("kept".utf8))
    }

    // MARK: whole files or nothing

    /// A whole-file output that fails on the way (here a file size limit: EFBIG) leaves the
    /// previous file as it was, and no temporary file; the error is one line, exit 1.
    func testAFailedWriteLeavesThePreviousFile() throws {
        let input = try capture()
        let limit = "trap '' XFSZ; ulimit -f 1"   // 1 KiB: every output below is larger
        let outputs: [(args: [String], target: String)] = [
            (["synth", path("synth.pcap"), "--packets", "2000"], path("synth.pcap")),
            (["learn", "-q", input, "--baseline", path("base.json")], path("base.json")),
            (["read", "-q", input, "-o", "/dev/null", "--assets", path("inv.json")], path("inv.json")),
            (["read", "-q", input, "-o", "/dev/null", "--map", path("map.html")], path("map.html")),
            (["read", "-q", input, "-o", "/dev/null", "--alert-pcap", path("evidence.pcap")], path("evidence.pcap")),
        ]
        for o in outputs {
            let good = Data("the previous, complete file\n".utf8)
            try good.write(to: URL(fileURLWithPath: o.target))
            chmod(o.target, 0o640)
            let r = try run(o.args, prefix: limit)
            XCTAssertEqual(r.status, 1, "\(o.args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("cannot write \(o.target): File too large"), "\(o.args): \(r.stderr)")
            XCTAssertEqual(bytes(o.target), good, "\(o.args): the previous file is kept whole")
            // Without the limit the same run replaces it, keeping its permissions.
            let ok = try run(o.args)
            XCTAssertEqual(ok.status, 0, "\(o.args): \(ok.stderr)")
            XCTAssertGreaterThan(bytes(o.target)?.count ?? 0, 1024)
            XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: o.target)[.posixPermissions] as? Int, 0o640, "\(o.args)")
        }
        XCTAssertEqual(try leftovers(besides: Set(outputs.map { URL(fileURLWithPath: $0.target).lastPathComponent } + ["in.pcap"])), [],
                       "no temporary file left behind")
    }

    /// A symbolic link to a report is followed: the file it names is replaced, the link stays.
    /// The events stream is still written as it goes (a FIFO reader sees it).
    func testLinksAreFollowedAndTheEventStreamStaysAStream() throws {
        let input = try capture()
        let real = path("real.json"), link = path("link.json")
        try Data("old".utf8).write(to: URL(fileURLWithPath: real))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
        XCTAssertEqual(try run(["learn", "-q", input, "--baseline", link]).status, 0)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), real)
        XCTAssertTrue(String(decoding: bytes(real) ?? Data(), as: UTF8.self).contains("spansight-baseline"))

        let fifo = path("events.fifo")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let r = try run(["read", "-q", input, "-o", fifo], prefix: "cat '\(fifo)' > '\(path("from-fifo"))' &")
        XCTAssertEqual(r.status, 0, r.stderr)
        var text = ""
        for _ in 0..<100 where !text.contains("\"event_type\":\"stats\"") {
            usleep(20_000)
            text = String(decoding: bytes(path("from-fifo")) ?? Data(), as: UTF8.self)
        }
        XCTAssertTrue(text.contains("\"event_type\":\"stats\""), "events reached the FIFO's reader")
    }

    /// The atomic mode itself: nothing reaches the path before `close`; a file abandoned
    /// (never closed) leaves the path as it was and no temporary file.
    func testCheckedFileReplaceMode() throws {
        let target = path("report.txt")
        try Data("old".utf8).write(to: URL(fileURLWithPath: target))
        do {
            let f = try CheckedFile(path: target, label: "cannot write \(target)", mode: .replace)
            f.write(Array("new".utf8))
            f.flush()
            XCTAssertEqual(bytes(target), Data("old".utf8), "not visible before close")
        }
        XCTAssertEqual(bytes(target), Data("old".utf8), "abandoned: the previous file stays")
        XCTAssertEqual(try leftovers(besides: ["report.txt"]), [])
        let f = try CheckedFile(path: target, label: "cannot write \(target)", mode: .replace)
        f.write(Array("new".utf8))
        try f.close()
        XCTAssertEqual(bytes(target), Data("new".utf8))
        XCTAssertEqual(try leftovers(besides: ["report.txt"]), [])
        XCTAssertThrowsError(try CheckedFile.preflight(path: path("x/y"), label: "cannot write x/y", mode: .replace)) { e in
            XCTAssertEqual("\(e)", "cannot write x/y: folder \(path("x")): No such file or directory")
        }
        XCTAssertNoThrow(try CheckedFile.preflight(path: "/dev/null", label: "n", mode: .replace))
    }

    // MARK: nothing a capture or a file name says becomes a rule

    func testPrintableTextEscapesEverythingThatCouldEndALine() {
        XCTAssertEqual(PrintableText.escaped("a\nb\r\t\\c\u{7F}"), "a\\x0ab\\x0d\\x09\\x5cc\\x7f")
        XCTAssertEqual(PrintableText.escaped("é\u{202E}\u{FFFD}"), "\\xc3\\xa9\\xe2\\x80\\xae\\xef\\xbf\\xbd")
        XCTAssertEqual(PrintableText.escaped("é\u{202E}\u{2028}x", keepingUnicode: true), "é\\xe2\\x80\\xae\\xe2\\x80\\xa8x")
        XCTAssertEqual(PrintableText.escaped("x.pcap ;\"'#{}"), "x.pcap ;\"'#{}")
    }

    /// A baseline learned from captures with hostile names (a newline followed by nftables
    /// commands, quotes, semicolons, '#', a backslash, a bidirectional override, U+FFFD where a
    /// byte was not UTF-8) and with hostile command names gives a rule set in which every line
    /// is a comment or a rule SpanSight wrote, every byte printable ASCII; `nft -c` accepts it
    /// when nft can run here. The JSON policy carries the same names exactly, escaped by JSON.
    func testPolicyRuleSetsCarryNoInjectedCommands() throws {
        let injected = "table ip spansight_injected { chain input { type filter hook input priority 0; policy drop; } }"
        let names = ["x\n\(injected)\n#.pcap", "q\"uote's;semi#hash\\back.pcap", "bidi\u{202E}lacp.pcap", "broken\u{FFFD}byte.pcap"]
        var captures: [String] = []
        for (i, n) in names.enumerated() { captures.append(try capture("\(i)-\(n)")) }
        let base = path("base.json")
        let learned = try run(["learn", "-q"] + captures + ["--baseline", base])
        XCTAssertEqual(learned.status, 0, learned.stderr)
        // Command names reach comments too: make one hostile by hand, as an edited baseline would.
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: try XCTUnwrap(bytes(base))) as? [String: Any])
        var commands = try XCTUnwrap(object["commands"] as? [[String: Any]])
        XCTAssertFalse(commands.isEmpty)
        commands[0]["name"] = "read\n\(injected)\r\n"
        object["commands"] = commands
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: base))

        let nft = try run(["policy", "--baseline", base, "--format", "nft"])
        XCTAssertEqual(nft.status, 0, nft.stderr)
        XCTAssertTrue(nft.stdout.utf8.allSatisfy { $0 == 0x0A || ($0 >= 0x20 && $0 < 0x7F) }, "printable ASCII only")
        XCTAssertFalse(nft.stdout.contains("\n" + injected) || nft.stdout.contains("\ntable ip"), nft.stdout)
        let rule = try NSRegularExpression(pattern: #"^        ip6? saddr [0-9a-f.:]+ ip6? daddr [0-9a-f.:]+ (tcp|udp) dport [0-9]+ ct state new accept$"#)
        let fixed: Set<String> = ["table inet spansight_policy {", "    chain forward {",
                                  "        type filter hook forward priority filter; policy drop;",
                                  "        ct state established,related accept", "",
                                  "        log prefix \"spansight-policy-deny: \" level warn", "    }", "}"]
        for line in nft.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("#") || fixed.contains(line) { continue }
            XCTAssertEqual(rule.numberOfMatches(in: line, range: NSRange(line.startIndex..., in: line)), 1, "a line SpanSight did not write: \(line)")
        }
        for escaped in ["x\\x0atable ip spansight_injected", "q\"uote's;semi#hash\\x5cback.pcap", "bidi\\xe2\\x80\\xaelacp", "broken\\xef\\xbf\\xbdbyte", "read\\x0atable ip"] {
            XCTAssertTrue(nft.stdout.contains(escaped), "\(escaped) in \(nft.stdout)")
        }
        let rules = path("policy.nft")
        try Data(nft.stdout.utf8).write(to: URL(fileURLWithPath: rules))
        try checkWithNft(rules)

        let json = try run(["policy", "--baseline", base, "--format", "json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let policy = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((policy["baseline_sources"] as? [String])?.sorted(), captures.map { URL(fileURLWithPath: $0).lastPathComponent }.sorted())
    }

    /// Values that no rule may carry (an address, protocol or port that is not one) reject the
    /// baseline: one line, exit 1, nothing printed; also a baseline that is not UTF-8.
    func testPolicyRejectsValuesNoRuleMayCarry() throws {
        let input = try capture()
        let base = path("base.json")
        XCTAssertEqual(try run(["learn", "-q", input, "--baseline", base]).status, 0)
        let learned = try XCTUnwrap(JSONSerialization.jsonObject(with: try XCTUnwrap(bytes(base))) as? [String: Any])
        let edits: [(String, Any, String)] = [
            ("proto", "6 accept; add table ip evil", "bad protocol 6 accept; add table ip evil"),
            ("proto", "", "bad protocol"),
            ("proto", "+6", "bad protocol"),
            ("server_port", 70000, "bad server_port 70000"),
            ("client", "10.77.0.10 accept\ntable ip evil", "bad address 10.77.0.10 accept\\x0atable ip evil"),
            ("server", "10.77.0.20;", "bad address"),
        ]
        for (field, value, mentions) in edits {
            var object = learned
            var pairs = try XCTUnwrap(object["pairs"] as? [[String: Any]])
            pairs[0][field] = value
            object["pairs"] = pairs
            let edited = path("edited.json")
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: edited))
            for format in ["nft", "json"] {
                assertOneLineError(try run(["policy", "--baseline", edited, "--format", format]), contains: mentions)
            }
        }
        // A source name that is not UTF-8: raw bytes, and the lone surrogate by which JSON
        // writers (Python's surrogateescape) carry such a byte.
        let original = try XCTUnwrap(bytes(base))
        let name = try XCTUnwrap(original.range(of: Data("in.pcap".utf8)))
        var raw = original
        raw.replaceSubrange(name, with: [0x69, 0xFF, 0xFE, 0x6E])
        let notUTF8 = path("not-utf8.json")
        try raw.write(to: URL(fileURLWithPath: notUTF8))
        assertOneLineError(try run(["policy", "--baseline", notUTF8]), contains: "not a SpanSight baseline")
        var surrogate = original
        surrogate.replaceSubrange(name, with: Data(#"i\udcffn"#.utf8))
        try surrogate.write(to: URL(fileURLWithPath: notUTF8))
        let r = try run(["policy", "--baseline", notUTF8])
        if r.status == 0 {
            XCTAssertTrue(r.stdout.utf8.allSatisfy { $0 == 0x0A || ($0 >= 0x20 && $0 < 0x7F) }, r.stdout)
            XCTAssertTrue(r.stdout.contains("learned from: i\\x"), r.stdout)
        } else {
            assertOneLineError(r, contains: "not a SpanSight baseline")
        }
    }

    /// `nft -c -f` on a rule set, when nft is installed and can run here (it needs netlink).
    func checkWithNft(_ rules: String) throws {
        guard let nft = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            print("OutputSafetyTests: nft is not installed (Debian: nftables): the rule set's escaping was checked, not nft -c")
            return
        }
        func check(_ file: String) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: nft)
            p.arguments = ["-c", "-f", file]
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, text)
        }
        let probe = path("probe.nft")
        try Data("table inet spansight_probe {\n}\n".utf8).write(to: URL(fileURLWithPath: probe))
        let (probeStatus, probeError) = try check(probe)
        guard probeStatus == 0 else {
            print("OutputSafetyTests: nft -c cannot run here (\(probeError.prefix(120))): the rule set's escaping was checked, not nft -c")
            return
        }
        let (status, error) = try check(rules)
        XCTAssertEqual(status, 0, "nft -c -f: \(error)")
    }

    // MARK: exit statuses

    /// Usage errors have one form (one line, then the usage hint) and status 64, also those
    /// found after parsing: `live --alert-pcap` naming no folder, an unknown `bench --dissectors` name.
    func testUsageErrorsHaveOneForm() throws {
        let input = fixture.path
        assertUsageError(try run(["live", "--interface", "nosuchif0", "--alert-pcap", path("e.pcap")]), contains: "live writes a folder of pcaps there")
        assertUsageError(try run(["bench", input, "--dissectors", "modbus,nosuch"]), contains: "unknown dissector 'nosuch'")
        assertUsageError(try run(["bench", input, "--dissectors", ","]), contains: "no dissector given")
        assertUsageError(try run(["read"]), contains: "Missing expected argument")
        assertUsageError(try run(["read", input, "--eve-types", "nosuch"]), contains: "unknown event type")
        assertUsageError(try run(["read", input, "--tcp-timeout", "0"]), contains: "--tcp-timeout")
        assertUsageError(try run(["read", input, "--no-such-option"]), contains: "--no-such-option")
        XCTAssertEqual(try run(["read", "--help"]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("e.pcap")))
    }

    /// An empty pcap and a pcapng without an interface description block are both empty
    /// captures: one warning line, the run goes on (a `stats` event, other files read), exit 0;
    /// `bench`, which needs packets, refuses both alike.
    func testEmptyCapturesBehaveAlike() throws {
        let emptyPcap = path("empty.pcap"), noInterface = path("no-idb.pcapng")
        try Data(PcapFileWriter.data(packets: [])).write(to: URL(fileURLWithPath: emptyPcap))
        // A section header block alone (28 bytes, little-endian, section length unknown).
        let shb: [UInt8] = [0x0A, 0x0D, 0x0D, 0x0A, 28, 0, 0, 0, 0x4D, 0x3C, 0x2B, 0x1A, 1, 0, 0, 0,
                            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 28, 0, 0, 0]
        try Data(shb).write(to: URL(fileURLWithPath: noInterface))
        for (file, redirect) in [(emptyPcap, ""), (noInterface, ""), ("-", "< '\(emptyPcap)'"), ("-", "< '\(noInterface)'")] {
            let r = try run(["read", "-q", file], redirect: redirect)
            XCTAssertEqual(r.status, 0, "\(file) \(redirect): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.hasPrefix("spansight: warning: ") && r.stderr.contains(": no packets ("), r.stderr)
            XCTAssertTrue(r.stdout.contains("\"event_type\":\"stats\""), "\(file): the run ends as usual")
        }
        let both = try run(["read", "-q", noInterface, fixture.path, emptyPcap])
        XCTAssertEqual(both.status, 0, both.stderr)
        XCTAssertTrue(both.stdout.contains("\"pkts\":118"), "the files after an empty one are read")
        XCTAssertEqual(both.stderr.split(separator: "\n").count, 2, both.stderr)
        for file in [emptyPcap, noInterface] {
            assertOneLineError(try run(["bench", file, "--iterations", "1"]), contains: "\(file): no packets")
        }
    }
}

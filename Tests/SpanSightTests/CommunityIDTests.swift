import Foundation
import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Community ID v1 (the public Community ID Flow Hashing specification) against the
/// specification's own example, an independent implementation (the `communityid` Python
/// package) and tshark's CommunityID post-dissector on every capture.
final class CommunityIDTests: XCTestCase {
    func id(_ a: String, _ pa: UInt16, _ b: String, _ pb: UInt16, _ proto: UInt8, seed: UInt16 = 0) -> String {
        CommunityID.string(source: IPAddress(a)!, sourcePort: pa, destination: IPAddress(b)!, destinationPort: pb,
                           proto: proto, seed: seed)
    }

    /// The specification's README example: a TCP flow 128.232.110.120:34855 -> 66.35.250.204:80.
    func testSpecificationExample() {
        XCTAssertEqual(id("128.232.110.120", 34855, "66.35.250.204", 80, 6), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
        // Both directions of a flow hash alike.
        XCTAssertEqual(id("66.35.250.204", 80, "128.232.110.120", 34855, 6), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
    }

    /// The same tuples through the `communityid` package (PyPI, an independent implementation):
    /// IPv4 and IPv6, TCP and UDP, equal addresses ordered by port, seeds 0 and 1.
    func testAgreesWithIndependentImplementation() throws {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import communityid"]
        probe.standardError = FileHandle.nullDevice
        try probe.run(); probe.waitUntilExit()
        guard probe.terminationStatus == 0 else { throw XCTSkip("python3 module communityid is absent (pip install communityid): cross-check skipped") }
        var rng = SplitMix(seed: 15)
        var tuples: [(String, UInt16, String, UInt16, UInt8, UInt16)] = [
            ("10.0.0.1", 502, "10.0.0.1", 40000, 6, 0),
            ("2001:db8::1", 20000, "2001:db8::2", 1024, 6, 0),
            ("fe80::1", 53, "fe80::2", 5353, 17, 1),
        ]
        for i in 0..<60 {
            let v6 = i % 3 == 0
            func address() -> String {
                let r = rng.next()
                if v6 { return String(format: "2001:db8:%x:%x::%x", UInt16(truncatingIfNeeded: r), UInt16(truncatingIfNeeded: r >> 16), UInt16(truncatingIfNeeded: r >> 32)) }
                return "\(r & 0xFF).\(r >> 8 & 0xFF).\(r >> 16 & 0xFF).\(r >> 24 & 0xFF)"
            }
            let r = rng.next()
            tuples.append((address(), UInt16(truncatingIfNeeded: r), address(), UInt16(truncatingIfNeeded: r >> 16),
                           i % 2 == 0 ? 6 : 17, UInt16(i % 4 == 0 ? 1 : 0)))
        }
        var script = "import communityid\n"
        for t in tuples {
            let make = t.4 == 6 ? "make_tcp" : "make_udp"
            script += "print(communityid.CommunityID(seed=\(t.5)).calc(communityid.FlowTuple.\(make)('\(t.0)','\(t.2)',\(t.1),\(t.3))))\n"
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let theirs = out.split(separator: "\n").map(String.init)
        XCTAssertEqual(theirs.count, tuples.count)
        for (t, expected) in zip(tuples, theirs) {
            XCTAssertEqual(id(t.0, t.1, t.2, t.3, t.4, seed: t.5), expected, "\(t)")
        }
    }

    /// Every flow's `community_id` equals tshark's (`--enable-protocol communityid`) for the
    /// flow's frames, on every corpus capture and fixture; every id tshark computes for a TCP
    /// or UDP frame belongs to one of our flows.
    func testEqualsTsharksOnEveryCapture() throws {
        guard TShark.path != nil else { throw XCTSkip("tshark is not installed: Community ID cross-check skipped") }
        var files = TestPaths.fixtureFiles()
        if TestPaths.corpus != nil {
            for folder in ["modbus", "dnp3", "hl7", "dicom", "mixed"] { files += TestPaths.corpusFiles(folder) }
        } else {
            print("../shared/corpus is absent: Community ID checked on the fixtures only")
        }
        var flows = 0
        for url in files {
            let name = url.lastPathComponent
            guard let out = TShark.run(url, ["--enable-protocol", "communityid", "-Y", "tcp or udp", "-T", "fields", "-e", "communityid"]) else {
                XCTFail("\(name): tshark failed"); continue
            }
            let theirs = Set(out.split(separator: "\n").map { String($0) }.filter { !$0.isEmpty })
            let run = try CaptureRunner.run(url)
            var ours = Set<String>()
            for e in run.events(ofType: "flow") {
                guard let c = e["community_id"] as? String else { XCTFail("\(name): a flow event without community_id"); continue }
                ours.insert(c)
                flows += 1
            }
            XCTAssertEqual(ours, theirs, "\(name): community ids of our flows vs tshark's frames")
            // Every event of a flow carries the flow's id.
            for e in run.events where e["src_ip"] != nil {
                XCTAssertNotNil(e["community_id"], "\(name): \(e["event_type"] ?? "?") without community_id")
            }
        }
        XCTAssertGreaterThan(flows, 100)
    }
}

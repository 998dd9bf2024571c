import Foundation
import XCTest
import SpanSightEngine
import SpanSightTestSupport
@testable import SpanSightDNP3

/// The link-layer DIR bit (IEEE 1815-2012 9.2.4.1.3.1: 1 = from the master) against the
/// application function: requests must carry DIR=1, responses DIR=0.
final class DNP3DirectionTests: XCTestCase {
    /// Across the corpus, the fragments SpanSight flags are exactly those where tshark reads a
    /// request function with DIR=0 (two, both in captures built by hand: arkime's synthetic
    /// file and suricata-verify's max-points file).
    func testDirectionBitMismatchesEqualTshark() throws {
        let files = TestPaths.corpusFiles("dnp3")
        if files.isEmpty { throw XCTSkip("DNP3 corpus absent: put it at ../shared/corpus (MANIFEST.md) or set SPANSIGHT_CORPUS") }
        guard TShark.path != nil else { throw XCTSkip("tshark not installed") }
        var ours: Set<String> = []
        var theirs: Set<String> = []
        for f in files {
            let run = try CaptureRunner.run(f, dissectors: [DNP3.entry])
            for e in run.events(ofType: "anomaly") {
                guard DNP3Run.anomalyName(e) == "dnp3.direction_bit_mismatch" else { continue }
                ours.insert("\(f.lastPathComponent)#\(e["pcap_cnt"] as? Int ?? -1)")
            }
            let args = ["-Y", "dnp3.al.func", "-T", "fields", "-e", "frame.number", "-e", "dnp3.ctl.dir", "-e", "dnp3.al.func"]
            guard let out = TShark.run(f, args) else { continue }
            for line in out.split(separator: "\n") {
                let c = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                guard c.count == 3, let fc = Int(c[2]) else { continue }
                // The DIR bit of the frame that completed the fragment (tshark lists every frame's).
                let dir = c[1].split(separator: ",").last.map(String.init) ?? ""
                let isResponse = fc >= 129 && fc <= 131
                if (dir == "1") == isResponse { theirs.insert("\(f.lastPathComponent)#\(c[0])") }
            }
        }
        XCTAssertEqual(ours, theirs)
        XCTAssertEqual(ours, ["arkime-dnp3-synthetic.pcap#19", "sv-dnp3-max-points.pcap#93"])
    }

    /// Link-layer frames without user data (resets, tests, link status, ACK/NACK) are logged
    /// as `type: link`, one per frame tshark dissects as such, on every corpus capture.
    func testLinkOnlyFramesEqualTshark() throws {
        let files = TestPaths.corpusFiles("dnp3")
        if files.isEmpty { throw XCTSkip("DNP3 corpus absent: put it at ../shared/corpus (MANIFEST.md) or set SPANSIGHT_CORPUS") }
        guard TShark.path != nil else { throw XCTSkip("tshark not installed") }
        var total = 0
        for f in files {
            let run = try CaptureRunner.run(f, dissectors: [DNP3.entry])
            let ours = run.events(ofType: "dnp3").filter { ($0["dnp3"] as? [String: Any])?["type"] as? String == "link" }
            // (A user-data function with length 5 carries no user data: a link frame too.)
            let filter = "dnp3 && (dnp3.ctl.prm == 0 || (dnp3.ctl.prifunc != 3 && dnp3.ctl.prifunc != 4) || dnp3.len == 5)"
            guard let out = TShark.run(f, ["-Y", filter, "-T", "fields", "-e", "frame.number"]) else { continue }
            let theirs = out.split(separator: "\n").count
            XCTAssertEqual(ours.count, theirs, f.lastPathComponent)
            total += ours.count
        }
        XCTAssertGreaterThan(total, 0, "the corpus has link-only frames (zeek-dnp3-link-only, openics request-link)")
    }
}

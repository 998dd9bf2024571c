import Foundation
import SpanSightTestSupport
import XCTest

/// Raw-pointer code stays where it says it is: every file of Sources that loads, stores,
/// copies or allocates through raw memory, or holds an object unretained, begins with an
/// `// UNSAFE` line saying what, and docs/architecture.md names exactly those files.
final class UnsafeConfinementTests: XCTestCase {
    static let operations = try! NSRegularExpression(pattern:
        #"\.load\((fromByteOffset|as)|loadUnaligned|storeBytes\(of|Pointer<[A-Za-z0-9]+>\.allocate\(|RawPointer\.allocate\(|RawBufferPointer\.allocate\(|copyMemory|initializeMemory|assumingMemoryBound|bindMemory|unsafelyUnwrapped|UnsafeRawPointer\(|UnsafeMutableRawPointer\(|Unmanaged<|_withUnsafeGuaranteedRef|utf8Start|baseAddress!"#)

    func testRawPointerFilesSaySoAndAreListed() throws {
        let sources = TestPaths.packageRoot.appendingPathComponent("Sources")
        guard let walk = FileManager.default.enumerator(atPath: sources.path) else { return XCTFail("no Sources") }
        var marked: Set<String> = [], unmarked: [String] = []
        for case let path as String in walk where path.hasSuffix(".swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(path), encoding: .utf8)
            let top = text.split(separator: "\n", maxSplits: 3).prefix(3)
            let says = top.contains { $0.hasPrefix("// UNSAFE") }
            let code = text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }.joined(separator: "\n")
            let uses = Self.operations.firstMatch(in: code, range: NSRange(code.startIndex..., in: code)) != nil
            let name = (path as NSString).lastPathComponent
            if says { marked.insert(name) } else if uses { unmarked.append(path) }
        }
        XCTAssertEqual(unmarked, [], "raw-pointer code without an `// UNSAFE:` line at the file's top")
        let doc = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        guard let start = doc.range(of: "**Unsafe code is confined**"), let end = doc.range(of: "- **Time is packet time.**") else {
            return XCTFail("docs/architecture.md has no unsafe-code paragraph")
        }
        let paragraph = doc[start.upperBound..<end.lowerBound]
        let listed = Set(paragraph.matches(of: /`([A-Za-z0-9+]+\.swift)`/).map { String($0.1) })
        let outside: Set<String> = ["SteadyReplay.swift", "FuzzInput.swift", "FuzzRun.swift"]
        XCTAssertEqual(listed.subtracting(outside).subtracting(marked).sorted(), [], "listed in docs/architecture.md but not marked UNSAFE")
        XCTAssertEqual(marked.subtracting(listed).sorted(), [], "marked UNSAFE but not listed in docs/architecture.md")
    }
}

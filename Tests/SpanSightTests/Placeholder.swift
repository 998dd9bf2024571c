import XCTest
final class SpanSightPlaceholderTests: XCTestCase { func testNothingYet() {} }

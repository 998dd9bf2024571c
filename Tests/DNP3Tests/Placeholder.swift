import XCTest
final class DNP3PlaceholderTests: XCTestCase { func testNothingYet() {} }

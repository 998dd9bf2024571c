import XCTest
final class ModbusPlaceholderTests: XCTestCase { func testNothingYet() {} }

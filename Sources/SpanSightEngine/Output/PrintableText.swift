/// Text from a capture or a file name, made safe to put on one line of a message or of a
/// generated file (an nftables comment): nothing in it can end the line, start a command or
/// hide what follows. Kept: printable ASCII except the backslash (and, for messages, printable
/// non-ASCII characters); everything else becomes `\xNN`, one per UTF-8 byte (a byte that was
/// not UTF-8 reached Swift as U+FFFD and shows as `\xef\xbf\xbd`).
public enum PrintableText {
    /// `text` with line ends, control and format characters (bidirectional overrides, zero
    /// widths), the backslash and, unless `keepingUnicode`, every non-ASCII character escaped.
    public static func escaped(_ text: some StringProtocol, keepingUnicode: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if scalar.isASCII {
                if scalar.value >= 0x20 && scalar.value < 0x7F && scalar != "\\" {
                    out.unicodeScalars.append(scalar)
                    continue
                }
            } else if keepingUnicode && isPrintable(scalar) {
                out.unicodeScalars.append(scalar)
                continue
            }
            for byte in String(scalar).utf8 { out += "\\x" + hex(byte) }
        }
        return out
    }

    /// True when `text` would be written unchanged.
    public static func isPlain(_ text: some StringProtocol, keepingUnicode: Bool = false) -> Bool {
        escaped(text, keepingUnicode: keepingUnicode) == String(text)
    }

    private static func isPrintable(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned:
            return false
        default:
            return s != "\u{FFFD}"
        }
    }

    private static func hex(_ b: UInt8) -> String {
        let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
        return String([digits[Int(b >> 4)], digits[Int(b & 0xF)]])
    }
}

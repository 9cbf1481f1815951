/// Number and text formatting for the progress line, tables, logs and record lines, without Foundation.
enum TextFormatting {
    /// `value` with exactly `decimals` digits after the point (rounded half away from zero): `fixed(3.14159, 2)` is
    /// `"3.14"`. Non-finite values print as `nan`, `inf` or `-inf`.
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        var scale: Double = 1
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9.0e18 else { return String(value) }
        let units = UInt64(scaled)
        let divisor = UInt64(scale)
        let whole = units / divisor
        var text = (value < 0 && units > 0 ? "-" : "") + String(whole)
        if decimals > 0 {
            let fraction = String(units % divisor)
            text += "." + String(repeating: "0", count: decimals - fraction.count) + fraction
        }
        return text
    }

    /// `text` right-aligned in `width` columns.
    static func right(_ text: String, _ width: Int) -> String {
        let count = text.count
        return count >= width ? text : String(repeating: " ", count: width - count) + text
    }

    /// `text` left-aligned in `width` columns.
    static func left(_ text: String, _ width: Int) -> String {
        let count = text.count
        return count >= width ? text : text + String(repeating: " ", count: width - count)
    }

    /// `n` with thousands separators: `12,345`.
    static func grouped(_ n: Int) -> String {
        let digits = Array(String(abs(n)))
        var out: [Character] = []
        for (i, d) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return (n < 0 ? "-" : "") + String(out)
    }

    /// Appends `text` as a JSON string literal (quotes and escapes included).
    static func appendJSONString(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [92, 92])
            case 0x0A: bytes.append(contentsOf: [92, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [92, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends the decimal digits of `n`.
    static func appendDecimal(_ n: Int, to bytes: inout [UInt8]) {
        if n < 0 {
            bytes.append(UInt8(ascii: "-"))
            appendDecimal(-n, to: &bytes)
            return
        }
        if n >= 10 { appendDecimal(n / 10, to: &bytes) }
        bytes.append(UInt8(n % 10) + 48)
    }

    /// Milliseconds from microseconds, rounded to the microsecond.
    static func milliseconds(_ microseconds: UInt64) -> Double {
        Double(microseconds) / 1000
    }
}

import DigitalCurrency
import NIOCore
import Testing

@testable import RegistrationCenter

@Suite("CopyTextEncoder")
struct CopyTextEncoderTests {
    static func encoded(_ body: (inout CopyTextEncoder) -> Void) -> String {
        var encoder = CopyTextEncoder(capacity: 0)
        body(&encoder)
        return String(buffer: encoder.buffer)
    }

    @Test(arguments: [
        (Int64(1_750_000_000_000_000_000), "2025-06-15 15:06:40.000000+00"),
        (1_750_000_000_999_999_999, "2025-06-15 15:06:40.999999+00"),
        (1_750_000_001_000_000_000, "2025-06-15 15:06:41.000000+00"),
        (0, "1970-01-01 00:00:00.000000+00"),
        (-1, "1969-12-31 23:59:59.999999+00"),
        (-1_000, "1969-12-31 23:59:59.999999+00"),
        (-1_001, "1969-12-31 23:59:59.999998+00"),
        (951_782_400_123_456_789, "2000-02-29 00:00:00.123456+00"),
        (4_102_444_800_000_000_000, "2100-01-01 00:00:00.000000+00"),
        (.min, "1677-09-21 00:12:43.145224+00"),
        (.max, "2262-04-11 23:47:16.854775+00"),
    ])
    func timestamps(nanos: Int64, text: String) {
        #expect(Self.encoded { $0.timestamp(nanosecondsSinceEpoch: nanos) } == text)
    }

    /// One encoder keeps the date and time of the last second: a run of timestamps, back and forth across second,
    /// day and year boundaries, encodes exactly as each one does in a fresh encoder.
    @Test func cachedSecondNeverLeaks() {
        var generator = SystemRandomNumberGenerator()
        let base: Int64 = 1_767_225_599_000_000_000  // 2025-12-31 23:59:59
        var shared = CopyTextEncoder(capacity: 0)
        var expected = ""
        for _ in 0..<5_000 {
            let nanos = base + Int64.random(in: -2_000_000_000...2_000_000_000, using: &generator)
            shared.timestamp(nanosecondsSinceEpoch: nanos)
            shared.tab()
            expected += Self.encoded { $0.timestamp(nanosecondsSinceEpoch: nanos) } + "\t"
        }
        #expect(String(buffer: shared.buffer) == expected)
        #expect(expected.contains("2025-12-31 23:59:5") && expected.contains("2026-01-01 00:00:0"))
    }

    @Test(arguments: [
        (Int64(0), "0"), (7, "7"), (10, "10"), (1_234_567_890, "1234567890"), (-42, "-42"),
        (.max, "9223372036854775807"), (.min, "-9223372036854775808"),
    ])
    func integers(value: Int64, text: String) {
        #expect(Self.encoded { $0.integer(value) } == text)
    }

    @Test func textEscapesAndNulls() {
        let row = Self.encoded {
            $0.text("a\tb\nc\\d\re")
            $0.tab()
            $0.optionalText(nil)
            $0.tab()
            $0.text("plain")
            $0.endRow()
        }
        #expect(row == "a\\tb\\nc\\\\d\\re\t\\N\tplain\n")
    }
}

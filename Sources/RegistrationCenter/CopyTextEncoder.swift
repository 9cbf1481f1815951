import DigitalCurrency
import NIOCore

/// Writes rows in PostgreSQL's `COPY … FROM STDIN (FORMAT text)` form: tab-separated, `\N` for NULL,
/// backslash escapes for tab, newline, carriage return and backslash.
struct CopyTextEncoder {
    /// 20 bytes of `YYYY-MM-DD HH:MM:SS.` (in a tuple, so that it stays inline).
    typealias TimestampPrefix = (UInt64, UInt64, UInt32)

    var buffer: ByteBuffer
    private var cachedSecond = Int64.min
    private var cachedPrefix: TimestampPrefix = (0, 0, 0)

    init(capacity: Int) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    @inline(__always) mutating func tab() { buffer.writeInteger(UInt8(ascii: "\t")) }
    @inline(__always) mutating func endRow() { buffer.writeInteger(UInt8(ascii: "\n")) }

    mutating func null() {
        buffer.writeInteger(UInt16(0x5C4E))  // "\N"
    }

    mutating func text(_ value: String) {
        // A native or small string's UTF-8 is read in place; `withUTF8` needs a mutable copy of the string (a retain
        // and a release per field).
        if value.utf8.withContiguousStorageIfAvailable({ escaped($0) }) != nil { return }
        var value = value
        value.withUTF8 { escaped($0) }
    }

    private mutating func escaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        var needsEscape = false
        for byte in bytes where byte == 0x5C || byte == 0x09 || byte == 0x0A || byte == 0x0D {
            needsEscape = true
            break
        }
        if !needsEscape {
            buffer.writeBytes(UnsafeRawBufferPointer(bytes))
            return
        }
        for byte in bytes {
            switch byte {
            case 0x5C: buffer.writeInteger(UInt16(0x5C5C))  // \\
            case 0x09: buffer.writeInteger(UInt16(0x5C74))  // \t
            case 0x0A: buffer.writeInteger(UInt16(0x5C6E))  // \n
            case 0x0D: buffer.writeInteger(UInt16(0x5C72))  // \r
            default: buffer.writeInteger(byte)
            }
        }
    }

    mutating func optionalText(_ value: String?) {
        if let value { text(value) } else { null() }
    }

    mutating func integer(_ value: Int64) {
        if value < 0 {
            buffer.writeInteger(UInt8(ascii: "-"))
            unsigned(value.magnitude, minimumDigits: 1)
        } else {
            unsigned(UInt64(value), minimumDigits: 1)
        }
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff+00` (microseconds: PostgreSQL's precision).
    ///
    /// Records of a batch are created within a few seconds of each other, so the date and time up to the second
    /// (`YYYY-MM-DD HH:MM:SS.`, 20 bytes) is kept from the previous call and only the microseconds are formatted;
    /// the 29 bytes are written at once.
    mutating func timestamp(nanosecondsSinceEpoch nanos: Int64) {
        // Floor division (toward the past), without overflow at `Int64.min`.
        let micros = nanos >= 0 ? nanos / 1000 : -((-(nanos + 1)) / 1000) - 1
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = UInt64(micros - seconds * 1_000_000)
        if seconds != cachedSecond {
            cachedSecond = seconds
            cachedPrefix = Self.secondPrefix(seconds)
        }
        let prefix = cachedPrefix
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 29) { target in
            withUnsafeBytes(of: prefix) { target.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: 20) }
            var value = fraction
            for position in stride(from: 25, through: 20, by: -1) {
                target[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10)
                value /= 10
            }
            target[26] = UInt8(ascii: "+")
            target[27] = UInt8(ascii: "0")
            target[28] = UInt8(ascii: "0")
            return 29
        }
    }

    /// Year, month, day and second of the day of a second since the epoch (Howard Hinnant's civil_from_days).
    static func civil(_ secondsSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64, second: Int64) {
        var days = secondsSinceEpoch >= 0 ? secondsSinceEpoch / 86_400 : (secondsSinceEpoch - 86_399) / 86_400
        let seconds = secondsSinceEpoch - days * 86_400
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day, seconds)
    }

    /// `YYYY-MM-DD HH:MM:SS.` of a second since the epoch, in 20 bytes. Nanoseconds in an `Int64` reach from 1677 to
    /// 2262, so the year always has four digits.
    static func secondPrefix(_ secondsSinceEpoch: Int64) -> TimestampPrefix {
        let (year, month, day, seconds) = civil(secondsSinceEpoch)
        var prefix: TimestampPrefix = (0, 0, 0)
        withUnsafeMutableBytes(of: &prefix) { bytes in
            func put(_ value: Int64, at offset: Int, digits: Int) {
                var value = UInt64(clamping: value)
                for position in stride(from: offset + digits - 1, through: offset, by: -1) {
                    bytes[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10)
                    value /= 10
                }
            }
            put(year, at: 0, digits: 4)
            bytes[4] = UInt8(ascii: "-")
            put(month, at: 5, digits: 2)
            bytes[7] = UInt8(ascii: "-")
            put(day, at: 8, digits: 2)
            bytes[10] = UInt8(ascii: " ")
            put(seconds / 3600, at: 11, digits: 2)
            bytes[13] = UInt8(ascii: ":")
            put(seconds / 60 % 60, at: 14, digits: 2)
            bytes[16] = UInt8(ascii: ":")
            put(seconds % 60, at: 17, digits: 2)
            bytes[19] = UInt8(ascii: ".")
        }
        return prefix
    }

    private mutating func unsigned(_ value: UInt64, minimumDigits: Int) {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        let count = max(digits, minimumDigits)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
            var value = value
            for position in stride(from: count - 1, through: 0, by: -1) {
                target[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10)
                value /= 10
            }
            return count
        }
    }
}

extension CopyTextEncoder {
    /// The `owner_changes` columns a batch writes, in COPY order.
    static let ownerChangeColumns = [
        "transaction_id", "coin_id", "kind", "from_wallet", "to_wallet", "value", "flow", "payer_bank",
        "payee_bank", "created_at", "batch_id", "batch_position",
    ]

    /// One `owner_changes` row: `record`, at `position` in batch `batchID`.
    mutating func ownerChange(_ record: OwnerChangeRecord, batchID: Int64, position: Int) {
        text(record.transactionID)
        tab()
        text(record.coinID)
        tab()
        text(record.kind.rawValue)
        tab()
        optionalText(record.fromWallet)
        tab()
        optionalText(record.toWallet)
        tab()
        integer(record.value)
        tab()
        text(record.flow)
        tab()
        text(record.payerBank)
        tab()
        text(record.payeeBank)
        tab()
        timestamp(nanosecondsSinceEpoch: record.createdAtNanos)
        tab()
        integer(batchID)
        tab()
        integer(Int64(position))
        endRow()
    }
}

import DigitalCurrency
import NIOCore

/// Writes rows in PostgreSQL's `COPY … FROM STDIN (FORMAT text)` form: tab-separated, `\N` for NULL,
/// backslash escapes for tab, newline, carriage return and backslash.
struct CopyTextEncoder {
    var buffer: ByteBuffer

    init(capacity: Int) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    @inline(__always) mutating func tab() { buffer.writeInteger(UInt8(ascii: "\t")) }
    @inline(__always) mutating func endRow() { buffer.writeInteger(UInt8(ascii: "\n")) }

    mutating func null() {
        buffer.writeInteger(UInt16(0x5C4E))  // "\N"
    }

    mutating func text(_ value: String) {
        var value = value
        value.withUTF8 { bytes in
            var needsEscape = false
            for byte in bytes where byte == 0x5C || byte == 0x09 || byte == 0x0A || byte == 0x0D {
                needsEscape = true
                break
            }
            if !needsEscape {
                buffer.writeBytes(bytes)
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
    }

    mutating func optionalText(_ value: String?) {
        if let value { text(value) } else { null() }
    }

    mutating func integer(_ value: Int64) {
        if value < 0 {
            buffer.writeInteger(UInt8(ascii: "-"))
            unsigned(value == .min ? UInt64(Int64.max) + 1 : UInt64(-value), minimumDigits: 1)
        } else {
            unsigned(UInt64(value), minimumDigits: 1)
        }
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff+00` (microseconds: PostgreSQL's precision).
    mutating func timestamp(nanosecondsSinceEpoch nanos: Int64) {
        let micros = nanos >= 0 ? nanos / 1000 : (nanos - 999) / 1000
        var seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        var days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        seconds -= days * 86_400
        // Howard Hinnant's civil_from_days.
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        unsigned(UInt64(max(year, 0)), minimumDigits: 4)
        buffer.writeInteger(UInt8(ascii: "-"))
        unsigned(UInt64(month), minimumDigits: 2)
        buffer.writeInteger(UInt8(ascii: "-"))
        unsigned(UInt64(day), minimumDigits: 2)
        buffer.writeInteger(UInt8(ascii: " "))
        unsigned(UInt64(seconds / 3600), minimumDigits: 2)
        buffer.writeInteger(UInt8(ascii: ":"))
        unsigned(UInt64(seconds / 60 % 60), minimumDigits: 2)
        buffer.writeInteger(UInt8(ascii: ":"))
        unsigned(UInt64(seconds % 60), minimumDigits: 2)
        buffer.writeInteger(UInt8(ascii: "."))
        unsigned(UInt64(fraction), minimumDigits: 6)
        buffer.writeInteger(UInt8(ascii: "+"))
        buffer.writeInteger(UInt16(0x3030))  // "00"
    }

    private mutating func unsigned(_ value: UInt64, minimumDigits: Int) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var value = value
            var count = 0
            repeat {
                digits[19 - count] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
                count += 1
            } while value > 0 || count < minimumDigits
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(digits)[(20 - count)...]))
        }
    }
}

extension CopyTextEncoder {
    /// The `owner_changes` columns a batch writes, in COPY order.
    static let ownerChangeColumns = [
        "transaction_id", "coin_id", "kind", "from_wallet", "to_wallet", "value", "flow", "payer_bank",
        "payee_bank", "created_at", "batch_id",
    ]

    /// One `owner_changes` row.
    mutating func ownerChange(_ record: OwnerChangeRecord, batchID: Int64) {
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
        endRow()
    }
}

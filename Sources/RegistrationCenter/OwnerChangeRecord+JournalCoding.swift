import DigitalCurrency
import NIOCore

/// The journal's binary form of owner-change records.
///
/// Payload of one entry: `u32 count`, then per record `u8 kind`, `u8 flags` (bit 0: has from, bit 1: has to),
/// `i64 value`, `i64 createdAtNanos`, then the strings transaction id, coin id, [from], [to], flow, payer bank,
/// payee bank, each as `u16 length` + UTF-8. Big-endian throughout.
enum JournalCoding {
    static func kindCode(_ kind: OwnerChangeRecord.Kind) -> UInt8 {
        switch kind {
        case .issue: 0
        case .transfer: 1
        case .retire: 2
        case .create: 3
        }
    }

    static func kind(_ code: UInt8) -> OwnerChangeRecord.Kind? {
        switch code {
        case 0: .issue
        case 1: .transfer
        case 2: .retire
        case 3: .create
        default: nil
        }
    }

    /// Appends the payload for `records` to `buffer`.
    static func encode(_ records: [OwnerChangeRecord], into buffer: inout ByteBuffer) throws {
        buffer.writeInteger(UInt32(records.count))
        for record in records {
            buffer.writeInteger(kindCode(record.kind))
            buffer.writeInteger(UInt8((record.fromWallet == nil ? 0 : 1) | (record.toWallet == nil ? 0 : 2)))
            buffer.writeInteger(record.value)
            buffer.writeInteger(record.createdAtNanos)
            try writeString(record.transactionID, into: &buffer)
            try writeString(record.coinID, into: &buffer)
            if let from = record.fromWallet { try writeString(from, into: &buffer) }
            if let to = record.toWallet { try writeString(to, into: &buffer) }
            try writeString(record.flow, into: &buffer)
            try writeString(record.payerBank, into: &buffer)
            try writeString(record.payeeBank, into: &buffer)
        }
    }

    /// Reads one payload back. `nil` when it is malformed (which a matching checksum makes a bug or corruption).
    static func decode(_ buffer: inout ByteBuffer) -> [OwnerChangeRecord]? {
        guard let count = buffer.readInteger(as: UInt32.self), count <= UInt32(buffer.readableBytes) else {
            return nil
        }
        var records: [OwnerChangeRecord] = []
        records.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let kindCode = buffer.readInteger(as: UInt8.self), let kind = kind(kindCode),
                let flags = buffer.readInteger(as: UInt8.self),
                let value = buffer.readInteger(as: Int64.self),
                let createdAt = buffer.readInteger(as: Int64.self),
                let transactionID = readString(&buffer),
                let coinID = readString(&buffer)
            else { return nil }
            var from: String?
            var to: String?
            if flags & 1 != 0 {
                guard let string = readString(&buffer) else { return nil }
                from = string
            }
            if flags & 2 != 0 {
                guard let string = readString(&buffer) else { return nil }
                to = string
            }
            guard let flow = readString(&buffer), let payerBank = readString(&buffer),
                let payeeBank = readString(&buffer)
            else { return nil }
            records.append(
                OwnerChangeRecord(
                    transactionID: transactionID, coinID: coinID, kind: kind, fromWallet: from, toWallet: to,
                    value: value, flow: flow, payerBank: payerBank, payeeBank: payeeBank, createdAtNanos: createdAt))
        }
        return records
    }

    private static func writeString(_ string: String, into buffer: inout ByteBuffer) throws {
        let length = string.utf8.count
        guard length <= Int(UInt16.max) else {
            throw RegistrationCenterError(.invalidInput, "a record field is longer than 65535 bytes")
        }
        buffer.writeInteger(UInt16(length))
        buffer.writeString(string)
    }

    private static func readString(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(as: UInt16.self) else { return nil }
        return buffer.readString(length: Int(length))
    }
}

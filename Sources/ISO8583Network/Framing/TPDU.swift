import NIOCore

/// The 5-byte Transport Protocol Data Unit header some networks put between the length prefix and
/// the ISO 8583 message: an identifier (usually `0x60`), a 2-byte destination and a 2-byte source
/// address.
public struct TPDU: Hashable, Sendable, CustomStringConvertible {
    /// The size of a TPDU on the wire.
    public static let byteCount = 5

    /// The TPDU identifier, `0x60` for transactions.
    public var id: UInt8
    /// The destination network address.
    public var destination: UInt16
    /// The originating network address.
    public var source: UInt16

    /// Creates a TPDU.
    public init(id: UInt8 = 0x60, destination: UInt16, source: UInt16) {
        self.id = id
        self.destination = destination
        self.source = source
    }

    /// The TPDU of an answer: destination and source swapped.
    public var swapped: TPDU {
        TPDU(id: self.id, destination: self.source, source: self.destination)
    }

    public var description: String {
        var text = ""
        text.reserveCapacity(10)
        appendHex(self.id, to: &text)
        appendHex(UInt8(truncatingIfNeeded: self.destination >> 8), to: &text)
        appendHex(UInt8(truncatingIfNeeded: self.destination), to: &text)
        appendHex(UInt8(truncatingIfNeeded: self.source >> 8), to: &text)
        appendHex(UInt8(truncatingIfNeeded: self.source), to: &text)
        return text
    }
}

extension ByteBuffer {
    /// Reads a 5-byte TPDU, or returns `nil` (reading nothing) when fewer than 5 bytes are readable.
    public mutating func readTPDU() -> TPDU? {
        guard let (id, destination, source) = self.readMultipleIntegers(as: (UInt8, UInt16, UInt16).self) else {
            return nil
        }
        return TPDU(id: id, destination: destination, source: source)
    }

    /// Writes a 5-byte TPDU and returns the number of bytes written.
    @discardableResult
    public mutating func writeTPDU(_ tpdu: TPDU) -> Int {
        self.writeMultipleIntegers(tpdu.id, tpdu.destination, tpdu.source)
    }
}

@inline(__always)
private func appendHex(_ byte: UInt8, to text: inout String) {
    let digits: StaticString = "0123456789ABCDEF"
    digits.withUTF8Buffer { hex in
        text.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
        text.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0x0F)]))
    }
}

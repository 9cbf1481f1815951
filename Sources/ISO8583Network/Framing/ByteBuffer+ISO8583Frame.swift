import NIOCore

extension ByteBuffer {
    /// Reads one complete frame, or returns `nil` (reading nothing) while the frame is incomplete.
    ///
    /// The returned payload is a slice of this buffer, not a copy.
    ///
    /// - Throws: ``ISO8583NetworkError`` with ``ISO8583NetworkError/Code/invalidLengthPrefix``,
    ///   ``ISO8583NetworkError/Code/frameTooLarge`` or ``ISO8583NetworkError/Code/frameTooShort``.
    ///   Nothing is read then; framing is lost and the connection should be closed.
    public mutating func readISO8583Frame(_ framing: ISO8583Framing) throws -> ISO8583Frame? {
        let prefixLength = framing.lengthPrefix.byteCount
        guard self.readableBytes >= prefixLength else { return nil }
        let start = self.readerIndex
        let length: Int
        switch framing.lengthPrefix {
        case .binary2:
            length = Int(self.getInteger(at: start, as: UInt16.self)!)
        case .binary4:
            let raw = self.getInteger(at: start, as: UInt32.self)!
            guard raw <= UInt32(Int32.max) else {
                throw ISO8583NetworkError(
                    code: .frameTooLarge,
                    detail: "declared length \(raw) exceeds the maximum frame length \(framing.maximumFrameLength)"
                )
            }
            length = Int(raw)
        case .ascii4:
            var value = 0
            for offset in 0..<4 {
                let byte = self.getInteger(at: start + offset, as: UInt8.self)!
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                    throw ISO8583NetworkError(
                        code: .invalidLengthPrefix,
                        detail: "ASCII length prefix has non-digit byte 0x\(hexByte(byte)) at offset \(offset)"
                    )
                }
                value = value * 10 + Int(byte &- UInt8(ascii: "0"))
            }
            length = value
        case .bcd2:
            var value = 0
            for offset in 0..<2 {
                let byte = self.getInteger(at: start + offset, as: UInt8.self)!
                let high = byte >> 4
                let low = byte & 0x0F
                guard high <= 9, low <= 9 else {
                    throw ISO8583NetworkError(
                        code: .invalidLengthPrefix,
                        detail: "BCD length prefix has non-decimal byte 0x\(hexByte(byte)) at offset \(offset)"
                    )
                }
                value = value * 100 + Int(high) * 10 + Int(low)
            }
            length = value
        }
        guard length <= framing.maximumFrameLength else {
            throw ISO8583NetworkError(
                code: .frameTooLarge,
                detail: "declared length \(length) exceeds the maximum frame length \(framing.maximumFrameLength)"
            )
        }
        if framing.hasTPDU, length < TPDU.byteCount {
            throw ISO8583NetworkError(
                code: .frameTooShort,
                detail: "declared length \(length) is shorter than the \(TPDU.byteCount)-byte TPDU"
            )
        }
        guard self.readableBytes >= prefixLength + length else { return nil }
        self.moveReaderIndex(forwardBy: prefixLength)
        var tpdu: TPDU? = nil
        var messageLength = length
        if framing.hasTPDU {
            tpdu = self.readTPDU()
            messageLength -= TPDU.byteCount
        }
        let payload = self.readSlice(length: messageLength)!
        return ISO8583Frame(tpdu: tpdu, payload: payload)
    }

    /// Writes one frame: the length prefix, the TPDU when the framing has one, then whatever
    /// `body` writes. The prefix is filled in afterwards, so the message is encoded straight
    /// into this buffer with no intermediate copy.
    ///
    /// - Parameters:
    ///   - framing: the link's framing.
    ///   - tpdu: the TPDU to write; required when `framing.hasTPDU`, ignored otherwise.
    ///   - body: writes the message bytes.
    /// - Returns: the number of bytes written, prefix included.
    /// - Throws: ``ISO8583NetworkError/Code/missingTPDU``, ``ISO8583NetworkError/Code/frameTooLarge``
    ///   (the buffer is left as it was), or whatever `body` throws (likewise).
    @discardableResult
    public mutating func writeISO8583Frame(
        _ framing: ISO8583Framing,
        tpdu: TPDU?,
        body: (inout ByteBuffer) throws -> Void
    ) throws -> Int {
        let start = self.writerIndex
        let prefixLength = framing.lengthPrefix.byteCount
        if framing.hasTPDU, tpdu == nil {
            throw ISO8583NetworkError(code: .missingTPDU, detail: "the link's framing requires a TPDU")
        }
        self.writeRepeatingByte(0, count: prefixLength)
        if framing.hasTPDU, let tpdu {
            self.writeTPDU(tpdu)
        }
        do {
            try body(&self)
        } catch {
            self.moveWriterIndex(to: start)
            throw error
        }
        let length = self.writerIndex - start - prefixLength
        guard length <= framing.maximumFrameLength else {
            self.moveWriterIndex(to: start)
            throw ISO8583NetworkError(
                code: .frameTooLarge,
                detail: "encoded length \(length) exceeds the maximum frame length \(framing.maximumFrameLength)"
            )
        }
        switch framing.lengthPrefix {
        case .binary2:
            self.setInteger(UInt16(length), at: start)
        case .binary4:
            self.setInteger(UInt32(length), at: start)
        case .ascii4:
            var remaining = length
            for offset in stride(from: 3, through: 0, by: -1) {
                self.setInteger(UInt8(ascii: "0") &+ UInt8(remaining % 10), at: start + offset)
                remaining /= 10
            }
        case .bcd2:
            let high = length / 100
            let low = length % 100
            self.setInteger(UInt8((high / 10) << 4 | high % 10), at: start)
            self.setInteger(UInt8((low / 10) << 4 | low % 10), at: start + 1)
        }
        return self.writerIndex - start
    }

    /// Writes `frame` with `framing`: prefix, TPDU when the framing has one, payload.
    @discardableResult
    public mutating func writeISO8583Frame(_ frame: ISO8583Frame, framing: ISO8583Framing) throws -> Int {
        try self.writeISO8583Frame(framing, tpdu: frame.tpdu) { buffer in
            buffer.writeImmutableBuffer(frame.payload)
        }
    }
}

@inline(__always)
func hexByte(_ byte: UInt8) -> String {
    let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F"]
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
}

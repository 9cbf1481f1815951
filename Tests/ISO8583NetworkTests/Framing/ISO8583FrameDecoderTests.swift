import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import ISO8583Network

@Suite("Frame decoder and encoder")
struct ISO8583FrameDecoderTests {
    static let allFramings: [ISO8583Framing] = ISO8583Framing.LengthPrefix.allCases.flatMap { prefix in
        [ISO8583Framing(lengthPrefix: prefix), ISO8583Framing(lengthPrefix: prefix, hasTPDU: true)]
    }

    private func frame(_ text: String, tpdu: TPDU?) -> ISO8583Frame {
        ISO8583Frame(tpdu: tpdu, payload: ByteBuffer(string: text))
    }

    @Test("ByteToMessageDecoderVerifier: drip-fed, batched and one by one", arguments: allFramings)
    func verifier(framing: ISO8583Framing) throws {
        let tpdu: TPDU? = framing.hasTPDU ? TPDU(destination: 0x0001, source: 0x0203) : nil
        let bodies = ["0800A", "0200" + String(repeating: "x", count: 300), "0210B", "", "0420reversal"]
        var pairs: [(ByteBuffer, [ISO8583Frame])] = []
        for body in bodies {
            let frame = self.frame(body, tpdu: tpdu)
            var wire = ByteBuffer()
            try wire.writeISO8583Frame(frame, framing: framing)
            pairs.append((wire, [frame]))
        }
        // Several frames in one write.
        var many = ByteBuffer()
        var manyFrames: [ISO8583Frame] = []
        for index in 0..<20 {
            let frame = self.frame("0200#\(index)", tpdu: tpdu)
            try many.writeISO8583Frame(frame, framing: framing)
            manyFrames.append(frame)
        }
        pairs.append((many, manyFrames))
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            ISO8583FrameDecoder(framing: framing)
        }
    }

    @Test(
        "Golden length prefixes for a 258-byte message",
        arguments: [
            (ISO8583Framing.LengthPrefix.binary2, [UInt8]([0x01, 0x02])),
            (.binary4, [0x00, 0x00, 0x01, 0x02]),
            (.ascii4, Array("0258".utf8)),
            (.bcd2, [0x02, 0x58]),
        ]
    )
    func goldenPrefixes(prefix: ISO8583Framing.LengthPrefix, expected: [UInt8]) throws {
        let framing = ISO8583Framing(lengthPrefix: prefix)
        var buffer = ByteBuffer()
        let written = try buffer.writeISO8583Frame(framing, tpdu: nil) { body in
            body.writeRepeatingByte(0x41, count: 258)
        }
        #expect(written == expected.count + 258)
        #expect(buffer.getBytes(at: 0, length: expected.count) == expected)
        let frame = try #require(try buffer.readISO8583Frame(framing))
        #expect(frame.payload.readableBytes == 258)
        #expect(buffer.readableBytes == 0)
    }

    @Test("The TPDU follows the length, is counted in it, and is exposed on the frame")
    func tpduLayout() throws {
        let framing = ISO8583Framing(lengthPrefix: .binary2, hasTPDU: true)
        var buffer = ByteBuffer()
        try buffer.writeISO8583Frame(self.frame("0800", tpdu: TPDU(id: 0x60, destination: 0x1234, source: 0xABCD)), framing: framing)
        #expect(Array(buffer.readableBytesView) == [0x00, 0x09, 0x60, 0x12, 0x34, 0xAB, 0xCD] + Array("0800".utf8))
        let frame = try #require(try buffer.readISO8583Frame(framing))
        #expect(frame.tpdu == TPDU(id: 0x60, destination: 0x1234, source: 0xABCD))
        #expect(frame.tpdu?.swapped == TPDU(id: 0x60, destination: 0xABCD, source: 0x1234))
        #expect(frame.tpdu?.description == "601234ABCD")
        #expect(String(buffer: frame.payload) == "0800")
    }

    @Test("A decoded payload is a slice of the received buffer, not a copy")
    func payloadIsSlice() throws {
        let framing = ISO8583Framing()
        var buffer = ByteBuffer()
        try buffer.writeISO8583Frame(self.frame("0200hello", tpdu: nil), framing: framing)
        let base = buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let frame = try #require(try buffer.readISO8583Frame(framing))
        let payloadBase = frame.payload.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(payloadBase == base + 2)
    }

    @Test("An oversize frame is rejected before its body arrives", arguments: ISO8583Framing.LengthPrefix.allCases)
    func oversize(prefix: ISO8583Framing.LengthPrefix) throws {
        let framing = ISO8583Framing(lengthPrefix: prefix, maximumFrameLength: 100)
        var wire = ByteBuffer()
        try wire.writeISO8583Frame(ISO8583Framing(lengthPrefix: prefix), tpdu: nil) { $0.writeRepeatingByte(0x30, count: 101) }
        let header = wire.getSlice(at: 0, length: prefix.byteCount)!
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(ISO8583FrameDecoder(framing: framing)))
        #expect(throws: ISO8583NetworkError.self) { try channel.writeInbound(header) }
        do {
            var copy = header
            _ = try copy.readISO8583Frame(framing)
            Issue.record("expected frameTooLarge")
        } catch let error as ISO8583NetworkError {
            #expect(error.code == .frameTooLarge)
            #expect(error.description.contains("101"))
            #expect(error.description.contains("100"))
        }
        _ = try? channel.finish()
    }

    @Test("A frame of exactly the maximum length passes")
    func exactlyMaximum() throws {
        let framing = ISO8583Framing(maximumFrameLength: 100)
        var wire = ByteBuffer()
        try wire.writeISO8583Frame(framing, tpdu: nil) { $0.writeRepeatingByte(0x30, count: 100) }
        let frame = try #require(try wire.readISO8583Frame(framing))
        #expect(frame.payload.readableBytes == 100)
    }

    @Test("A non-digit ASCII length is a clear error")
    func nonDigitASCII() throws {
        var wire = ByteBuffer(string: "01A5hello")
        #expect {
            try wire.readISO8583Frame(ISO8583Framing(lengthPrefix: .ascii4))
        } throws: { error in
            let error = error as? ISO8583NetworkError
            return error?.code == .invalidLengthPrefix && error?.detail.contains("0x41") == true
                && error?.detail.contains("offset 2") == true
        }
        #expect(wire.readerIndex == 0)
    }

    @Test("A non-decimal BCD length is a clear error")
    func badBCD() throws {
        var wire = ByteBuffer(bytes: [0x0A, 0x10, 0x30])
        #expect {
            try wire.readISO8583Frame(ISO8583Framing(lengthPrefix: .bcd2))
        } throws: { error in
            (error as? ISO8583NetworkError)?.code == .invalidLengthPrefix
        }
    }

    @Test("A TPDU framing rejects a frame shorter than the TPDU")
    func shorterThanTPDU() throws {
        var wire = ByteBuffer(bytes: [0x00, 0x03, 0x60, 0x00, 0x00])
        #expect {
            try wire.readISO8583Frame(ISO8583Framing(hasTPDU: true))
        } throws: { error in
            (error as? ISO8583NetworkError)?.code == .frameTooShort
        }
    }

    @Test("Encoding past the maximum throws and leaves the buffer as it was")
    func encodeTooLarge() throws {
        let framing = ISO8583Framing(lengthPrefix: .ascii4, maximumFrameLength: 10)
        var buffer = ByteBuffer(string: "keep")
        #expect {
            try buffer.writeISO8583Frame(framing, tpdu: nil) { $0.writeRepeatingByte(0x31, count: 11) }
        } throws: { error in
            (error as? ISO8583NetworkError)?.code == .frameTooLarge
        }
        #expect(String(buffer: buffer) == "keep")
    }

    @Test("A TPDU framing needs a TPDU to encode")
    func missingTPDU() throws {
        var buffer = ByteBuffer()
        #expect {
            try buffer.writeISO8583Frame(ISO8583Framing(hasTPDU: true), tpdu: nil) { $0.writeString("0800") }
        } throws: { error in
            (error as? ISO8583NetworkError)?.code == .missingTPDU
        }
        #expect(buffer.readableBytes == 0)
    }

    @Test("The maximum frame length is clamped to what the prefix can express")
    func clamped() {
        #expect(ISO8583Framing(lengthPrefix: .ascii4, maximumFrameLength: 100_000).maximumFrameLength == 9_999)
        #expect(ISO8583Framing(lengthPrefix: .binary2, maximumFrameLength: 100_000).maximumFrameLength == 65_535)
        #expect(ISO8583Framing(hasTPDU: true).headerByteCount == 7)
    }

    @Test("The encoder handler writes frames that the decoder reads back", arguments: allFramings)
    func encoderRoundTrip(framing: ISO8583Framing) throws {
        let tpdu: TPDU? = framing.hasTPDU ? TPDU(destination: 7, source: 9) : nil
        let channel = EmbeddedChannel(handlers: [
            ByteToMessageHandler(ISO8583FrameDecoder(framing: framing)),
            MessageToByteHandler(ISO8583FrameEncoder(framing: framing)),
        ])
        let frames = (0..<5).map { self.frame("0210 response \($0)", tpdu: tpdu) }
        for frame in frames {
            try channel.writeOutbound(frame)
        }
        while let wire = try channel.readOutbound(as: ByteBuffer.self) {
            try channel.writeInbound(wire)
        }
        for frame in frames {
            #expect(try channel.readInbound(as: ISO8583Frame.self) == frame)
        }
        #expect(try channel.finish().isClean)
    }
}

import Foundation
import ISO8583
import NIOCore
import Testing

@testable import ISO8583Network

@Suite("ISO 8583 link codec: format-error answers")
struct ISO8583LinkCodecTests {
    let codec = ISO8583LinkCodec(spec: MessageSpec.builtin("iso8583-1987-ascii")!)

    func payload(amount: String) throws -> ByteBuffer {
        var message = ISO8583Message(mti: "0200")
        message[3] = "000000"
        message[4] = "000000001500"
        message[11] = "000042"
        message[37] = "000000000042"
        message[41] = "TERM0001"
        let bytes = Array(try self.codec.spec.encode(message).readableBytesView)
        // Overwrite DE 4 in place (same length), breaking its content class when `amount` has a letter.
        let text = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "000000001500", with: amount)
        return ByteBuffer(string: text)
    }

    @Test func theAnswerLeavesOutTheFieldThatBrokeTheSpecAndEncodes() throws {
        let payload = try self.payload(amount: "0000000015A0")
        #expect(throws: (any Error).self) { try self.codec.decode(payload) }
        let answer = try #require(self.codec.formatErrorResponse(to: payload, error: ISO8583Error(.invalidCharacter)))
        #expect(answer.mti == "0210")
        #expect(answer[39] == "30")
        #expect(answer[4] == nil)
        #expect(answer[11] == "000042")
        #expect(answer[37] == "000000000042")
        #expect(answer[41] == "TERM0001")
        var buffer = ByteBuffer()
        try self.codec.encode(answer, into: &buffer)
        #expect(buffer.readableBytes > 0)
    }

    @Test func aValidEchoIsKept() throws {
        let payload = try self.payload(amount: "000000001500")
        let answer = try #require(self.codec.formatErrorResponse(to: payload, error: ISO8583Error(.invalidValue)))
        #expect(answer[4] == "000000001500")
        #expect(answer[39] == "30")
    }
}

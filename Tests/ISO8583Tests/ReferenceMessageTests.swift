import ISO8583
import NIOCore
import Testing


@Suite("The reference 0200 message")
struct ReferenceMessageTests {
    let spec = MessageSpec.builtin("iso8583-1987-ascii")!

    @Test func decodesEveryField() throws {
        let message = try spec.decode(hex: Reference.hex)
        #expect(message.mti == "0200")
        #expect(message.fieldNumbers == Reference.fields.keys.sorted())
        for (number, value) in Reference.fields {
            #expect(message[number] == value, "field \(number)")
        }
    }

    @Test func reencodesToTheSameBytes() throws {
        let message = try spec.decode(hex: Reference.hex)
        #expect(try spec.encodeHex(message) == Reference.hex)
    }

    @Test func encodesABuiltMessageToTheSameBytes() throws {
        let message = ISO8583Message(mti: "0200", fields: Reference.fields)
        #expect(try spec.encodeHex(message) == Reference.hex)
    }
}

import ISO8583
import NIOCore
import Testing

/// The codec's fast paths against plain reference rules: content classes checked eight bytes at a time,
/// the field table sized from the bitmaps, copy-on-write field storage, and runs of unchanged fields
/// copied in one go on re-encode.
@Suite("Codec fast paths")
struct CodecFastPathTests {
    /// Byte by byte, the rule each content class states.
    static func isInClass(_ c: UInt8, _ contentClass: ContentClass) -> Bool {
        let digit = c >= 0x30 && c <= 0x39
        let letter = (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
        let printable = c >= 0x20 && c <= 0x7E
        switch contentClass {
        case .n: return digit
        case .a: return letter || c == 0x20
        case .an: return letter || digit || c == 0x20
        case .ans: return printable
        case .as: return printable && !digit
        case .ns: return printable && !letter
        case .z: return digit || c == UInt8(ascii: "=") || c == UInt8(ascii: "D")
        case .b, .xn: return false
        }
    }

    static let classes: [ContentClass] = [.n, .a, .an, .ans, .as, .ns, .z]

    /// Bytes that sit on every class boundary, and a few with the top bit set.
    static let alphabet: [UInt8] = Array("09/:@AZ[`az{ ~=D".utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xB0, 0xC1, 0xFF]

    @Test(arguments: classes)
    func everyClassFindsTheFirstByteOutsideIt(_ contentClass: ContentClass) throws {
        // One field of the class, ASCII, LLL: the decoder checks the bytes as they are on the wire.
        let spec = try MessageSpec.fromJSON(
            #"{"name":"c","bitmap":{"encoding":"binary"},"fields":{"2":{"class":"\#(contentClass.specName)","length":999,"prefix":"LLL"}}}"#
        )
        var rng = RoundTripTests.SplitMix(state: UInt64(contentClass.rawValue) + 7)
        let good = Self.alphabet.filter { Self.isInClass($0, contentClass) }
        for length in 0...40 {
            for _ in 0..<6 {
                // Mostly good bytes, sometimes one or two bad ones anywhere (so also in a word's tail).
                var value = (0..<length).map { _ in good.randomElement(using: &rng)! }
                if length > 0, Bool.random(using: &rng) {
                    for _ in 0..<Int.random(in: 1...2, using: &rng) {
                        value[Int.random(in: 0..<length, using: &rng)] = Self.alphabet.randomElement(using: &rng)!
                    }
                }
                let expected = value.firstIndex { !Self.isInClass($0, contentClass) }
                let prefix = Array(threeDigits(length).utf8)
                let wire: [UInt8] = Array("0200".utf8) + [0x40, 0, 0, 0, 0, 0, 0, 0] + prefix + value
                do {
                    let message = try spec.decode(bytes: wire)
                    #expect(expected == nil, "\(contentClass) accepted \(value) on decode")
                    #expect(message.bytes(2) == value)
                } catch {
                    #expect(error.code == .invalidCharacter, "\(contentClass) \(value): \(error)")
                    #expect(error.offset == expected.map { 4 + 8 + 3 + $0 }, "\(contentClass) \(value)")
                }
                // The encoder checks the same rule on text (only for values that are valid UTF-8 text).
                guard value.allSatisfy({ $0 < 0x80 }) else { continue }
                let message = ISO8583Message(mti: "0200", fields: [2: String(decoding: value, as: UTF8.self)])
                do {
                    let bytes = try spec.encode(message)
                    #expect(expected == nil, "\(contentClass) accepted \(value) on encode")
                    #expect(Array(bytes.readableBytesView) == wire)
                } catch {
                    #expect(error.errors.first?.offset == expected, "\(contentClass) \(value)")
                }
            }
        }
    }

    @Test func fixedFieldAtTheVeryEndOfTheMessage() throws {
        // The last field's bytes end the message: checks near the end must not look past it.
        let spec = MessageSpec.builtin("iso8583-1987-ascii")!
        for value in ["1", "12", "123456"] {
            let message = ISO8583Message(mti: "0800", fields: [3: String(repeating: "0", count: 6 - value.count) + value])
            let bytes = try spec.encode(message)
            let decoded = try spec.decode(bytes)
            #expect(decoded[3] == message[3])
            var broken = Array(bytes.readableBytesView)
            broken[broken.count - 1] = UInt8(ascii: "X")
            #expect(throws: ISO8583Error.self) { try spec.decode(bytes: broken) }
        }
    }

    @Test func hexBitmapInEitherCaseAndABadBitmapCharacter() throws {
        let spec = MessageSpec.builtin("iso8583-1987-ascii")!
        let text = String(decoding: Hex.decode(Reference.hex)!, as: UTF8.self)
        let lower = text.replacingFirst("723C448128E09200", with: "723c448128e09200")
        let message = try spec.decode(bytes: Array(lower.utf8))
        #expect(message.fieldNumbers == Reference.fields.keys.sorted())
        // Upper case again on the way out.
        #expect(try spec.encodeHex(message) == Reference.hex)
        for position in 0..<16 {
            var bytes = Array(text.utf8)
            bytes[4 + position] = UInt8(ascii: "G")
            do {
                _ = try spec.decode(bytes: bytes)
                Issue.record("a bad bitmap decoded")
            } catch {
                #expect(error.code == .invalidCharacter)
                #expect(error.field == "1")
                #expect(error.offset == 4 + position)
            }
        }
    }

    @Test func nonHexInsideAnEMVValueIsAnError() throws {
        // DE 55's BER-TLV walk reads only tags and lengths; the values must still be hex digits.
        let spec = MessageSpec.builtin("iso8583-1987-ascii")!
        let text = String(decoding: Hex.decode(Reference.hex)!, as: UTF8.self)
        let broken = text.replacingFirst("A1B2C3D4", with: "A1B2CZD4")
        let offset = Array(broken.utf8).firstIndex(of: UInt8(ascii: "Z"))!
        do {
            _ = try spec.decode(bytes: Array(broken.utf8))
            Issue.record("a non-hex EMV value decoded")
        } catch {
            #expect(error.code == .invalidCharacter)
            #expect(error.field == "55")
            #expect(error.offset == offset)
        }
        let lenient = try spec.decode(bytes: Array(broken.utf8), options: .lenient)
        #expect(lenient.warnings.map(\.field) == ["55"])
        // A non-hex character that breaks the TLV structure is still reported as a broken structure.
        let badTag = text.replacingFirst("9F2608", with: "9G2608")
        do {
            _ = try spec.decode(bytes: Array(badTag.utf8))
            Issue.record("a non-hex tag decoded")
        } catch {
            #expect(error.code == .invalidTLV)
            #expect(error.field == "55")
        }
    }

    @Test func tertiaryBitmapWithManyFields() throws {
        // Every field 2–192 but 65 (the tertiary bitmap) and 129 (never a field).
        var fields: [String] = []
        for number in 2...192 where number != 65 && number != 129 {
            fields.append(#""\#(number)":{"class":"n","length":3}"#)
        }
        let spec = try MessageSpec.fromJSON(#"{"name":"t","bitmap":{"encoding":"hex","tertiary":true},"fields":{\#(fields.joined(separator: ","))}}"#)
        var message = ISO8583Message(mti: "0100")
        for number in stride(from: 192, through: 2, by: -1) where number != 65 && number != 129 {
            message[number] = threeDigits(number)
        }
        #expect(message.fieldNumbers.count == 189)
        let bytes = try spec.encode(message)
        let decoded = try spec.decode(bytes)
        #expect(decoded == message)
        #expect(decoded.fieldNumbers == message.fieldNumbers)
        #expect(try spec.encode(decoded) == bytes)

        // Only fields of the third bitmap, and none of the second.
        let high = ISO8583Message(mti: "0100", fields: [130: "130", 192: "192"])
        let highBytes = try spec.encode(high)
        #expect(try spec.decode(highBytes) == high)
        // A message that lost its last bytes inside the tertiary part.
        var cut = highBytes
        cut.moveWriterIndex(to: highBytes.writerIndex - 2)
        #expect(throws: ISO8583Error.self) { try spec.decode(cut) }
    }

    @Test func fieldStorageGrowsAndIsCopiedOnWrite() throws {
        let spec = MessageSpec.builtin("iso8583-1993-ascii")!
        // More fields than the initial room (24), set out of order so that inserts land in the middle.
        var message = ISO8583Message(mti: "0200")
        let numbers = spec.fields.map(\.number).filter { spec.field($0)!.contentClass == .n && spec.field($0)!.prefix == .fixed }
        #expect(numbers.count > 24)
        for (k, number) in numbers.reversed().enumerated() {
            message[number] = String(repeating: String(k % 10), count: spec.field(number)!.length)
        }
        #expect(message.fieldNumbers == numbers.sorted())
        let copy = message
        message.remove(numbers[3])
        message[numbers[5]] = String(repeating: "7", count: spec.field(numbers[5])!.length)
        #expect(copy.contains(numbers[3]))
        #expect(copy[numbers[5]] != message[numbers[5]])
        #expect(!message.contains(numbers[3]))
        #expect(try spec.decode(spec.encode(message)) == message)
        #expect(try spec.decode(spec.encode(copy)) == copy)
    }

    @Test func reencodeAfterRemovingAndChangingFields() throws {
        // Unchanged fields are copied in runs; a removed or changed field splits the run.
        let spec = MessageSpec.builtin("iso8583-1987-ascii")!
        var decoded = try spec.decode(hex: Reference.hex)
        decoded.remove(14)
        decoded[37] = "ABCDEF123456"
        decoded[70] = "301"
        var rebuilt = ISO8583Message(mti: decoded.mti)
        for number in decoded.fieldNumbers { rebuilt[number] = decoded[number] }
        #expect(try spec.encode(decoded) == spec.encode(rebuilt))
        #expect(try spec.decode(spec.encode(decoded)) == rebuilt)
    }

    @Test func valuesOfEveryLengthRoundTrip() throws {
        // Lengths around every word boundary of the copy and the checks.
        let spec = MessageSpec.builtin("iso8583-1987-ascii")!
        for length in 0...120 {
            let value = String((0..<length).map { Character(Unicode.Scalar(UInt8(0x20 + ($0 * 7) % 95))) })
            let message = ISO8583Message(mti: "0200", fields: [44: String(value.prefix(25)), 48: value, 2: String(String(repeating: "4", count: 19).prefix(length))])
            let bytes = try spec.encode(message)
            let decoded = try spec.decode(bytes)
            #expect(decoded == message)
            #expect(try spec.encode(decoded) == bytes)
        }
    }
}

/// Three decimal digits, zero-padded.
func threeDigits(_ value: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, 3 - digits.count)) + digits
}

import ISO8583
import Testing

@Suite("Every decode error class names the field, the offset and what was wrong")
struct DecodeErrorTests {
    let ascii = MessageSpec.builtin("iso8583-1987-ascii")!
    let binary = MessageSpec.builtin("iso8583-1987-binary")!

    /// The reference message as ASCII text, so cases can edit it by character.
    var referenceText: String { String(decoding: Hex.decode(Reference.hex)!, as: UTF8.self) }

    func hex(_ text: String) -> String { Hex.encode(Array(text.utf8)) }

    func expectError(_ hex: String, spec: MessageSpec? = nil, code: ISO8583Error.Code, field: String?, offset: Int?) {
        do {
            _ = try (spec ?? self.ascii).decode(hex: hex)
            Issue.record("decoding succeeded, expected \(code)")
        } catch {
            #expect(error.code == code)
            #expect(error.field == field)
            #expect(error.offset == offset)
            #expect(error.hexWindow?.isEmpty == false || code == .invalidHex)
        }
    }

    @Test func truncatedMessage() {
        expectError(hex("02"), code: .truncated, field: nil, offset: 0)
        expectError(hex("0200723C"), code: .truncated, field: nil, offset: 4)
    }

    @Test func bitmapNamesAFieldWhoseBytesAreMissing() {
        // Cut inside field 35 (the field after 32): its prefix says 34 characters, fewer remain.
        let text = self.referenceText
        let cut = String(text.prefix(130))
        do {
            _ = try ascii.decode(hex: hex(cut))
            Issue.record("decoding a cut message succeeded")
        } catch {
            #expect(error.code == .missingFieldBytes)
            #expect(error.field != nil)
            #expect(error.offset != nil && error.offset! <= 130)
        }
    }

    @Test func lengthPrefixThatIsNotDigits() {
        // Field 2's LL prefix starts right after MTI (4) and bitmap (16).
        var bytes = Array(self.referenceText.utf8)
        bytes[21] = UInt8(ascii: "A")
        expectError(Hex.encode(bytes), code: .invalidLengthPrefix, field: "2", offset: 20)
    }

    @Test func lengthOverTheMaximum() {
        var bytes = Array(self.referenceText.utf8)
        bytes[20] = UInt8(ascii: "2")  // "26" > 19
        expectError(Hex.encode(bytes), code: .invalidLength, field: "2", offset: 20)
    }

    @Test func nonDigitInANumericField() {
        // Field 3 starts after field 2 (prefix 2 + 16 digits) at offset 38.
        var bytes = Array(self.referenceText.utf8)
        bytes[40] = UInt8(ascii: "A")
        expectError(Hex.encode(bytes), code: .invalidCharacter, field: "3", offset: 40)
    }

    @Test func nonDigitIsAWarningWhenLenient() throws {
        var bytes = Array(self.referenceText.utf8)
        bytes[40] = UInt8(ascii: "A")
        let message = try ascii.decode(bytes: bytes, options: .lenient)
        #expect(message[3] == "00A000")
        #expect(message.warnings.map(\.field) == ["3"])
    }

    @Test func badBCDNibble() throws {
        // A binary-spec message with DE 3 = 0x0A0000: nibble A is not a digit.
        let hex = "0200" + "2000000000000000" + "0A0000"
        expectError(hex, spec: binary, code: .invalidBCD, field: "3", offset: 10)
    }

    @Test func badTLVLength() {
        // DE 55's first element says 9F26 has 0x7F bytes: more than the field holds.
        let text = self.referenceText.replacingFirst("9F2608", with: "9F267F")
        do {
            _ = try ascii.decode(hex: hex(text))
            Issue.record("a bad TLV length decoded")
        } catch {
            #expect(error.code == .invalidTLV)
            #expect(error.field == "55")
            #expect(error.offset == 329 - 88)
        }
    }

    @Test func trailingBytes() {
        expectError(Reference.hex + "3030", code: .trailingBytes, field: nil, offset: 329)
    }

    @Test func nonHexInput() {
        expectError("30Z0", code: .invalidHex, field: nil, offset: 2)
        expectError("303", code: .invalidHex, field: nil, offset: 3)
    }

    @Test func unknownField() throws {
        let spec = try MessageSpec.fromJSON(#"{"name":"small","fields":{"3":{"class":"n","length":6}}}"#)
        expectError(Reference.hex, spec: spec, code: .unknownField, field: "2", offset: 20)
    }

    @Test func sensitiveValuesAreMaskedInErrors() {
        // A letter in the PAN: the error must not show the PAN's digits.
        var bytes = Array(self.referenceText.utf8)
        bytes[25] = UInt8(ascii: "X")
        do {
            _ = try ascii.decode(bytes: bytes)
            Issue.record("decoding succeeded")
        } catch {
            #expect(error.field == "2")
            #expect(!error.description.contains("4761739"))
            #expect(!(error.hexWindow ?? "").contains(Hex.encode(Array("7390".utf8))))
        }
    }

    @Test func encodeCollectsEveryError() {
        let message = ISO8583Message(mti: "0200", fields: [2: "12AB", 3: "1234567", 4: "xyz", 41: "TERM0001"])
        do {
            _ = try ascii.encode(message)
            Issue.record("encoding succeeded")
        } catch {
            #expect(error.code == .validationFailed)
            #expect(error.errors.map(\.field) == ["2", "3", "4"])
        }
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = self.firstRange(of: target) else { return self }
        var copy = self
        copy.replaceSubrange(range, with: replacement)
        return copy
    }
}

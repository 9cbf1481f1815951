/// The one error type of the codec.
///
/// A decode error names the field path (`35`, `55.9F26`, `124.03`), the byte offset in the message where
/// the problem starts, what was expected and what was found, and a short hex window around the offset.
/// Values of sensitive fields never appear in `found` or in the window: they are masked.
public struct ISO8583Error: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem it is. New codes may be added; switch over them with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        @usableFromInline let raw: UInt8
        @inlinable init(_ raw: UInt8) { self.raw = raw }

        /// The message ends before the MTI, the bitmap or a header is complete.
        public static let truncated = Code(1)
        /// The bitmap names a field whose bytes are not in the message.
        public static let missingFieldBytes = Code(2)
        /// A length prefix is not digits (or not valid BCD / binary for its encoding).
        public static let invalidLengthPrefix = Code(3)
        /// A length is over the field's maximum, or a fixed field has the wrong length.
        public static let invalidLength = Code(4)
        /// A character is outside the field's content class (a letter in an `n` field, say).
        public static let invalidCharacter = Code(5)
        /// A packed BCD nibble is not a decimal digit.
        public static let invalidBCD = Code(6)
        /// A TLV element's tag or length does not fit in its field.
        public static let invalidTLV = Code(7)
        /// Bytes remain after the last field the bitmap names.
        public static let trailingBytes = Code(8)
        /// Text that should be hexadecimal is not.
        public static let invalidHex = Code(9)
        /// The bitmap names a field the spec does not define.
        public static let unknownField = Code(10)
        /// The MTI is not four decimal digits.
        public static let invalidMTI = Code(11)
        /// A spec file is malformed or inconsistent.
        public static let invalidSpec = Code(12)
        /// No spec has that name, and no file is at that path.
        public static let specNotFound = Code(13)
        /// A value given to the encoder or builder does not fit its field.
        public static let invalidValue = Code(14)
        /// A field path does not name a field or subfield.
        public static let invalidPath = Code(15)
        /// The message is too large for an offset the codec can represent.
        public static let messageTooLarge = Code(16)
        /// Encoding found one or more fields that do not fit; every one is in ``ISO8583Error/errors``.
        public static let validationFailed = Code(17)

        public var description: String {
            switch self.raw {
            case 1: return "truncated"
            case 2: return "missing_field_bytes"
            case 3: return "invalid_length_prefix"
            case 4: return "invalid_length"
            case 5: return "invalid_character"
            case 6: return "invalid_bcd"
            case 7: return "invalid_tlv"
            case 8: return "trailing_bytes"
            case 9: return "invalid_hex"
            case 10: return "unknown_field"
            case 11: return "invalid_mti"
            case 12: return "invalid_spec"
            case 13: return "spec_not_found"
            case 14: return "invalid_value"
            case 15: return "invalid_path"
            case 16: return "message_too_large"
            case 17: return "validation_failed"
            default: return "error_\(self.raw)"
            }
        }
    }

    public var code: Code
    /// The field path the error is about (`"35"`, `"55.9F26"`), `nil` for the MTI, bitmap and framing.
    public var field: String?
    /// Byte offset in the message where the problem was found, when decoding.
    public var offset: Int?
    /// What the codec expected there.
    public var expected: String?
    /// What it found (masked for sensitive fields).
    public var found: String?
    /// Up to 16 bytes around `offset` as upper-case hex (masked for sensitive fields).
    public var hexWindow: String?
    /// For ``Code/validationFailed``: every field error the encoder found, in field order.
    public var errors: [ISO8583Error] = []

    public init(
        _ code: Code,
        field: String? = nil,
        offset: Int? = nil,
        expected: String? = nil,
        found: String? = nil,
        hexWindow: String? = nil
    ) {
        self.code = code
        self.field = field
        self.offset = offset
        self.expected = expected
        self.found = found
        self.hexWindow = hexWindow
    }

    /// One readable sentence: `invalid_character in field 3 at offset 24: expected digits, found "00A000"`.
    public var message: String {
        var text = self.code.description.replacingUnderscores()
        if let field { text += " in field \(field)" }
        if let offset { text += " at offset \(offset)" }
        var detail: [String] = []
        if let expected { detail.append("expected \(expected)") }
        if let found { detail.append("found \(found)") }
        if !detail.isEmpty { text += ": " + detail.joined(separator: ", ") }
        return text
    }

    public var description: String {
        if self.code == .validationFailed, !self.errors.isEmpty {
            return self.errors.map(\.description).joined(separator: "; ")
        }
        var text = self.message
        if let hexWindow { text += " [\(hexWindow)]" }
        return text
    }

    /// Wraps a list of field errors found while encoding.
    public static func validationFailed(_ errors: [ISO8583Error]) -> ISO8583Error {
        var error = ISO8583Error(.validationFailed)
        error.errors = errors
        return error
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String {
        String(self.map { $0 == "_" ? " " : $0 })
    }
}

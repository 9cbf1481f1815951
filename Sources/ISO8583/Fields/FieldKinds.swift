/// How a field's content is carried on the wire.
public enum FieldEncoding: UInt8, Sendable, Hashable, CaseIterable {
    /// One ASCII byte per character.
    case ascii
    /// One EBCDIC (code page 037) byte per character.
    case ebcdic037
    /// One EBCDIC (code page 1047) byte per character.
    case ebcdic1047
    /// Packed BCD: two digits per byte, an odd count padded with a zero nibble on the field's padding side.
    case bcd
    /// Raw bytes (the text form is upper-case hex).
    case binary
    /// Raw bytes carried as ASCII hex text, two characters per byte.
    case hex

    /// The JSON spelling used in spec files.
    public var specName: String {
        switch self {
        case .ascii: "ascii"
        case .ebcdic037: "ebcdic037"
        case .ebcdic1047: "ebcdic1047"
        case .bcd: "bcd"
        case .binary: "binary"
        case .hex: "hex"
        }
    }

    init?(specName: String) {
        guard let value = Self.allCases.first(where: { $0.specName == specName }) else { return nil }
        self = value
    }

    /// Whether the field's logical value is bytes (true) or text (false).
    @inlinable
    var carriesBytes: Bool { self == .binary || self == .hex }
}

/// The length-prefix kind: how many length digits precede the content (`fixed` has none).
public enum PrefixKind: UInt8, Sendable, Hashable, CaseIterable {
    case fixed = 0
    case l = 1
    case ll = 2
    case lll = 3
    case llll = 4

    public var specName: String {
        switch self {
        case .fixed: "fixed"
        case .l: "L"
        case .ll: "LL"
        case .lll: "LLL"
        case .llll: "LLLL"
        }
    }

    init?(specName: String) {
        guard let value = Self.allCases.first(where: { $0.specName == specName }) else { return nil }
        self = value
    }

    /// The largest length this prefix can state.
    public var maximumValue: Int {
        switch self {
        case .fixed: Int.max
        case .l: 9
        case .ll: 99
        case .lll: 999
        case .llll: 9999
        }
    }
}

/// How a length prefix's digits are written.
public enum PrefixEncoding: UInt8, Sendable, Hashable, CaseIterable {
    /// Decimal digits in ASCII, one byte per digit (`"088"`).
    case ascii
    /// Packed BCD: LL in one byte, LLL and LLLL in two.
    case bcd
    /// A big-endian binary integer: L and LL in one byte, LLL and LLLL in two.
    case binary
    /// Decimal digits in EBCDIC 037.
    case ebcdic037
    /// Decimal digits in EBCDIC 1047.
    case ebcdic1047

    public var specName: String {
        switch self {
        case .ascii: "ascii"
        case .bcd: "bcd"
        case .binary: "binary"
        case .ebcdic037: "ebcdic037"
        case .ebcdic1047: "ebcdic1047"
        }
    }

    init?(specName: String) {
        guard let value = Self.allCases.first(where: { $0.specName == specName }) else { return nil }
        self = value
    }

    /// Bytes a prefix of `kind` takes on the wire.
    @inlinable
    func byteCount(for kind: PrefixKind) -> Int {
        let digits = Int(kind.rawValue)
        switch self {
        case .ascii, .ebcdic037, .ebcdic1047: return digits
        case .bcd: return (digits + 1) / 2
        case .binary: return digits <= 2 ? (digits == 0 ? 0 : 1) : 2
        }
    }
}

/// What a field's length and its prefix count.
public enum LengthUnit: UInt8, Sendable, Hashable, CaseIterable {
    case characters
    case digits
    case bytes

    public var specName: String {
        switch self {
        case .characters: "characters"
        case .digits: "digits"
        case .bytes: "bytes"
        }
    }

    init?(specName: String) {
        guard let value = Self.allCases.first(where: { $0.specName == specName }) else { return nil }
        self = value
    }
}

/// The ISO 8583 content classes.
public enum ContentClass: UInt8, Sendable, Hashable, CaseIterable {
    /// Numeric digits.
    case n
    /// Alphabetic characters and space.
    case a
    /// Alphanumeric characters and space.
    case an
    /// Alphanumeric, space and special characters (printable ASCII).
    case ans
    /// Alphabetic and special characters.
    case `as`
    /// Numeric and special characters.
    case ns
    /// Binary data.
    case b
    /// Track 2 / 3 code set: digits and the separator `=` (or `D`).
    case z
    /// An amount: `C` (credit) or `D` (debit), then digits.
    case xn

    public var specName: String {
        switch self {
        case .n: "n"
        case .a: "a"
        case .an: "an"
        case .ans: "ans"
        case .as: "as"
        case .ns: "ns"
        case .b: "b"
        case .z: "z"
        case .xn: "xn"
        }
    }

    init?(specName: String) {
        if specName == "x+n" {
            self = .xn
            return
        }
        guard let value = Self.allCases.first(where: { $0.specName == specName }) else { return nil }
        self = value
    }

    /// A few words for error messages: "digits", "printable characters".
    public var expectation: String {
        switch self {
        case .n: "digits"
        case .a: "letters or spaces"
        case .an: "letters, digits or spaces"
        case .ans: "printable characters"
        case .as: "letters, spaces or special characters"
        case .ns: "digits or special characters"
        case .b: "hexadecimal digits"
        case .z: "digits or '='"
        case .xn: "'C' or 'D' followed by digits"
        }
    }
}

/// Where a short value is padded in a fixed field, and where the spare nibble of an odd BCD count goes.
public enum Padding: UInt8, Sendable, Hashable, CaseIterable {
    case left
    case right
    case none

    public var specName: String {
        switch self {
        case .left: "left"
        case .right: "right"
        case .none: "none"
        }
    }

    init?(specName: String) {
        guard let value = Self.allCases.first(where: { $0.specName == specName }) else { return nil }
        self = value
    }
}

/// How strictly a field's content class is checked on decode.
public enum Validation: UInt8, Sendable, Hashable, CaseIterable {
    /// A violation is an error (always so on encode).
    case strict
    /// A violation is a warning beside the decoded message.
    case lenient
    /// Not checked on decode.
    case none

    public var specName: String {
        switch self {
        case .strict: "strict"
        case .lenient: "lenient"
        case .none: "none"
        }
    }

    init?(specName: String) {
        guard let value = Self.allCases.first(where: { $0.specName == specName }) else { return nil }
        self = value
    }
}

/// What kind of secret a field holds, which decides how it is masked in every output.
public enum Sensitivity: UInt8, Sendable, Hashable, CaseIterable {
    case none
    /// A card number: first six and last four digits shown.
    case pan
    /// Track data: the card number part as a PAN, the rest masked.
    case track
    /// A PIN block: fully masked.
    case pin
    /// Key material or a MAC: fully masked.
    case key
    /// A signature: fully masked.
    case signature
    /// Anything else that must not be shown: fully masked.
    case full

    public var specName: String {
        switch self {
        case .none: "none"
        case .pan: "pan"
        case .track: "track"
        case .pin: "pin"
        case .key: "key"
        case .signature: "signature"
        case .full: "full"
        }
    }

    init?(specName: String) {
        guard let value = Self.allCases.first(where: { $0.specName == specName }) else { return nil }
        self = value
    }
}

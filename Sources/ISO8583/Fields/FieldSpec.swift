/// The definition of one data element: its name, content class, length, prefix, encoding, padding,
/// validation, sensitivity and subfields, as a spec file states them.
public struct FieldSpec: Sendable, Hashable {
    public var number: Int
    public var name: String
    public var description: String
    public var contentClass: ContentClass
    /// Maximum length, or the exact length when ``prefix`` is ``PrefixKind/fixed``, in ``unit``s.
    public var length: Int
    public var prefix: PrefixKind
    public var prefixEncoding: PrefixEncoding
    public var encoding: FieldEncoding
    public var unit: LengthUnit
    public var padding: Padding
    /// The character (or byte, for `b` fields) a short fixed value is padded with.
    public var padCharacter: UInt8
    public var validation: Validation
    public var sensitivity: Sensitivity
    public var subfields: SubfieldSpec?

    public init(
        number: Int,
        name: String,
        description: String = "",
        contentClass: ContentClass,
        length: Int,
        prefix: PrefixKind = .fixed,
        prefixEncoding: PrefixEncoding = .ascii,
        encoding: FieldEncoding = .ascii,
        unit: LengthUnit? = nil,
        padding: Padding? = nil,
        padCharacter: UInt8? = nil,
        validation: Validation = .strict,
        sensitivity: Sensitivity = .none,
        subfields: SubfieldSpec? = nil
    ) {
        self.number = number
        self.name = name
        self.description = description
        self.contentClass = contentClass
        self.length = length
        self.prefix = prefix
        self.prefixEncoding = prefixEncoding
        self.encoding = encoding
        self.unit = unit ?? FieldSpec.defaultUnit(encoding: encoding, contentClass: contentClass)
        self.padding = padding ?? FieldSpec.defaultPadding(contentClass)
        self.padCharacter = padCharacter ?? FieldSpec.defaultPadCharacter(contentClass)
        self.validation = validation
        self.sensitivity = sensitivity
        self.subfields = subfields
    }

    static func defaultUnit(encoding: FieldEncoding, contentClass: ContentClass) -> LengthUnit {
        switch encoding {
        case .binary, .hex: return .bytes
        case .bcd: return .digits
        case .ascii, .ebcdic037, .ebcdic1047: return .characters
        }
    }

    static func defaultPadding(_ contentClass: ContentClass) -> Padding {
        switch contentClass {
        case .n, .xn: return .left
        default: return .right
        }
    }

    static func defaultPadCharacter(_ contentClass: ContentClass) -> UInt8 {
        switch contentClass {
        case .n, .xn: return UInt8(ascii: "0")
        case .b: return 0
        default: return UInt8(ascii: " ")
        }
    }

    /// A short form for people: `n..19 LL`, `b 8`, `ans...999 LLL`.
    public var formatSummary: String {
        let dots = String(repeating: ".", count: Int(self.prefix.rawValue))
        var text = self.contentClass == .xn ? "x+n" : self.contentClass.specName
        text += self.prefix == .fixed ? " \(self.length)" : "\(dots)\(self.length)"
        if self.prefix != .fixed { text += " \(self.prefix.specName)" }
        return text
    }
}

/// How a composite field is divided.
public enum SubfieldSpec: Sendable, Hashable {
    /// BER-TLV (EMV, DE 55). Tag names are for people; unknown tags are kept as they are.
    case berTLV(tags: [TagInfo])
    /// Tagged private TLV (DE 48, DE 124 style) with fixed-size tag and length.
    case tlv(TLVFormat, elements: [ElementSpec])
    /// Fixed-position subfields, one after another.
    case positional(elements: [ElementSpec])

    /// The element with `id`, for TLV and positional layouts, or the tag, for BER-TLV.
    public func element(_ id: String) -> ElementSpec? {
        switch self {
        case .berTLV(let tags):
            guard let tag = tags.first(where: { $0.tag == id }) else { return nil }
            return ElementSpec(id: tag.tag, name: tag.name, contentClass: .b, length: 0, sensitivity: tag.sensitivity)
        case .tlv(_, let elements), .positional(let elements):
            return elements.first(where: { $0.id == id })
        }
    }
}

/// The name of one EMV tag.
public struct TagInfo: Sendable, Hashable {
    /// Upper-case hex, `9F26`.
    public var tag: String
    public var name: String
    public var sensitivity: Sensitivity

    public init(tag: String, name: String, sensitivity: Sensitivity = .none) {
        self.tag = tag
        self.name = name
        self.sensitivity = sensitivity
    }
}

/// The shape of a private TLV: how long the tag and length are, and how they are written.
public struct TLVFormat: Sendable, Hashable {
    public var tagLength: Int
    public var lengthLength: Int
    public var tagEncoding: FieldEncoding
    public var lengthEncoding: PrefixEncoding

    public init(tagLength: Int, lengthLength: Int, tagEncoding: FieldEncoding = .ascii, lengthEncoding: PrefixEncoding = .ascii) {
        self.tagLength = tagLength
        self.lengthLength = lengthLength
        self.tagEncoding = tagEncoding
        self.lengthEncoding = lengthEncoding
    }
}

/// One subelement of a composite field.
public struct ElementSpec: Sendable, Hashable {
    public var id: String
    public var name: String
    public var description: String
    public var contentClass: ContentClass
    /// Maximum length for TLV elements, exact length for positional ones.
    public var length: Int
    public var sensitivity: Sensitivity

    public init(id: String, name: String, description: String = "", contentClass: ContentClass, length: Int, sensitivity: Sensitivity = .none) {
        self.id = id
        self.name = name
        self.description = description
        self.contentClass = contentClass
        self.length = length
        self.sensitivity = sensitivity
    }
}

/// The part of a field spec the decoder and encoder read per field: plain values, no references, so that
/// reading it in the inner loop costs no reference counting.
@usableFromInline
struct FieldLayout: Sendable {
    @usableFromInline var defined: Bool
    @usableFromInline var contentClass: ContentClass
    @usableFromInline var prefix: PrefixKind
    @usableFromInline var prefixEncoding: PrefixEncoding
    @usableFromInline var encoding: FieldEncoding
    @usableFromInline var unit: LengthUnit
    @usableFromInline var padding: Padding
    @usableFromInline var validation: Validation
    @usableFromInline var sensitivity: Sensitivity
    @usableFromInline var subfieldKind: UInt8  // 0 none, 1 BER-TLV, 2 private TLV, 3 positional
    @usableFromInline var padCharacter: UInt8
    /// The length prefix's size in bytes, 0 for a fixed field (at most 4: in the byte before `length`).
    @usableFromInline var prefixBytes: UInt8
    @usableFromInline var length: Int32
    /// For a fixed field, the bytes its value takes on the wire in the decoder's inline shapes: `length`
    /// shifted by ``countShift``, worked out once so that the inner loop loads it; for a field with a length
    /// prefix, minus the prefix's size (``prefixBytes``), so that one load tells the inner loop either.
    @usableFromInline var wireStep: Int32 = 0
    /// For private TLV subfields in ASCII: the tag and length sizes (0 otherwise).
    @usableFromInline var tlvTagLength: UInt8 = 0
    @usableFromInline var tlvLengthLength: UInt8 = 0
    /// How the decoder's inner loop reads the field, decided once when the spec is loaded.
    @usableFromInline var fastKind: FastKind = .general
    /// How the encoder's inner loop writes the field from text: `.digits`, `.printable` and `.otherClass`
    /// for ASCII character fields, `.hex` for hex text of a `b` field, `.general` otherwise.
    @usableFromInline var encodeKind: FastKind = .general
    /// The encoder's size bound for the field, less what its value adds: the prefix, and twice the length
    /// of a fixed field (hex text of it, padded).
    @usableFromInline var encodeBound: Int32 = 0
    /// Wire bytes per unit of the length, as a shift: 1 for hex text whose length counts bytes, else 0.
    @usableFromInline var countShift: UInt8 = 0
    /// ``encodeKind`` for a fixed field of a kind the encoder writes in runs
    /// (``FastKind/encodesInRuns``), `.general` for any other: what the encoder's run gathering compares.
    /// (In a byte the layout had spare: it stays 32 bytes.)
    @usableFromInline var encodeRunKind: FastKind = .general
    /// The field's number (0 for an undefined field), so that the decoder's inner loop need not keep it.
    @usableFromInline var number: UInt16 = 0

    /// The shapes of field the decoder reads inline: ASCII text or hex text, a fixed length or an ASCII
    /// length prefix, the value stored as the text it is on the wire. Everything else takes the general,
    /// out-of-line path.
    @usableFromInline
    enum FastKind: UInt8, Sendable {
        /// Not read inline (undefined fields too).
        case general
        /// ASCII digits, checked eight at a time.
        case digits
        /// Printable ASCII, checked eight at a time.
        case printable
        /// ASCII letters, digits and space (class `an`), checked eight at a time.
        case alphanumeric
        /// ASCII digits, `=` and `D` (class `z`, track data), checked eight at a time.
        case track
        /// ASCII in one of the other content classes.
        case otherClass
        /// Hex text (a `b` field in hex encoding) with no subfields.
        case hex
        /// Hex text holding BER-TLV (EMV) subfields, whose structure is checked too.
        case hexBERTLV
        /// ASCII or hex text that is not checked (validation `none`).
        case unchecked

        /// Whether the encoder writes fixed fields of this kind that follow one another as one run: the
        /// classes whose check is one pass over the bytes and whose bytes are written as they are.
        @inlinable
        var encodesInRuns: Bool {
            switch self {
            case .digits, .printable, .alphanumeric, .track: true
            case .general, .otherClass, .hex, .hexBERTLV, .unchecked: false
            }
        }
    }

    static let undefined = FieldLayout(
        defined: false, contentClass: .ans, prefix: .fixed, prefixEncoding: .ascii, encoding: .ascii, unit: .characters,
        padding: .none, validation: .none, sensitivity: .none, subfieldKind: 0, padCharacter: 0, length: 0, prefixBytes: 0
    )

    init(
        defined: Bool, contentClass: ContentClass, prefix: PrefixKind, prefixEncoding: PrefixEncoding, encoding: FieldEncoding,
        unit: LengthUnit, padding: Padding, validation: Validation, sensitivity: Sensitivity, subfieldKind: UInt8,
        padCharacter: UInt8, length: Int32, prefixBytes: Int32
    ) {
        self.defined = defined
        self.contentClass = contentClass
        self.prefix = prefix
        self.prefixEncoding = prefixEncoding
        self.encoding = encoding
        self.unit = unit
        self.padding = padding
        self.validation = validation
        self.sensitivity = sensitivity
        self.subfieldKind = subfieldKind
        self.padCharacter = padCharacter
        self.length = length
        self.prefixBytes = UInt8(prefixBytes)
    }

    init(_ spec: FieldSpec) {
        let subfieldKind: UInt8
        switch spec.subfields {
        case .none: subfieldKind = 0
        case .berTLV: subfieldKind = 1
        case .tlv: subfieldKind = 2
        case .positional: subfieldKind = 3
        }
        self.init(
            defined: true, contentClass: spec.contentClass, prefix: spec.prefix, prefixEncoding: spec.prefixEncoding,
            encoding: spec.encoding, unit: spec.unit, padding: spec.padding, validation: spec.validation,
            sensitivity: spec.sensitivity, subfieldKind: subfieldKind, padCharacter: spec.padCharacter,
            length: Int32(spec.length), prefixBytes: Int32(spec.prefixEncoding.byteCount(for: spec.prefix))
        )
        if case .tlv(let format, _) = spec.subfields, format.tagEncoding == .ascii, format.lengthEncoding == .ascii {
            self.tlvTagLength = UInt8(format.tagLength)
            self.tlvLengthLength = UInt8(format.lengthLength)
        }
        self.fastKind = Self.fastKind(of: self)
        self.encodeKind = Self.encodeKind(of: self)
        self.encodeRunKind = self.prefix == .fixed && self.encodeKind.encodesInRuns ? self.encodeKind : .general
        self.countShift = self.encoding == .hex && self.unit != .characters ? 1 : 0
        self.wireStep = self.prefix == .fixed ? self.length &<< self.countShift : 0 &- Int32(self.prefixBytes)
        self.encodeBound = Int32(self.prefixBytes) &+ (self.prefix == .fixed ? 2 &* self.length : 0)
        self.number = UInt16(truncatingIfNeeded: spec.number)
    }

    /// The inline shape the encoder writes a field set by text in, if any; any value that does not fit it
    /// exactly goes to the general path, which reports the problem.
    static func encodeKind(of layout: FieldLayout) -> FastKind {
        guard layout.defined, layout.prefix == .fixed || layout.prefixEncoding == .ascii else { return .general }
        switch layout.encoding {
        case .ascii:
            switch layout.contentClass {
            case .n: return .digits
            case .ans: return .printable
            case .an: return .alphanumeric
            case .z: return .track
            case .b: return .general
            default: return .otherClass
            }
        case .hex:
            return layout.contentClass == .b ? .hex : .general
        case .ebcdic037, .ebcdic1047, .bcd, .binary:
            return .general
        }
    }

    /// The inline shape a field has, if any: what ``MessageDecoder`` checks for such a field is exactly
    /// what its general path checks (the fast-path tests compare the two).
    static func fastKind(of layout: FieldLayout) -> FastKind {
        guard layout.defined, layout.prefix == .fixed || layout.prefixEncoding == .ascii else { return .general }
        switch layout.encoding {
        case .ascii:
            guard layout.subfieldKind == 0 else { return .general }
            if layout.validation == .none { return .unchecked }
            switch layout.contentClass {
            case .n: return .digits
            case .ans: return .printable
            case .an: return .alphanumeric
            case .z: return .track
            default: return .otherClass
            }
        case .hex:
            // A fixed field of an odd number of hex characters never holds whole bytes: the general path
            // reports it (so the inline loop checks the parity of prefixed fields only).
            if layout.prefix == .fixed, layout.unit == .characters, layout.length & 1 != 0 { return .general }
            if layout.validation == .none { return .unchecked }
            switch layout.subfieldKind {
            case 0: return .hex
            case 1: return .hexBERTLV
            default: return .general
            }
        case .ebcdic037, .ebcdic1047, .bcd, .binary:
            return .general
        }
    }
}

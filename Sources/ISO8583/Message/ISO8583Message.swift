import NIOCore

/// An ISO 8583 message: an MTI, an optional header and data elements by number.
///
/// Field values have a text form: the characters of character fields, and upper-case hex for binary
/// fields. Setting a field by text (`message[4] = "000000010000"`) works for every field kind; the encoder
/// converts to the spec's wire form and validates it.
///
/// A decoded message keeps the bytes it was decoded from: a field's value is read from them when asked
/// for, and encoding an unchanged field with the same spec writes its original bytes again, so
/// decode → encode reproduces the input exactly (padding, unknown TLV tags and tag order included).
/// All values of one message live in one buffer; reading or setting a field allocates nothing per field
/// beyond the `String` it returns.
public struct ISO8583Message: Sendable {
    /// How a field's value bytes in `storage` are to be read.
    @usableFromInline
    enum Representation: UInt8, Sendable {
        /// ASCII text (for binary fields: hex text of the bytes).
        case text
        case ebcdic037
        case ebcdic1047
        /// Packed BCD, the spare nibble (if any) on the left.
        case bcdLeftPadded
        /// Packed BCD, the spare nibble (if any) on the right.
        case bcdRightPadded
        /// An amount: one ASCII sign character, then packed BCD digits padded on the left.
        case signedBCD
        /// Raw bytes of a binary field.
        case raw
    }

    /// One field: 16 bytes, so that a decoded message's table is small and quick to fill.
    @usableFromInline
    struct Entry: Sendable {
        @usableFromInline var number: UInt16
        @usableFromInline var representation: Representation
        /// When the field's wire bytes are its value and the length prefix just before it, as decoded with
        /// `spec` and still valid: the prefix's size (0 for a fixed field). ``notOnWire`` otherwise.
        @usableFromInline var wirePrefix: UInt8
        @usableFromInline var valueStart: Int32
        @usableFromInline var valueBytes: Int32
        /// Digits for BCD, characters for text, bytes for raw.
        @usableFromInline var count: Int32

        /// The ``wirePrefix`` of a field whose wire bytes are not in storage (set, or changed, since decoding).
        @usableFromInline static let notOnWire: UInt8 = 0xFF

        @inlinable
        init(number: UInt16, representation: Representation, wirePrefix: UInt8, valueStart: Int32, valueBytes: Int32, count: Int32) {
            self.number = number
            self.representation = representation
            self.wirePrefix = wirePrefix
            self.valueStart = valueStart
            self.valueBytes = valueBytes
            self.count = count
        }

        /// The wire bytes at ``wireStart`` are this field's as decoded with `spec` and still valid.
        @inlinable var wireValid: Bool { self.wirePrefix != Self.notOnWire }

        /// Where the field's wire bytes (length prefix and value) start, when ``wireValid``.
        @inlinable var wireStart: Int32 { self.valueStart &- Int32(self.wirePrefix) }

        /// Where the field's wire bytes end, when ``wireValid``.
        @inlinable var wireEnd: Int32 { self.valueStart &+ self.valueBytes }

        /// The size of the field's wire bytes; 0 when they are not valid.
        @inlinable var wireLength: Int32 { self.wireValid ? self.valueBytes &+ Int32(self.wirePrefix) : 0 }
    }

    public var mti: MTI
    /// All value bytes; offsets in `entries` are relative to its reader index.
    @usableFromInline var storage: ByteBuffer
    /// Present fields in ascending number order.
    @usableFromInline var entries: Entries
    @usableFromInline var headerStart: Int32
    @usableFromInline var headerLength: Int32
    /// For a message as it was decoded (no field or header set or removed since): where its last field ends
    /// in `storage`, so that encoding it with its spec can copy bitmaps and fields in one go. 0 otherwise.
    @usableFromInline var decodedEnd: Int32 = 0
    /// The spec this message was decoded with, if it was decoded.
    public internal(set) var spec: MessageSpec?
    /// Content-class violations a lenient decode accepted.
    public internal(set) var warnings: [ISO8583Error] {
        get { self.lenientWarnings ?? [] }
        set { self.lenientWarnings = newValue.isEmpty ? nil : newValue }
    }
    /// The warnings, `nil` when there are none (most messages): then a message has no array to release.
    @usableFromInline var lenientWarnings: [ISO8583Error]?

    // The initializers are in an extension, so that the implicit memberwise one stays: the decoder builds
    // messages with it, and unlike a hand-written one it leaves no redundant retain and release of every
    // stored reference behind (Swift 6.3).

    // MARK: Presence

    /// The numbers of the fields present, ascending.
    public var fieldNumbers: [Int] { self.entries.map { Int($0.number) } }

    /// Whether field `number` is present.
    @inlinable
    public func contains(_ number: Int) -> Bool {
        self.index(of: number) != nil
    }

    @inlinable
    func index(of number: Int) -> Int? {
        guard number >= 0 && number <= Int(UInt16.max) else { return nil }
        return self.entries.index(of: UInt16(truncatingIfNeeded: number))
    }

    /// Removes field `number`.
    public mutating func remove(_ number: Int) {
        if let i = self.index(of: number) {
            self.entries.remove(at: i)
            self.decodedEnd = 0
        }
    }

    // MARK: Header

    /// The header bytes before the MTI (a TPDU, a fixed text header), if any.
    public var header: [UInt8]? {
        get {
            guard self.headerLength > 0 else { return nil }
            return self.storage.getBytes(at: self.storage.readerIndex + Int(self.headerStart), length: Int(self.headerLength))
        }
        set {
            self.decodedEnd = 0
            guard let newValue, !newValue.isEmpty else {
                self.headerLength = 0
                return
            }
            self.headerStart = Int32(self.storage.readableBytes)
            self.headerLength = Int32(newValue.count)
            self.storage.writeBytes(newValue)
        }
    }

    // MARK: Values by text

    /// The text form of field `number`: characters for character fields, upper-case hex for binary ones.
    /// Setting it stores the text; `nil` removes the field.
    public subscript(number: Int) -> String? {
        get {
            guard let i = self.index(of: number) else { return nil }
            return self.text(of: self.entries[i])
        }
        set {
            guard let newValue else {
                self.remove(number)
                return
            }
            self.setText(number, newValue)
        }
    }

    /// The text form of field or subfield `path` (`"55.9F26"`, `"124.03"`). Subfields need the message's
    /// spec or `spec`.
    public func value(at path: FieldPath, spec: MessageSpec? = nil) throws(ISO8583Error) -> String? {
        guard let sub = path.subfield else { return self[path.field] }
        guard let fieldSpec = (spec ?? self.spec)?.field(path.field), let subfields = fieldSpec.subfields else {
            throw ISO8583Error(.invalidPath, field: path.description, expected: "a field with subfields in the spec")
        }
        guard let text = self[path.field] else { return nil }
        let elements = try Subfields.parse(text, as: subfields, field: path.field)
        return elements.first(where: { $0.id == sub.uppercased() || $0.id == sub })?.value
    }

    @inlinable
    mutating func setText(_ number: Int, _ text: String) {
        precondition(number >= 2 && number <= 192, "field numbers are 2–192")
        var text = text
        text.withUTF8 { utf8 in
            self.append(number: UInt16(number), representation: .text, bytes: UnsafeRawBufferPointer(utf8), count: Int32(utf8.count))
        }
    }

    /// Sets a binary field from raw bytes.
    public mutating func setBytes(_ number: Int, _ bytes: some Sequence<UInt8>) {
        precondition(number >= 2 && number <= 192, "field numbers are 2–192")
        let array = Array(bytes)
        array.withUnsafeBytes { raw in
            self.append(number: UInt16(number), representation: .raw, bytes: raw, count: Int32(raw.count))
        }
    }

    /// The raw bytes of a binary field, or the ASCII bytes of a character field.
    public func bytes(_ number: Int) -> [UInt8]? {
        guard let i = self.index(of: number) else { return nil }
        let entry = self.entries[i]
        switch entry.representation {
        case .raw:
            return self.storage.getBytes(at: self.storage.readerIndex + Int(entry.valueStart), length: Int(entry.valueBytes))
        default:
            let text = self.text(of: entry)
            if let spec, spec.field(number)?.contentClass == .b {
                return Hex.decode(text)
            }
            return Array(text.utf8)
        }
    }

    @inlinable
    mutating func append(number: UInt16, representation: Representation, bytes: UnsafeRawBufferPointer, count: Int32) {
        let start = Int32(self.storage.readableBytes)
        self.storage.writeBytes(bytes)
        self.decodedEnd = 0
        let entry = Entry(
            number: number, representation: representation, wirePrefix: Entry.notOnWire, valueStart: start,
            valueBytes: Int32(bytes.count), count: count
        )
        if let i = self.index(of: Int(number)) {
            self.entries[i] = entry
        } else {
            self.entries.insert(entry, at: self.entries.insertionIndex(of: number))
        }
    }

    /// Calls `body` with the stored bytes of field `number` when they are plain ASCII text (every field of an
    /// ASCII spec, and every field set by text). Returns `nil` when the field is absent or stored otherwise.
    @inlinable
    public func withASCIIBytes<R>(of number: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        guard let i = self.index(of: number) else { return nil }
        let entry = self.entries[i]
        guard entry.representation == .text else { return nil }
        return try self.storage.withUnsafeReadableBytes { all in
            try body(UnsafeRawBufferPointer(rebasing: all[Int(entry.valueStart)..<Int(entry.valueStart + entry.valueBytes)]))
        }
    }

    @usableFromInline
    func text(of entry: Entry) -> String {
        self.storage.withUnsafeReadableBytes { all in
            let bytes = UnsafeRawBufferPointer(rebasing: all[Int(entry.valueStart)..<Int(entry.valueStart + entry.valueBytes)])
            switch entry.representation {
            case .text:
                return String(decoding: bytes, as: UTF8.self)
            case .raw:
                return Hex.encode(bytes)
            case .ebcdic037, .ebcdic1047:
                let table = entry.representation == .ebcdic037 ? EBCDIC.ebcdic037ToASCII : EBCDIC.ebcdic1047ToASCII
                return String(unsafeUninitializedCapacity: bytes.count) { out in
                    for (i, b) in bytes.enumerated() { out[i] = table[Int(b)] == 0xFF ? UInt8(ascii: "?") : table[Int(b)] }
                    return bytes.count
                }
            case .bcdLeftPadded, .bcdRightPadded:
                return BCD.unpack(bytes, digits: Int(entry.count), leftPadded: entry.representation == .bcdLeftPadded)
            case .signedBCD:
                guard let sign = bytes.first else { return "" }
                let digits = BCD.unpack(UnsafeRawBufferPointer(rebasing: bytes.dropFirst()), digits: Int(entry.count) - 1, leftPadded: true)
                return String(decoding: [sign], as: UTF8.self) + digits
            }
        }
    }
}

extension ISO8583Message {
    /// An empty message of type `mti`.
    public init(mti: MTI, capacity: Int = 256) {
        var entries = Entries()
        entries.reserve(24)
        self.init(
            mti: mti, storage: ByteBufferAllocator().buffer(capacity: capacity), entries: entries, headerStart: 0,
            headerLength: 0, spec: nil, lenientWarnings: nil
        )
    }

    /// A message of type `mti` with the given fields set by text.
    public init(mti: MTI, fields: [Int: String]) {
        self.init(mti: mti)
        for (number, value) in fields.sorted(by: { $0.key < $1.key }) {
            self[number] = value
        }
    }
}

extension ISO8583Message: Equatable {
    /// Two messages are equal when they have the same MTI, header and field values (by text form; binary
    /// fields compare as bytes).
    public static func == (lhs: ISO8583Message, rhs: ISO8583Message) -> Bool {
        guard lhs.mti == rhs.mti, lhs.header == rhs.header, lhs.entries.count == rhs.entries.count else { return false }
        for (a, b) in zip(lhs.entries, rhs.entries) {
            guard a.number == b.number else { return false }
            let (left, right) = (lhs.text(of: a), rhs.text(of: b))
            if left == right { continue }
            // Binary fields compare as bytes: hex text in either case is the same value.
            let binary = a.representation == .raw || b.representation == .raw
                || lhs.spec?.field(Int(a.number))?.contentClass == .b || rhs.spec?.field(Int(b.number))?.contentClass == .b
            guard binary, left.uppercased() == right.uppercased() else { return false }
        }
        return true
    }
}

/// A message format: the header, how the MTI and bitmaps are written, and the table of data elements.
///
/// Specs are data: load one from a JSON file (``load(nameOrPath:)``) or use a built-in one
/// (``builtin(_:)``). A spec is immutable and can be shared between threads; decoding and encoding read
/// it without locks.
public final class MessageSpec: Sendable {
    /// How the bytes before the MTI look.
    public enum Header: Sendable, Hashable {
        case none
        /// A 5-byte transport protocol data unit (id, destination, source).
        case tpdu
        /// A fixed number of bytes, kept as they are.
        case fixed(length: Int)

        var byteCount: Int {
            switch self {
            case .none: 0
            case .tpdu: 5
            case .fixed(let length): length
            }
        }
    }

    /// How the MTI's four digits are written.
    public enum MTIEncoding: String, Sendable, Hashable, CaseIterable {
        case ascii
        case bcd
        case ebcdic037
        case ebcdic1047
    }

    /// How bitmaps are written.
    public enum BitmapEncoding: String, Sendable, Hashable, CaseIterable {
        /// 16 upper-case hex characters per 64 bits.
        case hex
        /// 8 bytes per 64 bits.
        case binary
    }

    /// One entry of the message catalogue a spec file documents.
    public struct MessageDoc: Sendable, Hashable {
        public var mti: String
        public var name: String
        public var description: String
        public var mandatory: [String]
        public var optional: [String]
    }

    public let name: String
    public let description: String
    public let version: Int
    /// The spec this one extends, if any.
    public let parent: String?
    public let header: Header
    public let mtiEncoding: MTIEncoding
    public let bitmapEncoding: BitmapEncoding
    /// Whether bit 65 announces a tertiary bitmap (fields 129–192).
    public let tertiaryBitmap: Bool
    /// The message catalogue from the spec file, for documentation.
    public let messages: [MessageDoc]

    /// Field definitions, indexed by field number (index 0 and the bitmap positions are `nil`).
    @usableFromInline let fieldTable: [FieldSpec?]
    /// The same definitions as plain values for the hot path, indexed by field number 0–192, behind a
    /// pointer: the decoder and encoder read them with no bounds check and no reference counting.
    @usableFromInline let layouts: FieldLayoutTable

    /// The highest field number a message of this spec can carry.
    public var maximumField: Int { self.tertiaryBitmap ? 192 : 128 }

    init(
        name: String,
        description: String,
        version: Int,
        parent: String?,
        header: Header,
        mtiEncoding: MTIEncoding,
        bitmapEncoding: BitmapEncoding,
        tertiaryBitmap: Bool,
        fields: [FieldSpec],
        messages: [MessageDoc]
    ) {
        self.name = name
        self.description = description
        self.version = version
        self.parent = parent
        self.header = header
        self.mtiEncoding = mtiEncoding
        self.bitmapEncoding = bitmapEncoding
        self.tertiaryBitmap = tertiaryBitmap
        self.messages = messages
        var table = [FieldSpec?](repeating: nil, count: 193)
        var layouts = [FieldLayout](repeating: .undefined, count: 193)
        for field in fields where field.number > 1 && field.number <= 192 {
            if field.number == 65 && tertiaryBitmap { continue }
            if field.number == 129 { continue }
            table[field.number] = field
            layouts[field.number] = FieldLayout(field)
        }
        self.fieldTable = table
        self.layouts = FieldLayoutTable(layouts)
    }

    deinit {
        self.layouts.deallocate()
    }

    /// The definition of field `number`, or `nil` when the spec does not define it.
    public func field(_ number: Int) -> FieldSpec? {
        guard number >= 0, number < self.fieldTable.count else { return nil }
        return self.fieldTable[number]
    }

    /// Every defined field, in number order.
    public var fields: [FieldSpec] {
        self.fieldTable.compactMap { $0 }
    }

    /// The name of field or subfield `path` (`"2"`, `"55.9F26"`), if the spec names it.
    public func name(of path: FieldPath) -> String? {
        guard let field = self.field(path.field) else { return nil }
        guard let sub = path.subfield else { return field.name }
        return field.subfields?.element(sub)?.name
    }
}

/// The field layouts of one spec, indexed by field number (0–192), in memory the spec owns.
@usableFromInline
struct FieldLayoutTable: @unchecked Sendable {
    /// Written once in `init`, read-only afterwards, freed by the owning spec's `deinit`.
    @usableFromInline let base: UnsafeMutablePointer<FieldLayout>

    @usableFromInline static let count = 193

    init(_ layouts: [FieldLayout]) {
        precondition(layouts.count == Self.count, "a layout per field number 0–192")
        self.base = .allocate(capacity: Self.count)
        self.base.initialize(from: layouts, count: Self.count)
    }

    /// The layout of field `number`; `number` must be 0–192.
    @inlinable @inline(__always)
    subscript(number: Int) -> FieldLayout {
        assert(number >= 0 && number < Self.count, "field number out of the layout table")
        return self.base[number]
    }

    func deallocate() {
        self.base.deinitialize(count: Self.count)
        self.base.deallocate()
    }
}

/// One subelement of a composite field, in its text form.
public struct Subfield: Hashable, Sendable {
    /// The TLV tag (upper-case hex for BER-TLV) or element id.
    public var id: String
    /// Text for private TLV and positional elements; upper-case hex for BER-TLV values.
    public var value: String

    public init(id: String, value: String) {
        self.id = id
        self.value = value
    }
}

/// Parsing, validating and building composite fields.
public enum Subfields {
    /// The elements of a composite field's text, in the order they appear (unknown tags included).
    public static func parse(_ text: String, as spec: SubfieldSpec, field: Int) throws(ISO8583Error) -> [Subfield] {
        let utf8 = Array(text.utf8)
        switch spec {
        case .berTLV:
            guard let bytes = Hex.decode(text) else {
                throw ISO8583Error(.invalidHex, field: String(field), expected: "hex text of BER-TLV data")
            }
            return try BERTLV.elements(bytes, field: field)
        case .tlv(let format, _):
            return try PrivateTLV.elements(utf8, format: format, field: field)
        case .positional(let elements):
            var result: [Subfield] = []
            var offset = 0
            for element in elements {
                guard offset < utf8.count else { break }
                let end = min(offset + element.length, utf8.count)
                result.append(Subfield(id: element.id, value: String(decoding: utf8[offset..<end], as: UTF8.self)))
                offset = end
            }
            if offset < utf8.count {
                throw ISO8583Error(.invalidLength, field: String(field), offset: offset, expected: "\(offset) characters for the positional subfields", found: "\(utf8.count)")
            }
            return result
        }
    }

    /// The text of a composite field made of `elements`, in the given order.
    public static func build(_ elements: [Subfield], as spec: SubfieldSpec, field: Int) throws(ISO8583Error) -> String {
        switch spec {
        case .berTLV:
            var bytes: [UInt8] = []
            for element in elements {
                guard let tag = Hex.decode(element.id), !tag.isEmpty, let value = Hex.decode(element.value) else {
                    throw ISO8583Error(.invalidValue, field: "\(field).\(element.id)", expected: "hex tag and hex value")
                }
                bytes += tag
                bytes += BERTLV.lengthBytes(value.count)
                bytes += value
            }
            return Hex.encode(bytes)
        case .tlv(let format, let specs):
            // The switch and the banks build DE 124 for every leg: one string grown once, no copies of the values,
            // and the element's path spelled out only for an error.
            var text = ""
            text.reserveCapacity(elements.reduce(0) { $0 + format.tagLength + format.lengthLength + $1.value.utf8.count })
            for element in elements {
                func path() -> String { "\(field).\(element.id)" }
                guard element.id.utf8.count == format.tagLength else {
                    throw ISO8583Error(.invalidValue, field: path(), expected: "a \(format.tagLength)-character tag", found: element.id)
                }
                var value = element.value
                let length = value.utf8.count
                let digits = String(length)
                guard digits.utf8.count <= format.lengthLength else {
                    throw ISO8583Error(.invalidValue, field: path(), expected: "at most \(format.lengthLength) length digits", found: digits)
                }
                if let spec = specs.first(where: { $0.id == element.id }) {
                    guard length <= spec.length else {
                        throw ISO8583Error(.invalidLength, field: path(), expected: "at most \(spec.length) characters", found: digits)
                    }
                    if let bad = value.withUTF8({ spec.contentClass.firstViolation(in: UnsafeRawBufferPointer($0)) }) {
                        throw ISO8583Error(.invalidCharacter, field: path(), offset: bad, expected: spec.contentClass.expectation)
                    }
                }
                text += element.id
                for _ in digits.utf8.count..<format.lengthLength { text += "0" }
                text += digits
                text += value
            }
            return text
        case .positional(let specs):
            var text = ""
            for element in elements {
                guard let spec = specs.first(where: { $0.id == element.id }) else {
                    throw ISO8583Error(.invalidPath, field: "\(field).\(element.id)", expected: "an element the spec defines")
                }
                var value = element.value
                if value.count < spec.length {
                    value = spec.contentClass == .n
                        ? String(repeating: "0", count: spec.length - value.count) + value
                        : value + String(repeating: " ", count: spec.length - value.count)
                }
                guard value.count == spec.length else {
                    throw ISO8583Error(.invalidLength, field: "\(field).\(element.id)", expected: "\(spec.length) characters", found: String(element.value.count))
                }
                text += value
            }
            return text
        }
    }

    /// Checks a composite field's structure on decode without building anything. Returns the offset of the
    /// first problem and what was expected there. `hexChecked`: hex content is known to be all hex digits.
    static func validate(_ content: UnsafeRawBufferPointer, layout: FieldLayout, hexChecked: Bool = false) -> (offset: Int, expected: String)? {
        switch layout.subfieldKind {
        case 1:
            if layout.encoding == .hex {
                if hexChecked || Hex.firstInvalid(content) == nil {
                    return BERTLV.validate(CheckedHexPairs(content))
                }
                return BERTLV.validate(HexPairs(content))
            } else if layout.encoding == .binary {
                return BERTLV.validate(RawBytes(content))
            }
            return nil
        case 2:
            guard layout.encoding == .ascii, layout.tlvTagLength > 0 else { return nil }
            return PrivateTLV.validate(content, format: TLVFormat(tagLength: Int(layout.tlvTagLength), lengthLength: Int(layout.tlvLengthLength)))
        default:
            return nil
        }
    }
}

/// Bytes the TLV walkers read: raw bytes, or the bytes that hex text stands for.
protocol TLVByteSource {
    var count: Int { get }
    /// The byte at `index`, or `nil` when the source cannot give one (bad hex).
    func byte(at index: Int) -> UInt8?
    /// Offset in the field's wire bytes of byte `index`, for error messages.
    func wireOffset(of index: Int) -> Int
}

struct RawBytes: TLVByteSource {
    let bytes: UnsafeRawBufferPointer
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
    var count: Int { self.bytes.count }
    func byte(at index: Int) -> UInt8? { self.bytes[index] }
    func wireOffset(of index: Int) -> Int { index }
}

struct HexPairs: TLVByteSource {
    let text: UnsafeRawBufferPointer
    init(_ text: UnsafeRawBufferPointer) { self.text = text }
    var count: Int { self.text.count / 2 }
    func byte(at index: Int) -> UInt8? {
        guard let hi = Hex.nibble(self.text[2 * index]), let lo = Hex.nibble(self.text[2 * index + 1]) else { return nil }
        return hi << 4 | lo
    }
    func wireOffset(of index: Int) -> Int { 2 * index }
}

/// Hex text already checked to be all hex digits: no character can fail.
struct CheckedHexPairs: TLVByteSource {
    let text: UnsafeRawBufferPointer
    init(_ text: UnsafeRawBufferPointer) { self.text = text }
    var count: Int { self.text.count / 2 }

    @inline(__always)
    func byte(at index: Int) -> UInt8? {
        // A digit's value is its low nibble; a letter's (bit 6 set) is its low nibble plus 9.
        @inline(__always) func value(_ c: UInt8) -> UInt8 { (c & 0x0F) &+ (c &>> 6) &* 9 }
        return value(self.text[2 &* index]) &<< 4 | value(self.text[2 &* index &+ 1])
    }

    func wireOffset(of index: Int) -> Int { 2 * index }
}

/// BER-TLV as EMV uses it: tags of one to three bytes, short and long length forms.
enum BERTLV {
    /// Walks the elements of `source` and reports the first structural problem.
    static func validate(_ source: some TLVByteSource) -> (offset: Int, expected: String)? {
        var i = 0
        let count = source.count
        while i < count {
            let tagStart = i
            guard let first = source.byte(at: i) else { return (source.wireOffset(of: i), "hex digits") }
            i += 1
            if first & 0x1F == 0x1F {
                // Subsequent tag bytes while bit 8 is set.
                while true {
                    guard i < count, let next = source.byte(at: i) else { return (source.wireOffset(of: tagStart), "a complete BER-TLV tag") }
                    i += 1
                    if next & 0x80 == 0 { break }
                    guard i - tagStart < 4 else { return (source.wireOffset(of: tagStart), "a BER-TLV tag of at most 4 bytes") }
                }
            }
            guard i < count, let lengthByte = source.byte(at: i) else { return (source.wireOffset(of: tagStart), "a BER-TLV length after the tag") }
            i += 1
            var length = Int(lengthByte)
            if lengthByte & 0x80 != 0 {
                let n = Int(lengthByte & 0x7F)
                guard n >= 1, n <= 3, i + n <= count else { return (source.wireOffset(of: i - 1), "a BER-TLV long-form length of 1–3 bytes") }
                length = 0
                for k in 0..<n {
                    guard let b = source.byte(at: i + k) else { return (source.wireOffset(of: i + k), "hex digits") }
                    length = length << 8 | Int(b)
                }
                i += n
            }
            guard length <= count - i else {
                return (source.wireOffset(of: tagStart), "a BER-TLV value of \(length) bytes within the field (\(count - i) left)")
            }
            i += length
        }
        return nil
    }

    /// Whether hex text of an even count is all hex digits (values included) holding well-formed BER-TLV:
    /// what `Hex.firstInvalid` and ``validate(_:)`` say of it, without the error. The text is turned into
    /// bytes sixteen characters at a time (checked as they go) on the stack, and the walk reads those.
    @inline(never)
    static func isWellFormed(hexText text: UnsafeRawBufferPointer) -> Bool {
        guard let p = text.baseAddress else { return true }
        let count = text.count &>> 1
        return withUnsafeTemporaryAllocation(byteCount: Swift.max(count, 1), alignment: 8) { buffer in
            let out = buffer.baseAddress!
            if text.count >= 16 {
                guard ASCIIWords.hexBytes(p, count: text.count, to: out) else { return false }
            } else {
                for i in 0..<count {
                    guard let high = Hex.nibble(text[i &<< 1]), let low = Hex.nibble(text[i &<< 1 &+ 1]) else { return false }
                    out.storeBytes(of: high &<< 4 | low, toByteOffset: i, as: UInt8.self)
                }
            }
            return Self.isWellFormed(bytes: UnsafeRawBufferPointer(start: out, count: count))
        }
    }

    /// Whether `bytes` hold well-formed BER-TLV: the answer ``validate(_:)`` gives on ``RawBytes`` of them,
    /// without the error.
    @inline(__always)
    static func isWellFormed(bytes: UnsafeRawBufferPointer) -> Bool {
        guard let p = bytes.baseAddress else { return true }
        let count = bytes.count
        @inline(__always) func byte(_ i: Int) -> Int { Int(p.load(fromByteOffset: i, as: UInt8.self)) }
        var i = 0
        while i < count {
            let tagStart = i
            let first = byte(i)
            i &+= 1
            if first & 0x1F == 0x1F {
                while true {
                    guard i < count else { return false }
                    let next = byte(i)
                    i &+= 1
                    if next & 0x80 == 0 { break }
                    guard i &- tagStart < 4 else { return false }
                }
            }
            guard i < count else { return false }
            var length = byte(i)
            i &+= 1
            if length & 0x80 != 0 {
                let n = length & 0x7F
                guard n >= 1, n <= 3, i &+ n <= count else { return false }
                length = 0
                for k in 0..<n { length = length &<< 8 | byte(i &+ k) }
                i &+= n
            }
            guard length <= count &- i else { return false }
            i &+= length
        }
        return true
    }

    static func elements(_ bytes: [UInt8], field: Int) throws(ISO8583Error) -> [Subfield] {
        if let problem = bytes.withUnsafeBytes({ validate(RawBytes($0)) }) {
            throw ISO8583Error(.invalidTLV, field: String(field), offset: problem.offset, expected: problem.expected)
        }
        var result: [Subfield] = []
        var i = 0
        while i < bytes.count {
            let tagStart = i
            i += 1
            if bytes[tagStart] & 0x1F == 0x1F {
                while bytes[i] & 0x80 != 0 { i += 1 }
                i += 1
            }
            let tag = Hex.encode(bytes[tagStart..<i])
            var length = Int(bytes[i])
            i += 1
            if length & 0x80 != 0 {
                let n = length & 0x7F
                length = 0
                for k in 0..<n { length = length << 8 | Int(bytes[i + k]) }
                i += n
            }
            result.append(Subfield(id: tag, value: Hex.encode(bytes[i..<i + length])))
            i += length
        }
        return result
    }

    static func lengthBytes(_ length: Int) -> [UInt8] {
        if length < 0x80 { return [UInt8(length)] }
        if length <= 0xFF { return [0x81, UInt8(length)] }
        if length <= 0xFFFF { return [0x82, UInt8(length >> 8), UInt8(length & 0xFF)] }
        return [0x83, UInt8(length >> 16), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
    }
}

/// Private TLV (DE 48 / DE 124 style): a fixed-size tag, a fixed-size decimal length, the value.
enum PrivateTLV {
    static func validate(_ text: UnsafeRawBufferPointer, format: TLVFormat) -> (offset: Int, expected: String)? {
        var i = 0
        let header = format.tagLength + format.lengthLength
        while i < text.count {
            guard text.count - i >= header else {
                return (i, "a \(format.tagLength)-character tag and \(format.lengthLength)-digit length")
            }
            var length = 0
            for k in 0..<format.lengthLength {
                let d = text[i + format.tagLength + k] &- 48
                guard d < 10 else { return (i + format.tagLength + k, "a \(format.lengthLength)-digit TLV length") }
                length = length * 10 + Int(d)
            }
            guard length <= text.count - i - header else {
                return (i, "a TLV value of \(length) characters within the field (\(text.count - i - header) left)")
            }
            i += header + length
        }
        return nil
    }

    static func elements(_ text: [UInt8], format: TLVFormat, field: Int) throws(ISO8583Error) -> [Subfield] {
        if let problem = text.withUnsafeBytes({ validate($0, format: format) }) {
            throw ISO8583Error(.invalidTLV, field: String(field), offset: problem.offset, expected: problem.expected)
        }
        var result: [Subfield] = []
        var i = 0
        while i < text.count {
            let tag = String(decoding: text[i..<i + format.tagLength], as: UTF8.self)
            var length = 0
            for k in 0..<format.lengthLength { length = length * 10 + Int(text[i + format.tagLength + k] - 48) }
            let start = i + format.tagLength + format.lengthLength
            result.append(Subfield(id: tag, value: String(decoding: text[start..<start + length], as: UTF8.self)))
            i = start + length
        }
        return result
    }
}

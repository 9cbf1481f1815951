import NIOCore

/// How strictly to decode.
public struct DecodeOptions: Sendable, Hashable {
    /// What to do with a content-class violation that does not break the framing.
    public enum ContentValidation: Sendable, Hashable {
        /// It is an error: what a switch does with what it accepts.
        case strict
        /// It is a warning in ``ISO8583Message/warnings``: what a diagnostic tool does.
        case lenient
    }

    public var contentValidation: ContentValidation
    /// Accept bytes after the last field (reported as a warning) instead of failing.
    public var allowTrailingBytes: Bool

    public init(contentValidation: ContentValidation = .strict, allowTrailingBytes: Bool = false) {
        self.contentValidation = contentValidation
        self.allowTrailingBytes = allowTrailingBytes
    }

    public static let strict = DecodeOptions()
    public static let lenient = DecodeOptions(contentValidation: .lenient)
}

extension MessageSpec {
    /// Decodes one message from the readable bytes of `buffer`; the message keeps a reference to them.
    public func decode(_ buffer: ByteBuffer, options: DecodeOptions = .strict) throws(ISO8583Error) -> ISO8583Message {
        guard buffer.readableBytes < Int(Int32.max) else {
            throw ISO8583Error(.messageTooLarge, expected: "a message under 2 GiB", found: "\(buffer.readableBytes) bytes")
        }
        var decoder = MessageDecoder(spec: self, options: options)
        var failure: ISO8583Error?
        buffer.withUnsafeReadableBytes { bytes in
            do throws(ISO8583Error) {
                try decoder.run(bytes)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return ISO8583Message(
            mti: decoder.mti, storage: buffer, entries: decoder.entries, headerStart: 0,
            headerLength: Int32(self.header.byteCount), spec: self, warnings: decoder.warnings
        )
    }

    /// Decodes one message from `bytes`.
    public func decode(bytes: some Collection<UInt8>, options: DecodeOptions = .strict) throws(ISO8583Error) -> ISO8583Message {
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        return try self.decode(buffer, options: options)
    }

    /// Decodes one message from upper- or lower-case hex text.
    public func decode(hex: some StringProtocol, options: DecodeOptions = .strict) throws(ISO8583Error) -> ISO8583Message {
        let utf8 = Array(hex.utf8)
        if let bad = utf8.withUnsafeBytes({ Hex.firstInvalid($0) }) {
            throw ISO8583Error(.invalidHex, offset: bad, expected: "hexadecimal digits", found: "'\(String(decoding: [utf8[bad]], as: UTF8.self))' at character \(bad)")
        }
        guard utf8.count % 2 == 0 else {
            throw ISO8583Error(.invalidHex, offset: utf8.count, expected: "an even number of hex digits", found: "\(utf8.count)")
        }
        return try self.decode(bytes: Hex.decode(hex)!, options: options)
    }
}

/// The decoding walk over one message's bytes.
struct MessageDecoder {
    let spec: MessageSpec
    let options: DecodeOptions
    var mti = MTI(value: 0)
    var entries = ContiguousArray<ISO8583Message.Entry>()
    var warnings: [ISO8583Error] = []

    init(spec: MessageSpec, options: DecodeOptions) {
        self.spec = spec
        self.options = options
    }

    mutating func run(_ bytes: UnsafeRawBufferPointer) throws(ISO8583Error) {
        var offset = self.spec.header.byteCount
        guard bytes.count >= offset else {
            throw self.truncated(bytes, at: bytes.count, what: "a \(offset)-byte header")
        }
        offset = try self.readMTI(bytes, at: offset)

        var words: (UInt64, UInt64, UInt64) = (0, 0, 0)
        words.0 = try self.readBitmap(bytes, at: &offset, name: "primary bitmap")
        if words.0 & (1 << 63) != 0 {
            words.1 = try self.readBitmap(bytes, at: &offset, name: "secondary bitmap")
        }
        self.entries.reserveCapacity(words.0.nonzeroBitCount + words.1.nonzeroBitCount)

        try self.readFields(bytes, word: words.0 & ~(1 << 63), base: 0, offset: &offset)
        // With a tertiary bitmap, bit 65 announces it and `readFields` reads it in its place.
        try self.readFields(bytes, word: words.1, base: 64, offset: &offset)
        if offset != bytes.count {
            let error = ISO8583Error(
                .trailingBytes, offset: offset, expected: "the message to end after the last field",
                found: "\(bytes.count - offset) more bytes", hexWindow: self.window(bytes, at: offset, sensitive: false)
            )
            guard self.options.allowTrailingBytes else { throw error }
            self.warnings.append(error)
        }
    }

    mutating func readMTI(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(ISO8583Error) -> Int {
        var value: UInt16 = 0
        let size: Int
        switch self.spec.mtiEncoding {
        case .ascii, .ebcdic037, .ebcdic1047:
            size = 4
            guard bytes.count >= offset + size else { throw self.truncated(bytes, at: offset, what: "a 4-character MTI") }
            for i in 0..<4 {
                var c = bytes[offset + i]
                if self.spec.mtiEncoding != .ascii { c = c &- 0xF0 &+ 48 }
                guard c &- 48 < 10 else {
                    throw ISO8583Error(.invalidMTI, offset: offset, expected: "four digits", found: self.printable(bytes, offset, 4), hexWindow: self.window(bytes, at: offset, sensitive: false))
                }
                value = value * 10 + UInt16(c - 48)
            }
        case .bcd:
            size = 2
            guard bytes.count >= offset + size else { throw self.truncated(bytes, at: offset, what: "a 2-byte BCD MTI") }
            for i in 0..<2 {
                let b = bytes[offset + i]
                guard b >> 4 <= 9, b & 0x0F <= 9 else {
                    throw ISO8583Error(.invalidMTI, offset: offset + i, expected: "BCD digits", found: Hex.encode([b]), hexWindow: self.window(bytes, at: offset, sensitive: false))
                }
                value = value * 100 + UInt16(b >> 4) * 10 + UInt16(b & 0x0F)
            }
        }
        self.mti = MTI(value: value)
        return offset + size
    }

    func readBitmap(_ bytes: UnsafeRawBufferPointer, at offset: inout Int, name: String) throws(ISO8583Error) -> UInt64 {
        switch self.spec.bitmapEncoding {
        case .binary:
            guard bytes.count >= offset + 8 else { throw self.truncated(bytes, at: offset, what: "an 8-byte \(name)") }
            let word = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
            return word
        case .hex:
            guard bytes.count >= offset + 16 else { throw self.truncated(bytes, at: offset, what: "a 16-character hex \(name)") }
            var word: UInt64 = 0
            for i in 0..<16 {
                guard let n = Hex.nibble(bytes[offset + i]) else {
                    throw ISO8583Error(
                        .invalidCharacter, field: "1", offset: offset + i, expected: "hex digits in the \(name)",
                        found: self.printable(bytes, offset + i, 1), hexWindow: self.window(bytes, at: offset + i, sensitive: false)
                    )
                }
                word = word << 4 | UInt64(n)
            }
            offset += 16
            return word
        }
    }

    mutating func readFields(_ bytes: UnsafeRawBufferPointer, word: UInt64, base: Int, offset: inout Int) throws(ISO8583Error) {
        var w = word
        while w != 0 {
            let lz = w.leadingZeroBitCount
            w &= ~(UInt64(1) << (63 - lz))
            let number = base + lz + 1
            if number == 65 && self.spec.tertiaryBitmap {
                let tertiary = try self.readBitmap(bytes, at: &offset, name: "tertiary bitmap")
                // Fields 66–128 follow, then 129–192.
                try self.readFields(bytes, word: w, base: 64, offset: &offset)
                try self.readFields(bytes, word: tertiary, base: 128, offset: &offset)
                return
            }
            try self.readField(bytes, number: number, offset: &offset)
        }
    }

    @inline(__always)
    mutating func readField(_ bytes: UnsafeRawBufferPointer, number: Int, offset: inout Int) throws(ISO8583Error) {
        let layout = self.spec.layouts[number]
        guard layout.defined else {
            throw ISO8583Error(
                .unknownField, field: String(number), offset: offset, expected: "only fields the spec \(self.spec.name) defines",
                found: "bit \(number) set", hexWindow: self.window(bytes, at: offset, sensitive: false)
            )
        }
        let start = offset
        let end = bytes.count
        var count = Int(layout.length)
        if layout.prefix != .fixed {
            let prefixBytes = Int(layout.prefixBytes)
            guard end - offset >= prefixBytes else {
                throw ISO8583Error(
                    .missingFieldBytes, field: String(number), offset: offset, expected: "a \(prefixBytes)-byte \(layout.prefix.specName) length prefix",
                    found: "\(end - offset) bytes left", hexWindow: self.window(bytes, at: offset, sensitive: false)
                )
            }
            count = try self.readPrefix(bytes, at: offset, layout: layout, number: number)
            offset += prefixBytes
            guard count <= Int(layout.length) else {
                throw ISO8583Error(
                    .invalidLength, field: String(number), offset: start, expected: "at most \(layout.length) \(layout.unit.specName)",
                    found: String(count), hexWindow: self.window(bytes, at: start, sensitive: false)
                )
            }
        }

        // Wire bytes and stored representation by encoding.
        let contentBytes: Int
        var representation = ISO8583Message.Representation.text
        var logical = count
        switch layout.encoding {
        case .ascii:
            contentBytes = count
        case .ebcdic037:
            contentBytes = count
            representation = .ebcdic037
        case .ebcdic1047:
            contentBytes = count
            representation = .ebcdic1047
        case .bcd:
            if layout.contentClass == .xn {
                // One sign character, then the digits packed.
                let digits = layout.unit == .bytes ? (count - 1) * 2 : count - 1
                contentBytes = 1 + (max(digits, 0) + 1) / 2
                logical = digits + 1
                representation = .signedBCD
            } else {
                let digits = layout.unit == .bytes ? count * 2 : count
                contentBytes = (digits + 1) / 2
                logical = digits
                representation = layout.padding == .right ? .bcdRightPadded : .bcdLeftPadded
            }
        case .binary:
            contentBytes = count
            representation = .raw
        case .hex:
            contentBytes = layout.unit == .characters ? count : count * 2
            logical = contentBytes
        }
        guard end - offset >= contentBytes else {
            throw ISO8583Error(
                .missingFieldBytes, field: String(number), offset: offset, expected: "\(contentBytes) bytes of field \(number)",
                found: "\(end - offset) bytes left", hexWindow: self.window(bytes, at: offset, sensitive: layout.sensitivity != .none)
            )
        }
        let content = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + contentBytes])
        try self.validate(content, layout: layout, number: number, offset: offset, representation: representation, bytes: bytes)
        offset += contentBytes
        self.entries.append(ISO8583Message.Entry(
            number: UInt16(number), representation: representation, wireValid: true,
            valueStart: Int32(offset - contentBytes), valueBytes: Int32(contentBytes), count: Int32(logical),
            wireStart: Int32(start), wireLength: Int32(offset - start)
        ))
    }

    func readPrefix(_ bytes: UnsafeRawBufferPointer, at offset: Int, layout: FieldLayout, number: Int) throws(ISO8583Error) -> Int {
        let digits = Int(layout.prefix.rawValue)
        let size = Int(layout.prefixBytes)
        var value = 0
        func bad(_ expected: String) -> ISO8583Error {
            ISO8583Error(
                .invalidLengthPrefix, field: String(number), offset: offset, expected: expected,
                found: layout.prefixEncoding == .ascii ? "\"\(self.printable(bytes, offset, size))\"" : Hex.encode(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + size])),
                hexWindow: self.window(bytes, at: offset, sensitive: false)
            )
        }
        switch layout.prefixEncoding {
        case .ascii:
            for i in 0..<digits {
                let d = bytes[offset + i] &- 48
                guard d < 10 else { throw bad("\(digits) ASCII digits") }
                value = value * 10 + Int(d)
            }
        case .ebcdic037, .ebcdic1047:
            for i in 0..<digits {
                let d = bytes[offset + i] &- 0xF0
                guard d < 10 else { throw bad("\(digits) EBCDIC digits") }
                value = value * 10 + Int(d)
            }
        case .bcd:
            for i in 0..<size {
                let b = bytes[offset + i]
                guard b >> 4 <= 9, b & 0x0F <= 9 else { throw bad("a BCD length") }
                value = value * 100 + Int(b >> 4) * 10 + Int(b & 0x0F)
            }
        case .binary:
            for i in 0..<size { value = value << 8 | Int(bytes[offset + i]) }
        }
        return value
    }

    mutating func validate(
        _ content: UnsafeRawBufferPointer, layout: FieldLayout, number: Int, offset: Int,
        representation: ISO8583Message.Representation, bytes: UnsafeRawBufferPointer
    ) throws(ISO8583Error) {
        guard layout.validation != .none else { return }
        var violation: (index: Int, code: ISO8583Error.Code, expected: String)?
        switch layout.encoding {
        case .ascii:
            if let i = layout.contentClass.firstViolation(in: content) {
                violation = (i, .invalidCharacter, layout.contentClass.expectation)
            }
        case .hex:
            if content.count % 2 == 1 {
                violation = (content.count, .invalidLength, "an even number of hex characters")
            } else if layout.subfieldKind != 1, let i = Hex.firstInvalid(content) {
                // (BER-TLV data is checked for hex digits by the TLV walk below.)
                violation = (i, .invalidCharacter, "hexadecimal digits")
            }
        case .ebcdic037, .ebcdic1047:
            let table = layout.encoding == .ebcdic037 ? EBCDIC.ebcdic037ToASCII : EBCDIC.ebcdic1047ToASCII
            let translated = content.map { table[Int($0)] }
            if let i = translated.firstIndex(of: 0xFF) {
                violation = (i, .invalidCharacter, "EBCDIC characters with an ASCII counterpart")
            } else if let i = translated.withUnsafeBytes({ layout.contentClass.firstViolation(in: $0) }) {
                violation = (i, .invalidCharacter, layout.contentClass.expectation)
            }
        case .bcd:
            let signed = representation == .signedBCD
            if signed, let sign = content.first, sign != UInt8(ascii: "C"), sign != UInt8(ascii: "D") {
                violation = (0, .invalidCharacter, "'C' or 'D'")
            }
            let packed = signed ? UnsafeRawBufferPointer(rebasing: content.dropFirst()) : content
            let digitBase = signed ? 1 : 0
            let allowD = layout.contentClass == .z
            for i in 0..<packed.count where violation == nil {
                let b = packed[i]
                for (k, nibble) in [b >> 4, b & 0x0F].enumerated() where nibble > 9 && !(allowD && nibble == 0xD) {
                    // A spare pad nibble of F is tolerated on either side.
                    let isPad = nibble == 0xF && ((k == 0 && i == 0) || (k == 1 && i == packed.count - 1))
                    if !isPad { violation = (i + digitBase, .invalidBCD, "BCD digits"); break }
                }
            }
        case .binary:
            break
        }
        if violation == nil, layout.subfieldKind == 1 || layout.subfieldKind == 2 {
            if let problem = Subfields.validate(content, layout: layout) {
                violation = (problem.offset, .invalidTLV, problem.expected)
            }
        }
        guard let (index, code, expected) = violation else { return }
        let sensitive = layout.sensitivity != .none
        let found: String
        if sensitive {
            found = "a value that does not fit (masked)"
        } else if index < content.count {
            found = "'\(self.printable(content, index, 1))' at position \(index + 1)"
        } else {
            found = "\(content.count) characters"
        }
        let error = ISO8583Error(
            code, field: String(number), offset: offset + min(index, content.count), expected: expected, found: found,
            hexWindow: self.window(bytes, at: offset + min(index, content.count), sensitive: sensitive)
        )
        // Only content-class problems may be downgraded; a broken TLV or BCD nibble breaks the value.
        if code == .invalidCharacter, self.options.contentValidation == .lenient || layout.validation == .lenient {
            self.warnings.append(error)
        } else {
            throw error
        }
    }

    func truncated(_ bytes: UnsafeRawBufferPointer, at offset: Int, what: String) -> ISO8583Error {
        ISO8583Error(.truncated, offset: offset, expected: what, found: "\(max(bytes.count - offset, 0)) bytes left", hexWindow: self.window(bytes, at: offset, sensitive: false))
    }

    /// Printable text of `count` bytes at `offset`, non-printable bytes as `\xNN`.
    func printable(_ bytes: UnsafeRawBufferPointer, _ offset: Int, _ count: Int) -> String {
        var text = ""
        for i in offset..<min(offset + count, bytes.count) {
            let b = bytes[i]
            if b >= 0x20 && b < 0x7F { text.unicodeScalars.append(Unicode.Scalar(b)) } else { text += "\\x" + Hex.encode([b]) }
        }
        return text
    }

    /// Up to 16 bytes around `offset` as hex, the byte at `offset` in brackets; all masked when sensitive.
    func window(_ bytes: UnsafeRawBufferPointer, at offset: Int, sensitive: Bool) -> String {
        let from = max(0, offset - 4)
        let to = min(bytes.count, offset + 12)
        guard from < to else { return "" }
        var text = ""
        for i in from..<to {
            let byte = sensitive ? "**" : Hex.encode([bytes[i]])
            text += i == offset ? "[\(byte)]" : byte
        }
        if offset >= bytes.count { text += "[]" }
        return text
    }
}

import NIOCore

extension MessageSpec {
    /// Encodes `message` and appends its bytes to `buffer`.
    ///
    /// Every field is validated strictly; all problems are collected and thrown together as
    /// ``ISO8583Error/Code/validationFailed``, and nothing is written then. A field that is unchanged since
    /// `message` was decoded with this same spec is written with its original bytes.
    public func encode(_ message: ISO8583Message, into buffer: inout ByteBuffer) throws(ISO8583Error) {
        // An upper bound of the encoded size, so that the whole message is written through one pointer.
        var bound = self.header.byteCount + 4 + 48
        for entry in message.entries {
            let layout = self.layouts[Int(min(entry.number, 192))]
            bound += Int(layout.prefixBytes) + 2 * Int(entry.valueBytes) + 2 * Int(entry.count) + Int(entry.wireLength)
            if layout.prefix == .fixed { bound += 2 * Int(layout.length) }
        }
        var errors: [ISO8583Error] = []
        let mark = buffer.writerIndex
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { out in
            message.storage.withUnsafeReadableBytes { storage in
                var writer = RawWriter(out)
                errors = self.encodeBody(message, storage: storage, into: &writer)
                return writer.index
            }
        }
        if !errors.isEmpty {
            buffer.moveWriterIndex(to: mark)
            throw ISO8583Error.validationFailed(errors)
        }
    }

    /// Writes header, MTI, bitmaps and fields; returns the validation errors (the bytes are discarded then).
    private func encodeBody(_ message: ISO8583Message, storage: UnsafeRawBufferPointer, into writer: inout RawWriter) -> [ISO8583Error] {
        var errors: [ISO8583Error] = []
        let reuseWire = message.spec === self
        let headerSize = self.header.byteCount
        if headerSize > 0 {
            if message.headerLength == headerSize {
                writer.write(UnsafeRawBufferPointer(rebasing: storage[Int(message.headerStart)..<Int(message.headerStart + message.headerLength)]))
            } else {
                errors.append(ISO8583Error(.invalidValue, field: "header", expected: "a \(headerSize)-byte header", found: "\(message.headerLength) bytes"))
            }
        }
        self.writeMTI(message.mti, into: &writer)

        // Bitmaps.
        var words: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var outOfRange = false
        for entry in message.entries {
            let n = Int(entry.number)
            switch n {
            case 2...64: words.0 |= 1 << (64 - n)
            case 66...128: words.1 |= 1 << (128 - n)
            case 129...192 where self.tertiaryBitmap: words.2 |= 1 << (192 - n)
            case 65 where !self.tertiaryBitmap: words.1 |= 1 << 63
            default:
                outOfRange = true
                errors.append(ISO8583Error(.unknownField, field: String(n), expected: "fields 2–\(self.maximumField)", found: "field \(n)"))
            }
        }
        if words.2 != 0 { words.1 |= 1 << 63 }
        if words.1 != 0 { words.0 |= 1 << 63 }
        self.writeBitmap(words.0, into: &writer)
        if words.1 != 0 { self.writeBitmap(words.1, into: &writer) }

        // The tertiary bitmap sits in bit 65's place: before the first field above 65.
        var tertiaryWritten = words.2 == 0
        for entry in message.entries {
            let number = Int(entry.number)
            if !tertiaryWritten, number > 65 {
                self.writeBitmap(words.2, into: &writer)
                tertiaryWritten = true
            }
            if outOfRange, number > self.maximumField || number == 129 || (number == 65 && self.tertiaryBitmap) { continue }
            guard self.layouts[number].defined else {
                errors.append(ISO8583Error(.unknownField, field: String(number), expected: "only fields the spec \(self.name) defines", found: "field \(number)"))
                continue
            }
            if reuseWire, entry.wireValid {
                writer.write(UnsafeRawBufferPointer(rebasing: storage[Int(entry.wireStart)..<Int(entry.wireStart + entry.wireLength)]))
                continue
            }
            self.writeField(entry, from: storage, message: message, into: &writer, errors: &errors)
        }
        if !tertiaryWritten {
            self.writeBitmap(words.2, into: &writer)
        }
        return errors
    }

    /// Encodes `message` into a new buffer.
    public func encode(_ message: ISO8583Message) throws(ISO8583Error) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: message.storage.readableBytes + 64)
        try self.encode(message, into: &buffer)
        return buffer
    }

    /// Encodes `message` to upper-case hex text.
    public func encodeHex(_ message: ISO8583Message) throws(ISO8583Error) -> String {
        let buffer = try self.encode(message)
        return buffer.withUnsafeReadableBytes { Hex.encode($0) }
    }

    @inline(__always)
    private func writeMTI(_ mti: MTI, into buffer: inout RawWriter) {
        let d = mti.digits
        switch self.mtiEncoding {
        case .ascii:
            buffer.write(d.0, d.1, d.2, d.3)
        case .ebcdic037, .ebcdic1047:
            buffer.write(d.0 &+ 0xC0, d.1 &+ 0xC0, d.2 &+ 0xC0, d.3 &+ 0xC0)
        case .bcd:
            buffer.write((d.0 - 48) << 4 | (d.1 - 48), (d.2 - 48) << 4 | (d.3 - 48))
        }
    }

    @inline(__always)
    private func writeBitmap(_ word: UInt64, into buffer: inout RawWriter) {
        switch self.bitmapEncoding {
        case .binary:
            buffer.write(bigEndian: word)
        case .hex:
            buffer.withSpace(16) { out in
                for i in 0..<16 {
                    out[i] = Hex.digits[Int((word >> UInt64(60 - 4 * i)) & 0xF)]
                }
                return 16
            }
        }
    }

    /// Writes one field from its stored value. Returns the validation error instead of writing, if any.
    private func writeField(
        _ entry: ISO8583Message.Entry,
        from storage: UnsafeRawBufferPointer,
        message: ISO8583Message,
        into buffer: inout RawWriter,
        errors: inout [ISO8583Error]
    ) {
        let number = Int(entry.number)
        let layout = self.layouts[number]
        let stored = UnsafeRawBufferPointer(rebasing: storage[Int(entry.valueStart)..<Int(entry.valueStart + entry.valueBytes)])
        // The logical value: ASCII text, or raw bytes for b fields stored raw.
        switch entry.representation {
        case .text:
            self.writeField(number: number, layout: layout, text: stored, rawBytes: false, into: &buffer, errors: &errors)
        case .raw:
            self.writeField(number: number, layout: layout, text: stored, rawBytes: true, into: &buffer, errors: &errors)
        default:
            // Stored in another spec's wire form: convert to text first.
            var text = message.text(of: entry)
            text.withUTF8 { utf8 in
                self.writeField(number: number, layout: layout, text: UnsafeRawBufferPointer(utf8), rawBytes: false, into: &buffer, errors: &errors)
            }
        }
    }

    private func writeField(
        number: Int,
        layout: FieldLayout,
        text value: UnsafeRawBufferPointer,
        rawBytes: Bool,
        into buffer: inout RawWriter,
        errors: inout [ISO8583Error]
    ) {
        var path: String { String(number) }
        let sensitive = layout.sensitivity != .none
        if layout.contentClass == .b {
            // Binary value: raw bytes, or hex text of them.
            let byteCount: Int
            if rawBytes {
                byteCount = value.count
            } else {
                if let bad = Hex.firstInvalid(value) {
                    errors.append(ISO8583Error(.invalidCharacter, field: path, offset: bad, expected: "hexadecimal digits", found: sensitive ? "a non-hex character (masked)" : "'\(String(decoding: [value[bad]], as: UTF8.self))' at position \(bad + 1)"))
                    return
                }
                guard value.count % 2 == 0 else {
                    errors.append(ISO8583Error(.invalidLength, field: path, expected: "an even number of hex digits", found: String(value.count)))
                    return
                }
                byteCount = value.count / 2
            }
            var padBytes = 0
            if layout.prefix == .fixed {
                guard byteCount <= Int(layout.length) else {
                    errors.append(ISO8583Error(.invalidLength, field: path, expected: "\(layout.length) bytes", found: "\(byteCount) bytes"))
                    return
                }
                padBytes = Int(layout.length) - byteCount
                if padBytes > 0 && layout.padding == .none {
                    errors.append(ISO8583Error(.invalidLength, field: path, expected: "\(layout.length) bytes", found: "\(byteCount) bytes"))
                    return
                }
            }
            let total = byteCount + padBytes
            let prefixValue: Int
            switch layout.unit {
            case .bytes: prefixValue = total
            case .characters, .digits: prefixValue = layout.encoding == .hex ? total * 2 : total
            }
            if layout.prefix != .fixed, prefixValue > Int(layout.length) {
                errors.append(ISO8583Error(.invalidLength, field: path, expected: "at most \(layout.length) \(layout.unit.specName)", found: String(prefixValue)))
                return
            }
            self.writePrefix(prefixValue, layout: layout, into: &buffer)
            let padFirst = layout.padding == .left
            if padFirst { self.writePad(padBytes, byte: layout.padCharacter, hex: layout.encoding == .hex, into: &buffer) }
            switch (layout.encoding, rawBytes) {
            case (.binary, true):
                buffer.write(value)
            case (.binary, false):
                buffer.withSpace(byteCount) { out in
                    for i in 0..<byteCount { out[i] = Hex.nibble(value[2 * i])! << 4 | Hex.nibble(value[2 * i + 1])! }
                    return byteCount
                }
            case (_, true):
                buffer.withSpace(byteCount * 2) { out in
                    for i in 0..<byteCount {
                        out[2 * i] = Hex.digits[Int(value[i] >> 4)]
                        out[2 * i + 1] = Hex.digits[Int(value[i] & 0xF)]
                    }
                    return byteCount * 2
                }
            case (_, false):
                buffer.withSpace(value.count) { out in
                    for i in 0..<value.count {
                        let c = value[i]
                        out[i] = c &- 97 < 6 ? c &- 32 : c  // upper-case hex
                    }
                    return value.count
                }
            }
            if !padFirst { self.writePad(padBytes, byte: layout.padCharacter, hex: layout.encoding == .hex, into: &buffer) }
            return
        }

        // Character value.
        if let bad = layout.contentClass.firstViolation(in: value) {
            errors.append(ISO8583Error(
                .invalidCharacter, field: path, offset: bad, expected: layout.contentClass.expectation,
                found: sensitive ? "a character outside the class (masked)" : "'\(String(decoding: [value[bad]], as: UTF8.self))' at position \(bad + 1)"
            ))
            return
        }
        var characters = value.count
        var pad = 0
        if layout.prefix == .fixed {
            guard characters <= Int(layout.length), layout.padding != .none || characters == Int(layout.length) else {
                errors.append(ISO8583Error(.invalidLength, field: path, expected: "\(layout.length) characters", found: "\(characters)"))
                return
            }
            pad = Int(layout.length) - characters
            characters = Int(layout.length)
        } else if characters > Int(layout.length) {
            errors.append(ISO8583Error(.invalidLength, field: path, expected: "at most \(layout.length) characters", found: "\(characters)"))
            return
        }
        switch layout.encoding {
        case .ascii, .ebcdic037, .ebcdic1047:
            let prefixValue = characters
            self.writePrefix(prefixValue, layout: layout, into: &buffer)
            let table: [UInt8]? = layout.encoding == .ascii ? nil : (layout.encoding == .ebcdic037 ? EBCDIC.asciiTo037 : EBCDIC.asciiTo1047)
            let padByte = table.map { $0[Int(layout.padCharacter & 0x7F)] } ?? layout.padCharacter
            buffer.withSpace(characters) { out in
                var o = 0
                let left = layout.padding == .left
                if left, pad > 0 {
                    UnsafeMutableRawBufferPointer(rebasing: out[0..<pad]).initializeMemory(as: UInt8.self, repeating: padByte)
                    o = pad
                }
                if let table {
                    for c in value { out[o] = table[Int(c & 0x7F)]; o += 1 }
                } else {
                    UnsafeMutableRawBufferPointer(rebasing: out[o..<o + value.count]).copyMemory(from: value)
                    o += value.count
                }
                if !left, pad > 0 {
                    UnsafeMutableRawBufferPointer(rebasing: out[o..<o + pad]).initializeMemory(as: UInt8.self, repeating: padByte)
                    o += pad
                }
                return o
            }
        case .bcd:
            let signed = layout.contentClass == .xn
            let digits = signed ? characters - 1 : characters
            let prefixValue = layout.unit == .bytes ? (signed ? 1 : 0) + (digits + 1) / 2 : characters
            self.writePrefix(prefixValue, layout: layout, into: &buffer)
            // Build the digit text with padding applied, then pack it.
            let padByte = layout.padCharacter
            let body = signed ? UnsafeRawBufferPointer(rebasing: value.dropFirst()) : value
            if signed {
                buffer.write(value.first ?? UInt8(ascii: "C"))
            }
            let bytes = (digits + 1) / 2
            let leftPadNibble = digits % 2 == 1 && (signed || layout.padding != .right)
            buffer.withSpace(bytes) { out in
                var nibbleIndex = leftPadNibble ? 1 : 0
                for i in 0..<bytes { out[i] = 0 }
                func put(_ nibble: UInt8) {
                    let i = nibbleIndex / 2
                    out[i] |= nibbleIndex % 2 == 0 ? nibble << 4 : nibble
                    nibbleIndex += 1
                }
                let padCount = pad
                let padNibble = BCD.nibble(padByte) ?? 0
                if layout.padding == .left { for _ in 0..<padCount { put(padNibble) } }
                for c in body { put(BCD.nibble(c) ?? 0) }
                if layout.padding != .left { for _ in 0..<padCount { put(padNibble) } }
                return bytes
            }
        case .binary, .hex:
            preconditionFailure("binary encodings are for class b, checked when the spec is loaded")
        }
        return
    }

    @inline(__always)
    private func writePad(_ count: Int, byte: UInt8, hex: Bool, into buffer: inout RawWriter) {
        guard count > 0 else { return }
        if hex {
            for _ in 0..<count {
                buffer.write(Hex.digits[Int(byte >> 4)], Hex.digits[Int(byte & 0xF)])
            }
        } else {
            buffer.fill(byte, count: count)
        }
    }

    @inline(__always)
    private func writePrefix(_ value: Int, layout: FieldLayout, into buffer: inout RawWriter) {
        let digits = Int(layout.prefix.rawValue)
        guard digits > 0 else { return }
        switch layout.prefixEncoding {
        case .ascii, .ebcdic037, .ebcdic1047:
            let zero: UInt8 = layout.prefixEncoding == .ascii ? 48 : 0xF0
            buffer.withSpace(digits) { out in
                var v = value
                for i in stride(from: digits - 1, through: 0, by: -1) {
                    out[i] = zero + UInt8(v % 10)
                    v /= 10
                }
                return digits
            }
        case .bcd:
            let size = (digits + 1) / 2
            buffer.withSpace(size) { out in
                var v = value
                for i in stride(from: size - 1, through: 0, by: -1) {
                    let lo = UInt8(v % 10)
                    v /= 10
                    let hi = UInt8(v % 10)
                    v /= 10
                    out[i] = hi << 4 | lo
                }
                return size
            }
        case .binary:
            if layout.prefixBytes == 1 {
                buffer.write(UInt8(truncatingIfNeeded: value))
            } else {
                buffer.write(UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value))
            }
        }
    }
}

/// Writes into memory the encoder has reserved; the bound is computed before, so no write can overflow it.
struct RawWriter {
    let out: UnsafeMutableRawBufferPointer
    var index = 0

    init(_ out: UnsafeMutableRawBufferPointer) {
        self.out = out
    }

    @inline(__always)
    mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        precondition(self.index + bytes.count <= self.out.count, "encoder size bound too small")
        (self.out.baseAddress! + self.index).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        self.index += bytes.count
    }

    @inline(__always)
    mutating func write(_ a: UInt8) {
        precondition(self.index < self.out.count, "encoder size bound too small")
        self.out[self.index] = a
        self.index += 1
    }

    @inline(__always)
    mutating func write(_ a: UInt8, _ b: UInt8) {
        self.write(a)
        self.write(b)
    }

    @inline(__always)
    mutating func write(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self.write(a, b)
        self.write(c, d)
    }

    @inline(__always)
    mutating func write(bigEndian word: UInt64) {
        precondition(self.index + 8 <= self.out.count, "encoder size bound too small")
        self.out.storeBytes(of: word.bigEndian, toByteOffset: self.index, as: UInt64.self)
        self.index += 8
    }

    @inline(__always)
    mutating func fill(_ byte: UInt8, count: Int) {
        guard count > 0 else { return }
        precondition(self.index + count <= self.out.count, "encoder size bound too small")
        (self.out.baseAddress! + self.index).initializeMemory(as: UInt8.self, repeating: byte, count: count)
        self.index += count
    }

    /// Lets `body` write up to `count` bytes at the current position; it returns how many it wrote.
    @inline(__always)
    mutating func withSpace(_ count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) {
        precondition(self.index + count <= self.out.count, "encoder size bound too small")
        let written = body(UnsafeMutableRawBufferPointer(rebasing: self.out[self.index..<self.index + count]))
        self.index += written
    }
}

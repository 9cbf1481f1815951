import NIOCore

extension MessageSpec {
    /// Encodes `message` and appends its bytes to `buffer`.
    ///
    /// Every field is validated strictly; all problems are collected and thrown together as
    /// ``ISO8583Error/Code/validationFailed``, and nothing is written then. A field that is unchanged since
    /// `message` was decoded with this same spec is written with its original bytes.
    public func encode(_ message: ISO8583Message, into buffer: inout ByteBuffer) throws(ISO8583Error) {
        try self.encode(message, into: &buffer, inlineFields: true)
    }

    /// ``encode(_:into:)``; `inlineFields: false` sends every field the general way (for tests that compare
    /// the two).
    func encode(_ message: ISO8583Message, into buffer: inout ByteBuffer, inlineFields: Bool) throws(ISO8583Error) {
        if inlineFields, message.decodedEnd != 0, message.spec === self, !self.tertiaryBitmap {
            self.encodeAsDecoded(message, into: &buffer)
            return
        }
        var errors: [ISO8583Error] = []
        let mark = buffer.writerIndex
        let presence = message.entries.presence
        // `message` is borrowed for the whole call, which keeps its entries alive and in place.
        let entries = message.entries.unsafeEntries
        // First with room estimated from the stored bytes, which is plenty unless fixed fields are padded a
        // lot; a field that would not fit stops the attempt, and the second one reserves the exact bound.
        var exact = false
        while true {
            let plan = self.plan(
                entries, presence: presence, errors: &errors, exact: exact, storageBytes: message.storage.readableBytes
            )
            var overflow = false
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: plan.bound) { out in
                message.storage.withUnsafeReadableBytes { storage in
                    var writer = RawWriter(out)
                    self.encodeBody(
                        message, entries: entries, plan: plan, inlineFields: inlineFields, storage: storage, into: &writer,
                        errors: &errors, estimatedBound: !exact, overflow: &overflow
                    )
                    return overflow ? 0 : writer.index
                }
            }
            guard overflow, !exact else { break }
            errors.removeAll()
            exact = true
        }
        if !errors.isEmpty {
            buffer.moveWriterIndex(to: mark)
            throw ISO8583Error.validationFailed(errors)
        }
    }

    /// A message decoded with this spec and unchanged since, but perhaps for its MTI: the header and the fields
    /// as they came, copied in one go, and between them what the general path writes (the MTI, and bitmaps
    /// read back from the decoded ones: the same bits, a secondary bitmap only when a field of 65–128 is
    /// there, hex in upper case). Nothing to validate: the fields were read with this spec.
    private func encodeAsDecoded(_ message: ISO8583Message, into buffer: inout ByteBuffer) {
        let bitmapsAt = Int(message.headerStart) &+ Int(message.headerLength) &+ (self.mtiEncoding == .bcd ? 2 : 4)
        let end = Int(message.decodedEnd)
        let hex = self.bitmapEncoding == .hex
        let wordSize = hex ? 16 : 8
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: end) { out in
            message.storage.withUnsafeReadableBytes { storage in
                let base = storage.baseAddress!
                @inline(__always) func word(at offset: Int) -> UInt64 {
                    hex ? ASCIIWords.parseHex16(base + offset)! : UInt64(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                }
                var writer = RawWriter(out)
                writer.write(UnsafeRawBufferPointer(rebasing: storage[Int(message.headerStart)..<Int(message.headerStart + message.headerLength)]))
                self.writeMTI(message.mti, into: &writer)
                var primary = word(at: bitmapsAt)
                var fieldsAt = bitmapsAt &+ wordSize
                var secondary: UInt64 = 0
                if primary & (1 << 63) != 0 {
                    secondary = word(at: fieldsAt)
                    fieldsAt &+= wordSize
                    if secondary == 0 { primary &= ~(1 << 63) }
                }
                self.writeBitmap(primary, into: &writer)
                if secondary != 0 { self.writeBitmap(secondary, into: &writer) }
                writer.write(UnsafeRawBufferPointer(rebasing: storage[fieldsAt..<end]))
                return writer.index
            }
        }
    }

    /// What one pass over the fields tells before anything is written.
    struct EncodePlan {
        var primary: UInt64 = 0
        var secondary: UInt64 = 0
        var tertiary: UInt64 = 0
        /// An upper bound of the encoded size, so that the whole message is written through one pointer.
        var bound = 0
        /// Some field has a number the spec's bitmaps cannot carry.
        var outOfRange = false
    }

    /// The bitmaps and the size bound; errors for fields the bitmaps cannot carry.
    ///
    /// The bound is exact (an upper bound of what every field can take) or, without `exact`, an estimate
    /// from the size of the message's storage, for which the encoder checks each field's room as it goes.
    @inline(__always)
    private func plan(
        _ entries: UnsafeBufferPointer<ISO8583Message.Entry>, presence: EntryStorage.Presence, errors: inout [ISO8583Error],
        exact: Bool, storageBytes: Int
    ) -> EncodePlan {
        var plan = EncodePlan()
        let layouts = UnsafePointer(self.layouts.base)
        let tertiary = self.tertiaryBitmap
        var bound = self.header.byteCount &+ 4 &+ 48
        if !exact {
            bound &+= 2 &* storageBytes &+ 8 &* entries.count
            // Fields 2–128 only and no tertiary bitmap: the bitmaps are the numbers present, and all the plan is.
            let words = presence.words
            if !tertiary, words.0 & (1 << 63) == 0, words.2 == 0 {
                plan.primary = words.0
                plan.secondary = words.1
                if plan.secondary != 0 { plan.primary |= 1 << 63 }
                plan.bound = bound
                return plan
            }
        }
        for entry in entries {
            let n = Int(entry.number)
            if exact { bound &+= Self.bound(of: entry, layouts: layouts) }
            // Bit n of the 192: word (n - 1) / 64, bit 63 - (n - 1) % 64 counting from the least significant.
            let bit = UInt64(1) &<< UInt64(truncatingIfNeeded: 63 &- ((n &- 1) & 63))
            if n >= 2, n <= 64 {
                plan.primary |= bit
            } else if n > 64, n <= 128, n != 65 || !tertiary {
                plan.secondary |= bit
            } else if n > 128, n <= 192, tertiary {
                plan.tertiary |= bit
            } else {
                plan.outOfRange = true
                errors.append(self.outOfRange(n))
            }
        }
        if plan.tertiary != 0 { plan.secondary |= 1 << 63 }
        if plan.secondary != 0 { plan.primary |= 1 << 63 }
        plan.bound = bound
        return plan
    }

    /// The most bytes the field of `entry` can take when written.
    @inline(__always)
    private static func bound(of entry: ISO8583Message.Entry, layouts: UnsafePointer<FieldLayout>) -> Int {
        let layout = layouts + min(Int(entry.number), 192)
        return Int(layout.pointee.encodeBound) &+ 2 &* (Int(entry.valueBytes) &+ Int(entry.count)) &+ Int(entry.wireLength)
    }

    @inline(never)
    private func outOfRange(_ number: Int) -> ISO8583Error {
        ISO8583Error(.unknownField, field: String(number), expected: "fields 2–\(self.maximumField)", found: "field \(number)")
    }

    /// Writes header, MTI, bitmaps and fields; collects the validation errors (the bytes are discarded then).
    private func encodeBody(
        _ message: ISO8583Message, entries: UnsafeBufferPointer<ISO8583Message.Entry>, plan: EncodePlan, inlineFields: Bool,
        storage: UnsafeRawBufferPointer, into writer: inout RawWriter, errors: inout [ISO8583Error],
        estimatedBound: Bool, overflow: inout Bool
    ) {
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
        self.writeBitmap(plan.primary, into: &writer)
        if plan.secondary != 0 { self.writeBitmap(plan.secondary, into: &writer) }

        let layouts = UnsafePointer(self.layouts.base)
        // The tertiary bitmap sits in bit 65's place: before the first field above 65.
        var tertiaryWritten = plan.tertiary == 0
        let count = entries.count
        // Without a tertiary bitmap to place or a field out of range, fields set by text go through the
        // inline loop, as many in a row as it takes.
        let inline = inlineFields && plan.tertiary == 0 && !plan.outOfRange
        var i = 0
        while i < count {
            if inline {
                Self.writeInlineFields(entries, from: &i, storage: storage.baseAddress, layouts: layouts, reuseWire: reuseWire, into: &writer)
                guard i < count else { break }
            }
            let entry = entries[i]
            let number = Int(entry.number)
            // With an estimated bound, room for this field (and a tertiary bitmap) or a second attempt.
            if estimatedBound, writer.out.count &- writer.index < Self.bound(of: entry, layouts: layouts) &+ 16 {
                overflow = true
                return
            }
            i &+= 1
            if !tertiaryWritten, number > 65 {
                self.writeTertiaryBitmap(plan.tertiary, into: &writer)
                tertiaryWritten = true
            }
            if plan.outOfRange, number > self.maximumField || number == 129 || (number == 65 && self.tertiaryBitmap) { continue }
            if reuseWire, entry.wireValid {
                // Unchanged fields that follow one another in storage are copied in one go (all of them, for
                // a decoded message nobody changed).
                var end = Int(entry.wireEnd)
                while i < count {
                    let following = entries[i]
                    guard following.wireValid, Int(following.wireStart) == end, tertiaryWritten || following.number <= 65 else { break }
                    end = Int(following.wireEnd)
                    i &+= 1
                }
                if estimatedBound, writer.out.count &- writer.index < end &- Int(entry.wireStart) &+ 16 {
                    overflow = true
                    return
                }
                writer.write(UnsafeRawBufferPointer(rebasing: storage[Int(entry.wireStart)..<end]))
                continue
            }
            // Through the pointer, so that only what this field needs is loaded.
            let layout = layouts + number
            guard layout.pointee.defined else {
                errors.append(self.undefinedField(number))
                continue
            }
            let stored = UnsafeRawBufferPointer(rebasing: storage[Int(entry.valueStart)..<Int(entry.valueStart + entry.valueBytes)])
            switch entry.representation {
            case .text where layout.pointee.encoding == .ascii && layout.pointee.contentClass != .b:
                Self.writeCharacters(number: number, layout: layout, text: stored, into: &writer, errors: &errors)
            case .text:
                self.writeField(number: number, layout: layout, text: stored, rawBytes: false, into: &writer, errors: &errors)
            case .raw:
                self.writeField(number: number, layout: layout, text: stored, rawBytes: true, into: &writer, errors: &errors)
            default:
                // Stored in another spec's wire form: convert to text first.
                var text = message.text(of: entry)
                text.withUTF8 { utf8 in
                    self.writeField(number: number, layout: layout, text: UnsafeRawBufferPointer(utf8), rawBytes: false, into: &writer, errors: &errors)
                }
            }
        }
        if !tertiaryWritten {
            self.writeTertiaryBitmap(plan.tertiary, into: &writer)
        }
    }

    /// The tertiary bitmap, out of line: it is rare, and inline its hex characters were worked out ahead of the
    /// field loop for every message.
    @inline(never)
    private func writeTertiaryBitmap(_ word: UInt64, into writer: inout RawWriter) {
        self.writeBitmap(word, into: &writer)
    }

    @inline(never)
    private func undefinedField(_ number: Int) -> ISO8583Error {
        ISO8583Error(.unknownField, field: String(number), expected: "only fields the spec \(self.name) defines", found: "field \(number)")
    }

    /// Writes the fields from `entries[index]` on that were set by text and are in an inline shape
    /// (``FieldLayout/encodeKind``): checked eight bytes at a time, then prefix, padding and value. Stops,
    /// having written nothing for it, at the first entry that is not, or whose value does not fit its field
    /// (the general path then writes it or reports why not), or that is unchanged wire bytes to copy.
    ///
    /// Out of line and free of errors, so that the loop keeps its state in registers. Every number in
    /// `entries` must be one the spec's bitmaps carry.
    @inline(never)
    private static func writeInlineFields(
        _ entries: UnsafeBufferPointer<ISO8583Message.Entry>, from index: inout Int, storage: UnsafeRawPointer?,
        layouts: UnsafePointer<FieldLayout>, reuseWire: Bool, into writer: inout RawWriter
    ) {
        guard let base = storage, let out = writer.out.baseAddress else { return }
        let capacity = writer.out.count
        var o = writer.index
        var i = index
        defer {
            writer.index = o
            index = i
        }
        let count = entries.count
        // Entries before this one are not gathered into runs (a run whose check failed goes field by field).
        var runsFrom = 0
        while i < count {
            // Through the pointer, so that only what is needed is loaded (a whole 16-byte entry would be loaded
            // as a vector and taken apart).
            let entry = entries.baseAddress.unsafelyUnwrapped + i
            guard entry.pointee.representation == .text, !(reuseWire && entry.pointee.wireValid) else { return }
            let layout = layouts + Int(entry.pointee.number)
            let kind = layout.pointee.encodeKind
            let start = Int(entry.pointee.valueStart)
            let characters = Int(entry.pointee.valueBytes)
            let length = Int(layout.pointee.length)
            let fixed = layout.pointee.prefix == .fixed
            // Fixed fields of one class whose values fill them and follow one another in storage (as they do
            // in a message set field by field in ascending order) are written as they are stored: checked and
            // copied as one run.
            if layout.pointee.encodeRunKind != .general, characters == length, i >= runsFrom {
                var j = i &+ 1
                var end = start &+ characters
                while j < count {
                    let next = entries.baseAddress.unsafelyUnwrapped + j
                    let nextLayout = layouts + Int(next.pointee.number)
                    guard next.pointee.representation == .text, !(reuseWire && next.pointee.wireValid), Int(next.pointee.valueStart) == end,
                        nextLayout.pointee.encodeRunKind == kind, next.pointee.valueBytes == nextLayout.pointee.length
                    else { break }
                    end &+= Int(next.pointee.valueBytes)
                    j &+= 1
                }
                if j > i &+ 1 {
                    let runBytes = end &- start
                    if capacity &- o >= runBytes, Self.copyRun(kind, base, at: start, count: runBytes, to: out + o, room: capacity &- o) {
                        o &+= runBytes
                        i = j
                        continue
                    }
                    // Some field of the run is not in the class: one at a time, so that the loop stops there.
                    runsFrom = j
                }
            }
            let prefixDigits = fixed ? 0 : Int(layout.pointee.prefixBytes)
            // Room for any shape written here: a prefix and the value, or the longer of value and field.
            guard capacity &- o >= prefixDigits &+ (fixed ? Swift.max(characters, length) : characters) else { return }
            // The value is checked as it is copied to its place; prefix and padding follow once it is good.
            var prefixValue = characters
            var pad = 0
            var padLeft = false
            if kind == .hex {
                // Hex text of whole bytes, as many as a fixed field holds (no padding here).
                guard characters & 1 == 0 else { return }
                if fixed {
                    guard characters &>> 1 == length else { return }
                } else {
                    if layout.pointee.unit == .bytes { prefixValue = characters &>> 1 }
                    guard prefixValue <= length else { return }
                }
            } else {
                guard characters <= length else { return }
                if fixed, characters != length {
                    let padding = layout.pointee.padding
                    guard padding != .none else { return }
                    pad = length &- characters
                    padLeft = padding == .left
                }
            }
            let valueAt = o &+ prefixDigits &+ (padLeft ? pad : 0)
            let to = out + valueAt
            let room = capacity &- valueAt
            switch kind {
            case .digits:
                guard ASCIIWords.copyChecked(base, at: start, count: characters, to: to, room: room, ASCIIWords.Digits.self) else { return }
            case .printable:
                guard ASCIIWords.copyChecked(base, at: start, count: characters, to: to, room: room, ASCIIWords.Printable.self) else { return }
            case .hex:
                guard ASCIIWords.copyChecked(base, at: start, count: characters, to: to, room: room, ASCIIWords.UpperCasedHexDigits.self) else { return }
            case .alphanumeric:
                guard ASCIIWords.copyChecked(base, at: start, count: characters, to: to, room: room, ASCIIWords.LettersDigitsSpace.self) else { return }
            case .track:
                guard ASCIIWords.copyChecked(base, at: start, count: characters, to: to, room: room, ASCIIWords.TrackCharacters.self) else { return }
            case .otherClass:
                guard layout.pointee.contentClass.firstViolationOfOtherClasses(in: base, at: start, count: characters) == nil else { return }
                to.copyMemory(from: base + start, byteCount: characters)
            case .general, .unchecked, .hexBERTLV:
                return
            }
            if prefixDigits == 2 {
                // The common LL: at most 99, tens as (v * 103) >> 10 (exact below 179), both digits in one store.
                let v = UInt16(truncatingIfNeeded: prefixValue)
                let tens = (v &* 103) &>> 10
                out.storeBytes(of: (0x3030 | tens | (v &- tens &* 10) &<< 8).littleEndian, toByteOffset: o, as: UInt16.self)
            } else if prefixDigits != 0 {
                // At most 9999 (checked against the length): 32-bit division by ten is a multiply.
                var v = UInt32(truncatingIfNeeded: prefixValue)
                var k = prefixDigits
                while k > 0 {
                    k &-= 1
                    let tens = v / 10
                    out.storeBytes(of: 0x30 &+ UInt8(truncatingIfNeeded: v &- tens &* 10), toByteOffset: o &+ k, as: UInt8.self)
                    v = tens
                }
            }
            if pad != 0 {
                let padAt = padLeft ? o &+ prefixDigits : valueAt &+ characters
                (out + padAt).initializeMemory(as: UInt8.self, repeating: layout.pointee.padCharacter, count: pad)
            }
            o = valueAt &+ characters &+ (padLeft ? 0 : pad)
            i &+= 1
        }
    }

    /// Copies a run of ``writeInlineFields(_:from:storage:layouts:reuseWire:into:)`` (`count` bytes at
    /// `base + start`, of a kind for which ``FieldLayout/FastKind/encodesInRuns``) and tells whether all are
    /// in the kind's class.
    @inline(__always)
    private static func copyRun(
        _ kind: FieldLayout.FastKind, _ base: UnsafeRawPointer, at start: Int, count: Int, to out: UnsafeMutableRawPointer, room: Int
    ) -> Bool {
        switch kind {
        case .digits: ASCIIWords.copyChecked(base, at: start, count: count, to: out, room: room, ASCIIWords.Digits.self)
        case .printable: ASCIIWords.copyChecked(base, at: start, count: count, to: out, room: room, ASCIIWords.Printable.self)
        case .alphanumeric: ASCIIWords.copyChecked(base, at: start, count: count, to: out, room: room, ASCIIWords.LettersDigitsSpace.self)
        case .track: ASCIIWords.copyChecked(base, at: start, count: count, to: out, room: room, ASCIIWords.TrackCharacters.self)
        case .general, .unchecked, .otherClass, .hex, .hexBERTLV: false
        }
    }

    /// A character field in ASCII, the common case: checked eight bytes at a time, copied, padded.
    /// (Transparent: inlined even when the optimizer splits the module into several LLVM modules, as
    /// SwiftPM's parallel release builds do.)
    @_transparent
    private static func writeCharacters(
        number: Int, layout: UnsafePointer<FieldLayout>, text value: UnsafeRawBufferPointer, into buffer: inout RawWriter,
        errors: inout [ISO8583Error]
    ) {
        let contentClass = layout.pointee.contentClass
        let bad: Int?
        switch contentClass {
        case .n: bad = ASCIIWords.firstFailing(value, ASCIIWords.Digits.self)
        case .ans: bad = ASCIIWords.firstFailing(value, ASCIIWords.Printable.self)
        default: bad = contentClass.firstViolationOfOtherClasses(in: value)
        }
        if let bad {
            errors.append(Self.characterError(number: number, layout: layout, value: value, at: bad))
            return
        }
        let length = Int(layout.pointee.length)
        var characters = value.count
        var pad = 0
        if layout.pointee.prefix == .fixed {
            guard characters <= length, layout.pointee.padding != .none || characters == length else {
                errors.append(Self.lengthError(number: number, layout: layout, characters: characters))
                return
            }
            pad = length &- characters
            characters = length
        } else {
            guard characters <= length else {
                errors.append(Self.lengthError(number: number, layout: layout, characters: characters))
                return
            }
            if layout.pointee.prefixEncoding == .ascii {
                buffer.writeDecimal(characters, digits: Int(layout.pointee.prefixBytes), zero: 0x30)
            } else {
                Self.writePrefix(characters, layout: layout, into: &buffer)
            }
        }
        if pad == 0 {
            buffer.write(value)
            return
        }
        let padByte = layout.pointee.padCharacter
        let left = layout.pointee.padding == .left
        if left { buffer.fill(padByte, count: pad) }
        buffer.write(value)
        if !left { buffer.fill(padByte, count: pad) }
    }

    @inline(never)
    static func characterError(number: Int, layout: UnsafePointer<FieldLayout>, value: UnsafeRawBufferPointer, at bad: Int) -> ISO8583Error {
        ISO8583Error(
            .invalidCharacter, field: String(number), offset: bad, expected: layout.pointee.contentClass.expectation,
            found: layout.pointee.sensitivity != .none ? "a character outside the class (masked)" : "'\(String(decoding: [value[bad]], as: UTF8.self))' at position \(bad + 1)"
        )
    }

    @inline(never)
    static func lengthError(number: Int, layout: UnsafePointer<FieldLayout>, characters: Int) -> ISO8583Error {
        let length = layout.pointee.length
        let expected = layout.pointee.prefix == .fixed ? "\(length) characters" : "at most \(length) characters"
        return ISO8583Error(.invalidLength, field: String(number), expected: expected, found: "\(characters)")
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
        if self.mtiEncoding == .ascii {
            buffer.write(word: ASCIIWords.fourDigits(mti.value))
            return
        }
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
                ASCIIWords.store(ASCIIWords.hexCharacters(UInt32(truncatingIfNeeded: word >> 32)), to: out.baseAddress!)
                ASCIIWords.store(ASCIIWords.hexCharacters(UInt32(truncatingIfNeeded: word)), to: out.baseAddress! + 8)
                return 16
            }
        }
    }

    /// Writes one field from its text (or, with `rawBytes`, the raw bytes of a `b` field); records the
    /// validation error instead of writing, if any.
    @inline(never)
    private func writeField(
        number: Int,
        layout layoutPointer: UnsafePointer<FieldLayout>,
        text value: UnsafeRawBufferPointer,
        rawBytes: Bool,
        into buffer: inout RawWriter,
        errors: inout [ISO8583Error]
    ) {
        let layout = layoutPointer.pointee
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
            Self.writePrefix(prefixValue, layout: layoutPointer, into: &buffer)
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
                        out[2 * i] = Hex.character(value[i] >> 4)
                        out[2 * i + 1] = Hex.character(value[i] & 0xF)
                    }
                    return byteCount * 2
                }
            case (_, false):
                buffer.withSpace(value.count) { out in
                    Self.copyUpperCasingHex(value, to: out)
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
            Self.writePrefix(prefixValue, layout: layoutPointer, into: &buffer)
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
            Self.writePrefix(prefixValue, layout: layoutPointer, into: &buffer)
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

    /// Copies hex text, its letters made upper-case, eight characters at a time.
    @inline(__always)
    static func copyUpperCasingHex(_ text: UnsafeRawBufferPointer, to out: UnsafeMutableRawBufferPointer) {
        let count = text.count
        guard count > 0 else { return }
        let from = text.baseAddress!
        let to = out.baseAddress!
        var i = 0
        while i &+ 8 <= count {
            ASCIIWords.store(ASCIIWords.upperCasedHex(ASCIIWords.load(from + i)), to: to + i)
            i &+= 8
        }
        while i < count {
            let c = from.load(fromByteOffset: i, as: UInt8.self)
            to.storeBytes(of: c &- 97 < 6 ? c &- 32 : c, toByteOffset: i, as: UInt8.self)
            i &+= 1
        }
    }

    @inline(__always)
    private func writePad(_ count: Int, byte: UInt8, hex: Bool, into buffer: inout RawWriter) {
        guard count > 0 else { return }
        if hex {
            for _ in 0..<count {
                buffer.write(Hex.character(byte >> 4), Hex.character(byte & 0xF))
            }
        } else {
            buffer.fill(byte, count: count)
        }
    }

    @inline(never)
    private static func writePrefix(_ value: Int, layout layoutPointer: UnsafePointer<FieldLayout>, into buffer: inout RawWriter) {
        let layout = layoutPointer.pointee
        let digits = Int(layout.prefix.rawValue)
        guard digits > 0 else { return }
        switch layout.prefixEncoding {
        case .ascii, .ebcdic037, .ebcdic1047:
            buffer.writeDecimal(value, digits: digits, zero: layout.prefixEncoding == .ascii ? 0x30 : 0xF0)
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
        let count = bytes.count
        guard count > 0 else { return }
        precondition(self.index &+ count <= self.out.count, "encoder size bound too small")
        let to = self.out.baseAddress! + self.index
        let from = bytes.baseAddress!
        // Field values are short: eight bytes at a time, the last word overlapping, beats a call to memmove.
        if count >= 8, count <= 64 {
            var i = 0
            while i &+ 8 < count {
                ASCIIWords.store(ASCIIWords.load(from + i), to: to + i)
                i &+= 8
            }
            ASCIIWords.store(ASCIIWords.load(from + (count &- 8)), to: to + (count &- 8))
        } else if count < 8 {
            if count >= 4 {
                let first = from.loadUnaligned(as: UInt32.self)
                let last = (from + (count &- 4)).loadUnaligned(as: UInt32.self)
                to.storeBytes(of: first, as: UInt32.self)
                (to + (count &- 4)).storeBytes(of: last, as: UInt32.self)
            } else {
                // 1–3 bytes: first, middle and last (some the same).
                let first = from.load(as: UInt8.self)
                let middle = from.load(fromByteOffset: count &>> 1, as: UInt8.self)
                let last = from.load(fromByteOffset: count &- 1, as: UInt8.self)
                to.storeBytes(of: first, as: UInt8.self)
                to.storeBytes(of: middle, toByteOffset: count &>> 1, as: UInt8.self)
                to.storeBytes(of: last, toByteOffset: count &- 1, as: UInt8.self)
            }
        } else {
            to.copyMemory(from: from, byteCount: count)
        }
        self.index &+= count
    }

    /// `value` as `digits` decimal digits (the last `digits` of it), from the digit `zero` up.
    @inline(__always)
    mutating func writeDecimal(_ value: Int, digits: Int, zero: UInt8) {
        precondition(self.index &+ digits <= self.out.count, "encoder size bound too small")
        let to = self.out.baseAddress! + self.index
        var v = value
        var i = digits
        while i > 0 {
            i &-= 1
            to.storeBytes(of: zero &+ UInt8(truncatingIfNeeded: v % 10), toByteOffset: i, as: UInt8.self)
            v /= 10
        }
        self.index &+= digits
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

    /// The four bytes of `word`, the lowest first.
    @inline(__always)
    mutating func write(word: UInt32) {
        precondition(self.index &+ 4 <= self.out.count, "encoder size bound too small")
        self.out.storeBytes(of: word.littleEndian, toByteOffset: self.index, as: UInt32.self)
        self.index &+= 4
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

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

    /// Whether fields in an inline shape are read by the decoder's inline loop (always, but for tests that
    /// compare it with the general path).
    var inlineFields = true

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
        var mti = MTI(value: 0)
        var entries = ISO8583Message.Entries()
        var warnings: [ISO8583Error]?
        var failure: ISO8583Error?
        var end = 0
        withUnsafeMutablePointer(to: &warnings) { warnings in
            buffer.withUnsafeReadableBytes { bytes in
                var decoder = MessageDecoder(spec: self, options: options, bytes: bytes, warnings: warnings)
                do throws(ISO8583Error) {
                    entries = try decoder.run()
                    mti = decoder.mti
                    end = decoder.end
                } catch {
                    failure = error
                }
            }
        }
        if let failure { throw failure }
        return ISO8583Message(
            mti: mti, storage: buffer, entries: entries, headerStart: 0,
            headerLength: Int32(self.header.byteCount), decodedEnd: Int32(truncatingIfNeeded: end), spec: self,
            lenientWarnings: warnings
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
///
/// The bitmaps give the number of fields before any is read, so the field table is allocated once, at its
/// final size, and filled through a pointer. The walk keeps its position in locals; everything that builds
/// an error is out of line, so the loop stays small.
struct MessageDecoder {
    /// Unowned: the decoder lives only inside a call on the spec, which keeps it alive (and this saves a
    /// retain and a release per message).
    unowned(unsafe) let spec: MessageSpec
    let layouts: UnsafePointer<FieldLayout>
    let options: DecodeOptions
    let bytes: UnsafeRawBufferPointer
    var mti = MTI(value: 0)
    /// Where what a lenient decode accepted goes (the caller's, `nil` until the first). A pointer, so that
    /// the decoder holds no reference and leaves nothing to release.
    let warnings: UnsafeMutablePointer<[ISO8583Error]?>
    /// Where the last field ends (trailing bytes a lenient decode accepts come after it).
    var end = 0

    init(spec: MessageSpec, options: DecodeOptions, bytes: UnsafeRawBufferPointer, warnings: UnsafeMutablePointer<[ISO8583Error]?>) {
        self.spec = spec
        self.layouts = UnsafePointer(spec.layouts.base)
        self.options = options
        self.bytes = bytes
        self.warnings = warnings
    }

    /// Decodes the message; `mti` is set, and warnings added, when it returns.
    @inline(__always)
    mutating func run() throws(ISO8583Error) -> ISO8583Message.Entries {
        var offset = 0
        let words: (UInt64, UInt64)
        if let preamble = self.readASCIIPreamble() {
            words = preamble.words
            offset = preamble.offset
        } else {
            words = try self.readPreamble(offset: &offset)
        }
        // One entry per bit, less the bits that announce bitmaps; with a tertiary bitmap, room for all of it.
        // (A population count is some twenty instructions here, without a POPCNT in the baseline x86-64.)
        let primaryFields = (words.0 & ~(1 << 63)).nonzeroBitCount
        var capacity = primaryFields
        if words.1 != 0 { capacity += words.1.nonzeroBitCount }
        let tertiary = self.spec.tertiaryBitmap && words.1 & (1 << 63) != 0
        if tertiary { capacity += 63 }
        var entries = ISO8583Message.Entries()
        if capacity > 0 {
            let storage = EntryStorage.make(capacity: capacity)
            var tertiaryWord: UInt64 = 0
            let count = try storage.withUnsafeMutablePointerToElements { (table) throws(ISO8583Error) -> Int in
                try self.readFields(words, primaryFields: primaryFields, offset: &offset, into: table, capacity: capacity, tertiary: &tertiaryWord)
            }
            storage.withUnsafeMutablePointerToHeader { header in
                header.pointee.count = count
                // Every bit but those that announce a bitmap is a field read.
                header.pointee.presence = EntryStorage.Presence((
                    words.0 & ~(1 << 63), tertiary ? words.1 & ~(1 << 63) : words.1, tertiaryWord
                ))
            }
            entries = ISO8583Message.Entries(storage)
        }
        self.end = offset
        if offset != self.bytes.count {
            let error = Self.trailingBytes(self.bytes, at: offset)
            guard self.options.allowTrailingBytes else { throw error }
            self.warnings.pointee = (self.warnings.pointee ?? []) + [error]
        }
        return entries
    }

    /// Header, an ASCII MTI and the bitmaps in one go, when they are all there and fine; `nil` otherwise
    /// (and for other MTI encodings), and ``readPreamble(offset:)`` reads them and reports the problem.
    @inline(__always)
    mutating func readASCIIPreamble() -> (offset: Int, words: (UInt64, UInt64))? {
        guard self.spec.mtiEncoding == .ascii, let base = self.bytes.baseAddress else { return nil }
        let count = self.bytes.count
        let start = self.spec.header.byteCount
        let hex = self.spec.bitmapEncoding == .hex
        let wordSize = hex ? 16 : 8
        guard count >= start &+ 4 &+ wordSize else { return nil }
        let mti = UInt64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: start, as: UInt32.self)))
        guard ASCIIWords.digits(mti) & 0x8080_8080 == 0x8080_8080 else { return nil }
        let d = mti &- 0x3030_3030
        var offset = start &+ 4
        var words: (UInt64, UInt64) = (0, 0)
        if hex {
            guard let primary = ASCIIWords.parseHex16(base + offset) else { return nil }
            words.0 = primary
        } else {
            words.0 = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
        offset &+= wordSize
        if words.0 & (1 << 63) != 0 {
            guard count >= offset &+ wordSize else { return nil }
            if hex {
                guard let secondary = ASCIIWords.parseHex16(base + offset) else { return nil }
                words.1 = secondary
            } else {
                words.1 = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            }
            offset &+= wordSize
        }
        self.mti = MTI(value: UInt16(truncatingIfNeeded: (d & 0xFF) &* 1000 &+ (d &>> 8 & 0xFF) &* 100 &+ (d &>> 16 & 0xFF) &* 10 &+ (d &>> 24)))
        return (offset, words)
    }

    /// Header, MTI and the primary and secondary bitmaps.
    mutating func readPreamble(offset: inout Int) throws(ISO8583Error) -> (UInt64, UInt64) {
        offset = self.spec.header.byteCount
        guard self.bytes.count >= offset else {
            throw Self.truncated(self.bytes, at: self.bytes.count, what: "a \(offset)-byte header")
        }
        offset = try self.readMTI(at: offset)
        var words: (UInt64, UInt64) = (0, 0)
        words.0 = try Self.readBitmap(self.bytes, encoding: self.spec.bitmapEncoding, at: &offset, name: "primary bitmap")
        if words.0 & (1 << 63) != 0 {
            words.1 = try Self.readBitmap(self.bytes, encoding: self.spec.bitmapEncoding, at: &offset, name: "secondary bitmap")
        }
        return words
    }

    mutating func readMTI(at offset: Int) throws(ISO8583Error) -> Int {
        let bytes = self.bytes
        var value: UInt16 = 0
        let size: Int
        switch self.spec.mtiEncoding {
        case .ascii where bytes.count >= offset &+ 4:
            // Four digits in one word.
            size = 4
            let word = UInt64(UInt32(littleEndian: bytes.baseAddress!.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            guard ASCIIWords.digits(word) & 0x8080_8080 == 0x8080_8080 else {
                throw ISO8583Error(.invalidMTI, offset: offset, expected: "four digits", found: Self.printable(bytes, offset, 4), hexWindow: Self.window(bytes, at: offset, sensitive: false))
            }
            let d = word &- 0x3030_3030
            value = UInt16(truncatingIfNeeded: (d & 0xFF) &* 1000 &+ (d &>> 8 & 0xFF) &* 100 &+ (d &>> 16 & 0xFF) &* 10 &+ (d &>> 24))
        case .ascii, .ebcdic037, .ebcdic1047:
            size = 4
            guard bytes.count >= offset + size else { throw Self.truncated(bytes, at: offset, what: "a 4-character MTI") }
            let zero: UInt8 = self.spec.mtiEncoding == .ascii ? 0x30 : 0xF0
            for i in 0..<4 {
                let d = bytes[offset &+ i] &- zero
                guard d < 10 else {
                    throw ISO8583Error(.invalidMTI, offset: offset, expected: "four digits", found: Self.printable(bytes, offset, 4), hexWindow: Self.window(bytes, at: offset, sensitive: false))
                }
                value = value &* 10 &+ UInt16(d)
            }
        case .bcd:
            size = 2
            guard bytes.count >= offset + size else { throw Self.truncated(bytes, at: offset, what: "a 2-byte BCD MTI") }
            for i in 0..<2 {
                let b = bytes[offset + i]
                guard b >> 4 <= 9, b & 0x0F <= 9 else {
                    throw ISO8583Error(.invalidMTI, offset: offset + i, expected: "BCD digits", found: Hex.encode([b]), hexWindow: Self.window(bytes, at: offset, sensitive: false))
                }
                value = value * 100 + UInt16(b >> 4) * 10 + UInt16(b & 0x0F)
            }
        }
        self.mti = MTI(value: value)
        return offset + size
    }

    static func readBitmap(_ bytes: UnsafeRawBufferPointer, encoding: MessageSpec.BitmapEncoding, at offset: inout Int, name: String) throws(ISO8583Error) -> UInt64 {
        switch encoding {
        case .binary:
            guard bytes.count >= offset + 8 else { throw Self.truncated(bytes, at: offset, what: "an 8-byte \(name)") }
            let word = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
            return word
        case .hex:
            guard bytes.count >= offset + 16 else { throw Self.truncated(bytes, at: offset, what: "a 16-character hex \(name)") }
            guard let word = ASCIIWords.parseHex16(bytes.baseAddress! + offset) else {
                throw Self.badBitmap(bytes, at: offset, name: name)
            }
            offset += 16
            return word
        }
    }

    /// Fields 2–64, then 65–128; with a tertiary bitmap (in bit 65's place), 66–128 and then 129–192.
    /// Writes an entry per field at `table`, sets `tertiaryWord` to the tertiary bitmap if there is one, and
    /// returns how many entries it wrote. `primaryFields` is the number of fields in `words.0` (its bits less
    /// the one that announces the secondary bitmap), which the caller counted to size the table.
    mutating func readFields(
        _ words: (UInt64, UInt64), primaryFields: Int, offset: inout Int, into table: UnsafeMutablePointer<ISO8583Message.Entry>,
        capacity: Int, tertiary tertiaryWord: inout UInt64
    ) throws(ISO8583Error) -> Int {
        let base = self.bytes.baseAddress!
        let end = self.bytes.count
        let layouts = self.layouts
        var position = offset
        defer { offset = position }
        var written = 0
        var word = words.0 & ~(1 << 63)
        // The bits set in `word`, kept as they are cleared (a population count is some twenty instructions
        // without a POPCNT in the baseline x86-64).
        var fields = primaryFields
        var firstNumber = 1
        var later = words.1
        var laterFirstNumber = 65
        var tertiary: UInt64 = 0
        if self.spec.tertiaryBitmap, words.1 & (1 << 63) != 0 {
            later = words.1 & ~(1 << 63)
        }
        while true {
            while word != 0 {
                // As many fields as are in an inline shape and fine, then one by the general path: a field in
                // another shape, or one with a problem, which the general path reports.
                if self.options.inlineFields {
                    var cursor = FastCursor(word: word, fields: fields, position: position, written: written)
                    Self.readInlineFields(base, end: end, layouts: layouts, firstNumber: firstNumber, into: table, capacity: capacity, cursor: &cursor)
                    word = cursor.word
                    fields = cursor.fields
                    position = cursor.position
                    written = cursor.written
                    guard word != 0 else { break }
                }
                let lz = word.leadingZeroBitCount
                word &= (UInt64.max &>> 1) &>> UInt64(lz)
                fields &-= 1
                let number = firstNumber &+ lz
                precondition(written < capacity, "field table sized from the bitmaps")
                (table + written).initialize(to: try self.readGeneralField(number, layout: layouts + number, at: &position))
                written &+= 1
            }
            // The next bitmap word, if any.
            if laterFirstNumber == 65 {
                if self.spec.tertiaryBitmap, words.1 & (1 << 63) != 0 {
                    tertiary = try Self.readBitmap(self.bytes, encoding: self.spec.bitmapEncoding, at: &position, name: "tertiary bitmap")
                    tertiaryWord = tertiary
                }
                word = later
                fields = later == 0 ? 0 : Self.bitCount(later)
                firstNumber = 65
                laterFirstNumber = 129
            } else if laterFirstNumber == 129, tertiary != 0 {
                word = tertiary
                fields = Self.bitCount(tertiary)
                firstNumber = 129
                laterFirstNumber = 0
            } else {
                return written
            }
        }
    }

    /// The bits set in a secondary or tertiary bitmap word: out of line, so that the count is made only when
    /// there is such a word (inline, it was worked out ahead for every message).
    @inline(never)
    static func bitCount(_ word: UInt64) -> Int {
        word.nonzeroBitCount
    }

    /// Where ``readInlineFields(_:end:layouts:firstNumber:into:capacity:cursor:)`` stopped: the bits of
    /// the fields still to read and how many they are, the offset of the next and the entries written.
    struct FastCursor {
        var word: UInt64
        /// `word.nonzeroBitCount`, counted once by the caller and kept as bits are cleared.
        var fields: Int
        var position: Int
        var written: Int
    }

    /// At most this many runs are gathered in one call of
    /// ``readInlineFields(_:end:layouts:firstNumber:into:capacity:cursor:)`` (the reference message has seven):
    /// the loop stops before a field that would start one more, and the next call goes on from there.
    static let maximumRuns = 16

    /// Reads the fields of one bitmap word that are in an inline shape (``FieldLayout/fastKind``) and fine,
    /// and stops, before reading it, at the first that is not: in another shape, or with anything wrong
    /// (the general path then reads it and reports the problem, or accepts it with a warning).
    ///
    /// The loop reads the framing (prefix, length, room), writes the entries and notes runs: fields that
    /// follow one another with the same class. Their contents are checked after it, a run at a time
    /// (``firstFailingRun(_:count:table:layouts:_:)``): the run's bytes, length prefixes included, in one
    /// pass (a digit is in every class so gathered; a field of the other classes, or one with BER-TLV
    /// subfields, is a run of its own). When a check fails, the reading goes back to the field with the
    /// problem. The loop calls nothing, so that it keeps its state in registers. Out of line and free of
    /// errors.
    @inline(never)
    static func readInlineFields(
        _ base: UnsafeRawPointer, end: Int, layouts: UnsafePointer<FieldLayout>, firstNumber: Int,
        into table: UnsafeMutablePointer<ISO8583Message.Entry>, capacity: Int, cursor: inout FastCursor
    ) {
        // Prefixes and short values are read as the word that ends where they end, reaching back into the
        // bytes before them: there are always eight (an MTI and a bitmap come first).
        guard cursor.position >= 8 else { return }
        // Room for an entry per bit (the table is sized from the bitmaps), checked once rather than per field.
        // Every entry written clears one bit, so the count of bits left is kept rather than counted again.
        assert(cursor.fields == cursor.word.nonzeroBitCount, "the count of the bits left")
        precondition(cursor.fields >= 0 && cursor.written &+ cursor.fields <= capacity, "field table sized from the bitmaps")
        withUnsafeTemporaryAllocation(of: Run.self, capacity: Self.maximumRuns &+ 1) { runs in
            let runs = runs.baseAddress!
            var word = cursor.word
            var position = cursor.position
            var written = cursor.written
            let wordLayouts = layouts + firstNumber
            var runCount = 0
            var runKind = FieldLayout.FastKind.general
            while word != 0 {
                let lz = word.leadingZeroBitCount
                // Through the pointer, so that only what this field needs is loaded.
                let layout = wordLayouts + lz
                let kind = layout.pointee.fastKind
                guard kind != .general else { break }
                // A fixed field's wire bytes, or minus the size of a field's length prefix: one load for either.
                let step = Int(layout.pointee.wireStep)
                var start = position
                let byteCount: Int
                if step < 0 {
                    let prefixBytes = 0 &- step
                    start &+= prefixBytes
                    guard start <= end, let value = ASCIIWords.decimal(base, endingAt: start, count: prefixBytes),
                        value <= Int(layout.pointee.length)
                    else { break }
                    byteCount = value &<< layout.pointee.countShift
                    // Hex text of whole bytes (a fixed field's length is known to be even; see `fastKind(of:)`).
                    guard byteCount & 1 == 0 || (kind != .hex && kind != .hexBERTLV) else { break }
                } else {
                    byteCount = step
                }
                // The value within the message (no overflow: both are under 2^31).
                let next = start &+ byteCount
                guard next <= end else { break }
                if kind != runKind {
                    guard runCount < Self.maximumRuns else { break }
                    (runs + runCount).initialize(to: Run(kind: kind, entry: Int32(truncatingIfNeeded: written), start: Int32(truncatingIfNeeded: position)))
                    runCount &+= 1
                    // These end their run (a run of one).
                    runKind = kind == .hexBERTLV || kind == .otherClass ? .general : kind
                }
                (table + written).initialize(to: ISO8583Message.Entry(
                    number: layout.pointee.number, representation: .text, wirePrefix: UInt8(truncatingIfNeeded: start &- position),
                    valueStart: Int32(truncatingIfNeeded: start), valueBytes: Int32(truncatingIfNeeded: byteCount),
                    count: Int32(truncatingIfNeeded: byteCount)
                ))
                written &+= 1
                position = next
                word &= (UInt64.max &>> 1) &>> UInt64(lz)
            }
            if runCount > 0 {
                // Each run ends where the next starts, the last where the loop stopped.
                (runs + runCount).initialize(to: Run(kind: .general, entry: Int32(truncatingIfNeeded: written), start: Int32(truncatingIfNeeded: position)))
                if let bad = Self.firstFailingRun(runs, count: runCount, table: table, layouts: layouts, base) {
                    // Back to the field with the problem: its bit and those after it, its place, its entry.
                    let entry = table[bad]
                    word = cursor.word & UInt64.max &>> UInt64(truncatingIfNeeded: Int(entry.number) &- firstNumber)
                    position = Int(entry.wireStart)
                    written = bad
                }
            }
            cursor = FastCursor(word: word, fields: cursor.fields &- (written &- cursor.written), position: position, written: written)
        }
    }

    /// Fields read inline that follow one another with the same class: the kind, the first one's entry and
    /// where it starts. The run ends where the next begins.
    struct Run {
        var kind: FieldLayout.FastKind
        var entry: Int32
        var start: Int32
    }

    /// The index in `table` of the first field of the `count` runs (and one more that marks their end)
    /// whose content is not in its class or structure, or `nil`.
    static func firstFailingRun(
        _ runs: UnsafePointer<Run>, count: Int, table: UnsafePointer<ISO8583Message.Entry>, layouts: UnsafePointer<FieldLayout>,
        _ base: UnsafeRawPointer
    ) -> Int? {
        for r in 0..<count {
            let run = runs[r]
            let from = Int(run.start)
            let to = Int(runs[r &+ 1].start)
            let passes = Self.runPasses(run.kind, base, at: from, count: to &- from) {
                // A run of one field, checked as it is.
                let entry = table[Int(run.entry)]
                return Self.longValuePasses(run.kind, layout: layouts + Int(entry.number), base, at: Int(entry.valueStart), count: Int(entry.valueBytes))
            }
            if passes { continue }
            // The first field of the run that fails (a run of one is that field).
            let last = Int(runs[r &+ 1].entry) &- 1
            for index in Int(run.entry)..<last {
                let entry = table[index]
                if !Self.runPasses(run.kind, base, at: Int(entry.wireStart), count: Int(entry.wireLength), single: { true }) { return index }
            }
            return last
        }
        return nil
    }

    /// Whether the `count` bytes at `base + from` (a run of fields of `kind` gathered by
    /// ``readInlineFields(_:end:layouts:firstNumber:into:capacity:cursor:)``, or one of its fields, length
    /// prefixes included) are all in the run's class; for a run of one field of a kind that is checked as
    /// a value (``FieldLayout/FastKind/otherClass``, ``FieldLayout/FastKind/hexBERTLV``), what `single` says.
    @inline(__always)
    static func runPasses(_ kind: FieldLayout.FastKind, _ base: UnsafeRawPointer, at from: Int, count: Int, single: () -> Bool) -> Bool {
        switch kind {
        case .digits: ASCIIWords.allPassAfterWord(in: base, at: from, count: count, ASCIIWords.Digits.self)
        case .printable: ASCIIWords.allPassAfterWord(in: base, at: from, count: count, ASCIIWords.Printable.self)
        case .alphanumeric: ASCIIWords.allPassAfterWord(in: base, at: from, count: count, ASCIIWords.LettersDigitsSpace.self)
        case .track: ASCIIWords.allPassAfterWord(in: base, at: from, count: count, ASCIIWords.TrackCharacters.self)
        case .hex: ASCIIWords.allPassAfterWord(in: base, at: from, count: count, ASCIIWords.HexDigits.self)
        case .otherClass, .hexBERTLV: single()
        case .unchecked, .general: true
        }
    }

    /// The check of a field of ``readInlineFields(_:end:layouts:firstNumber:into:capacity:cursor:)`` that
    /// is a run of its own: one of the other classes, or one with BER-TLV subfields.
    @inline(never)
    static func longValuePasses(
        _ kind: FieldLayout.FastKind, layout: UnsafePointer<FieldLayout>, _ base: UnsafeRawPointer, at start: Int, count: Int
    ) -> Bool {
        switch kind {
        case .digits: return ASCIIWords.allPass(in: base, at: start, count: count, ASCIIWords.Digits.self)
        case .printable: return ASCIIWords.allPass(in: base, at: start, count: count, ASCIIWords.Printable.self)
        case .alphanumeric: return ASCIIWords.allPass(in: base, at: start, count: count, ASCIIWords.LettersDigitsSpace.self)
        case .track: return ASCIIWords.allPass(in: base, at: start, count: count, ASCIIWords.TrackCharacters.self)
        case .otherClass: return layout.pointee.contentClass.firstViolationOfOtherClasses(in: base, at: start, count: count) == nil
        case .hex: return ASCIIWords.allPass(in: base, at: start, count: count, ASCIIWords.HexDigits.self)
        case .hexBERTLV:
            return BERTLV.isWellFormed(hexText: UnsafeRawBufferPointer(start: base + start, count: count))
        case .unchecked, .general:
            return true
        }
    }

    /// One field of any shape (and the error for a field the spec does not define); advances `position`
    /// past it and returns its entry.
    @inline(never)
    mutating func readGeneralField(_ number: Int, layout: UnsafePointer<FieldLayout>, at position: inout Int) throws(ISO8583Error) -> ISO8583Message.Entry {
        let base = self.bytes.baseAddress!
        let end = self.bytes.count
        guard layout.pointee.defined else { throw Self.unknownField(self.bytes, number, spec: self.spec, at: position) }
        let start = position
        let prefix = layout.pointee.prefix
        var count = Int(layout.pointee.length)
        if prefix != .fixed {
            let prefixBytes = Int(layout.pointee.prefixBytes)
            guard end &- position >= prefixBytes else { throw Self.missingPrefix(self.bytes, number, layout: layout, at: position) }
            if layout.pointee.prefixEncoding == .ascii {
                count = 0
                for i in 0..<prefixBytes {
                    let d = base.load(fromByteOffset: position &+ i, as: UInt8.self) &- 48
                    guard d < 10 else { throw Self.badPrefix(self.bytes, number, layout: layout, at: position) }
                    count = count &* 10 &+ Int(d)
                }
            } else {
                count = try Self.readPrefix(self.bytes, at: position, layout: layout, number: number)
            }
            guard count <= Int(layout.pointee.length) else { throw Self.overLength(self.bytes, number, count, layout: layout, at: position) }
            position &+= prefixBytes
        }

        // Wire bytes, stored representation and logical count by encoding.
        let encoding = layout.pointee.encoding
        var shape = (bytes: count, representation: ISO8583Message.Representation.text, count: count)
        if encoding != .ascii { shape = Self.shape(of: layout, count: count) }
        guard end &- position >= shape.bytes else {
            throw Self.missingContent(self.bytes, number, shape.bytes, layout: layout, at: position)
        }
        let content = UnsafeRawBufferPointer(start: base + position, count: shape.bytes)
        if layout.pointee.validation != .none {
            if encoding == .ascii, layout.pointee.subfieldKind == 0 {
                let contentClass = layout.pointee.contentClass
                let bad: Int?
                switch contentClass {
                case .n: bad = ASCIIWords.firstFailing(content, ASCIIWords.Digits.self)
                case .ans: bad = ASCIIWords.firstFailing(content, ASCIIWords.Printable.self)
                default: bad = contentClass.firstViolationOfOtherClasses(in: content)
                }
                if let bad {
                    try self.reject(.invalidCharacter, at: bad, expected: contentClass.expectation, content: content, layout: layout, number: number, offset: position)
                }
            } else {
                try self.validate(content, layout: layout, number: number, offset: position, representation: shape.representation)
            }
        }
        position &+= shape.bytes
        // The prefix is at most 4 bytes (``FieldLayout/prefixBytes``): never ``ISO8583Message/Entry/notOnWire``.
        return ISO8583Message.Entry(
            number: UInt16(truncatingIfNeeded: number), representation: shape.representation,
            wirePrefix: UInt8(truncatingIfNeeded: position &- shape.bytes &- start),
            valueStart: Int32(truncatingIfNeeded: position &- shape.bytes), valueBytes: Int32(truncatingIfNeeded: shape.bytes),
            count: Int32(truncatingIfNeeded: shape.count)
        )
    }

    /// The value of a length prefix in an encoding other than ASCII.
    @inline(never)
    static func readPrefix(_ bytes: UnsafeRawBufferPointer, at offset: Int, layout layoutPointer: UnsafePointer<FieldLayout>, number: Int) throws(ISO8583Error) -> Int {
        let layout = layoutPointer.pointee
        var value = 0
        switch layout.prefixEncoding {
        case .ascii:
            for i in 0..<Int(layout.prefix.rawValue) {
                let d = bytes[offset &+ i] &- 48
                guard d < 10 else { throw Self.badPrefix(bytes, number, layout: layoutPointer, at: offset) }
                value = value &* 10 &+ Int(d)
            }
        case .ebcdic037, .ebcdic1047:
            for i in 0..<Int(layout.prefix.rawValue) {
                let d = bytes[offset &+ i] &- 0xF0
                guard d < 10 else { throw Self.badPrefix(bytes, number, layout: layoutPointer, at: offset) }
                value = value &* 10 &+ Int(d)
            }
        case .bcd:
            for i in 0..<Int(layout.prefixBytes) {
                let b = bytes[offset &+ i]
                guard b >> 4 <= 9, b & 0x0F <= 9 else { throw Self.badPrefix(bytes, number, layout: layoutPointer, at: offset) }
                value = value &* 100 &+ Int(b >> 4) &* 10 &+ Int(b & 0x0F)
            }
        case .binary:
            for i in 0..<Int(layout.prefixBytes) { value = value << 8 | Int(bytes[offset &+ i]) }
        }
        return value
    }

    /// Wire bytes, stored representation and logical count (digits, characters or bytes) of a field of
    /// `count` units in an encoding other than ASCII.
    @inline(never)
    static func shape(of layoutPointer: UnsafePointer<FieldLayout>, count: Int) -> (bytes: Int, representation: ISO8583Message.Representation, count: Int) {
        let layout = layoutPointer.pointee
        switch layout.encoding {
        case .ascii:
            return (count, .text, count)
        case .ebcdic037:
            return (count, .ebcdic037, count)
        case .ebcdic1047:
            return (count, .ebcdic1047, count)
        case .bcd:
            if layout.contentClass == .xn {
                // One sign character, then the digits packed.
                let digits = layout.unit == .bytes ? (count - 1) * 2 : count - 1
                return (1 + (max(digits, 0) + 1) / 2, .signedBCD, digits + 1)
            }
            let digits = layout.unit == .bytes ? count * 2 : count
            return ((digits + 1) / 2, layout.padding == .right ? .bcdRightPadded : .bcdLeftPadded, digits)
        case .binary:
            return (count, .raw, count)
        case .hex:
            let bytes = layout.unit == .characters ? count : count * 2
            return (bytes, .text, bytes)
        }
    }

    /// Content checks for every field but plain ASCII ones: hex, EBCDIC and BCD content, and the structure
    /// of TLV subfields.
    @inline(never)
    mutating func validate(
        _ content: UnsafeRawBufferPointer, layout layoutPointer: UnsafePointer<FieldLayout>, number: Int, offset: Int,
        representation: ISO8583Message.Representation
    ) throws(ISO8583Error) {
        let layout = layoutPointer.pointee
        var violation: (index: Int, code: ISO8583Error.Code, expected: String)?
        switch layout.encoding {
        case .ascii:
            if let i = layout.contentClass.firstViolation(in: content) {
                violation = (i, .invalidCharacter, layout.contentClass.expectation)
            }
        case .hex:
            if content.count % 2 == 1 {
                violation = (content.count, .invalidLength, "an even number of hex characters")
            } else if let i = Hex.firstInvalid(content) {
                if layout.subfieldKind == 1, let problem = Subfields.validate(content, layout: layout) {
                    // A TLV structure that a non-hex character breaks is reported as a broken structure.
                    violation = (problem.offset, .invalidTLV, problem.expected)
                } else {
                    violation = (i, .invalidCharacter, "hexadecimal digits")
                }
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
            if let problem = Subfields.validate(content, layout: layout, hexChecked: layout.encoding == .hex) {
                violation = (problem.offset, .invalidTLV, problem.expected)
            }
        }
        guard let (index, code, expected) = violation else { return }
        try self.reject(code, at: index, expected: expected, content: content, layout: layoutPointer, number: number, offset: offset)
    }

    /// Throws the error for a content violation at `index` of `content`, or records it as a warning when
    /// decoding is lenient and the violation is one that may be downgraded.
    @inline(never)
    mutating func reject(
        _ code: ISO8583Error.Code, at index: Int, expected: String, content: UnsafeRawBufferPointer, layout layoutPointer: UnsafePointer<FieldLayout>,
        number: Int, offset: Int
    ) throws(ISO8583Error) {
        let layout = layoutPointer.pointee
        let sensitive = layout.sensitivity != .none
        let found: String
        if sensitive {
            found = "a value that does not fit (masked)"
        } else if index < content.count {
            found = "'\(Self.printable(content, index, 1))' at position \(index + 1)"
        } else {
            found = "\(content.count) characters"
        }
        let error = ISO8583Error(
            code, field: String(number), offset: offset + min(index, content.count), expected: expected, found: found,
            hexWindow: Self.window(self.bytes, at: offset + min(index, content.count), sensitive: sensitive)
        )
        // Only content-class problems may be downgraded; a broken TLV or BCD nibble breaks the value.
        if code == .invalidCharacter, self.options.contentValidation == .lenient || layout.validation == .lenient {
            self.warnings.pointee = (self.warnings.pointee ?? []) + [error]
        } else {
            throw error
        }
    }

    // MARK: Errors, built out of line

    @inline(never)
    static func truncated(_ bytes: UnsafeRawBufferPointer, at offset: Int, what: String) -> ISO8583Error {
        ISO8583Error(.truncated, offset: offset, expected: what, found: "\(max(bytes.count - offset, 0)) bytes left", hexWindow: Self.window(bytes, at: offset, sensitive: false))
    }

    @inline(never)
    static func trailingBytes(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> ISO8583Error {
        ISO8583Error(
            .trailingBytes, offset: offset, expected: "the message to end after the last field",
            found: "\(bytes.count - offset) more bytes", hexWindow: Self.window(bytes, at: offset, sensitive: false)
        )
    }

    @inline(never)
    static func badBitmap(_ bytes: UnsafeRawBufferPointer, at offset: Int, name: String) -> ISO8583Error {
        let bad = offset + (Hex.firstInvalid(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + 16])) ?? 0)
        return ISO8583Error(
            .invalidCharacter, field: "1", offset: bad, expected: "hex digits in the \(name)",
            found: Self.printable(bytes, bad, 1), hexWindow: Self.window(bytes, at: bad, sensitive: false)
        )
    }

    @inline(never)
    static func unknownField(_ bytes: UnsafeRawBufferPointer, _ number: Int, spec: MessageSpec, at offset: Int) -> ISO8583Error {
        ISO8583Error(
            .unknownField, field: String(number), offset: offset, expected: "only fields the spec \(spec.name) defines",
            found: "bit \(number) set", hexWindow: Self.window(bytes, at: offset, sensitive: false)
        )
    }

    @inline(never)
    static func missingPrefix(_ bytes: UnsafeRawBufferPointer, _ number: Int, layout layoutPointer: UnsafePointer<FieldLayout>, at offset: Int) -> ISO8583Error {
        let layout = layoutPointer.pointee
        return ISO8583Error(
            .missingFieldBytes, field: String(number), offset: offset, expected: "a \(layout.prefixBytes)-byte \(layout.prefix.specName) length prefix",
            found: "\(bytes.count - offset) bytes left", hexWindow: Self.window(bytes, at: offset, sensitive: false)
        )
    }

    @inline(never)
    static func badPrefix(_ bytes: UnsafeRawBufferPointer, _ number: Int, layout layoutPointer: UnsafePointer<FieldLayout>, at offset: Int) -> ISO8583Error {
        let layout = layoutPointer.pointee
        let size = Int(layout.prefixBytes)
        let expected: String
        switch layout.prefixEncoding {
        case .ascii: expected = "\(layout.prefix.rawValue) ASCII digits"
        case .ebcdic037, .ebcdic1047: expected = "\(layout.prefix.rawValue) EBCDIC digits"
        case .bcd, .binary: expected = "a BCD length"
        }
        return ISO8583Error(
            .invalidLengthPrefix, field: String(number), offset: offset, expected: expected,
            found: layout.prefixEncoding == .ascii ? "\"\(Self.printable(bytes, offset, size))\"" : Hex.encode(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + size])),
            hexWindow: Self.window(bytes, at: offset, sensitive: false)
        )
    }

    @inline(never)
    static func overLength(_ bytes: UnsafeRawBufferPointer, _ number: Int, _ count: Int, layout layoutPointer: UnsafePointer<FieldLayout>, at offset: Int) -> ISO8583Error {
        let layout = layoutPointer.pointee
        return ISO8583Error(
            .invalidLength, field: String(number), offset: offset, expected: "at most \(layout.length) \(layout.unit.specName)",
            found: String(count), hexWindow: Self.window(bytes, at: offset, sensitive: false)
        )
    }

    @inline(never)
    static func missingContent(_ bytes: UnsafeRawBufferPointer, _ number: Int, _ contentBytes: Int, layout layoutPointer: UnsafePointer<FieldLayout>, at offset: Int) -> ISO8583Error {
        let layout = layoutPointer.pointee
        return ISO8583Error(
            .missingFieldBytes, field: String(number), offset: offset, expected: "\(contentBytes) bytes of field \(number)",
            found: "\(bytes.count - offset) bytes left", hexWindow: Self.window(bytes, at: offset, sensitive: layout.sensitivity != .none)
        )
    }

    /// Printable text of `count` bytes at `offset`, non-printable bytes as `\xNN`.
    static func printable(_ bytes: UnsafeRawBufferPointer, _ offset: Int, _ count: Int) -> String {
        var text = ""
        for i in offset..<min(offset + count, bytes.count) {
            let b = bytes[i]
            if b >= 0x20 && b < 0x7F { text.unicodeScalars.append(Unicode.Scalar(b)) } else { text += "\\x" + Hex.encode([b]) }
        }
        return text
    }

    /// Up to 16 bytes around `offset` as hex, the byte at `offset` in brackets; all masked when sensitive.
    static func window(_ bytes: UnsafeRawBufferPointer, at offset: Int, sensitive: Bool) -> String {
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

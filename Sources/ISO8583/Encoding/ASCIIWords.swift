/// Eight ASCII bytes at a time in one `UInt64` (SIMD within a register), for the codec's inner loops:
/// content-class checks, hex bitmaps and upper-casing hex text.
///
/// A word holds bytes in memory order, the first byte in the lowest bits. Class tests return a mask with
/// the high bit of every byte that passes set, so the first failing byte of a word is
/// `(~mask & highs).trailingZeroBitCount / 8`.
@usableFromInline
enum ASCIIWords {
    @usableFromInline static let ones: UInt64 = 0x0101_0101_0101_0101
    @usableFromInline static let highs: UInt64 = 0x8080_8080_8080_8080

    /// Eight bytes at `pointer`, the first in the lowest bits.
    @inlinable @inline(__always)
    static func load(_ pointer: UnsafeRawPointer) -> UInt64 {
        UInt64(littleEndian: pointer.loadUnaligned(as: UInt64.self))
    }

    /// `count` (0–7) bytes at `pointer`, the first in the lowest bits, zero above them; reads no further.
    @inlinable @inline(__always)
    static func load(_ pointer: UnsafeRawPointer, count: Int) -> UInt64 {
        var word: UInt64 = 0
        var shift: UInt64 = 0
        var p = pointer
        if count & 4 != 0 {
            word = UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
            p += 4
            shift = 32
        }
        if count & 2 != 0 {
            word |= UInt64(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))) << shift
            p += 2
            shift &+= 16
        }
        if count & 1 != 0 {
            word |= UInt64(p.load(as: UInt8.self)) << shift
        }
        return word
    }

    /// Stores the eight bytes of `word` at `pointer`, the lowest bits first.
    @inlinable @inline(__always)
    static func store(_ word: UInt64, to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: word.littleEndian, as: UInt64.self)
    }

    /// High bit set in every byte with a value in `low...high` (both at most 0x7F).
    @inlinable @inline(__always)
    static func inRange(_ word: UInt64, _ low: UInt8, _ high: UInt8) -> UInt64 {
        // On the low seven bits no byte carries into the next: x + (0x80 - low) reaches 0x80 exactly when
        // x >= low, and x + (0x7F - high) when x > high. Bytes with the top bit set are in no range.
        let low7 = word & ~Self.highs
        let atLeastLow = low7 &+ Self.ones &* UInt64(0x80 &- low)
        let aboveHigh = low7 &+ Self.ones &* UInt64(0x7F &- high)
        return atLeastLow & ~aboveHigh & ~word & Self.highs
    }

    /// High bit set in every byte equal to `byte` (at most 0x7F).
    @inlinable @inline(__always)
    static func equal(_ word: UInt64, _ byte: UInt8) -> UInt64 {
        Self.inRange(word, byte, byte)
    }

    @inlinable @inline(__always)
    static func digits(_ word: UInt64) -> UInt64 { Self.inRange(word, 0x30, 0x39) }

    @inlinable @inline(__always)
    static func letters(_ word: UInt64) -> UInt64 { Self.inRange(word | Self.ones &* 0x20, 0x61, 0x7A) }

    @inlinable @inline(__always)
    static func printable(_ word: UInt64) -> UInt64 { Self.inRange(word, 0x20, 0x7E) }

    @inlinable @inline(__always)
    static func hexDigits(_ word: UInt64) -> UInt64 {
        Self.digits(word) | Self.inRange(word | Self.ones &* 0x20, 0x61, 0x66)
    }

    /// The index of the first byte of `text` outside `Class`, or `nil` when all are inside.
    ///
    /// Generic rather than taking the test as a closure: each class gets its own copy with the test
    /// inlined, and no closure context is built at the call.
    @inlinable @inline(__always)
    static func firstFailing<Class: WordClass>(_ text: UnsafeRawBufferPointer, _: Class.Type) -> Int? {
        let count = text.count
        guard count > 0, let base = text.baseAddress else { return nil }
        var i = 0
        while i &+ 8 <= count {
            let failing = ~Class.passes(Self.load(base + i)) & Self.highs
            if failing != 0 { return i &+ failing.trailingZeroBitCount &>> 3 }
            i &+= 8
        }
        guard i < count else { return nil }
        if count >= 8 {
            // The last eight bytes, overlapping bytes already found good.
            let failing = ~Class.passes(Self.load(base + (count &- 8))) & Self.highs
            return failing == 0 ? nil : count &- 8 &+ failing.trailingZeroBitCount &>> 3
        }
        let present = Self.highs &>> UInt64((8 &- count) &* 8)
        let failing = ~Class.passes(Self.load(base, count: count)) & present
        return failing == 0 ? nil : failing.trailingZeroBitCount &>> 3
    }

    /// The index of the first of the `count` bytes at `base + start` outside `Class`, or `nil` when all are
    /// inside, for a value inside a larger buffer that starts at `base`.
    ///
    /// A value shorter than eight bytes is read as the one word that ends where it ends, which reaches back
    /// into the bytes before it: one load instead of up to three. That needs `start + count >= 8`, which
    /// holds for every field of a message (an MTI and a bitmap come first); otherwise it reads as
    /// ``firstFailing(_:_:)`` does. It reads nothing outside `base + max(0, start + count - 8) ..< base + start + count`.
    @inlinable @inline(__always)
    static func firstFailing<Class: WordClass>(in base: UnsafeRawPointer, at start: Int, count: Int, _: Class.Type) -> Int? {
        let end = start &+ count
        guard count < 8, count > 0, end >= 8 else {
            return Self.firstFailing(UnsafeRawBufferPointer(start: base + start, count: count), Class.self)
        }
        let shift = UInt64(truncatingIfNeeded: (8 &- count) &<< 3)
        let failing = ~Class.passes(Self.load(base + (end &- 8)) &>> shift) & (Self.highs &>> shift)
        return failing == 0 ? nil : failing.trailingZeroBitCount &>> 3
    }

    /// Copies the `count` bytes at `base + start` to `out`, each as `Class.stored` makes it, and tells
    /// whether all are in `Class`; when one is not, what was written is to be ignored.
    ///
    /// The check and the copy in one pass: sixteen bytes at a time for more than eight
    /// (``copyCheckedLanes(_:count:to:_:)``), else eight. A value shorter than eight bytes is read as
    /// ``firstFailing(in:at:count:_:)`` reads it and written as one word, so `out` must have room for
    /// eight bytes then (`room`); the bytes after the value's are garbage for the caller to write over or
    /// leave past its end. Without that room, or a word to read, it goes byte by byte.
    @inlinable @inline(__always)
    static func copyChecked<Class: WordClass>(
        _ base: UnsafeRawPointer, at start: Int, count: Int, to out: UnsafeMutableRawPointer, room: Int, _: Class.Type
    ) -> Bool {
        if count > 8 { return Self.copyCheckedLanes(base + start, count: count, to: out, Class.self) }
        if count == 8 {
            let word = Self.load(base + start)
            guard Class.passes(word) & Self.highs == Self.highs else { return false }
            Self.store(Class.stored(word), to: out)
            return true
        }
        let end = start &+ count
        guard count > 0 else { return true }
        guard end >= 8, room >= 8 else {
            for k in 0..<count {
                let byte = UInt64(base.load(fromByteOffset: start &+ k, as: UInt8.self))
                guard Class.passes(byte) & 0x80 != 0 else { return false }
                out.storeBytes(of: UInt8(truncatingIfNeeded: Class.stored(byte)), toByteOffset: k, as: UInt8.self)
            }
            return true
        }
        let shift = UInt64(truncatingIfNeeded: (8 &- count) &<< 3)
        let word = Self.load(base + (end &- 8)) &>> shift
        guard ~Class.passes(word) & (Self.highs &>> shift) == 0 else { return false }
        Self.store(Class.stored(word), to: out)
        return true
    }

    /// The value of the `count` (1–4) ASCII digits that end at `base + end`, or `nil` if one is not a digit.
    /// Reads the four bytes before `end`, which must be at least 4.
    @inlinable @inline(__always)
    static func decimal(_ base: UnsafeRawPointer, endingAt end: Int, count: Int) -> Int? {
        if count == 2 {
            // The common LL: two bytes, no masking.
            let pair = UInt64(UInt16(littleEndian: (base + (end &- 2)).loadUnaligned(as: UInt16.self)))
            guard Self.digits(pair) == 0x8080 else { return nil }
            return Int(truncatingIfNeeded: (pair & 0x0F) &* 10 &+ (pair &>> 8 & 0x0F))
        }
        let word = UInt32(littleEndian: (base + (end &- 4)).loadUnaligned(as: UInt32.self))
        // The bytes before the digits (the low ones: the first in memory) count as '0's.
        let keep = UInt32.max &<< UInt32(truncatingIfNeeded: (4 &- count) &<< 3)
        let text = (word & keep) | (0x3030_3030 & ~keep)
        guard Self.digits(UInt64(text)) == 0x8080_8080 else { return nil }
        // Digit values, the first in the low byte; pairs of them, then the pairs.
        let d = text &- 0x3030_3030
        let pairs = (d & 0x000F_000F) &* 10 &+ ((d &>> 8) & 0x000F_000F)
        return Int(truncatingIfNeeded: (pairs & 0xFFFF) &* 100 &+ (pairs &>> 16))
    }

    /// `value` (under 10,000) as four ASCII digits, the first in the low byte (memory order).
    @inlinable @inline(__always)
    static func fourDigits(_ value: UInt16) -> UInt32 {
        let v = UInt32(value)
        // Hundreds and the rest, then the tens of each (divisions as multiply and shift, exact below 10,000
        // and 100).
        let high = (v &* 5243) &>> 19
        let low = v &- high &* 100
        let highTens = (high &* 103) &>> 10
        let lowTens = (low &* 103) &>> 10
        return 0x3030_3030 | highTens | (high &- highTens &* 10) &<< 8 | lowTens &<< 16 | (low &- lowTens &* 10) &<< 24
    }

    /// The value of 16 hex characters at `pointer`, or `nil` if one is not a hex digit: checked and turned
    /// into bytes as one 16-byte vector (``hexBytes(_:count:to:)``), the first character the most significant.
    @inlinable @inline(__always)
    static func parseHex16(_ pointer: UnsafeRawPointer) -> UInt64? {
        var bytes: UInt64 = 0
        let passes = withUnsafeMutableBytes(of: &bytes) { Self.hexBytes(pointer, count: 16, to: $0.baseAddress!) }
        guard passes else { return nil }
        return UInt64(bigEndian: bytes)
    }

    /// Eight upper-case hex characters of `value`, the most significant first (as a word in memory order).
    @inlinable @inline(__always)
    static func hexCharacters(_ value: UInt32) -> UInt64 {
        var v = UInt64(value)
        v = (v | v &<< 16) & 0x0000_FFFF_0000_FFFF
        v = (v | v &<< 8) & 0x00FF_00FF_00FF_00FF
        v = (v | v &<< 4) & 0x0F0F_0F0F_0F0F_0F0F
        v = v.byteSwapped
        // 10–15 become 'A'–'F': 0x30 + n, plus 7 where n + 0x76 reaches 0x80.
        let letters = ((v &+ Self.ones &* 0x76) & Self.highs) &>> 7
        return v &+ Self.ones &* 0x30 &+ letters &* 7
    }

    /// `word` with the lower-case hex letters a–f made upper-case.
    @inlinable @inline(__always)
    static func upperCasedHex(_ word: UInt64) -> UInt64 {
        word &- (Self.inRange(word, 0x61, 0x66) &>> 2)
    }
}

/// A set of ASCII bytes tested eight at a time: `passes` sets the high bit of every byte of `word` in the
/// set (and may set it for no byte that is not). Every byte is tested on its own: no byte's result depends
/// on its neighbours.
@usableFromInline
protocol WordClass {
    static func passes(_ word: UInt64) -> UInt64
    /// What ``ASCIIWords/copyChecked(_:at:count:to:room:_:)`` writes for a word of bytes in the class.
    static func stored(_ word: UInt64) -> UInt64
    /// The same test on sixteen bytes: the high bit set in every byte *not* in the set.
    static func failing(_ lanes: SIMD16<UInt8>) -> SIMD16<UInt8>
    /// ``stored(_:)`` on sixteen bytes.
    static func stored(_ lanes: SIMD16<UInt8>) -> SIMD16<UInt8>
}

extension WordClass {
    @inlinable @inline(__always)
    static func stored(_ word: UInt64) -> UInt64 { word }
}

extension ASCIIWords {
    /// `0`–`9` (class `n`).
    @usableFromInline enum Digits: WordClass {
        @inlinable @inline(__always) static func passes(_ word: UInt64) -> UInt64 { ASCIIWords.digits(word) }
    }

    /// Space to `~` (class `ans`).
    @usableFromInline enum Printable: WordClass {
        @inlinable @inline(__always) static func passes(_ word: UInt64) -> UInt64 { ASCIIWords.printable(word) }
    }

    /// Letters and space (class `a`).
    @usableFromInline enum LettersSpace: WordClass {
        @inlinable @inline(__always) static func passes(_ word: UInt64) -> UInt64 {
            ASCIIWords.letters(word) | ASCIIWords.equal(word, 0x20)
        }
    }

    /// Letters, digits and space (class `an`).
    @usableFromInline enum LettersDigitsSpace: WordClass {
        @inlinable @inline(__always) static func passes(_ word: UInt64) -> UInt64 {
            ASCIIWords.letters(word) | ASCIIWords.digits(word) | ASCIIWords.equal(word, 0x20)
        }
    }

    /// Printable but not digits (class `as`).
    @usableFromInline enum PrintableNotDigits: WordClass {
        @inlinable @inline(__always) static func passes(_ word: UInt64) -> UInt64 {
            ASCIIWords.printable(word) & ~ASCIIWords.digits(word)
        }
    }

    /// Printable but not letters (class `ns`).
    @usableFromInline enum PrintableNotLetters: WordClass {
        @inlinable @inline(__always) static func passes(_ word: UInt64) -> UInt64 {
            ASCIIWords.printable(word) & ~ASCIIWords.letters(word)
        }
    }

    /// Digits, `=` and `D` (class `z`, track data).
    @usableFromInline enum TrackCharacters: WordClass {
        @inlinable @inline(__always) static func passes(_ word: UInt64) -> UInt64 {
            ASCIIWords.digits(word) | ASCIIWords.equal(word, UInt8(ascii: "=")) | ASCIIWords.equal(word, UInt8(ascii: "D"))
        }
    }

    /// `0`–`9`, `A`–`F` and `a`–`f`.
    @usableFromInline enum HexDigits: WordClass {
        @inlinable @inline(__always) static func passes(_ word: UInt64) -> UInt64 { ASCIIWords.hexDigits(word) }
    }

    /// Hex digits, copied with `a`–`f` made upper-case.
    @usableFromInline enum UpperCasedHexDigits: WordClass {
        @inlinable @inline(__always) static func passes(_ word: UInt64) -> UInt64 { ASCIIWords.hexDigits(word) }
        @inlinable @inline(__always) static func stored(_ word: UInt64) -> UInt64 {
            // Clearing bit 5 of the letters (the test `passes` makes too) leaves `A`–`F` and turns `a`–`f` into them.
            word & ~(ASCIIWords.inRange(word | ASCIIWords.ones &* 0x20, 0x61, 0x66) &>> 2)
        }
    }
}

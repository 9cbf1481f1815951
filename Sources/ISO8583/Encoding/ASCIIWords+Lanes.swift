/// Sixteen ASCII bytes at a time in one `SIMD16<UInt8>` (a vector register), for values longer than a
/// word: DE 35, DE 43, DE 55 and the like.
///
/// Only the wrapping arithmetic and bitwise operators are used: they compile to single vector
/// instructions, where the SIMD comparisons (`.<`, `any`) compile to a loop over the lanes. A class test
/// returns a vector with the high bit set in every byte that fails (the other bits are garbage).
extension ASCIIWords {
    @usableFromInline typealias Lanes = SIMD16<UInt8>

    /// High bit set in every byte outside `low...high`.
    @inlinable @inline(__always)
    static func outside(_ lanes: Lanes, _ low: UInt8, _ high: UInt8) -> Lanes {
        // t = x - low wraps below `low` into the top half; t + (0x80 - width) reaches the top half exactly
        // when t >= width. Either high bit means outside.
        let t = lanes &- Lanes(repeating: low)
        return t | (t &+ Lanes(repeating: 0x7F &- (high &- low)))
    }

    /// High bit set in every byte that is not a letter.
    @inlinable @inline(__always)
    static func notLetter(_ lanes: Lanes) -> Lanes {
        Self.outside(lanes | Lanes(repeating: 0x20), 0x61, 0x7A)
    }

    /// Whether no byte of `failing` has its high bit set.
    @inlinable @inline(__always)
    static func noneFailing(_ failing: Lanes) -> Bool {
        let words = unsafeBitCast(failing, to: SIMD2<UInt64>.self)
        return (words[0] | words[1]) & Self.highs == 0
    }

    /// The 8–16 bytes at `pointer`: the first eight and the last eight (overlapping when fewer than 16).
    @inlinable @inline(__always)
    static func lanes(_ pointer: UnsafeRawPointer, count: Int) -> Lanes {
        unsafeBitCast(SIMD2(Self.load(pointer), Self.load(pointer + (count &- 8))), to: Lanes.self)
    }

    /// Whether every one of the `count` bytes at `base + start` is in `Class`: what
    /// `firstFailing(in:at:count:_:) == nil` says (and it reads as that does), sixteen bytes at a time once
    /// there are more than eight.
    @inlinable @inline(__always)
    static func allPass<Class: WordClass>(in base: UnsafeRawPointer, at start: Int, count: Int, _: Class.Type) -> Bool {
        guard count > 8 else { return Self.firstFailing(in: base, at: start, count: count, Class.self) == nil }
        let from = base + start
        if count <= 16 { return Self.noneFailing(Class.failing(Self.lanes(from, count: count))) }
        return Self.allPassLanes(from, count: count, Class.self)
    }

    /// Whether every one of the `count` (more than 16) bytes at `from` is in `Class`: sixteen at a time, the
    /// last sixteen overlapping bytes already looked at.
    @inlinable @inline(__always)
    static func allPassLanes<Class: WordClass>(_ from: UnsafeRawPointer, count: Int, _: Class.Type) -> Bool {
        var failing = Lanes()
        var i = 0
        while count &- i > 16 {
            failing |= Class.failing(from.loadUnaligned(fromByteOffset: i, as: Lanes.self))
            i &+= 16
        }
        failing |= Class.failing(from.loadUnaligned(fromByteOffset: count &- 16, as: Lanes.self))
        return Self.noneFailing(failing)
    }

    /// The `count` (at most 16) bytes at `base + start` as one vector, for a value that ends at least eight
    /// bytes into the buffer (`start + count >= 8`, as every field of a message does: an MTI and a bitmap
    /// come first), and the mask of the high bits that belong to the value.
    ///
    /// The lanes are the first and the last eight bytes, overlapping when fewer than 16; a value shorter than
    /// eight is the word that ends where it ends, twice, and its bytes before the value are outside the
    /// mask. A class test of the lanes, masked, tells about the value whatever its length. Reads nothing
    /// outside `base + min(start, start + count - 8) ..< base + start + count`.
    ///
    /// An empty value is the eight bytes before it, all in the mask: a test of them may fail where the empty
    /// value would not (callers then look again the slow way), but never passes wrongly.
    @inlinable @inline(__always)
    static func valueLanes(_ base: UnsafeRawPointer, at start: Int, count: Int) -> (lanes: Lanes, mask: UInt64) {
        let last = base + (start &+ count &- 8)
        let first = count >= 8 ? base + start : last
        let before = UInt64(truncatingIfNeeded: (8 &- Swift.min(count, 8)) &<< 3)
        let mask = Self.highs &<< before
        return (unsafeBitCast(SIMD2(Self.load(first), Self.load(last)), to: Lanes.self), mask)
    }

    /// Whether every one of the `count` bytes at `base + start` is in `Class`, for bytes that end at least
    /// eight bytes into the buffer (`start + count >= 8`): up to sixteen in one test of ``valueLanes(_:at:count:)``,
    /// more sixteen at a time. Reads nothing outside `base + min(start, start + count - 8) ..< base + start + count`.
    @inlinable @inline(__always)
    static func allPassAfterWord<Class: WordClass>(in base: UnsafeRawPointer, at start: Int, count: Int, _: Class.Type) -> Bool {
        guard count > 0 else { return true }
        if count <= 16 {
            let (lanes, mask) = Self.valueLanes(base, at: start, count: count)
            return Self.noneFailing(Class.failing(lanes), mask: mask)
        }
        return Self.allPassLanes(base + start, count: count, Class.self)
    }

    /// The `count` hex characters at `from` (an even count, at least 16) as the `count / 2` bytes they stand
    /// for, written at `out`: sixteen characters at a time, the last sixteen overlapping characters already
    /// read. Whether every character is a hex digit (the bytes are garbage where one is not).
    @inlinable @inline(__always)
    static func hexBytes(_ from: UnsafeRawPointer, count: Int, to out: UnsafeMutableRawPointer) -> Bool {
        let low = SIMD2<UInt64>(repeating: 0x0F0F_0F0F_0F0F_0F0F)
        let evens = SIMD2<UInt64>(repeating: 0x00FF_00FF_00FF_00FF)
        var failing = Lanes()
        var i = 0
        while true {
            let at = Swift.min(i, count &- 16)
            let words = SIMD2(Self.load(from + at), Self.load(from + (at &+ 8)))
            failing |= HexDigits.failing(unsafeBitCast(words, to: Lanes.self))
            // A digit's value is its low nibble, a letter's (bit 6 set) its low nibble plus 9.
            let letters = (words &>> 6) & SIMD2(repeating: Self.ones)
            let nibbles = (words &+ (letters &<< 3) &+ letters) & low
            // The first character of a pair is the high nibble: each 16-bit lane gets its pair's byte in its
            // low half, and the even bytes are the result.
            let pairs = ((nibbles &<< 4) | (nibbles &>> 8)) & evens
            (out + (at &>> 1)).storeBytes(of: unsafeBitCast(pairs, to: Lanes.self).evenHalf, as: SIMD8<UInt8>.self)
            if at == count &- 16 { break }
            i &+= 16
        }
        return Self.noneFailing(failing)
    }

    /// Whether no byte of `failing` under `mask` (in both halves) has its high bit set.
    @inlinable @inline(__always)
    static func noneFailing(_ failing: Lanes, mask: UInt64) -> Bool {
        let words = unsafeBitCast(failing, to: SIMD2<UInt64>.self)
        return (words[0] | words[1]) & mask == 0
    }

    /// ``copyChecked(_:at:count:to:room:_:)`` for more than eight bytes: sixteen at a time, writing
    /// exactly `count` bytes at `out`.
    @inlinable @inline(__always)
    static func copyCheckedLanes<Class: WordClass>(_ from: UnsafeRawPointer, count: Int, to out: UnsafeMutableRawPointer, _: Class.Type) -> Bool {
        if count <= 16 {
            let lanes = Self.lanes(from, count: count)
            guard Self.noneFailing(Class.failing(lanes)) else { return false }
            let stored = unsafeBitCast(Class.stored(lanes), to: SIMD2<UInt64>.self)
            Self.store(stored[0], to: out)
            Self.store(stored[1], to: out + (count &- 8))
            return true
        }
        var failing = Lanes()
        var i = 0
        while count &- i > 16 {
            let lanes = from.loadUnaligned(fromByteOffset: i, as: Lanes.self)
            failing |= Class.failing(lanes)
            out.storeBytes(of: Class.stored(lanes), toByteOffset: i, as: Lanes.self)
            i &+= 16
        }
        let lanes = from.loadUnaligned(fromByteOffset: count &- 16, as: Lanes.self)
        failing |= Class.failing(lanes)
        out.storeBytes(of: Class.stored(lanes), toByteOffset: count &- 16, as: Lanes.self)
        return Self.noneFailing(failing)
    }
}

extension WordClass {
    @inlinable @inline(__always)
    static func stored(_ lanes: ASCIIWords.Lanes) -> ASCIIWords.Lanes { lanes }
}

extension ASCIIWords.Digits {
    @inlinable @inline(__always) static func failing(_ lanes: ASCIIWords.Lanes) -> ASCIIWords.Lanes {
        ASCIIWords.outside(lanes, 0x30, 0x39)
    }
}

extension ASCIIWords.Printable {
    @inlinable @inline(__always) static func failing(_ lanes: ASCIIWords.Lanes) -> ASCIIWords.Lanes {
        ASCIIWords.outside(lanes, 0x20, 0x7E)
    }
}

extension ASCIIWords.LettersSpace {
    @inlinable @inline(__always) static func failing(_ lanes: ASCIIWords.Lanes) -> ASCIIWords.Lanes {
        ASCIIWords.notLetter(lanes) & ASCIIWords.outside(lanes, 0x20, 0x20)
    }
}

extension ASCIIWords.LettersDigitsSpace {
    @inlinable @inline(__always) static func failing(_ lanes: ASCIIWords.Lanes) -> ASCIIWords.Lanes {
        ASCIIWords.notLetter(lanes) & ASCIIWords.outside(lanes, 0x30, 0x39) & ASCIIWords.outside(lanes, 0x20, 0x20)
    }
}

extension ASCIIWords.PrintableNotDigits {
    @inlinable @inline(__always) static func failing(_ lanes: ASCIIWords.Lanes) -> ASCIIWords.Lanes {
        ASCIIWords.outside(lanes, 0x20, 0x7E) | ~ASCIIWords.outside(lanes, 0x30, 0x39)
    }
}

extension ASCIIWords.PrintableNotLetters {
    @inlinable @inline(__always) static func failing(_ lanes: ASCIIWords.Lanes) -> ASCIIWords.Lanes {
        ASCIIWords.outside(lanes, 0x20, 0x7E) | ~ASCIIWords.notLetter(lanes)
    }
}

extension ASCIIWords.TrackCharacters {
    @inlinable @inline(__always) static func failing(_ lanes: ASCIIWords.Lanes) -> ASCIIWords.Lanes {
        ASCIIWords.outside(lanes, 0x30, 0x39) & ASCIIWords.outside(lanes, UInt8(ascii: "="), UInt8(ascii: "="))
            & ASCIIWords.outside(lanes, UInt8(ascii: "D"), UInt8(ascii: "D"))
    }
}

extension ASCIIWords.HexDigits {
    @inlinable @inline(__always) static func failing(_ lanes: ASCIIWords.Lanes) -> ASCIIWords.Lanes {
        ASCIIWords.outside(lanes, 0x30, 0x39) & ASCIIWords.outside(lanes | ASCIIWords.Lanes(repeating: 0x20), 0x61, 0x66)
    }
}

extension ASCIIWords.UpperCasedHexDigits {
    @inlinable @inline(__always) static func failing(_ lanes: ASCIIWords.Lanes) -> ASCIIWords.Lanes {
        ASCIIWords.HexDigits.failing(lanes)
    }

    @inlinable @inline(__always) static func stored(_ lanes: ASCIIWords.Lanes) -> ASCIIWords.Lanes {
        // Of hex digits only the letters have bit 6 set: clearing their bit 5 makes `a`–`f` upper-case.
        // (Shifted in 64-bit lanes, as a vector of bytes has no shift; no bit crosses a byte.)
        let words = unsafeBitCast(lanes, to: SIMD2<UInt64>.self)
        return unsafeBitCast(words & ~((words & SIMD2(repeating: 0x4040_4040_4040_4040)) &>> 1), to: ASCIIWords.Lanes.self)
    }
}

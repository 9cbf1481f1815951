extension ContentClass {
    /// The index of the first byte in `text` (ASCII) outside this class, or `nil` when all are inside.
    ///
    /// `n` and `ans` fields, which are most of a message, are checked eight bytes at a time.
    @inlinable
    func firstViolation(in text: UnsafeRawBufferPointer) -> Int? {
        switch self {
        case .n: return Self.firstNonDigit(text, from: 0)
        case .ans: return Self.firstNonPrintable(text)
        case .a: return Self.firstMismatch(text) { Self.isLetter($0) || $0 == 0x20 }
        case .an: return Self.firstMismatch(text) { Self.isLetter($0) || Self.isDigit($0) || $0 == 0x20 }
        case .as: return Self.firstMismatch(text) { Self.isPrintable($0) && !Self.isDigit($0) }
        case .ns: return Self.firstMismatch(text) { Self.isPrintable($0) && !Self.isLetter($0) }
        case .z: return Self.firstMismatch(text) { Self.isDigit($0) || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "D") }
        case .b: return Hex.firstInvalid(text)
        case .xn:
            guard let sign = text.first else { return nil }
            guard sign == UInt8(ascii: "C") || sign == UInt8(ascii: "D") else { return 0 }
            return Self.firstNonDigit(text, from: 1)
        }
    }

    @inlinable static func isDigit(_ c: UInt8) -> Bool { c &- 48 < 10 }
    @inlinable static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) &- 97 < 26 }
    @inlinable static func isPrintable(_ c: UInt8) -> Bool { c &- 0x20 < 0x5F }

    @inlinable
    static func firstMismatch(_ text: UnsafeRawBufferPointer, _ ok: (UInt8) -> Bool) -> Int? {
        for i in 0..<text.count where !ok(text[i]) { return i }
        return nil
    }

    @inlinable
    static func firstNonDigit(_ text: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var i = start
        let count = text.count
        // A word is all digits when every byte is 0x3_ and adding 6 keeps it 0x3_.
        while i &+ 8 <= count {
            let w = text.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let high: UInt64 = 0xF0F0_F0F0_F0F0_F0F0
            let threes: UInt64 = 0x3030_3030_3030_3030
            if (w & high) != threes || ((w &+ 0x0606_0606_0606_0606) & high) != threes { break }
            i &+= 8
        }
        while i < count {
            if !isDigit(text[i]) { return i }
            i &+= 1
        }
        return nil
    }

    @inlinable
    static func firstNonPrintable(_ text: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        let count = text.count
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while i &+ 8 <= count {
            let w = text.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            // Some byte < 0x20, or some byte > 0x7E (including the 0x80 bit).
            let below = (w &- ones &* 0x20) & ~w & highs
            let above = ((w &+ ones &* (127 - 0x7E)) | w) & highs
            if below | above != 0 { break }
            i &+= 8
        }
        while i < count {
            if !isPrintable(text[i]) { return i }
            i &+= 1
        }
        return nil
    }
}

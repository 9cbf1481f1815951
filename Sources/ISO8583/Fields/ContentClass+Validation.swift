extension ContentClass {
    /// The index of the first byte in `text` (ASCII) outside this class, or `nil` when all are inside.
    ///
    /// Every class is checked eight bytes at a time (``ASCIIWords``); `n` and `ans`, most of a message,
    /// inline.
    @inlinable @inline(__always)
    func firstViolation(in text: UnsafeRawBufferPointer) -> Int? {
        switch self {
        case .n: return ASCIIWords.firstFailing(text, ASCIIWords.Digits.self)
        case .ans: return ASCIIWords.firstFailing(text, ASCIIWords.Printable.self)
        default: return self.firstViolationOfOtherClasses(in: text)
        }
    }

    @usableFromInline @inline(never)
    func firstViolationOfOtherClasses(in text: UnsafeRawBufferPointer) -> Int? {
        switch self {
        case .n: return ASCIIWords.firstFailing(text, ASCIIWords.Digits.self)
        case .ans: return ASCIIWords.firstFailing(text, ASCIIWords.Printable.self)
        case .a: return ASCIIWords.firstFailing(text, ASCIIWords.LettersSpace.self)
        case .an: return ASCIIWords.firstFailing(text, ASCIIWords.LettersDigitsSpace.self)
        case .as: return ASCIIWords.firstFailing(text, ASCIIWords.PrintableNotDigits.self)
        case .ns: return ASCIIWords.firstFailing(text, ASCIIWords.PrintableNotLetters.self)
        case .z: return ASCIIWords.firstFailing(text, ASCIIWords.TrackCharacters.self)
        case .b: return Hex.firstInvalid(text)
        case .xn:
            guard let sign = text.first else { return nil }
            guard sign == UInt8(ascii: "C") || sign == UInt8(ascii: "D") else { return 0 }
            return ASCIIWords.firstFailing(UnsafeRawBufferPointer(rebasing: text[1...]), ASCIIWords.Digits.self).map { $0 + 1 }
        }
    }

    /// ``firstViolationOfOtherClasses(in:)`` for the `count` bytes at `base + start` inside a message, read
    /// as ``ASCIIWords/firstFailing(in:at:count:_:)`` reads them.
    @usableFromInline @inline(never)
    func firstViolationOfOtherClasses(in base: UnsafeRawPointer, at start: Int, count: Int) -> Int? {
        switch self {
        case .a: return ASCIIWords.firstFailing(in: base, at: start, count: count, ASCIIWords.LettersSpace.self)
        case .an: return ASCIIWords.firstFailing(in: base, at: start, count: count, ASCIIWords.LettersDigitsSpace.self)
        case .as: return ASCIIWords.firstFailing(in: base, at: start, count: count, ASCIIWords.PrintableNotDigits.self)
        case .ns: return ASCIIWords.firstFailing(in: base, at: start, count: count, ASCIIWords.PrintableNotLetters.self)
        case .z: return ASCIIWords.firstFailing(in: base, at: start, count: count, ASCIIWords.TrackCharacters.self)
        case .n, .ans, .b, .xn: return self.firstViolationOfOtherClasses(in: UnsafeRawBufferPointer(start: base + start, count: count))
        }
    }
}

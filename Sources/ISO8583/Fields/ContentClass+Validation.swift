extension ContentClass {
    /// The index of the first byte in `text` (ASCII) outside this class, or `nil` when all are inside.
    ///
    /// Every class is checked eight bytes at a time (``ASCIIWords``); `n` and `ans`, most of a message,
    /// inline.
    @inlinable @inline(__always)
    func firstViolation(in text: UnsafeRawBufferPointer) -> Int? {
        switch self {
        case .n: return ASCIIWords.firstFailing(text) { ASCIIWords.digits($0) }
        case .ans: return ASCIIWords.firstFailing(text) { ASCIIWords.printable($0) }
        default: return self.firstViolationOfOtherClasses(in: text)
        }
    }

    @usableFromInline @inline(never)
    func firstViolationOfOtherClasses(in text: UnsafeRawBufferPointer) -> Int? {
        switch self {
        case .n: return ASCIIWords.firstFailing(text) { ASCIIWords.digits($0) }
        case .ans: return ASCIIWords.firstFailing(text) { ASCIIWords.printable($0) }
        case .a: return ASCIIWords.firstFailing(text) { ASCIIWords.letters($0) | ASCIIWords.equal($0, 0x20) }
        case .an:
            return ASCIIWords.firstFailing(text) { ASCIIWords.letters($0) | ASCIIWords.digits($0) | ASCIIWords.equal($0, 0x20) }
        case .as: return ASCIIWords.firstFailing(text) { ASCIIWords.printable($0) & ~ASCIIWords.digits($0) }
        case .ns: return ASCIIWords.firstFailing(text) { ASCIIWords.printable($0) & ~ASCIIWords.letters($0) }
        case .z:
            return ASCIIWords.firstFailing(text) {
                ASCIIWords.digits($0) | ASCIIWords.equal($0, UInt8(ascii: "=")) | ASCIIWords.equal($0, UInt8(ascii: "D"))
            }
        case .b: return Hex.firstInvalid(text)
        case .xn:
            guard let sign = text.first else { return nil }
            guard sign == UInt8(ascii: "C") || sign == UInt8(ascii: "D") else { return 0 }
            return ASCIIWords.firstFailing(UnsafeRawBufferPointer(rebasing: text[1...])) { ASCIIWords.digits($0) }.map { $0 + 1 }
        }
    }

}

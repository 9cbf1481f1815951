/// Hexadecimal text, upper-case on output, either case on input.
public enum Hex {
    /// The value of one hex character, or `nil`.
    @inlinable
    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c &- UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c &- UInt8(ascii: "A") &+ 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c &- UInt8(ascii: "a") &+ 10
        default: return nil
        }
    }

    /// Upper-case hex of `bytes`.
    public static func encode(_ bytes: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            var i = 0
            for b in bytes {
                out[i] = Hex.character(b >> 4)
                out[i + 1] = Hex.character(b & 0x0F)
                i += 2
            }
            return i
        }
    }

    /// Upper-case hex of `bytes`.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let array = Array(bytes)
        return array.withUnsafeBytes { Hex.encode($0) }
    }

    /// The bytes of hex text, or `nil` when it has an odd length or a non-hex character.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    /// The offset of the first character in `text` that is not hex, if any.
    @inlinable
    static func firstInvalid(_ text: UnsafeRawBufferPointer) -> Int? {
        ASCIIWords.firstFailing(text, ASCIIWords.HexDigits.self)
    }

    /// The upper-case hex character for `nibble` (0–15).
    @inlinable @inline(__always)
    static func character(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? nibble &+ 0x30 : nibble &+ 0x37
    }
}

/// Packed binary-coded decimal.
enum BCD {
    /// The digits of `count` nibbles of packed BCD; the spare nibble of an odd count is skipped on the padded
    /// side. Nibble D reads as `=` (track-2 separator); other non-digits read as `?` (the decoder rejects them).
    static func unpack(_ bytes: UnsafeRawBufferPointer, digits count: Int, leftPadded: Bool) -> String {
        String(unsafeUninitializedCapacity: count) { out in
            let skip = (count % 2 == 1 && leftPadded) ? 1 : 0
            for i in 0..<count {
                let n = i + skip
                let byte = bytes[n / 2]
                let nibble = n % 2 == 0 ? byte >> 4 : byte & 0x0F
                out[i] = nibble <= 9 ? nibble + 48 : (nibble == 0xD ? UInt8(ascii: "=") : UInt8(ascii: "?"))
            }
            return count
        }
    }

    /// The nibble for one ASCII digit (or `=`/`D` for the track-2 separator), or `nil`.
    @inlinable
    static func nibble(_ c: UInt8) -> UInt8? {
        if c >= 48 && c <= 57 { return c - 48 }
        if c == UInt8(ascii: "=") || c == UInt8(ascii: "D") || c == UInt8(ascii: "d") { return 0xD }
        return nil
    }
}

import ISO8583

/// The elements of a private TLV field (DE 48: 2-character tag, 2-digit length; DE 124: 2-character tag,
/// 3-digit length) with numeric tags `01`–`15`, read straight from the field's ASCII bytes.
struct TaggedElements: Sendable {
    private var values: [String?]

    static let none = TaggedElements(values: [])

    private init(values: [String?]) {
        self.values = values
    }

    /// The element `tag` (1–15), or `nil` when absent.
    subscript(tag: Int) -> String? {
        tag < self.values.count ? self.values[tag] : nil
    }

    /// Reads field `number` of `message`; `nil` when the field is present but malformed, `.none` when absent.
    static func parse(_ message: ISO8583Message, field number: Int, lengthDigits: Int) -> TaggedElements? {
        guard message.contains(number) else { return TaggedElements.none }
        let parsed: TaggedElements?? = message.withASCIIBytes(of: number) { bytes in
            Self.parse(bytes, lengthDigits: lengthDigits)
        }
        if let parsed { return parsed }
        guard let text = message[number] else { return TaggedElements.none }
        return Array(text.utf8).withUnsafeBytes { Self.parse($0, lengthDigits: lengthDigits) }
    }

    static func parse(_ bytes: UnsafeRawBufferPointer, lengthDigits: Int) -> TaggedElements? {
        var values = [String?](repeating: nil, count: 16)
        var offset = 0
        while offset < bytes.count {
            guard offset + 2 + lengthDigits <= bytes.count else { return nil }
            let t0 = bytes[offset] &- 48
            let t1 = bytes[offset + 1] &- 48
            var length = 0
            for i in 0..<lengthDigits {
                let d = bytes[offset + 2 + i] &- 48
                guard d < 10 else { return nil }
                length = length * 10 + Int(d)
            }
            let start = offset + 2 + lengthDigits
            guard start + length <= bytes.count else { return nil }
            if t0 < 10, t1 < 10 {
                let tag = Int(t0) * 10 + Int(t1)
                if tag < values.count {
                    values[tag] = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]), as: UTF8.self)
                }
            }
            offset = start + length
        }
        return TaggedElements(values: values)
    }

    /// Builds a DE 124 text (2-character tag, 3-digit length) from `(tag, value)` pairs, in order. Returns `nil`
    /// when a value is longer than 999 characters.
    static func buildDCData(_ elements: [(tag: Int, value: String)]) -> String? {
        var text = ""
        text.reserveCapacity(elements.reduce(0) { $0 + $1.value.utf8.count + 5 })
        for (tag, value) in elements {
            let length = value.utf8.count
            guard length <= 999, tag >= 0, tag < 100 else { return nil }
            text += tag < 10 ? "0" + String(tag) : String(tag)
            text += length < 10 ? "00" : length < 100 ? "0" : ""
            text += String(length)
            text += value
        }
        return text
    }
}

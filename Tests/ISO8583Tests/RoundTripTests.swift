import ISO8583
import NIOCore
import Testing

/// Generated round trips over every field of every built-in spec: encode → decode gives the same message,
/// and decode → encode gives the same bytes.
@Suite("Generated round trips for every spec")
struct RoundTripTests {
    static let specs = BuiltinSpecs.names

    /// A small deterministic generator, so a failure can be reproduced from its seed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    enum Size { case zero, maximum, random }

    static func characters(for contentClass: ContentClass) -> [Character] {
        let digits = Array("0123456789")
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        let specials = Array(" !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
        switch contentClass {
        case .n: return digits
        case .a: return letters + [" "]
        case .an: return letters + digits + [" "]
        case .ans: return letters + digits + specials
        case .as: return letters + specials
        case .ns: return digits + specials
        case .z: return digits + ["="]
        case .b, .xn: return digits
        }
    }

    /// A valid value for `field` of the given size, as text.
    static func value(for field: FieldSpec, size: Size, using rng: inout SplitMix) -> String {
        let fixed = field.prefix == .fixed
        // Length in the field's unit.
        var length: Int
        switch size {
        case .zero: length = fixed ? field.length : 0
        case .maximum: length = field.length
        case .random: length = fixed ? field.length : Int.random(in: 0...field.length, using: &rng)
        }
        if field.contentClass == .b {
            var bytes = length
            if field.encoding == .hex && field.unit == .characters { bytes = length / 2 }
            if fixed == false, field.subfields != nil {
                return tlvValue(for: field, bytes: bytes, using: &rng)
            }
            return Hex.encode((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &rng) })
        }
        if field.contentClass == .xn {
            length = max(length, 1)
            let sign = Bool.random(using: &rng) ? "C" : "D"
            return sign + String((1..<length).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })
        }
        if field.encoding == .bcd && field.unit == .bytes { length *= 2 }
        if let subfields = field.subfields, !fixed {
            if case .tlv(let format, _) = subfields {
                return privateTLVValue(length: length, format: format, using: &rng)
            }
        }
        let alphabet = characters(for: field.contentClass)
        return String((0..<length).map { _ in alphabet.randomElement(using: &rng)! })
    }

    /// BER-TLV data of exactly `bytes` bytes (one byte short only when `bytes` is 1): elements of tag 9F10
    /// with up to 100 value bytes, and a final empty 5A element when two bytes are left.
    static func tlvValue(for field: FieldSpec, bytes: Int, using rng: inout SplitMix) -> String {
        var remaining = bytes
        var out: [UInt8] = []
        while remaining >= 3 {
            var valueLength = min(remaining - 3, 100)
            let left = remaining - 3 - valueLength
            if (left == 1 || left == 2) && valueLength >= 2 { valueLength -= 2 }
            out += [0x9F, 0x10, UInt8(valueLength)]
            out += (0..<valueLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
            remaining -= 3 + valueLength
        }
        if remaining == 2 { out += [0x5A, 0x00] }
        return Hex.encode(out)
    }

    /// Private TLV text of at most `length` characters, with an unknown tag so element limits do not apply.
    static func privateTLVValue(length: Int, format: TLVFormat, using rng: inout SplitMix) -> String {
        var text = ""
        let header = format.tagLength + format.lengthLength
        let maxValue = Int(String(repeating: "9", count: format.lengthLength))!
        while length - text.count > header {
            let valueLength = min(length - text.count - header, maxValue)
            let digits = String(valueLength)
            text += String(repeating: "Z", count: format.tagLength)
            text += String(repeating: "0", count: format.lengthLength - digits.count) + digits
            text += String((0..<valueLength).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })
        }
        return text
    }

    static func message(spec: MessageSpec, fields: [FieldSpec], size: Size, using rng: inout SplitMix) -> ISO8583Message {
        var message = ISO8583Message(mti: "0200")
        for field in fields {
            message[field.number] = value(for: field, size: size, using: &rng)
        }
        return message
    }

    func roundTrip(_ message: ISO8583Message, spec: MessageSpec) throws {
        let bytes = try spec.encode(message)
        let decoded = try spec.decode(bytes)
        #expect(decoded == message, "encode → decode changed the message")
        let again = try spec.encode(decoded)
        #expect(again == bytes, "decode → encode changed the bytes")
        // A copy with every field set anew (no wire bytes to reuse) encodes to the same bytes too.
        var rebuilt = ISO8583Message(mti: decoded.mti)
        for number in decoded.fieldNumbers { rebuilt[number] = decoded[number] }
        #expect(try spec.encode(rebuilt) == bytes, "re-encoding from values changed the bytes")
    }

    @Test(arguments: specs)
    func allFieldsAtMaximumLength(_ name: String) throws {
        let spec = MessageSpec.builtin(name)!
        var rng = SplitMix(state: 1)
        try roundTrip(Self.message(spec: spec, fields: spec.fields, size: .maximum, using: &rng), spec: spec)
    }

    @Test(arguments: specs)
    func allVariableFieldsEmpty(_ name: String) throws {
        let spec = MessageSpec.builtin(name)!
        var rng = SplitMix(state: 2)
        try roundTrip(Self.message(spec: spec, fields: spec.fields, size: .zero, using: &rng), spec: spec)
    }

    @Test(arguments: specs)
    func randomMessagesWithAndWithoutSecondaryBitmap(_ name: String) throws {
        let spec = MessageSpec.builtin(name)!
        var rng = SplitMix(state: 0xD0C5)
        for round in 0..<200 {
            let primaryOnly = round % 2 == 0
            let candidates = spec.fields.filter { !primaryOnly || $0.number <= 64 }
            let chosen = candidates.filter { _ in Bool.random(using: &rng) }
            let message = Self.message(spec: spec, fields: chosen, size: .random, using: &rng)
            try roundTrip(message, spec: spec)
            let hasSecondary = chosen.contains { $0.number > 64 }
            #expect(primaryOnly ? !hasSecondary : true)
        }
    }
}

@testable import ISO8583
import NIOCore
import Testing

/// The decoder's and encoder's inline loops against their general paths, and the windowed eight-byte class
/// checks against a byte-by-byte rule: on random messages, valid and broken, the two paths must give the
/// same bytes, the same fields and warnings, or the same error.
@Suite("Inline field paths agree with the general ones")
struct InlinePathTests {
    typealias SplitMix = RoundTripTests.SplitMix

    /// A spec with a field of every shape the inline loops take, and some they do not.
    static let spec = try! MessageSpec.fromJSON(
        #"""
        {"name":"inline-test","bitmap":{"encoding":"hex"},"fields":{
          "2":{"class":"n","length":19,"prefix":"LL","sensitive":"pan"},
          "3":{"class":"n","length":6},
          "4":{"class":"ans","length":12},
          "5":{"class":"a","length":20,"prefix":"LL"},
          "6":{"class":"an","length":8},
          "7":{"class":"as","length":10,"prefix":"LL"},
          "8":{"class":"ns","length":5},
          "9":{"class":"z","length":37,"prefix":"LL"},
          "10":{"class":"xn","length":9},
          "11":{"class":"n","length":6,"validation":"lenient"},
          "12":{"class":"ans","length":50,"prefix":"LLL","validation":"none"},
          "13":{"class":"b","length":8,"encoding":"hex"},
          "14":{"class":"b","length":20,"prefix":"LL","encoding":"hex","counts":"bytes"},
          "15":{"class":"b","length":200,"prefix":"LLL","encoding":"hex","counts":"characters","subfields":{"format":"ber-tlv","tags":{}}},
          "16":{"class":"n","length":3,"padding":"none"},
          "17":{"class":"an","length":12,"prefix":"LL","prefixEncoding":"bcd"},
          "18":{"class":"n","length":4,"encoding":"bcd"},
          "19":{"class":"ans","length":4,"prefix":"L"},
          "20":{"class":"ans","length":60,"prefix":"LLL","subfields":{"format":"tlv","tagLength":2,"lengthLength":2,"elements":{}}},
          "66":{"class":"n","length":10,"prefix":"LL"},
          "70":{"class":"ans","length":3}
        }}
        """#
    )

    static let fieldNumbers = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 66, 70]

    /// Bytes on and around every class boundary, and some with the top bit set.
    static let boundaryBytes: [UInt8] = Array("09/:@AZ[`az{ ~=DCFfgG".utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xB0, 0xC1, 0xFF]

    static func isHexDigit(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
    }

    /// The byte-by-byte rule of a class (`xn` and `b` have their own shapes).
    static func firstOutside(_ bytes: ArraySlice<UInt8>, _ contentClass: ContentClass) -> Int? {
        let values = Array(bytes)
        switch contentClass {
        case .b:
            return values.firstIndex { !Self.isHexDigit($0) }
        case .xn:
            guard let sign = values.first else { return nil }
            guard sign == UInt8(ascii: "C") || sign == UInt8(ascii: "D") else { return 0 }
            return values.dropFirst().firstIndex { !CodecFastPathTests.isInClass($0, .n) }
        default:
            return values.firstIndex { !CodecFastPathTests.isInClass($0, contentClass) }
        }
    }

    // MARK: Eight bytes at a time, reaching back before the value

    @Test(arguments: ContentClass.allCases)
    func windowedClassCheckMatchesTheRule(_ contentClass: ContentClass) {
        var rng = SplitMix(state: 0xC0DE + UInt64(contentClass.rawValue))
        let good = Self.boundaryBytes.filter { Self.firstOutside([$0], contentClass == .xn ? .n : contentClass) == nil }
        for _ in 0..<4000 {
            // A buffer of 1–40 bytes, a value anywhere in it (so also in its first eight bytes, where the
            // check cannot reach back), mostly good bytes and sometimes a bad one anywhere.
            let size = Int.random(in: 1...40, using: &rng)
            var buffer = (0..<size).map { _ in Self.boundaryBytes.randomElement(using: &rng)! }
            let start = Int.random(in: 0..<size, using: &rng)
            let count = Int.random(in: 0...(size - start), using: &rng)
            for i in start..<start + count { buffer[i] = good.randomElement(using: &rng)! }
            if contentClass == .xn, count > 0, Bool.random(using: &rng) { buffer[start] = UInt8(ascii: "C") }
            if count > 0, Int.random(in: 0..<3, using: &rng) == 0 {
                buffer[start + Int.random(in: 0..<count, using: &rng)] = Self.boundaryBytes.randomElement(using: &rng)!
            }
            let expected = Self.firstOutside(buffer[start..<start + count], contentClass)
            buffer.withUnsafeBytes { raw in
                let base = raw.baseAddress!
                let value = UnsafeRawBufferPointer(rebasing: raw[start..<start + count])
                #expect(contentClass.firstViolation(in: value) == expected, "\(contentClass) \(buffer) \(start) \(count)")
                #expect(
                    contentClass.firstViolationOfOtherClasses(in: base, at: start, count: count) == expected,
                    "\(contentClass) \(buffer) \(start) \(count)"
                )
                switch contentClass {
                case .n:
                    #expect(ASCIIWords.firstFailing(in: base, at: start, count: count, ASCIIWords.Digits.self) == expected)
                case .ans:
                    #expect(ASCIIWords.firstFailing(in: base, at: start, count: count, ASCIIWords.Printable.self) == expected)
                case .b:
                    #expect(ASCIIWords.firstFailing(in: base, at: start, count: count, ASCIIWords.HexDigits.self) == expected)
                default:
                    break
                }
            }
        }
    }

    // MARK: Sixteen bytes at a time

    static func isLetter(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }
    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    static func isPrintable(_ c: UInt8) -> Bool { c >= 0x20 && c <= 0x7E }

    @Test(arguments: 0..<9)
    func laneChecksMatchTheRule(_ index: Int) {
        switch index {
        case 0: Self.checkLanes(ASCIIWords.Digits.self, seed: index, rule: Self.isDigit)
        case 1: Self.checkLanes(ASCIIWords.Printable.self, seed: index, rule: Self.isPrintable)
        case 2: Self.checkLanes(ASCIIWords.LettersSpace.self, seed: index) { Self.isLetter($0) || $0 == 0x20 }
        case 3: Self.checkLanes(ASCIIWords.LettersDigitsSpace.self, seed: index) { Self.isLetter($0) || Self.isDigit($0) || $0 == 0x20 }
        case 4: Self.checkLanes(ASCIIWords.PrintableNotDigits.self, seed: index) { Self.isPrintable($0) && !Self.isDigit($0) }
        case 5: Self.checkLanes(ASCIIWords.PrintableNotLetters.self, seed: index) { Self.isPrintable($0) && !Self.isLetter($0) }
        case 6: Self.checkLanes(ASCIIWords.TrackCharacters.self, seed: index) { Self.isDigit($0) || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "D") }
        case 7: Self.checkLanes(ASCIIWords.HexDigits.self, seed: index, rule: Self.isHexDigit)
        default: Self.checkLanes(ASCIIWords.UpperCasedHexDigits.self, seed: index, upperCases: true, rule: Self.isHexDigit)
        }
    }

    /// `allPass`, `firstFailing` and `copyChecked` of `Class` against the byte-by-byte `rule`, on values of
    /// 0–70 bytes (most longer than the eight a word holds) anywhere in a buffer.
    static func checkLanes<Class: WordClass>(_: Class.Type, seed: Int, upperCases: Bool = false, rule: (UInt8) -> Bool) {
        var rng = SplitMix(state: 0x1A4E5 + UInt64(seed))
        let good = (0...255).map(UInt8.init).filter(rule)
        let any = Self.boundaryBytes + good
        for _ in 0..<3000 {
            let size = Int.random(in: 1...90, using: &rng)
            var buffer = (0..<size).map { _ in any.randomElement(using: &rng)! }
            let start = Int.random(in: 0..<size, using: &rng)
            let count = Int.random(in: 0...min(70, size - start), using: &rng)
            for i in start..<start + count { buffer[i] = good.randomElement(using: &rng)! }
            // Sometimes one bad byte anywhere in the value.
            if count > 0, Bool.random(using: &rng) {
                buffer[start + Int.random(in: 0..<count, using: &rng)] = any.randomElement(using: &rng)!
            }
            let value = Array(buffer[start..<start + count])
            let expected = value.firstIndex { !rule($0) }
            // Room for the value only, or for a whole word more.
            let room = Bool.random(using: &rng) ? count : count + 8
            var out = [UInt8](repeating: 0xEE, count: max(room, 1))
            let (allPass, firstFailing, copied) = buffer.withUnsafeBytes { raw in
                let base = raw.baseAddress!
                return (
                    ASCIIWords.allPass(in: base, at: start, count: count, Class.self),
                    ASCIIWords.firstFailing(in: base, at: start, count: count, Class.self),
                    out.withUnsafeMutableBytes { ASCIIWords.copyChecked(base, at: start, count: count, to: $0.baseAddress!, room: room, Class.self) }
                )
            }
            #expect(firstFailing == expected, "\(Class.self) \(value)")
            #expect(allPass == (expected == nil), "\(Class.self) \(value)")
            #expect(copied == (expected == nil), "\(Class.self) \(value)")
            if expected == nil {
                let text = upperCases ? Array(String(decoding: value, as: UTF8.self).uppercased().utf8) : value
                #expect(Array(out.prefix(count)) == text, "\(Class.self) \(value) room \(room)")
            }
            // Past the value, nothing beyond the room is touched.
            #expect(out.count <= room || out[room...].allSatisfy { $0 == 0xEE }, "\(Class.self) \(value) room \(room)")
        }
    }

    @Test func copyCheckedMatchesCheckThenCopy() {
        var rng = SplitMix(state: 0xC0B1)
        for _ in 0..<6000 {
            let size = Int.random(in: 1...40, using: &rng)
            var source = (0..<size).map { _ in Array("0123456789abcdefABCDEF".utf8).randomElement(using: &rng)! }
            let start = Int.random(in: 0..<size, using: &rng)
            let count = Int.random(in: 0...(size - start), using: &rng)
            if count > 0, Int.random(in: 0..<3, using: &rng) == 0 {
                source[start + Int.random(in: 0..<count, using: &rng)] = Self.boundaryBytes.randomElement(using: &rng)!
            }
            let value = Array(source[start..<start + count])
            // Room for the value only, or for a whole word more.
            let room = Bool.random(using: &rng) ? count : count + 8
            for upper in [false, true] {
                let expected = value.allSatisfy(Self.isHexDigit)
                var out = [UInt8](repeating: 0xEE, count: max(room, 1))
                let passed = source.withUnsafeBytes { from in
                    out.withUnsafeMutableBytes { to in
                        upper
                            ? ASCIIWords.copyChecked(from.baseAddress!, at: start, count: count, to: to.baseAddress!, room: room, ASCIIWords.UpperCasedHexDigits.self)
                            : ASCIIWords.copyChecked(from.baseAddress!, at: start, count: count, to: to.baseAddress!, room: room, ASCIIWords.HexDigits.self)
                    }
                }
                #expect(passed == expected, "\(value) room \(room)")
                if expected {
                    let copied = upper ? Array(String(decoding: value, as: UTF8.self).uppercased().utf8) : value
                    #expect(Array(out.prefix(count)) == copied, "\(value) room \(room)")
                    // Past the value, nothing beyond the room is touched.
                    #expect(out.count <= room || out[room...].allSatisfy { $0 == 0xEE })
                }
            }
        }
    }

    @Test func berTLVWellFormedMatchesValidate() {
        var rng = SplitMix(state: 0x7E57)
        var broken = 0
        for _ in 0..<5000 {
            var text = Self.tlvHex(using: &rng)
            if !text.isEmpty, Int.random(in: 0..<4, using: &rng) == 0 {
                text.removeLast(2 * Int.random(in: 1...max(1, text.count / 2), using: &rng))
            }
            if Int.random(in: 0..<6, using: &rng) == 0 { text += Array("9F".utf8) }
            if Int.random(in: 0..<10, using: &rng) == 0 { text += Array("DF8182".utf8) }
            if Int.random(in: 0..<4, using: &rng) == 0 {
                // A long-form length of 0–4 bytes (1–3 are allowed), its value sometimes short.
                let n = Int.random(in: 0...4, using: &rng)
                let length = Int.random(in: 0...6, using: &rng)
                var element: [UInt8] = [0x5F, 0x20, 0x80 | UInt8(n)] + [UInt8](repeating: 0, count: max(n - 1, 0))
                if n > 0 { element.append(UInt8(length)) }
                element += [UInt8](repeating: 0xAB, count: Int.random(in: 0...1, using: &rng) == 0 ? length : max(length - 1, 0))
                text += Array(Hex.encode(element).utf8)
            }
            if !text.isEmpty, Int.random(in: 0..<8, using: &rng) == 0 {
                // A character that is not a hex digit, anywhere (in the overlapping last sixteen too).
                text[Int.random(in: 0..<text.count, using: &rng)] = [UInt8(ascii: "G"), UInt8(ascii: "g"), 0x2F, 0x3A, 0x40, 0x60, 0xC6].randomElement(using: &rng)!
            }
            // `validate` reads tags and lengths only: the values' characters are checked apart.
            let valid = text.withUnsafeBytes { Hex.firstInvalid($0) == nil && BERTLV.validate(CheckedHexPairs($0)) == nil }
            if !valid { broken += 1 }
            #expect(text.withUnsafeBytes { BERTLV.isWellFormed(hexText: $0) } == valid, "\(String(decoding: text, as: UTF8.self))")
        }
        #expect(broken > 500 && broken < 4500, "\(broken) broken")
    }

    /// The sixteen-at-a-time hex conversion against `Hex.decode`, at every even length from 16 to 80 (whole
    /// steps and an overlapping last one), with and without a character that is not a hex digit.
    @Test func hexBytesMatchesHexDecode() {
        var rng = SplitMix(state: 0x4E8B)
        let digits = Array("0123456789ABCDEFabcdef".utf8)
        for count in stride(from: 16, through: 80, by: 2) {
            for trial in 0..<40 {
                var text = (0..<count).map { _ in digits.randomElement(using: &rng)! }
                if trial % 2 == 1 {
                    text[Int.random(in: 0..<count, using: &rng)] = [UInt8(ascii: "G"), UInt8(ascii: "g"), 0x2F, 0x3A, 0x40, 0x60, 0x80, 0xC1].randomElement(using: &rng)!
                }
                let expected = Hex.decode(String(decoding: text, as: UTF8.self))
                var out = [UInt8](repeating: 0xEE, count: count / 2)
                let passes = text.withUnsafeBytes { from in
                    out.withUnsafeMutableBytes { to in ASCIIWords.hexBytes(from.baseAddress!, count: count, to: to.baseAddress!) }
                }
                #expect(passes == (expected != nil), "\(String(decoding: text, as: UTF8.self))")
                if let expected { #expect(out == expected, "\(String(decoding: text, as: UTF8.self))") }
            }
        }
    }

    // MARK: Re-encode as decoded

    /// The general path's bytes for `message` (every field on its own, bitmaps from the entries).
    static func generalBytes(_ message: ISO8583Message, _ spec: MessageSpec) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        try spec.encode(message, into: &buffer, inlineFields: false)
        return buffer
    }

    /// A message as it was decoded is written by copying bitmaps and fields; the bytes must be those of the
    /// general path, also with a changed MTI, a header, a BCD MTI, binary bitmaps, an empty secondary
    /// bitmap, lower-case hex and trailing bytes; any change to fields or header leaves the copy path.
    @Test(arguments: BuiltinSpecs.names + ["tpdu-bcd"])
    func messageAsDecodedIsWrittenAsTheGeneralPathWritesIt(_ name: String) throws {
        let spec = name == "tpdu-bcd" ? Self.tpduSpec : MessageSpec.builtin(name)!
        var rng = SplitMix(state: 0xA5DEC0DE)
        for round in 0..<100 {
            let chosen = spec.fields.filter { field in Int.random(in: 0..<3, using: &rng) == 0 || (round % 4 == 0 && field.number > 64) }
            var built = RoundTripTests.message(spec: spec, fields: chosen, size: .random, using: &rng)
            if spec.header.byteCount > 0 { built.header = (0..<spec.header.byteCount).map { _ in UInt8.random(in: 0...255, using: &rng) } }
            let bytes = try spec.encode(built)
            var decoded = try spec.decode(bytes)
            #expect(decoded.decodedEnd == Int32(bytes.readableBytes))
            #expect(try spec.encode(decoded) == bytes)
            #expect(try spec.encode(decoded) == Self.generalBytes(decoded, spec))
            decoded.mti = "0210"
            #expect(try spec.encode(decoded) == Self.generalBytes(decoded, spec))
            // Any change to fields or header leaves the copy path.
            var changed = decoded
            switch round % 3 {
            case 0: if let number = chosen.randomElement(using: &rng)?.number { changed.remove(number) } else { changed.header = [1, 2, 3, 4, 5] }
            case 1: changed.header = nil
            default: changed[chosen.first?.number ?? 3] = built[chosen.first?.number ?? 3] ?? "000000"
            }
            #expect(changed.decodedEnd == 0)
            #expect(decoded.decodedEnd != 0, "a copy's change left the original as decoded")
            #expect(try spec.encode(decoded) == Self.generalBytes(decoded, spec))
        }
    }

    static let tpduSpec = try! MessageSpec.fromJSON(
        #"""
        {"name":"tpdu-bcd","header":{"kind":"tpdu"},"mti":{"encoding":"bcd"},"bitmap":{"encoding":"binary"},"fields":{
          "3":{"class":"n","length":6,"encoding":"bcd"},
          "11":{"class":"n","length":6},
          "35":{"class":"z","length":37,"prefix":"LL"},
          "70":{"class":"n","length":3}}}
        """#
    )

    @Test func emptySecondaryBitmapLowerCaseHexAndTrailingBytesOnReencode() throws {
        let spec = MessageSpec.builtin("iso8583-1987-ascii")!
        // 0800 with bit 1 set, field 11, and a secondary bitmap of zeros, in lower case where it has letters.
        let text = "0800" + "8020000000000000" + "0000000000000000" + "123456"
        let decoded = try spec.decode(bytes: Array(text.utf8))
        #expect(decoded.fieldNumbers == [11])
        let expected = "0800" + "0020000000000000" + "123456"
        #expect(try String(buffer: spec.encode(decoded)) == expected)
        #expect(try Self.generalBytes(decoded, spec) == spec.encode(decoded))
        let reference = String(decoding: Hex.decode(Reference.hex)!, as: UTF8.self)
        let lower = try spec.decode(bytes: Array(reference.replacingFirst("723C448128E09200", with: "723c448128e09200").utf8))
        #expect(try spec.encode(lower) == Self.generalBytes(lower, spec))
        // Trailing bytes a lenient decode accepted are not written again.
        let trailing = try spec.decode(bytes: Array((text + "XYZ").utf8), options: DecodeOptions(allowTrailingBytes: true))
        #expect(trailing.warnings.count == 1)
        #expect(try String(buffer: spec.encode(trailing)) == expected)
    }

    // MARK: Decode

    /// The digits of `value` in `digits` ASCII characters.
    static func decimal(_ value: Int, digits: Int) -> [UInt8] {
        var text = Array(String(value).utf8)
        while text.count < digits { text.insert(UInt8(ascii: "0"), at: 0) }
        return Array(text.suffix(digits))
    }

    /// Random content for `field`: mostly of its class, sometimes with a byte that is not.
    static func content(for field: FieldSpec, count: Int, using rng: inout SplitMix) -> [UInt8] {
        var bytes: [UInt8]
        switch field.contentClass {
        case .b:
            bytes = (0..<count).map { _ in Array("0123456789ABCDEFabcdef".utf8).randomElement(using: &rng)! }
        case .xn:
            bytes = (0..<count).map { _ in UInt8(ascii: "0") + UInt8.random(in: 0...9, using: &rng) }
            if count > 0 { bytes[0] = Bool.random(using: &rng) ? UInt8(ascii: "C") : UInt8(ascii: "D") }
        default:
            let good = Array(RoundTripTests.characters(for: field.contentClass).map { $0.asciiValue! })
            bytes = (0..<count).map { _ in good.randomElement(using: &rng)! }
        }
        if count > 0, Int.random(in: 0..<4, using: &rng) == 0 {
            bytes[Int.random(in: 0..<count, using: &rng)] = Self.boundaryBytes.randomElement(using: &rng)!
        }
        return bytes
    }

    /// BER-TLV as hex text: a few elements, sometimes with a length that runs past the end.
    static func tlvHex(using rng: inout SplitMix) -> [UInt8] {
        var bytes: [UInt8] = []
        for _ in 0..<Int.random(in: 0...4, using: &rng) {
            bytes += Bool.random(using: &rng) ? [0x9F, UInt8.random(in: 0x01...0x7F, using: &rng)] : [0x95]
            let length = Int.random(in: 0...8, using: &rng)
            bytes.append(UInt8(Int.random(in: 0..<6, using: &rng) == 0 ? length + 3 : length))
            bytes += (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
        return Array(Hex.encode(bytes).utf8)
    }

    /// The wire bytes of one field, sometimes broken: a bad length digit, a length over the maximum.
    static func wire(for field: FieldSpec, using rng: inout SplitMix) -> [UInt8] {
        let fixed = field.prefix == .fixed
        let unitsPerByte = field.encoding == .hex && field.unit == .bytes ? 2 : 1
        var count = fixed ? field.length : Int.random(in: 0...min(field.length, 60), using: &rng)
        if !fixed, Int.random(in: 0..<20, using: &rng) == 0 { count = min(field.length + 1, field.prefix.maximumValue) }
        var content: [UInt8]
        if field.subfields != nil, field.encoding == .hex, Bool.random(using: &rng) {
            content = Self.tlvHex(using: &rng)
            count = content.count
            if count > field.length { content = []; count = 0 }
            if count > 0, Int.random(in: 0..<8, using: &rng) == 0 { content.removeLast(); count -= 1 }
        } else if field.encoding == .bcd {
            // Packed digits, through the encoder.
            let text = String((0..<field.length).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })
            let message = ISO8583Message(mti: "0200", fields: [field.number: text])
            let all = Array(try! Self.spec.encode(message).readableBytesView)
            return Array(all.suffix(field.length / 2))
        } else {
            content = Self.content(for: field, count: count * unitsPerByte, using: &rng)
        }
        var prefix: [UInt8] = []
        if !fixed {
            let digits = Int(field.prefix.rawValue)
            if field.prefixEncoding == .bcd {
                prefix = [UInt8(count / 10) << 4 | UInt8(count % 10)]
            } else {
                prefix = Self.decimal(count, digits: digits)
                if Int.random(in: 0..<25, using: &rng) == 0 { prefix[Int.random(in: 0..<digits, using: &rng)] = UInt8(ascii: "X") }
            }
        }
        return prefix + content
    }

    /// A random message's wire bytes, sometimes cut short or with bytes after it.
    static func randomWire(using rng: inout SplitMix) -> [UInt8] {
        let numbers = Self.fieldNumbers.filter { _ in Int.random(in: 0..<3, using: &rng) == 0 }
        var words: (UInt64, UInt64) = (0, 0)
        for n in numbers {
            if n <= 64 { words.0 |= 1 << UInt64(64 - n) } else { words.1 |= 1 << UInt64(128 - n) }
        }
        if words.1 != 0 { words.0 |= 1 << 63 }
        var bytes = Array("0200".utf8) + Array(String(format16: words.0).utf8)
        if words.1 != 0 { bytes += Array(String(format16: words.1).utf8) }
        for n in numbers { bytes += Self.wire(for: Self.spec.field(n)!, using: &rng) }
        switch Int.random(in: 0..<12, using: &rng) {
        case 0: bytes.removeLast(Int.random(in: 0...min(bytes.count, 20), using: &rng))
        case 1: bytes += [UInt8(ascii: "9")]
        default: break
        }
        return bytes
    }

    /// Everything a decode tells: the error, or the fields, warnings and re-encoded bytes.
    static func outcome(_ bytes: [UInt8], _ options: DecodeOptions, spec: MessageSpec = Self.spec) -> String {
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        do {
            let message = try spec.decode(buffer, options: options)
            var text = "\(message.mti) \(message.fieldNumbers)"
            for n in message.fieldNumbers { text += " \(n)=\(message[n]!)" }
            text += " warnings: \(message.warnings.map { "\($0.code) \($0.field ?? "") \($0.offset ?? -1) \($0)" })"
            var output = ByteBufferAllocator().buffer(capacity: 512)
            try spec.encode(message, into: &output)
            if !message.warnings.contains(where: { $0.code == .trailingBytes }) {
                #expect(Array(output.readableBytesView) == bytes, "decode → encode gives the same bytes")
            }
            return text
        } catch {
            return "error \(error.code) \(error.field ?? "") \(error.offset ?? -1) \(error)"
        }
    }

    @Test(arguments: [DecodeOptions.strict, DecodeOptions.lenient, DecodeOptions(allowTrailingBytes: true)])
    func decodeInlineAndGeneralAgree(_ options: DecodeOptions) {
        var rng = SplitMix(state: 0xDEC0DE)
        var general = options
        general.inlineFields = false
        var errors = 0
        var warnings = 0
        for _ in 0..<3000 {
            let bytes = Self.randomWire(using: &rng)
            let inline = Self.outcome(bytes, options)
            #expect(inline == Self.outcome(bytes, general), "\(Hex.encode(bytes))")
            if inline.hasPrefix("error") { errors += 1 }
            if !inline.hasSuffix("warnings: []") && !inline.hasPrefix("error") { warnings += 1 }
        }
        // The generator reaches both outcomes, so the comparison covers the error paths too.
        #expect(errors > 300 && errors < 2700, "\(errors) errors")
        if options.contentValidation == .lenient { #expect(warnings > 100, "\(warnings) messages with warnings") }
    }

    // MARK: Encode

    /// A text value for `field`, often valid, sometimes too long, too short, odd hex or outside the class.
    static func text(for field: FieldSpec, using rng: inout SplitMix) -> String {
        let unitsPerByte = field.encoding == .hex && field.unit == .bytes ? 2 : 1
        var count = field.prefix == .fixed ? field.length : Int.random(in: 0...min(field.length, 40), using: &rng)
        if Int.random(in: 0..<10, using: &rng) == 0 { count += Bool.random(using: &rng) ? 1 : -1 }
        count = max(count, 0) * unitsPerByte
        if field.encoding == .hex, Int.random(in: 0..<10, using: &rng) == 0 { count += 1 }
        if field.subfields != nil, field.encoding == .hex, Bool.random(using: &rng) {
            return String(decoding: Self.tlvHex(using: &rng), as: UTF8.self)
        }
        var bytes = Self.content(for: field, count: count, using: &rng)
        // Text is what the caller sets: map the bytes that are not ASCII to a letter outside most classes.
        bytes = bytes.map { $0 < 0x80 ? $0 : UInt8(ascii: "~") }
        if field.encoding == .bcd { bytes = bytes.map { $0 >= 0x30 && $0 <= 0x39 ? $0 : UInt8(ascii: "5") } }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func encoded(_ message: ISO8583Message, inline: Bool, spec: MessageSpec = Self.spec) -> String {
        var output = ByteBufferAllocator().buffer(capacity: 64)
        do {
            try spec.encode(message, into: &output, inlineFields: inline)
            return Hex.encode(Array(output.readableBytesView))
        } catch {
            return "error \(error) \(error.errors.map { "\($0.code) \($0.field ?? "") \($0.offset ?? -1) \($0)" })"
        }
    }

    @Test(arguments: [true, false])
    func encodeRetriesWithTheExactBoundWhenPaddingOutgrowsTheEstimate(_ inline: Bool) throws {
        // The first attempt reserves room from the stored bytes; short values in long fixed fields (and a
        // long hex field set from raw bytes) need far more, so the encoder must start over with the exact bound.
        let spec = try MessageSpec.fromJSON(
            #"{"name":"pad","bitmap":{"encoding":"hex"},"fields":{"2":{"class":"ans","length":900},"3":{"class":"n","length":600},"4":{"class":"b","length":300,"encoding":"hex"},"70":{"class":"ans","length":3}}}"#
        )
        var message = ISO8583Message(mti: "0200", fields: [2: "A", 3: "7", 70: "xyz"])
        message.setBytes(4, [0xAB])
        var output = ByteBufferAllocator().buffer(capacity: 16)
        try spec.encode(message, into: &output, inlineFields: inline)
        let expected = "0200" + "F000000000000000" + "0400000000000000" + "A" + String(repeating: " ", count: 899)
            + String(repeating: "0", count: 599) + "7" + "AB" + String(repeating: "00", count: 299) + "xyz"
        #expect(String(decoding: output.readableBytesView, as: UTF8.self) == expected)
        // And again for the decoded message with one field changed: wire bytes copied around the new value.
        var decoded = try spec.decode(output)
        decoded[3] = "8"
        var again = ByteBufferAllocator().buffer(capacity: 16)
        try spec.encode(decoded, into: &again, inlineFields: inline)
        #expect(String(decoding: again.readableBytesView, as: UTF8.self) == expected.replacingOccurrences(of: "07AB", with: "08AB"))
    }

    // MARK: Every built-in spec, and the reference fixture

    /// Messages of random fields at random sizes on every built-in spec, as built (encoded both ways) and as
    /// bytes, whole or with one byte broken anywhere (decoded both ways, strict and lenient).
    @Test(arguments: RoundTripTests.specs)
    func inlineAndGeneralAgreeOnEveryBuiltinSpec(_ name: String) throws {
        let spec = MessageSpec.builtin(name)!
        var rng = SplitMix(state: 0x5BEC)
        for round in 0..<300 {
            let chosen = spec.fields.filter { _ in Bool.random(using: &rng) }
            let message = RoundTripTests.message(spec: spec, fields: chosen, size: .random, using: &rng)
            #expect(Self.encoded(message, inline: true, spec: spec) == Self.encoded(message, inline: false, spec: spec), "\(name)")
            var bytes = Array(try spec.encode(message).readableBytesView)
            if round % 2 == 1 {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = Self.boundaryBytes.randomElement(using: &rng)!
            }
            Self.expectBothPathsAgree(bytes, spec: spec)
        }
    }

    /// An entry is 16 bytes and tells where its field's wire bytes are (its value and the length prefix
    /// before it): on every built-in spec, by both decoding paths, the entries of a decoded message cover the
    /// bytes after the bitmaps end to end (but for a tertiary bitmap among them), up to where the message
    /// ends; a field set by text has no wire bytes.
    @Test(arguments: RoundTripTests.specs)
    func entriesTellWhereTheirWireBytesAre(_ name: String) throws {
        #expect(MemoryLayout<ISO8583Message.Entry>.size == 16)
        let spec = MessageSpec.builtin(name)!
        var rng = SplitMix(state: 0xE171)
        for _ in 0..<100 {
            let chosen = spec.fields.filter { _ in Bool.random(using: &rng) }
            let message = RoundTripTests.message(spec: spec, fields: chosen, size: .random, using: &rng)
            let bytes = try spec.encode(message)
            for inline in [true, false] {
                var options = DecodeOptions.strict
                options.inlineFields = inline
                let decoded = try spec.decode(bytes, options: options)
                var previous: ISO8583Message.Entry?
                for entry in decoded.entries {
                    #expect(entry.wireValid && entry.wirePrefix <= 4, "\(name) \(entry.number)")
                    #expect(entry.wireStart == entry.valueStart - Int32(entry.wirePrefix))
                    #expect(entry.wireLength == Int32(entry.wirePrefix) + entry.valueBytes)
                    #expect(entry.wireEnd == entry.wireStart + entry.wireLength)
                    if let previous, !(spec.tertiaryBitmap && previous.number < 65 && entry.number > 65) {
                        #expect(entry.wireStart == previous.wireEnd, "\(name) \(entry.number)")
                    }
                    previous = entry
                }
                #expect(previous.map(\.wireEnd) == (decoded.entries.isEmpty ? nil : decoded.decodedEnd), "\(name)")
                #expect(Int(decoded.decodedEnd) == (decoded.entries.isEmpty ? Int(decoded.decodedEnd) : bytes.readableBytes))
            }
        }
        var set = ISO8583Message(mti: "0200")
        set[3] = "000000"
        let entry = set.entries[0]
        #expect(!entry.wireValid && entry.wireLength == 0 && entry.valueBytes == 6 && entry.count == 6)
    }

    /// The reference 0200 (`Fixtures/iso87ascii-0200.hex`) as it is, and with each of its bytes broken in
    /// turn by every boundary byte.
    @Test func inlineAndGeneralAgreeOnTheReferenceFixture() throws {
        let spec = MessageSpec.builtin("iso8583-1987-ascii")!
        let reference = Hex.decode(Reference.hex)!
        var built = ISO8583Message(mti: "0200")
        for (number, value) in Reference.fields { built[number] = value }
        #expect(Self.encoded(built, inline: true, spec: spec) == Reference.hex)
        #expect(Self.encoded(built, inline: false, spec: spec) == Reference.hex)
        Self.expectBothPathsAgree(reference, spec: spec)
        // (Not a lower-case letter in the bitmaps: that decodes, and is written upper-case again.)
        let bitmaps = 4..<36
        for i in reference.indices {
            for byte in Self.boundaryBytes where byte != reference[i] && !(bitmaps.contains(i) && byte >= 0x61 && byte <= 0x66) {
                var bytes = reference
                bytes[i] = byte
                Self.expectBothPathsAgree(bytes, spec: spec)
            }
        }
    }

    /// More runs of one class in a bitmap word than the decoder's inline loop gathers at once (fields
    /// alternating between classes), whole and with each value broken in turn.
    @Test func manyRunsInOneWord() throws {
        let fields = (2...63).map { #""\#($0)":{"class":"\#($0 % 2 == 0 ? "n" : "ans")","length":2}"# }
        let spec = try MessageSpec.fromJSON(#"{"name":"runs","bitmap":{"encoding":"hex"},"fields":{"# + fields.joined(separator: ",") + "}}")
        var message = ISO8583Message(mti: "0200")
        for n in 2...63 { message[n] = n % 2 == 0 ? "12" : "A~" }
        let bytes = Array(try spec.encode(message).readableBytesView)
        let decoded = try spec.decode(bytes: bytes)
        for n in 2...63 { #expect(decoded[n] == (n % 2 == 0 ? "12" : "A~")) }
        Self.expectBothPathsAgree(bytes, spec: spec)
        for n in 2...63 {
            var broken = bytes
            broken[20 + (n - 2) * 2 + 1] = n % 2 == 0 ? UInt8(ascii: "x") : 0x7F
            Self.expectBothPathsAgree(broken, spec: spec)
            #expect(throws: ISO8583Error.self) { try spec.decode(bytes: broken) }
        }
    }

    static func expectBothPathsAgree(_ bytes: [UInt8], spec: MessageSpec) {
        for var options in [DecodeOptions.strict, DecodeOptions.lenient] {
            let inline = Self.outcome(bytes, options, spec: spec)
            options.inlineFields = false
            #expect(inline == Self.outcome(bytes, options, spec: spec), "\(spec.name) \(Hex.encode(bytes))")
        }
    }

    @Test func encodeInlineAndGeneralAgree() throws {
        var rng = SplitMix(state: 0xE4C0DE)
        var errors = 0
        for round in 0..<3000 {
            var message = ISO8583Message(mti: "0200")
            if round % 3 == 0 {
                // Some fields unchanged from a decode, some set since: runs of wire bytes between new values.
                var valid = ISO8583Message(mti: "0200")
                for n in Self.fieldNumbers where Bool.random(using: &rng) {
                    let field = Self.spec.field(n)!
                    valid[n] = RoundTripTests.value(for: field, size: .random, using: &rng)
                }
                message = try Self.spec.decode(Self.spec.encode(valid))
            }
            for n in Self.fieldNumbers where Int.random(in: 0..<3, using: &rng) == 0 {
                message[n] = Self.text(for: Self.spec.field(n)!, using: &rng)
            }
            if Int.random(in: 0..<10, using: &rng) == 0 { message.setBytes(13, (0..<8).map { _ in UInt8.random(in: 0...255, using: &rng) }) }
            let inline = Self.encoded(message, inline: true)
            #expect(inline == Self.encoded(message, inline: false))
            if inline.hasPrefix("error") { errors += 1 }
        }
        #expect(errors > 300 && errors < 2700, "\(errors) errors")
    }

    /// The encoder takes its bitmaps from the numbers the entry table keeps: after a decode, and after fields
    /// are set out of order, set again and removed, the bitmaps must carry exactly the fields present.
    @Test(arguments: BuiltinSpecs.names)
    func bitmapsFromTheEntryTableCarryTheFieldsPresent(_ name: String) throws {
        let spec = MessageSpec.builtin(name)!
        var rng = SplitMix(state: 0xB17A9)
        for _ in 0..<200 {
            var message = ISO8583Message(mti: "0200")
            if spec.header.byteCount > 0 { message.header = [UInt8](repeating: 0x30, count: spec.header.byteCount) }
            if Bool.random(using: &rng) {
                let chosen = spec.fields.filter { _ in Int.random(in: 0..<3, using: &rng) == 0 }
                var built = RoundTripTests.message(spec: spec, fields: chosen, size: .random, using: &rng)
                built.header = message.header
                message = try spec.decode(spec.encode(built))
            }
            for _ in 0..<Int.random(in: 1...12, using: &rng) {
                let field = spec.fields.randomElement(using: &rng)!
                if Int.random(in: 0..<3, using: &rng) == 0 {
                    message.remove(field.number)
                } else {
                    message[field.number] = RoundTripTests.value(for: field, size: .random, using: &rng)
                }
            }
            let decoded = try spec.decode(spec.encode(message))
            #expect(decoded.fieldNumbers == message.fieldNumbers)
            #expect(decoded == message)
        }
    }

    /// Fixed fields side by side, a few of each class the encoder writes in runs, and some that end a run.
    static let runSpec = try! MessageSpec.fromJSON(
        #"""
        {"name":"runs","bitmap":{"encoding":"hex"},"fields":{
          "2":{"class":"n","length":4}, "3":{"class":"n","length":6}, "4":{"class":"n","length":12},
          "5":{"class":"n","length":1}, "6":{"class":"n","length":19},
          "7":{"class":"ans","length":3}, "8":{"class":"ans","length":15}, "9":{"class":"ans","length":40},
          "10":{"class":"an","length":8}, "11":{"class":"an","length":2},
          "12":{"class":"z","length":5}, "13":{"class":"z","length":21},
          "14":{"class":"n","length":3,"padding":"none"}, "15":{"class":"n","length":7},
          "16":{"class":"n","length":10,"prefix":"LL"}, "17":{"class":"n","length":2},
          "18":{"class":"as","length":4}, "19":{"class":"b","length":4,"encoding":"hex"},
          "20":{"class":"ans","length":6}, "21":{"class":"ans","length":9}
        }}
        """#
    )

    /// Runs of fixed fields stored one after another are checked and copied as one: the bytes (or the error,
    /// with its field) must be what the general path gives, for values in and out of their class, short
    /// values (padded, which ends a run), fields set out of order and fields set twice (stored apart).
    @Test func encodeRunsOfFixedFieldsAgreeWithTheGeneralPath() throws {
        var rng = SplitMix(state: 0x2E45)
        var errors = 0
        var inRuns = 0
        for round in 0..<3000 {
            var message = ISO8583Message(mti: "0200")
            var numbers = (2...21).filter { _ in Int.random(in: 0..<4, using: &rng) != 0 }
            if round % 4 == 0 { numbers.shuffle(using: &rng) }
            for n in numbers {
                // Mostly values of the class at full length; now and then one that may be short, long or not.
                let field = Self.runSpec.field(n)!
                let odd = Int.random(in: 0..<40, using: &rng) == 0
                message[n] = odd ? Self.text(for: field, using: &rng) : RoundTripTests.value(for: field, size: .maximum, using: &rng)
                if Int.random(in: 0..<30, using: &rng) == 0 { message[n] = RoundTripTests.value(for: field, size: .maximum, using: &rng) }
            }
            let inline = Self.encoded(message, inline: true, spec: Self.runSpec)
            #expect(inline == Self.encoded(message, inline: false, spec: Self.runSpec), "round \(round)")
            if inline.hasPrefix("error") {
                errors += 1
            } else if round % 4 != 0, numbers.contains(2), numbers.contains(3), numbers.contains(4) {
                inRuns += 1
            }
        }
        #expect(errors > 100 && errors < 1500, "\(errors) errors")
        #expect(inRuns > 300, "\(inRuns) messages with a run")
    }

    /// The link codec's format-error answer at the codec level (the case that crashed a stale debug build):
    /// a lenient decode of a message whose DE 4 has a letter (trailing bytes allowed), its response, the
    /// encode error naming DE 4 only (the run 3-4-11 fails its check and goes field by field), the response
    /// without it encoding; the MTI-only change of the decoded message takes the as-decoded copy and gives
    /// the general path's bytes. Every value crosses a `Result`, as the test's `#require` does.
    @Test func lenientDecodeWithABadFieldThroughMakeResponseAndItsErrorPaths() throws {
        let spec = MessageSpec.builtin("iso8583-1987-ascii")!
        var request = ISO8583Message(mti: "0200")
        request[3] = "000000"
        request[4] = "000000001500"
        request[11] = "000042"
        request[35] = "4761739001010010=22122011143804400000"
        request[37] = "000000000042"
        request[41] = "TERM0001"
        let good = String(decoding: Array(try spec.encode(request).readableBytesView), as: UTF8.self)
        for trailing in ["", "XYZ"] {
            let payload = ByteBuffer(string: good.replacingOccurrences(of: "000000001500", with: "0000000015A0") + trailing)
            #expect(throws: ISO8583Error.self) { try spec.decode(payload) }
            let decoded = Result { try spec.decode(payload, options: DecodeOptions(contentValidation: .lenient, allowTrailingBytes: true)) }
            let message = try decoded.get()
            #expect(message.warnings.compactMap(\.field) == ["4"])
            #expect(message[4] == "0000000015A0")

            // The response: set field by field, DE 3, 4 and 11 side by side in storage as one run of n.
            var response = message.makeResponse(responseCode: "30")
            #expect(Self.encoded(response, inline: true, spec: spec) == Self.encoded(response, inline: false, spec: spec))
            let failure = Result { () throws(ISO8583Error) in try spec.encode(response) }
            guard case .failure(let error) = failure else {
                Issue.record("the response with a bad DE 4 encoded")
                continue
            }
            #expect(error.errors.map(\.field) == ["4"])
            for failed in error.errors { response.remove(Int(failed.field!)!) }
            let answer = Result { () throws(ISO8583Error) in try spec.encode(response) }
            let bytes = try answer.get()
            let back = try spec.decode(bytes)
            #expect(back.mti == "0210")
            #expect(back[4] == nil && back[3] == "000000" && back[11] == "000042" && back[39] == "30")
            #expect(back[37] == "000000000042" && back[41] == "TERM0001")
            #expect(Self.encoded(response, inline: true, spec: spec) == Self.encoded(response, inline: false, spec: spec))

            // The decoded message with only its MTI changed: the as-decoded copy, the wire bytes as they came
            // (a field unchanged since decoding is written with its original bytes on either path).
            var echoed = message
            echoed.mti = "0210"
            let copied = Self.encoded(echoed, inline: true, spec: spec)
            #expect(copied == Self.encoded(echoed, inline: false, spec: spec))
            #expect(!copied.hasPrefix("error"))
            // Changed after all: the general path, which checks DE 4 again and names it.
            echoed[39] = "30"
            #expect(Self.encoded(echoed, inline: true, spec: spec) == Self.encoded(echoed, inline: false, spec: spec))
            echoed[4] = "0000000015A0"
            let again = Self.encoded(echoed, inline: true, spec: spec)
            #expect(again.hasPrefix("error") && again == Self.encoded(echoed, inline: false, spec: spec))
        }
    }
}

extension String {
    /// Sixteen upper-case hex digits of `word`.
    fileprivate init(format16 word: UInt64) {
        let text = String(word, radix: 16, uppercase: true)
        self = String(repeating: "0", count: 16 - text.count) + text
    }
}

import ISO8583
import NIOCore
import Testing

/// One field definition, one value, the exact bytes it must have on the wire.
struct GoldenVector: CustomTestStringConvertible, Sendable {
    var name: String
    var field: String
    var value: String
    var wire: String
    /// The value decoding gives back, when it differs from `value` (padding).
    var decoded: String?

    var testDescription: String { self.name }
}

@Suite("Golden byte vectors for every encoding and prefix kind")
struct GoldenVectorTests {
    static let vectors: [GoldenVector] = [
        .init(name: "n fixed, ASCII, left zero pad", field: #"{"class":"n","length":6}"#, value: "123", wire: "303030313233", decoded: "000123"),
        .init(name: "an fixed, ASCII, right space pad", field: #"{"class":"an","length":5}"#, value: "AB", wire: "4142202020", decoded: "AB   "),
        .init(name: "L ASCII", field: #"{"class":"n","length":9,"prefix":"L"}"#, value: "7", wire: "3137"),
        .init(name: "LL ASCII", field: #"{"class":"n","length":19,"prefix":"LL"}"#, value: "4761", wire: "303434373631"),
        .init(name: "LLL ASCII", field: #"{"class":"ans","length":999,"prefix":"LLL"}"#, value: "a/c", wire: "303033612F63"),
        .init(name: "LLLL ASCII", field: #"{"class":"ans","length":9999,"prefix":"LLLL"}"#, value: "abc", wire: "30303033616263"),
        .init(name: "BCD fixed, odd, left pad", field: #"{"class":"n","length":3,"encoding":"bcd"}"#, value: "123", wire: "0123"),
        .init(name: "BCD fixed, odd, right pad", field: #"{"class":"n","length":3,"encoding":"bcd","padding":"right"}"#, value: "123", wire: "1230"),
        .init(name: "BCD fixed, short value zero filled", field: #"{"class":"n","length":6,"encoding":"bcd"}"#, value: "42", wire: "000042", decoded: "000042"),
        .init(name: "BCD LL prefix, right-padded PAN", field: #"{"class":"n","length":19,"prefix":"LL","prefixEncoding":"bcd","encoding":"bcd","padding":"right"}"#, value: "476173900101011", wire: "154761739001010110"),
        .init(name: "BCD LLL prefix (two bytes)", field: #"{"class":"ans","length":999,"prefix":"LLL","prefixEncoding":"bcd"}"#, value: "AB", wire: "00024142"),
        .init(name: "BCD LLLL prefix (two bytes)", field: #"{"class":"ans","length":9999,"prefix":"LLLL","prefixEncoding":"bcd"}"#, value: "AB", wire: "00024142"),
        .init(name: "binary LL prefix (one byte)", field: #"{"class":"ans","length":99,"prefix":"LL","prefixEncoding":"binary"}"#, value: "AB", wire: "024142"),
        .init(name: "binary LLL prefix (two bytes)", field: #"{"class":"ans","length":999,"prefix":"LLL","prefixEncoding":"binary"}"#, value: "AB", wire: "00024142"),
        .init(name: "EBCDIC 037 text", field: #"{"class":"ans","length":3,"encoding":"ebcdic037"}"#, value: "A[1", wire: "C1BAF1"),
        .init(name: "EBCDIC 1047 text", field: #"{"class":"ans","length":3,"encoding":"ebcdic1047"}"#, value: "A[1", wire: "C1ADF1"),
        .init(name: "EBCDIC LL prefix", field: #"{"class":"ans","length":99,"prefix":"LL","prefixEncoding":"ebcdic037","encoding":"ebcdic037"}"#, value: "AB", wire: "F0F2C1C2"),
        .init(name: "EBCDIC fixed, space pad", field: #"{"class":"an","length":4,"encoding":"ebcdic1047"}"#, value: "AB", wire: "C1C24040", decoded: "AB  "),
        .init(name: "binary fixed", field: #"{"class":"b","length":4,"encoding":"binary"}"#, value: "DEADBEEF", wire: "DEADBEEF"),
        .init(name: "binary LLL, BCD prefix counts bytes", field: #"{"class":"b","length":999,"prefix":"LLL","prefixEncoding":"bcd","encoding":"binary"}"#, value: "9F2601AA", wire: "00049F2601AA"),
        .init(name: "hex fixed", field: #"{"class":"b","length":2,"encoding":"hex"}"#, value: "BEEF", wire: "42454546"),
        .init(name: "hex LL counting bytes", field: #"{"class":"b","length":99,"prefix":"LL","encoding":"hex"}"#, value: "BEEF", wire: "303242454546"),
        .init(name: "hex LLL counting characters", field: #"{"class":"b","length":999,"prefix":"LLL","encoding":"hex","counts":"characters"}"#, value: "BEEF", wire: "30303442454546"),
        .init(name: "hex value written upper-case", field: #"{"class":"b","length":2,"encoding":"hex"}"#, value: "beef", wire: "42454546", decoded: "BEEF"),
        .init(name: "z track 2 in BCD, = as D, left pad", field: #"{"class":"z","length":37,"prefix":"LL","prefixEncoding":"bcd","encoding":"bcd","padding":"left"}"#, value: "4761=2512", wire: "0904761D2512"),
        .init(name: "z track 2 in BCD, right pad (the default for z)", field: #"{"class":"z","length":37,"prefix":"LL","prefixEncoding":"bcd","encoding":"bcd"}"#, value: "4761=2512", wire: "094761D25120"),
        .init(name: "x+n amount, ASCII", field: #"{"class":"xn","length":9}"#, value: "C00000100", wire: "433030303030313030"),
        .init(name: "x+n amount, sign then BCD", field: #"{"class":"xn","length":9,"encoding":"bcd","padChar":"0"}"#, value: "D00001000", wire: "4400001000"),
        .init(name: "BCD length counting bytes", field: #"{"class":"n","length":4,"prefix":"LL","prefixEncoding":"binary","encoding":"bcd","counts":"bytes"}"#, value: "1234", wire: "021234"),
    ]

    static func spec(field: String) throws -> MessageSpec {
        try MessageSpec.fromJSON(#"{"name":"golden","fields":{"2":"# + field + "}}")
    }

    /// MTI 0200 in ASCII and a hex bitmap with only bit 2: the bytes before the field.
    static let preamble = "30323030" + Array("4000000000000000".utf8).map { String($0, radix: 16, uppercase: true) }.joined()

    @Test(arguments: vectors)
    func encodesToExactBytes(_ vector: GoldenVector) throws {
        let spec = try Self.spec(field: vector.field)
        var message = ISO8583Message(mti: "0200")
        message[2] = vector.value
        #expect(try spec.encodeHex(message) == Self.preamble + vector.wire)
    }

    @Test(arguments: vectors)
    func decodesBackToTheValue(_ vector: GoldenVector) throws {
        let spec = try Self.spec(field: vector.field)
        let message = try spec.decode(hex: Self.preamble + vector.wire)
        #expect(message[2] == (vector.decoded ?? vector.value))
        #expect(try spec.encodeHex(message) == Self.preamble + vector.wire)
    }

    @Test func mtiInBCDAndBinaryBitmap() throws {
        let spec = try MessageSpec.fromJSON(#"{"name":"b","mti":{"encoding":"bcd"},"bitmap":{"encoding":"binary"},"fields":{"3":{"class":"n","length":6,"encoding":"bcd"}}}"#)
        let message = ISO8583Message(mti: "0210", fields: [3: "001000"])
        #expect(try spec.encodeHex(message) == "0210" + "2000000000000000" + "001000")
    }

    @Test func mtiInEBCDIC() throws {
        let spec = try MessageSpec.fromJSON(#"{"name":"e","mti":{"encoding":"ebcdic037"},"bitmap":{"encoding":"binary"},"fields":{"3":{"class":"n","length":2,"encoding":"ebcdic037"}}}"#)
        let message = ISO8583Message(mti: "0800", fields: [3: "01"])
        let hex = try spec.encodeHex(message)
        #expect(hex == "F0F8F0F0" + "2000000000000000" + "F0F1")
        #expect(try spec.decode(hex: hex) == message)
    }

    @Test func secondaryAndTertiaryBitmaps() throws {
        let spec = try MessageSpec.fromJSON(#"""
        {"name":"t","bitmap":{"encoding":"binary","tertiary":true},
         "fields":{"3":{"class":"n","length":2},"70":{"class":"n","length":3},"130":{"class":"an","length":2}}}
        """#)
        let message = ISO8583Message(mti: "0800", fields: [3: "01", 70: "301", 130: "XY"])
        let hex = try spec.encodeHex(message)
        // Primary: bits 1 and 3. Secondary: bits 65 (tertiary follows) and 70. Tertiary: bit 130.
        let expected = "30383030" + "A000000000000000" + "8400000000000000" + "3031" + "4000000000000000" + "333031" + "5859"
        #expect(hex == expected)
        #expect(try spec.decode(hex: hex) == message)
    }

    @Test func tpduHeaderIsKept() throws {
        let spec = try MessageSpec.fromJSON(#"{"name":"h","header":{"kind":"tpdu"},"fields":{"3":{"class":"n","length":2}}}"#)
        var message = ISO8583Message(mti: "0200", fields: [3: "00"])
        message.header = [0x60, 0x00, 0x01, 0x00, 0x00]
        let hex = try spec.encodeHex(message)
        #expect(hex.hasPrefix("6000010000"))
        let decoded = try spec.decode(hex: hex)
        #expect(decoded.header == [0x60, 0x00, 0x01, 0x00, 0x00])
        #expect(decoded[3] == "00")
    }
}

import Foundation
import Testing

@Suite("dcswitch iso: the codec's command-line contract")
struct ISOCommandTests {
    let referenceHex = try! String(contentsOf: CLI.root.appendingPathComponent("Fixtures/iso87ascii-0200.hex"), encoding: .utf8)
        .trimmingCharacters(in: .whitespacesAndNewlines)

    @Test func decodePrintsOneJSONObjectWithMaskedSensitiveFields() async throws {
        let result = try await CLI.run(["iso", "decode", "--spec", "iso8583-1987-ascii", "--hex", referenceHex])
        #expect(result.status == 0)
        #expect(result.lines.count == 1)
        let object = try CLI.json(result.lines[0])
        #expect(object["mti"] as? String == "0200")
        let fields = try #require(object["fields"] as? [String: String])
        #expect(fields["3"] == "000000")
        #expect(fields["43"] == "ACME STORE 42           SPRINGFIELD   US")
        #expect(fields["2"] == "476173******0119")
        #expect(fields["52"] == "****************")
        #expect(fields.count == 20)
    }

    @Test func revealShowsClearValuesThatEncodeBackToTheSameBytes() async throws {
        let decoded = try await CLI.run(["iso", "decode", "--spec", "iso8583-1987-ascii", "--reveal", "--hex", referenceHex])
        #expect(decoded.status == 0)
        let fields = try #require(try CLI.json(decoded.lines[0])["fields"] as? [String: String])
        #expect(fields["2"] == "4761739001010119")
        let encoded = try await CLI.run(["iso", "encode", "--spec", "iso8583-1987-ascii"], stdin: decoded.stdout)
        #expect(encoded.status == 0)
        #expect(encoded.lines == [referenceHex])
    }

    @Test func subfieldsBecomeNestedObjectsAndEncodeBack() async throws {
        let decoded = try await CLI.run(["iso", "decode", "--spec", "iso8583-1987-ascii", "--subfields", "--reveal", "--hex", referenceHex])
        let fields = try #require(try CLI.json(decoded.lines[0])["fields"] as? [String: Any])
        let emv = try #require(fields["55"] as? [String: String])
        #expect(emv["9F26"] == "A1B2C3D4E5F60718")
        #expect(emv["95"] == "0000000000")
        let encoded = try await CLI.run(["iso", "encode", "--spec", "iso8583-1987-ascii"], stdin: decoded.stdout)
        #expect(encoded.lines == [referenceHex])
    }

    @Test func aFailingLineReportsTheErrorAndTheRunGoesOn() async throws {
        let bad = String(referenceHex.prefix(120))
        let result = try await CLI.run(["iso", "decode", "--spec", "iso8583-1987-ascii"], stdin: "\(bad)\nZZ\n\(referenceHex)\n")
        #expect(result.status == 1)
        #expect(result.lines.count == 3)
        let first = try #require(try CLI.json(result.lines[0])["error"] as? [String: Any])
        #expect(first["code"] as? String == "missing_field_bytes")
        #expect(first["field"] as? String != nil)
        #expect(first["offset"] as? Int != nil)
        let second = try #require(try CLI.json(result.lines[1])["error"] as? [String: Any])
        #expect(second["code"] as? String == "invalid_hex")
        #expect(try CLI.json(result.lines[2])["mti"] as? String == "0200")
    }

    @Test func lenientDecodeListsWarnings() async throws {
        // DE 3 with a letter: a content-class violation that keeps the framing.
        var bytes = Array(referenceHex.utf8)
        // Field 3 starts at message offset 38; hex text offset 76. Put 'A' (0x41) at message offset 40.
        bytes.replaceSubrange(80..<82, with: Array("41".utf8))
        let result = try await CLI.run(["iso", "decode", "--spec", "iso8583-1987-ascii", "--hex", String(decoding: bytes, as: UTF8.self)])
        #expect(result.status == 0)
        let object = try CLI.json(result.lines[0])
        let warnings = try #require(object["warnings"] as? [[String: Any]])
        #expect(warnings.first?["field"] as? String == "3")
        #expect(warnings.first?["offset"] as? Int == 40)
    }

    @Test func encodeReportsEveryBadField() async throws {
        let line = #"{"mti":"0200","fields":{"3":"12345X","4":"1","41":"TOO-LONG-TERMINAL-ID"}}"#
        let result = try await CLI.run(["iso", "encode", "--spec", "iso8583-1987-ascii"], stdin: line + "\n")
        #expect(result.status == 1)
        let error = try #require(try CLI.json(result.lines[0])["error"] as? [String: Any])
        #expect(error["code"] as? String == "validation_failed")
        let errors = try #require(error["errors"] as? [[String: Any]])
        #expect(errors.compactMap { $0["field"] as? String } == ["3", "41"])
    }

    @Test func aLineThatIsNotJSONNamesTheOffsetAndTheRunGoesOn() async throws {
        let lines = #"{"mti":"0800" "fields":{}}"# + "\n" + #"{"mti":"0800","fields":{"11":"000001","70":"301"}}"# + "\n"
        let result = try await CLI.run(["iso", "encode", "--spec", "iso8583-1987-ascii"], stdin: lines)
        #expect(result.status == 1)
        #expect(result.lines.count == 2)
        #expect(result.lines[0] == #"{"error":{"code":"invalid_value","offset":14,"message":"invalid value at offset 14: expected JSON, found expected ',' or '}', found '\"'","expected":"JSON","found":"expected ',' or '}', found '\"'"}}"#)
        #expect(result.lines[1].hasPrefix("30383030"))
    }

    @Test func describeShowsNamesAndMasksValues() async throws {
        let result = try await CLI.run(["iso", "describe", "--spec", "iso8583-1987-ascii", "--hex", referenceHex])
        #expect(result.status == 0)
        #expect(result.stdout.contains("0200"))
        #expect(result.stdout.contains("476173******0119"))
        #expect(!result.stdout.contains("4761739001010119"))
        #expect(result.stdout.lowercased().contains("primary account number"))
    }

    @Test func specsListsTheBuiltInSpecs() async throws {
        let result = try await CLI.run(["iso", "specs"])
        #expect(result.status == 0)
        let names = result.lines.map { String($0.split(separator: " ").first ?? "") }
        #expect(names == ["dcswitch-1987", "iso8583-1987-ascii", "iso8583-1987-binary", "iso8583-1993-ascii"])
    }

    @Test func specsLoadFromAnyDirectoryAndFromAPath() async throws {
        let specPath = CLI.root.appendingPathComponent("Specs/iso8583-1987-ascii.json").path
        let result = try await CLI.run(["iso", "decode", "--spec", specPath, "--hex", referenceHex])
        #expect(result.status == 0)
        #expect(try CLI.json(result.lines[0])["mti"] as? String == "0200")
    }

    @Test func unknownSpecIsAClearError() async throws {
        let result = try await CLI.run(["iso", "decode", "--spec", "no-such-spec", "--hex", "00"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("no-such-spec"))
    }

    @Test func benchPrintsMediansAsJSON() async throws {
        let result = try await CLI.run(["iso", "bench", "--spec", "iso8583-1987-ascii", "--hex", referenceHex, "--iterations", "200", "--passes", "3"])
        #expect(result.status == 0)
        let last = try CLI.json(try #require(result.lines.last))
        #expect((last["decode_ns"] as? Int ?? 0) > 0)
        #expect((last["encode_ns"] as? Int ?? 0) > 0)
    }
}

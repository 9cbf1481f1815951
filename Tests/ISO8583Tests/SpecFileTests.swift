import Foundation
import ISO8583
import Testing

@Suite("Spec files")
struct SpecFileTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func everyBuiltInSpecParses() {
        #expect(BuiltinSpecs.validateAll().isEmpty)
        #expect(BuiltinSpecs.names == ["dcswitch-1987", "iso8583-1987-ascii", "iso8583-1987-binary", "iso8583-1993-ascii"])
    }

    @Test(arguments: BuiltinSpecs.names)
    func builtInSpecsMatchFiles(_ name: String) throws {
        // Scripts/embed-specs.sh builds Specs/*.json into the binary; forgetting to run it fails here.
        let file = try MessageSpec.load(nameOrPath: Self.root.appendingPathComponent("Specs/\(name).json").path)
        let builtin = try #require(MessageSpec.builtin(name))
        #expect(file.fields == builtin.fields)
        #expect(file.description == builtin.description)
    }

    @Test func interfaceSpecificationIsUpToDate() throws {
        let generated = SpecDocumentation.markdown(specs: BuiltinSpecs.names.compactMap(MessageSpec.builtin))
        let committed = try String(contentsOf: Self.root.appendingPathComponent("Specs/README.md"), encoding: .utf8)
        #expect(committed == generated, "run `swift run dcswitch iso docs --output Specs/README.md`")
    }

    @Test func dcExtensionWidensWalletFieldsAndKeepsThePAN() throws {
        let spec = try #require(MessageSpec.builtin("dcswitch-1987"))
        #expect(spec.parent == "iso8583-1987-ascii")
        let pan = try #require(spec.field(2))
        #expect(pan.contentClass == .n && pan.length == 19 && pan.prefix == .ll)
        for number in [102, 103] {
            let wallet = try #require(spec.field(number))
            #expect(wallet.contentClass == .ans && wallet.length >= 128 && wallet.prefix == .lll)
        }
        guard case .tlv(_, let elements)? = spec.field(124)?.subfields else {
            Issue.record("DE 124 has no TLV subfields")
            return
        }
        #expect(elements.count >= 9)
        #expect(elements.allSatisfy { !$0.name.isEmpty && !$0.description.isEmpty })
        #expect(spec.sensitivity(of: "124.02") == .signature)
    }

    @Test func childSpecOverridesOneAttributeAndKeepsTheRest() throws {
        let spec = try MessageSpec.fromJSON(#"{"name":"child","extends":"iso8583-1987-ascii","fields":{"43":{"length":60,"prefix":"LL"}}}"#)
        let field = try #require(spec.field(43))
        #expect(field.length == 60 && field.prefix == .ll)
        #expect(field.name == MessageSpec.builtin("iso8583-1987-ascii")!.field(43)!.name)
        #expect(spec.field(2) == MessageSpec.builtin("iso8583-1987-ascii")!.field(2))
    }

    @Test func invalidSpecNamesTheProblem() {
        do {
            _ = try MessageSpec.fromJSON(#"{"name":"bad","fields":{"3":{"class":"q","length":6}}}"#)
            Issue.record("a spec with class q loaded")
        } catch {
            #expect(error.code == .invalidSpec)
            #expect(error.field == "3")
        }
    }

    @Test func subfieldsByPath() throws {
        let spec = try #require(MessageSpec.builtin("iso8583-1987-ascii"))
        let message = try spec.decode(hex: Reference.hex)
        #expect(try message.value(at: "55.9F26") == "A1B2C3D4E5F60718")
        #expect(try message.value(at: "55.9F37") == "DEADBEEF")
        #expect(try message.value(at: "55.5F2A") == nil)

        let dc = try #require(MessageSpec.builtin("dcswitch-1987"))
        guard case .tlv(let format, _)? = dc.field(124)?.subfields else { return }
        var payment = ISO8583Message(mti: "0200")
        payment[124] = try Subfields.build([Subfield(id: "03", value: "C1:500;C2:250"), Subfield(id: "04", value: "n-1")], as: .tlv(format, elements: []), field: 124)
        let decoded = try dc.decode(dc.encode(payment))
        #expect(try decoded.value(at: "124.03") == "C1:500;C2:250")
        #expect(try decoded.value(at: "124.04") == "n-1")
    }

    @Test func descriptionMasksSensitiveFields() throws {
        let spec = try #require(MessageSpec.builtin("iso8583-1987-ascii"))
        let message = try spec.decode(hex: Reference.hex)
        let text = message.description
        #expect(text.contains("2=476173******0119"))
        #expect(!text.contains("4761739001010119"))
        #expect(!text.contains("0123456789ABCDEF"))
        #expect(message.unmaskedDescription.contains("4761739001010119"))
    }
}

import FixtureReplay
import Foundation
import Testing

@Suite("Fixture replay: loading fixture files, and clear errors for bad ones")
struct FixtureLoadingTests {
    struct BadFixture: Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        var code: FixtureError.Code
        var path: String
        var line: Int?
        var message: String
        var testDescription: String { self.name }
    }

    static let request = #"{"mti": "0800", "fields": {"11": "000001", "70": "301"}}"#

    static let badFixtures: [BadFixture] = [
        BadFixture(
            name: "a missing comma", text: "{\n  \"request\": \(request)\n  \"expect\": {}\n}",
            code: .invalidJSON, path: "", line: 3, message: "expected ',' or '}'"
        ),
        BadFixture(
            name: "an unknown matcher",
            text: "{\"steps\": [\n {\"request\": \(request),\n  \"expect\": {\"fields\": {\"39\": {\"exakt\": \"00\"}}}}\n]}",
            code: .invalidMatcher, path: "steps[0].expect.fields.39.exakt", line: 3, message: "unknown matcher \"exakt\""
        ),
        BadFixture(
            name: "a misspelt key", text: "{\"steps\": [{\"request\": \(request), \"exepct\": {}}]}",
            code: .unknownKey, path: "steps[0].exepct", line: 1, message: "unknown key \"exepct\""
        ),
        BadFixture(
            name: "a subfield the spec lacks", text: "{\"request\": \(request), \"expect\": {\"fields\": {\"124.99\": \"x\"}}}",
            code: .invalidPath, path: "expect.fields.124.99", line: 1, message: "no subfield 124.99"
        ),
        BadFixture(
            name: "a bad regex", text: "{\"request\": \(request), \"expect\": {\"fields\": {\"38\": {\"regex\": \"[0-9\"}}}}",
            code: .invalidMatcher, path: "expect.fields.38.regex", line: 1, message: "invalid regular expression"
        ),
        BadFixture(
            name: "an unknown generator", text: #"{"request": {"mti": "0800", "fields": {"11": "${new.stun}", "70": "301"}}}"#,
            code: .invalidTemplate, path: "request.fields.11", line: 1, message: "unknown generator ${new.stun}"
        ),
        BadFixture(
            name: "a repeat of no step", text: "{\"steps\": [{\"name\": \"a\", \"request\": \(request)}, {\"repeat\": \"b\"}]}",
            code: .invalidValue, path: "steps[1].repeat", line: 1, message: "no earlier step named \"b\""
        ),
        BadFixture(
            name: "a range upside down", text: "{\"request\": \(request), \"expect\": {\"fields\": {\"4\": {\"range\": [10, 1]}}}}",
            code: .invalidMatcher, path: "expect.fields.4.range", line: 1, message: "above the upper bound"
        ),
        BadFixture(
            name: "a field number out of range", text: #"{"request": {"mti": "0800", "fields": {"300": "x"}}}"#,
            code: .invalidPath, path: "request.fields.300", line: 1, message: "not a field number"
        ),
        BadFixture(
            name: "no steps", text: #"{"name": "nothing"}"#,
            code: .missingKey, path: "", line: 1, message: "expected \"steps\""
        ),
        BadFixture(
            name: "a timeout that is text", text: "{\"request\": \(request), \"timeout\": \"5\"}",
            code: .invalidValue, path: "timeout", line: 1, message: "expected seconds"
        ),
    ]

    @Test(arguments: badFixtures)
    func aBadFixtureNamesTheFileAndThePath(_ bad: BadFixture) {
        do {
            _ = try Fixture.parse(bad.text, file: "bad.json")
            Issue.record("\(bad.name) was accepted")
        } catch {
            #expect(error.code == bad.code, "\(error)")
            #expect(error.path == bad.path, "\(error)")
            #expect(error.file == "bad.json")
            if let line = bad.line { #expect(error.line == line, "\(error)") }
            #expect(error.description.contains(bad.message), "\(error)")
            #expect(error.description.hasPrefix("bad.json:"), "\(error)")
        }
    }

    @Test func oneStepAtTheTopLevel() throws {
        let fixture = try Fixture.parse(
            "{\"name\": \"echo\", \"timeout\": 2, \"request\": \(Self.request), \"expect\": {\"mti\": \"0810\", \"fields\": {\"39\": \"00\", \"11\": {\"echo\": true}}}}",
            file: "echo.json"
        )
        #expect(fixture.name == "echo")
        #expect(fixture.timeout == 2)
        #expect(fixture.steps.count == 1)
        #expect(fixture.steps[0].expect?.checks.map(\.path) == ["mti", "39", "11"])
    }

    @Test func nestedSubfieldExpectationsBecomePaths() throws {
        let fixture = try Fixture.parse(
            "{\"request\": \(Self.request), \"expect\": {\"fields\": {\"124\": {\"05\": {\"mandatory\": true}, \"13\": \"nfc\"}}}}", file: "x.json"
        )
        #expect(fixture.steps[0].expect?.checks.map(\.path) == ["124.05", "124.13"])
    }

    @Test func bareMessagesAreOneStepEach() throws {
        let fixture = try Fixture.parse("\(Self.request)\n\n\(Self.request)\n", file: "session.jsonl")
        #expect(fixture.isBareMessages)
        #expect(fixture.steps.map(\.name) == ["line 1", "line 3"])
        #expect(fixture.steps.allSatisfy { $0.expect == nil })
    }

    @Test func theShippedSuiteLoads() throws {
        let directory = CLI.root.appendingPathComponent("Fixtures/replay")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }
        #expect(files.count >= 18)
        for file in files {
            _ = try Fixture.load(path: directory.appendingPathComponent(file).path)
        }
    }

    @Test func theCommandRefusesABadFixtureBeforeSendingAnything() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("replay-bad-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("typo.json")
        try Data("{\"steps\": [\n  {\"request\": \(Self.request),\n   \"expect\": {\"fields\": {\"39\": {\"exakt\": \"00\"}}}}\n]}\n".utf8).write(to: file)
        let junit = directory.appendingPathComponent("junit.xml")
        // Port 1 has no listener: a run that sent anything would report a connection error instead.
        let result = try await CLI.run(["replay", file.path, "--target", "127.0.0.1:1", "--junit", junit.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("\(file.path):3:"), "\(result.stderr)")
        #expect(result.stderr.contains("steps[0].expect.fields.39.exakt"), "\(result.stderr)")
        #expect(result.stderr.contains("nothing sent"), "\(result.stderr)")
        let xml = try String(contentsOf: junit, encoding: .utf8)
        #expect(xml.contains("<error message=\""))
    }
}

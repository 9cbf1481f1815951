import FixtureReplay
import Testing

@Suite("Fixture replay: field matchers, each passing and failing")
struct FieldMatcherTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var matcher: FieldMatcher
        var actual: String?
        var request: String?
        var passes: Bool
        var testDescription: String { "\(self.name) \(self.passes ? "passes" : "fails")" }
    }

    static let cases: [Case] = [
        Case(name: "exact, same value", matcher: .exact(Template(literal: "00")), actual: "00", passes: true),
        Case(name: "exact, other value", matcher: .exact(Template(literal: "00")), actual: "51", passes: false),
        Case(name: "exact, field absent", matcher: .exact(Template(literal: "00")), actual: nil, passes: false),
        Case(name: "regex, whole value matches", matcher: .regex(Template(literal: "[0-9]{6}")), actual: "123456", passes: true),
        Case(name: "regex, a letter", matcher: .regex(Template(literal: "[0-9]{6}")), actual: "12345A", passes: false),
        Case(name: "regex, only a prefix matches", matcher: .regex(Template(literal: "[0-9]{6}")), actual: "1234567", passes: false),
        Case(name: "regex, field absent", matcher: .regex(Template(literal: ".*")), actual: nil, passes: false),
        Case(name: "mandatory, present", matcher: .mandatory, actual: "T17-1", passes: true),
        Case(name: "mandatory, present but empty", matcher: .mandatory, actual: "", passes: true),
        Case(name: "mandatory, absent", matcher: .mandatory, actual: nil, passes: false),
        Case(name: "absent, absent", matcher: .absent, actual: nil, passes: true),
        Case(name: "absent, present", matcher: .absent, actual: "123456", passes: false),
        Case(name: "echo, same as the request", matcher: .echo(nil), actual: "000123", request: "000123", passes: true),
        Case(name: "echo, differs from the request", matcher: .echo(nil), actual: "000124", request: "000123", passes: false),
        Case(name: "echo, response lacks it", matcher: .echo(nil), actual: nil, request: "000123", passes: false),
        Case(name: "echo, neither has it", matcher: .echo(nil), actual: nil, request: nil, passes: true),
        Case(name: "echo, response has it, request not", matcher: .echo(nil), actual: "000123", request: nil, passes: false),
        Case(name: "range, inside", matcher: .range(min: 1, max: 99_999), actual: "000000001500", passes: true),
        Case(name: "range, on the bounds", matcher: .range(min: 1500, max: 1500), actual: "000000001500", passes: true),
        Case(name: "range, above", matcher: .range(min: 1, max: 99_999), actual: "000000100000", passes: false),
        Case(name: "range, below", matcher: .range(min: 1, max: nil), actual: "000000000000", passes: false),
        Case(name: "range, debit sign", matcher: .range(min: -1000, max: 0), actual: "D0000000000000600", passes: true),
        Case(name: "range, credit sign", matcher: .range(min: -1000, max: 0), actual: "C0000000000000600", passes: false),
        Case(name: "range, not a number", matcher: .range(min: nil, max: nil), actual: "12A", passes: false),
        Case(name: "range, absent", matcher: .range(min: nil, max: nil), actual: nil, passes: false),
        Case(name: "oneOf, listed", matcher: .oneOf([Template(literal: "00"), Template(literal: "10")]), actual: "10", passes: true),
        Case(name: "oneOf, not listed", matcher: .oneOf([Template(literal: "00"), Template(literal: "10")]), actual: "51", passes: false),
    ]

    @Test(arguments: cases)
    func matcher(_ c: Case) throws {
        var context = ReplayContext()
        let mismatch = try c.matcher.check(c.actual, path: "11", request: { $0 == "11" ? c.request : nil }, context: &context)
        #expect((mismatch == nil) == c.passes)
    }

    @Test func echoReportsTheRequestValue() throws {
        var context = ReplayContext()
        let mismatch = try #require(try FieldMatcher.echo(nil).check("000124", path: "11", request: { _ in "000123" }, context: &context))
        #expect(mismatch.expected == .echo(path: "11", value: "000123"))
        #expect(mismatch.requestValue == "000123")
    }

    @Test func echoOfAnotherField() throws {
        var context = ReplayContext()
        let matcher = FieldMatcher.echo("37")
        let request = { (path: String) -> String? in path == "37" ? "000000000042" : nil }
        #expect(try matcher.check("000000000042", path: "124.05", request: request, context: &context) == nil)
        #expect(try matcher.check("000000000043", path: "124.05", request: request, context: &context) != nil)
    }

    @Test func expectedValuesUseVariables() throws {
        var context = ReplayContext(variables: ["auth": "639499"])
        let matcher = FieldMatcher.exact(try Template(parsing: "${auth}"))
        #expect(try matcher.check("639499", path: "38", request: { _ in nil }, context: &context) == nil)
        let mismatch = try #require(try matcher.check("111111", path: "38", request: { _ in nil }, context: &context))
        #expect(mismatch.expected == .value("639499"))
    }

    @Test func anUndefinedVariableIsAnError() throws {
        var context = ReplayContext()
        let matcher = FieldMatcher.exact(try Template(parsing: "${auth}"))
        #expect(throws: FixtureError.self) { try matcher.check("1", path: "38", request: { _ in nil }, context: &context) }
    }
}

@Suite("Fixture replay: templates and generated values")
struct TemplateTests {
    @Test func generatorsHaveTheirShapes() throws {
        // 2024-02-29 23:59:58 UTC
        var context = ReplayContext(
            identifiers: IdentifierSource(firstSTAN: 999_999, rrnBase: 123, seed: 7), clock: { 1_709_251_198 * 1_000_000_000 }
        )
        let template = try Template(parsing: "${new.stan}|${new.stan}|${new.rrn}|${new.rrn}|${new.nonce}|${now.datetime}|${now.date}|${now.time}")
        let parts = try template.resolve(&context).split(separator: "|").map(String.init)
        #expect(parts[0] == "999999")
        #expect(parts[1] == "000001")
        #expect(parts[2] == "000000000123")
        #expect(parts[3] == "000000000124")
        #expect(parts[4].count == 16 && parts[4].allSatisfy(\.isHexDigit))
        #expect(parts[5] == "0229235958")
        #expect(parts[6] == "0229")
        #expect(parts[7] == "235958")
    }

    @Test func literalDollarBracesAndVariables() throws {
        var context = ReplayContext(variables: ["wallet": "DC1"])
        #expect(try Template(parsing: "$${x} ${wallet} $5").resolve(&context) == "${x} DC1 $5")
        #expect(try Template(parsing: "plain").isLiteral)
        #expect(try Template(parsing: "a${wallet}").variables == ["wallet"])
    }

    @Test(arguments: ["${new.stun}", "${", "${not a name}", "${sign:}"])
    func badPlaceholdersAreRefused(_ text: String) {
        #expect(throws: FixtureError.self) { try Template(parsing: text) }
    }
}

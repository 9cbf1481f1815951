import Foundation
import ISO8583

/// Turns a live exchange into a fixture: the requests as written (placeholders kept) and, as the expectation of
/// each step, what the host answered.
///
/// Each response value becomes one matcher, chosen in this order:
/// 1. `{"echo": true}` when the request has the same value at the same path (STAN, RRN, amounts, wallets…);
/// 2. `{"mandatory": true}` when the path is volatile: it changes from run to run (``defaultVolatilePaths``:
///    authorization codes, transaction ids, coin ids, new wallets and keys, settlement dates and totals);
/// 3. the exact value otherwise (the response code, the processing code, the flow name…).
/// Composite fields (DE 48, DE 124) are asserted subfield by subfield. A step that got no answer within its
/// timeout records `"noResponse": true`.
public struct FixtureRecorder: Sendable {
    /// Paths whose values change on every run.
    public static let defaultVolatilePaths: Set<String> = [
        "7", "11", "12", "13", "15", "37", "38", "102", "124.01", "124.03", "124.05", "124.11",
        "74", "75", "76", "77", "86", "87", "88", "89", "97",
    ]

    /// Request fields that `freshIdentifiers` turns into generators, with their generator.
    public static let identifierGenerators: [(field: String, template: String)] = [
        ("7", "${now.datetime}"), ("11", "${new.stan}"), ("12", "${now.time}"), ("13", "${now.date}"), ("37", "${new.rrn}"),
    ]

    public var volatilePaths: Set<String>
    /// Replace literal DE 7, 11, 12, 13 and 37 in the recorded requests with generators, so the recorded fixture
    /// can be replayed without being a duplicate.
    public var freshIdentifiers: Bool
    /// Free text for the fixture's `description`.
    public var note: String?

    public init(volatilePaths: Set<String> = FixtureRecorder.defaultVolatilePaths, freshIdentifiers: Bool = false, note: String? = nil) {
        self.volatilePaths = volatilePaths
        self.freshIdentifiers = freshIdentifiers
        self.note = note
    }

    /// The recorded fixture document, or why it cannot be recorded (a step without a usable exchange).
    public func record(_ fixture: Fixture, result: FixtureResult) throws(FixtureError) -> FixtureJSON {
        if let problem = result.problem {
            throw FixtureError(.invalidValue, file: fixture.file, "not recorded: \(problem)")
        }
        var steps: [FixtureJSON] = []
        for (step, outcome) in zip(fixture.steps, result.steps) {
            guard outcome.status == .passed else {
                throw FixtureError(
                    .invalidValue, file: fixture.file, path: step.jsonPath,
                    "not recorded: step \"\(step.name)\" got no usable answer (\((outcome.problems.first ?? outcome.status.rawValue)))"
                )
            }
            var members: [FixtureJSON.Member] = [FixtureJSON.Member(key: "name", value: .string(step.name))]
            if let description = step.source["description"] { members.append(FixtureJSON.Member(key: "description", value: description)) }
            if let request = step.source["request"] {
                members.append(FixtureJSON.Member(key: "request", value: self.freshIdentifiers ? Self.withFreshIdentifiers(request) : request))
            } else if let repeated = step.source["repeat"] {
                members.append(FixtureJSON.Member(key: "repeat", value: repeated))
            }
            if let timeout = step.source["timeout"] { members.append(FixtureJSON.Member(key: "timeout", value: timeout)) }
            members.append(FixtureJSON.Member(key: "expect", value: self.expectation(request: outcome.request?.message, response: outcome.response, spec: fixture.spec)))
            if let capture = step.source["capture"] { members.append(FixtureJSON.Member(key: "capture", value: capture)) }
            if step.lenientResponse || outcome.response?.strictError != nil { members.append(FixtureJSON.Member(key: "lenient", value: .bool(true))) }
            steps.append(FixtureJSON(.object(members)))
        }
        var top: [FixtureJSON.Member] = [FixtureJSON.Member(key: "name", value: .string(fixture.name))]
        let description = [fixture.description, self.note].compactMap { $0 }.joined(separator: " ")
        if !description.isEmpty { top.append(FixtureJSON.Member(key: "description", value: .string(description))) }
        top.append(FixtureJSON.Member(key: "spec", value: .string(fixture.specName)))
        for key in ["signOn", "timeout", "framing", "variables"] {
            if !fixture.isBareMessages, let value = fixture.document[key] { top.append(FixtureJSON.Member(key: key, value: value)) }
        }
        top.append(FixtureJSON.Member(key: "steps", value: .array(steps)))
        return FixtureJSON(.object(top))
    }

    /// The `expect` object for one exchange.
    func expectation(request: ISO8583Message?, response: ReplayFrame?, spec: MessageSpec) -> FixtureJSON {
        guard let response, let message = response.message else { return .object([("noResponse", .bool(true))]) }
        var fields: [(String, FixtureJSON)] = []
        for number in message.fieldNumbers {
            let text = message[number] ?? ""
            if let layout = spec.field(number)?.subfields, let elements = try? Subfields.parse(text, as: layout, field: number), !elements.isEmpty {
                for element in elements {
                    let path = "\(number).\(element.id)"
                    let requested = request.flatMap { (try? $0.value(at: FieldPath(field: number, subfield: element.id), spec: spec)) ?? nil }
                    fields.append((path, self.matcher(path: path, value: element.value, requested: requested)))
                }
            } else {
                fields.append((String(number), self.matcher(path: String(number), value: text, requested: request?[number])))
            }
        }
        return .object([("mti", .string(message.mti.description)), ("fields", .object(fields))])
    }

    func matcher(path: String, value: String, requested: String?) -> FixtureJSON {
        if requested == value { return .object([("echo", .bool(true))]) }
        if self.volatilePaths.contains(path) { return .object([("mandatory", .bool(true))]) }
        return .string(value.replacingDollarBraces())
    }

    static func withFreshIdentifiers(_ request: FixtureJSON) -> FixtureJSON {
        guard var members = request.members, let fieldsIndex = members.firstIndex(where: { $0.key == "fields" }),
              var fields = members[fieldsIndex].value.members else { return request }
        for (field, template) in Self.identifierGenerators {
            if let i = fields.firstIndex(where: { $0.key == field }), let text = fields[i].value.scalarText, !text.contains("${") {
                fields[i].value = .string(template)
            }
        }
        members[fieldsIndex].value = FixtureJSON(.object(fields))
        return FixtureJSON(.object(members), line: request.line, column: request.column)
    }
}

extension String {
    /// `${` written as `$${`, so a recorded value is not read as a placeholder.
    func replacingDollarBraces() -> String {
        var out = ""
        var rest = Substring(self)
        while let range = rest.range(of: "${") {
            out += rest[..<range.lowerBound] + "$${"
            rest = rest[range.upperBound...]
        }
        return out + rest
    }
}

import ISO8583

/// One assertion about one field (or subfield, or the MTI) of a response.
///
/// In a fixture a plain string is ``exact(_:)``; an object names the matcher: `{"regex": "^\\d{6}$"}`,
/// `{"mandatory": true}`, `{"absent": true}`, `{"echo": true}` (or `{"echo": "37"}` for another request
/// field), `{"range": [1, 99999]}`, `{"oneOf": ["00", "10"]}`. An object with several matchers needs all of them.
public enum FieldMatcher: Sendable, Hashable {
    /// The value is exactly this text (placeholders filled in first).
    case exact(Template)
    /// The whole value matches this regular expression (placeholders filled in first).
    case regex(Template)
    /// The field is present, whatever its value.
    case mandatory
    /// The field is not there.
    case absent
    /// The value equals the request's value at this path (`nil`: the same path as the field's).
    case echo(FieldPath?)
    /// The value is an integer within the bounds (inclusive). A leading `C` or `+` is positive, `D` or `-`
    /// negative (DE 97's credit/debit sign).
    case range(min: Int64?, max: Int64?)
    /// The value is one of these texts.
    case oneOf([Template])

    /// The matcher names a fixture may use.
    public static let names = ["exact", "regex", "mandatory", "absent", "echo", "range", "oneOf"]

    /// The outcome of one check: `nil` when it holds.
    public struct Mismatch: Sendable, Hashable {
        /// What was expected, for people (`"00"`, `present`, `matching /^\d{6}$/`); values not yet masked.
        public var expected: Expected
        /// The request's value, for ``FieldMatcher/echo(_:)``.
        public var requestValue: String?
        /// Why, when it is not obvious from expected and actual (a bad regex, a non-numeric value).
        public var note: String?
    }

    /// What a matcher expected, kept apart from its text so the report can mask values.
    public enum Expected: Sendable, Hashable {
        case value(String)
        case pattern(String)
        case present
        case absent
        case echo(path: String, value: String?)
        case range(min: Int64?, max: Int64?)
        case oneOf([String])
    }

    /// Checks `actual` (`nil` when the field is absent).
    ///
    /// - Parameters:
    ///   - actual: the response's value.
    ///   - path: the field's path (for ``echo(_:)`` without a path).
    ///   - request: the request's value at a path.
    ///   - context: variables for placeholders.
    public func check(
        _ actual: String?, path: String, request: (String) -> String?, context: inout ReplayContext
    ) throws(FixtureError) -> Mismatch? {
        switch self {
        case .exact(let template):
            let expected = try template.resolve(&context)
            return actual == expected ? nil : Mismatch(expected: .value(expected))
        case .regex(let template):
            let pattern = try template.resolve(&context)
            let regex: Regex<AnyRegexOutput>
            do {
                regex = try Regex(pattern)
            } catch {
                throw FixtureError(.invalidMatcher, "invalid regex /\(pattern)/: \(error)")
            }
            guard let actual else { return Mismatch(expected: .pattern(pattern)) }
            return (try? regex.wholeMatch(in: actual)) != nil ? nil : Mismatch(expected: .pattern(pattern))
        case .mandatory:
            return actual != nil ? nil : Mismatch(expected: .present)
        case .absent:
            return actual == nil ? nil : Mismatch(expected: .absent)
        case .echo(let other):
            let source = other?.description ?? path
            let requested = request(source)
            guard let requested else {
                return actual == nil ? nil : Mismatch(expected: .echo(path: source, value: nil), note: "the request has no \(Self.label(source))")
            }
            return actual == requested ? nil : Mismatch(expected: .echo(path: source, value: requested), requestValue: requested)
        case .range(let min, let max):
            guard let actual else { return Mismatch(expected: .range(min: min, max: max)) }
            guard let number = Self.integer(actual) else {
                return Mismatch(expected: .range(min: min, max: max), note: "not an integer")
            }
            if let min, number < min { return Mismatch(expected: .range(min: min, max: max)) }
            if let max, number > max { return Mismatch(expected: .range(min: min, max: max)) }
            return nil
        case .oneOf(let templates):
            var values: [String] = []
            for template in templates { values.append(try template.resolve(&context)) }
            if let actual, values.contains(actual) { return nil }
            return Mismatch(expected: .oneOf(values))
        }
    }

    /// `"000000001500"` → 1500, `"D0000000000000600"` → -600; `nil` for anything else.
    static func integer(_ text: String) -> Int64? {
        var body = Substring(text)
        var sign: Int64 = 1
        if let first = body.first, "CD+-".contains(first) {
            sign = (first == "D" || first == "-") ? -1 : 1
            body = body.dropFirst()
        }
        guard !body.isEmpty, body.count <= 18, body.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(body) else { return nil }
        return sign * value
    }

    /// `"DE 39"`, `"DE 124.05"`, `"MTI"`.
    static func label(_ path: String) -> String {
        path == "mti" ? "MTI" : "DE " + path
    }
}

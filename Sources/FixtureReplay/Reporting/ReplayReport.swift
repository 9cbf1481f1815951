import ISO8583

/// The results of a replay run and their text form for people: a line per fixture, a field-level diff per
/// failing step, a summary. Sensitive values are masked (the spec says which) unless `reveal`.
public struct ReplayReport: Sendable {
    public var results: [FixtureResult]
    /// `HOST:PORT`.
    public var target: String
    /// Seconds for the whole run.
    public var duration: Double

    public init(results: [FixtureResult], target: String, duration: Double) {
        self.results = results
        self.target = target
        self.duration = duration
    }

    public var passed: Bool { !self.results.isEmpty && self.results.allSatisfy(\.passed) }

    public struct Counts: Sendable, Hashable {
        public var fixtures = 0, fixturesPassed = 0, fixturesFailed = 0
        public var steps = 0, stepsPassed = 0, stepsFailed = 0, stepsErrored = 0, stepsSkipped = 0
    }

    public var counts: Counts {
        var counts = Counts()
        for result in self.results {
            counts.fixtures += 1
            if result.passed { counts.fixturesPassed += 1 } else { counts.fixturesFailed += 1 }
            for step in result.steps {
                counts.steps += 1
                switch step.status {
                case .passed: counts.stepsPassed += 1
                case .failed: counts.stepsFailed += 1
                case .error: counts.stepsErrored += 1
                case .skipped: counts.stepsSkipped += 1
                }
            }
        }
        return counts
    }

    /// The lines for one fixture: `PASS name (…)`, then, for a failure or when `verbose`, its steps.
    public static func lines(for result: FixtureResult, reveal: Bool, verbose: Bool) -> [String] {
        let steps = result.steps.count == 1 ? "1 step" : "\(result.steps.count) steps"
        var lines = ["\(result.passed ? "PASS" : "FAIL")  \(result.name)  (\(steps), \(Self.milliseconds(result.duration)))  \(result.file)"]
        if let problem = result.problem {
            lines.append("      \(problem)")
            return lines
        }
        guard !result.passed || verbose else { return lines }
        for (index, step) in result.steps.enumerated() {
            let answer = step.response.map { frame in
                " → " + (frame.message.map { $0.mti.description } ?? "undecodable") + " in " + Self.milliseconds(step.duration)
            } ?? ""
            switch step.status {
            case .passed:
                lines.append("      ok    step \(index + 1) \"\(step.name)\"\(answer)")
            case .skipped:
                lines.append("      skip  step \(index + 1) \"\(step.name)\": an earlier step did not pass")
                continue
            case .failed, .error:
                lines.append("      \(step.status == .failed ? "FAIL " : "ERROR") step \(index + 1) \"\(step.name)\"\(answer)")
            }
            for problem in step.problems { lines.append("            \(problem)") }
            let differences = step.differences.map { difference in
                (Self.label(difference.path), Self.expectedText(difference, spec: result.spec, reveal: reveal),
                 Self.valueText(difference.actual, path: difference.path, spec: result.spec, reveal: reveal) + (difference.note.map { " (\($0))" } ?? ""))
            }
            let labelWidth = differences.map(\.0.count).max() ?? 0
            let expectedWidth = min(differences.map(\.1.count).max() ?? 0, 60)
            for (label, expected, actual) in differences {
                lines.append("            " + Self.pad(label, labelWidth) + "  expected " + Self.pad(expected, expectedWidth) + "  actual " + actual)
            }
            if step.status != .passed || verbose {
                if let message = step.request?.message {
                    lines.append("            request:  " + Self.describe(message, spec: result.spec, reveal: reveal))
                }
                if let message = step.response?.message {
                    lines.append("            response: " + Self.describe(message, spec: result.spec, reveal: reveal))
                } else if let frame = step.response {
                    lines.append("            response: \(frame.bytes.count) bytes that do not decode")
                }
            }
        }
        return lines
    }

    /// `Replayed 12 fixtures against 127.0.0.1:8583 in 1.2 s: 11 passed, 1 failed; steps: 30 passed, 1 failed, 0 errors, 2 skipped`
    public var summary: String {
        let c = self.counts
        return "Replayed \(c.fixtures) fixture\(c.fixtures == 1 ? "" : "s") against \(self.target) in \(Self.milliseconds(self.duration)): "
            + "\(c.fixturesPassed) passed, \(c.fixturesFailed) failed; steps: \(c.stepsPassed) passed, \(c.stepsFailed) failed, "
            + "\(c.stepsErrored) errors, \(c.stepsSkipped) skipped"
    }

    // MARK: Formatting

    static func label(_ path: String) -> String { FieldMatcher.label(path) }

    static func expectedText(_ difference: FieldDifference, spec: MessageSpec?, reveal: Bool) -> String {
        switch difference.expected {
        case .value(let value): return Self.valueText(value, path: difference.path, spec: spec, reveal: reveal)
        case .pattern(let pattern): return "matching /\(pattern)/"
        case .present: return "present"
        case .absent: return "absent"
        case .echo(let path, let value):
            let source = path == difference.path ? "the request's" : "the request's \(Self.label(path))"
            guard let value else { return "\(source) value (absent)" }
            return "\(source) " + Self.valueText(value, path: path, spec: spec, reveal: reveal)
        case .range(let min, let max):
            return "an integer in [\(min.map(String.init) ?? "…"), \(max.map(String.init) ?? "…")]"
        case .oneOf(let values):
            return "one of " + values.map { Self.valueText($0, path: difference.path, spec: spec, reveal: reveal) }.joined(separator: ", ")
        }
    }

    /// A value quoted and masked as its path's sensitivity says; `absent` for `nil`.
    static func valueText(_ value: String?, path: String, spec: MessageSpec?, reveal: Bool) -> String {
        guard let value else { return "absent" }
        return FixtureJSON.quote(Self.mask(value, path: path, spec: spec, reveal: reveal))
    }

    static func mask(_ value: String, path: String, spec: MessageSpec?, reveal: Bool) -> String {
        guard !reveal, path != "mti", let spec, let fieldPath = try? FieldPath(parsing: path) else { return value }
        var sensitivity = spec.sensitivity(of: fieldPath)
        if sensitivity == .none, fieldPath.subfield == nil, let layout = spec.field(fieldPath.field)?.subfields,
           let elements = try? Subfields.parse(value, as: layout, field: fieldPath.field) {
            // A composite field compared whole: mask its sensitive elements in place.
            let masked = elements.map { Subfield(id: $0.id, value: Self.mask($0.value, path: "\(fieldPath.field).\($0.id)", spec: spec, reveal: false)) }
            return (try? Subfields.build(masked, as: layout, field: fieldPath.field)) ?? String(repeating: "*", count: value.count)
        }
        if sensitivity == .none, fieldPath.subfield != nil, spec.sensitivity(of: FieldPath(field: fieldPath.field)) != .none {
            sensitivity = .full
        }
        return Masking.mask(value, as: sensitivity)
    }

    /// `0210 3=009000 … 124{05=T17-1 13=nfc}`: composite fields by subfield, each masked as the spec says.
    static func describe(_ message: ISO8583Message, spec: MessageSpec?, reveal: Bool) -> String {
        var text = message.mti.description
        for number in message.fieldNumbers {
            let value = message[number] ?? ""
            if let layout = spec?.field(number)?.subfields, let elements = try? Subfields.parse(value, as: layout, field: number) {
                let inner = elements.map { "\($0.id)=" + Self.mask($0.value, path: "\(number).\($0.id)", spec: spec, reveal: reveal) }
                text += " \(number){" + inner.joined(separator: " ") + "}"
            } else {
                text += " \(number)=" + Self.mask(value, path: String(number), spec: spec, reveal: reveal)
            }
        }
        return text
    }

    static func milliseconds(_ seconds: Double) -> String {
        if seconds >= 10 { return "\(Int(seconds.rounded())) s" }
        if seconds >= 1 { return "\(Double(Int(seconds * 10)) / 10) s" }
        return "\(Int((seconds * 1000).rounded())) ms"
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}

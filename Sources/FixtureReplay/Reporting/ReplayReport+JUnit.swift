extension ReplayReport {
    /// The run as JUnit XML, the form CI servers read: a `<testsuite>` per fixture, a `<testcase>` per step
    /// (`classname` = the fixture's name), `<failure>` for a mismatch with the field-level diff in its text,
    /// `<error>` for a step without a usable response, `<skipped/>` for steps after a failure. A fixture that
    /// could not run at all is one `<testcase>` with an `<error>`.
    public func junitXML(reveal: Bool = false) -> String {
        let c = self.counts
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        let unrunnable = self.results.filter { $0.problem != nil }.count
        xml += "<testsuites name=\"dcswitch replay\" tests=\"\(c.steps + unrunnable)\" failures=\"\(c.stepsFailed)\" "
            + "errors=\"\(c.stepsErrored + unrunnable)\" skipped=\"\(c.stepsSkipped)\" time=\"\(Self.xmlSeconds(self.duration))\">\n"
        for result in self.results {
            let failures = result.steps.filter { $0.status == .failed }.count
            let errors = result.steps.filter { $0.status == .error }.count + (result.problem == nil ? 0 : 1)
            let skipped = result.steps.filter { $0.status == .skipped }.count
            let tests = result.steps.count + (result.problem == nil ? 0 : 1)
            xml += "  <testsuite name=\"\(Self.escape(result.name))\" tests=\"\(tests)\" failures=\"\(failures)\" errors=\"\(errors)\" "
                + "skipped=\"\(skipped)\" time=\"\(Self.xmlSeconds(result.duration))\" file=\"\(Self.escape(result.file))\">\n"
            if let problem = result.problem {
                xml += "    <testcase classname=\"\(Self.escape(result.name))\" name=\"fixture\" time=\"0\" file=\"\(Self.escape(result.file))\">\n"
                xml += "      <error message=\"\(Self.escape(problem))\" type=\"fixture\"/>\n"
                xml += "    </testcase>\n"
            }
            for (index, step) in result.steps.enumerated() {
                xml += "    <testcase classname=\"\(Self.escape(result.name))\" name=\"\(Self.escape("\(index + 1) \(step.name)"))\" "
                    + "time=\"\(Self.xmlSeconds(step.duration))\" file=\"\(Self.escape(result.file))\""
                let detail = Self.stepDetail(step, result: result, reveal: reveal)
                switch step.status {
                case .passed:
                    xml += "/>\n"
                case .skipped:
                    xml += ">\n      <skipped message=\"an earlier step did not pass\"/>\n    </testcase>\n"
                case .failed, .error:
                    let tag = step.status == .failed ? "failure" : "error"
                    let message = step.problems.first ?? detail.first ?? "failed"
                    xml += ">\n      <\(tag) message=\"\(Self.escape(message))\" type=\"\(step.status == .failed ? "mismatch" : "exchange")\">"
                        + Self.escape(detail.joined(separator: "\n")) + "</\(tag)>\n    </testcase>\n"
                }
            }
            xml += "  </testsuite>\n"
        }
        xml += "</testsuites>\n"
        return xml
    }

    /// The diff lines of a step: `DE 39: expected "00", actual "51"`.
    static func stepDetail(_ step: StepResult, result: FixtureResult, reveal: Bool) -> [String] {
        var lines = step.problems
        for difference in step.differences {
            var line = "\(Self.label(difference.path)): expected \(Self.expectedText(difference, spec: result.spec, reveal: reveal)), "
                + "actual \(Self.valueText(difference.actual, path: difference.path, spec: result.spec, reveal: reveal))"
            if let note = difference.note { line += " (\(note))" }
            lines.append(line)
        }
        if step.status != .passed, let message = step.response?.message {
            lines.append("response: " + Self.describe(message, spec: result.spec, reveal: reveal))
        }
        return lines
    }

    static func xmlSeconds(_ seconds: Double) -> String {
        let millis = Int((seconds * 1000).rounded())
        let fraction = String(millis % 1000)
        return "\(millis / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    /// Text for XML attributes and content: `&`, `<`, `>`, quotes, and control characters XML 1.0 cannot hold.
    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n", "\t": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    out += "?"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}

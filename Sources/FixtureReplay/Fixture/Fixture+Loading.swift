import Foundation
import ISO8583
import ISO8583Network

extension Fixture {
    /// Loads a fixture file.
    ///
    /// Besides fixture documents (`{"steps": [...]}`, or one step's keys at the top level), it takes bare
    /// requests in the `iso decode` form: a file holding one `{"mti": …, "fields": …}` object, or a `.jsonl`
    /// file with one per line. Those have no expectations; `--record` fills them in.
    ///
    /// - Parameters:
    ///   - path: the file.
    ///   - defaultSpec: the spec name for fixtures that name none.
    /// - Throws: ``FixtureError`` naming the file, the JSON path and the line.
    public static func load(path: String, defaultSpec: String = "dcswitch-1987") throws(FixtureError) -> Fixture {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw FixtureError(.unreadableFile, file: path, "cannot read the file: \(error.localizedDescription)")
        }
        return try Self.parse(text, file: path, defaultSpec: defaultSpec)
    }

    /// Parses fixture text; `file` names it in errors and gives the default name.
    public static func parse(_ text: String, file: String, defaultSpec: String = "dcswitch-1987") throws(FixtureError) -> Fixture {
        do {
            return try Self.parseDocument(text, file: file, defaultSpec: defaultSpec)
        } catch {
            throw error.inFile(file)
        }
    }

    private static func parseDocument(_ text: String, file: String, defaultSpec: String) throws(FixtureError) -> Fixture {
        let baseName = Self.baseName(of: file)
        if file.hasSuffix(".jsonl") {
            var steps: [FixtureJSON] = []
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty { continue }
                do {
                    var message = try FixtureJSON.parse(trimmed)
                    message.line = index + 1
                    steps.append(.object([("name", .string("line \(index + 1)")), ("request", message)]))
                } catch {
                    var error = error
                    error.line = index + 1
                    throw error
                }
            }
            guard !steps.isEmpty else { throw FixtureError(.invalidValue, "no message in the file") }
            let document = FixtureJSON.object([("name", .string(baseName)), ("steps", .array(steps))])
            var loader = Loader(file: file, defaultSpec: defaultSpec)
            var fixture = try loader.fixture(document, baseName: baseName)
            fixture.isBareMessages = true
            return fixture
        }
        let json = try FixtureJSON.parse(text)
        guard let members = json.members else {
            throw FixtureError(.invalidValue, at: json, path: "", "a fixture is a JSON object, found \(json.kindName)")
        }
        var loader = Loader(file: file, defaultSpec: defaultSpec)
        if json["steps"] != nil {
            return try loader.fixture(json, baseName: baseName)
        }
        if json["request"] != nil || json["repeat"] != nil {
            // One step written at the top level: split the keys between the fixture and its step.
            let fixtureKeys: Set<String> = ["name", "description", "spec", "signOn", "timeout", "framing", "variables"]
            let stepKeys: Set<String> = ["request", "expect", "capture", "lenient"]
            var top: [FixtureJSON.Member] = []
            var step: [FixtureJSON.Member] = []
            for member in members {
                if stepKeys.contains(member.key) {
                    step.append(member)
                } else {
                    top.append(member)
                    if !fixtureKeys.contains(member.key) { step.append(member) }
                }
            }
            top.append(FixtureJSON.Member(key: "steps", value: FixtureJSON(.array([FixtureJSON(.object(step), line: json.line, column: json.column)]))))
            loader.singleStep = true
            var fixture = try loader.fixture(FixtureJSON(.object(top), line: json.line, column: json.column), baseName: baseName)
            fixture.document = json
            return fixture
        }
        if json["mti"] != nil || json["hex"] != nil {
            let document = FixtureJSON.object([("name", .string(baseName)), ("steps", .array([.object([("name", .string("request")), ("request", json)])]))])
            var fixture = try loader.fixture(document, baseName: baseName)
            fixture.isBareMessages = true
            return fixture
        }
        throw FixtureError(
            .missingKey, at: json, path: "",
            "expected \"steps\" (a fixture), \"request\" (a one-step fixture) or \"mti\" (a bare message)"
        )
    }

    static func baseName(of file: String) -> String {
        var name = URL(fileURLWithPath: file).lastPathComponent
        for suffix in [".jsonl", ".json"] where name.hasSuffix(suffix) {
            name.removeLast(suffix.count)
        }
        return name
    }
}

/// Walks a fixture document, turning every problem into a ``FixtureError`` with its JSON path.
private struct Loader {
    let file: String
    let defaultSpec: String
    var singleStep = false
    var spec: MessageSpec?

    init(file: String, defaultSpec: String) {
        self.file = file
        self.defaultSpec = defaultSpec
    }

    mutating func fixture(_ json: FixtureJSON, baseName: String) throws(FixtureError) -> Fixture {
        let stepKeys = ["request", "repeat", "expect", "capture", "lenient"]
        try self.allowOnly(
            json, path: "",
            ["name", "description", "spec", "signOn", "timeout", "framing", "variables", "steps"] + (self.singleStep ? stepKeys : [])
        )
        let name = try self.string(json["name"], path: "name") ?? baseName
        let description = try self.string(json["description"], path: "description")
        let specName = try self.string(json["spec"], path: "spec") ?? self.defaultSpec
        let spec: MessageSpec
        do {
            spec = try MessageSpec.load(nameOrPath: self.resolveSpecPath(specName))
        } catch {
            throw FixtureError(.invalidSpec, at: json["spec"], path: "spec", "spec \(specName): \(error.message)")
        }
        self.spec = spec
        let signOn = try self.bool(json["signOn"], path: "signOn") ?? true
        let timeout = try self.seconds(json["timeout"], path: "timeout")
        var framing: ISO8583Framing.LengthPrefix?
        if let node = json["framing"] {
            guard let text = node.scalarText, let prefix = ISO8583Framing.LengthPrefix(name: text) else {
                throw FixtureError(.invalidValue, at: node, path: "framing", "expected one of \(ISO8583Framing.LengthPrefix.names.joined(separator: ", "))")
            }
            framing = prefix
        }
        var variables: [(name: String, value: Template)] = []
        if let node = json["variables"] {
            guard let members = node.members else {
                throw FixtureError(.invalidValue, at: node, path: "variables", "expected an object of name: value, found \(node.kindName)")
            }
            for member in members {
                let path = "variables." + member.key
                _ = try self.template("${\(member.key)}", node: member.value, path: path)
                guard let text = member.value.scalarText else {
                    throw FixtureError(.invalidValue, at: member.value, path: path, "expected a string, found \(member.value.kindName)")
                }
                variables.append((member.key, try self.template(text, node: member.value, path: path)))
            }
        }
        guard let stepsNode = json["steps"] else { throw FixtureError(.missingKey, at: json, path: "", "missing \"steps\"") }
        guard case .array(let items) = stepsNode.value, !items.isEmpty else {
            throw FixtureError(.invalidValue, at: stepsNode, path: "steps", "expected a non-empty array of steps")
        }
        var steps: [FixtureStep] = []
        for (index, item) in items.enumerated() {
            let path = self.singleStep ? "" : "steps[\(index)]"
            steps.append(try self.step(item, index: index, path: path, earlier: steps))
        }
        return Fixture(
            file: self.file, name: name, description: description, spec: spec, specName: specName, signOn: signOn, timeout: timeout,
            framing: framing, variables: variables, steps: steps, document: json, isBareMessages: false
        )
    }

    /// A spec path relative to the fixture file, when it is not a built-in name and not found as given.
    func resolveSpecPath(_ name: String) -> String {
        guard name.contains("/") || name.hasSuffix(".json"), !name.hasPrefix("/"), !FileManager.default.fileExists(atPath: name) else { return name }
        let candidate = URL(fileURLWithPath: self.file).deletingLastPathComponent().appendingPathComponent(name).path
        return FileManager.default.fileExists(atPath: candidate) ? candidate : name
    }

    func step(_ json: FixtureJSON, index: Int, path: String, earlier: [FixtureStep]) throws(FixtureError) -> FixtureStep {
        guard json.members != nil else {
            throw FixtureError(.invalidValue, at: json, path: path, "a step is an object, found \(json.kindName)")
        }
        if !self.singleStep {
            try self.allowOnly(json, path: path, ["name", "description", "request", "repeat", "expect", "capture", "timeout", "lenient"])
        }
        let name = try self.string(json["name"], path: join(path, "name")) ?? "step \(index + 1)"
        let request: RequestSource
        switch (json["request"], json["repeat"]) {
        case (let node?, nil):
            request = try self.request(node, path: join(path, "request"))
        case (nil, let node?):
            let target = try self.string(node, path: join(path, "repeat"))
            guard let found = earlier.firstIndex(where: { $0.name == target }) else {
                throw FixtureError(
                    .invalidValue, at: node, path: join(path, "repeat"),
                    "no earlier step named \(FixtureJSON.quote(target ?? "")) (earlier: \(earlier.map { FixtureJSON.quote($0.name) }.joined(separator: ", ")))"
                )
            }
            request = .repeatStep(found)
        case (nil, nil):
            throw FixtureError(.missingKey, at: json, path: path, "a step needs \"request\" (a message) or \"repeat\" (an earlier step's name)")
        case (_?, _?):
            throw FixtureError(.invalidValue, at: json, path: path, "give either \"request\" or \"repeat\", not both")
        }
        var expect: Expectation?
        if let node = json["expect"] {
            expect = try self.expectation(node, path: join(path, "expect"))
        }
        var captures: [Capture] = []
        if let node = json["capture"] {
            guard let members = node.members else {
                throw FixtureError(.invalidValue, at: node, path: join(path, "capture"), "expected an object of variable: field path")
            }
            for member in members {
                let capturePath = join(path, "capture." + member.key)
                _ = try self.template("${\(member.key)}", node: member.value, path: capturePath)
                guard var text = member.value.scalarText else {
                    throw FixtureError(.invalidValue, at: member.value, path: capturePath, "expected a field path such as \"38\" or \"124.05\"")
                }
                var fromRequest = false
                if text.hasPrefix("request.") {
                    fromRequest = true
                    text.removeFirst("request.".count)
                } else if text.hasPrefix("response.") {
                    text.removeFirst("response.".count)
                }
                captures.append(Capture(name: member.key, path: try self.fieldPath(text, node: member.value, path: capturePath), fromRequest: fromRequest))
            }
        }
        return FixtureStep(
            name: name, request: request, expect: expect, captures: captures,
            timeout: try self.seconds(json["timeout"], path: join(path, "timeout")),
            lenientResponse: try self.bool(json["lenient"], path: join(path, "lenient")) ?? false,
            jsonPath: path, source: json
        )
    }

    func request(_ json: FixtureJSON, path: String) throws(FixtureError) -> RequestSource {
        guard json.members != nil else {
            throw FixtureError(.invalidValue, at: json, path: path, "expected {\"mti\": …, \"fields\": {…}} or {\"hex\": …}, found \(json.kindName)")
        }
        if let hex = json["hex"] {
            try self.allowOnly(json, path: path, ["hex"])
            guard let text = hex.scalarText else { throw FixtureError(.invalidValue, at: hex, path: join(path, "hex"), "expected hex text") }
            let compact = text.filter { !$0.isWhitespace }
            let template = try self.template(compact, node: hex, path: join(path, "hex"))
            if template.isLiteral, compact.count % 2 != 0 || !compact.allSatisfy(\.isHexDigit) {
                throw FixtureError(.invalidValue, at: hex, path: join(path, "hex"), "expected an even number of hex digits")
            }
            return .hex(template)
        }
        try self.allowOnly(json, path: path, ["mti", "header", "fields"])
        guard let mtiNode = json["mti"] else { throw FixtureError(.missingKey, at: json, path: path, "missing \"mti\"") }
        guard let mtiText = mtiNode.scalarText else { throw FixtureError(.invalidValue, at: mtiNode, path: join(path, "mti"), "expected four digits") }
        let mti = try self.template(mtiText, node: mtiNode, path: join(path, "mti"))
        if mti.isLiteral, MTI(mtiText) == nil {
            throw FixtureError(.invalidValue, at: mtiNode, path: join(path, "mti"), "expected four digits, found \(FixtureJSON.quote(mtiText))")
        }
        var header: Template?
        if let node = json["header"] {
            guard let text = node.scalarText else { throw FixtureError(.invalidValue, at: node, path: join(path, "header"), "expected hex text") }
            header = try self.template(text, node: node, path: join(path, "header"))
        }
        var fields: [(number: Int, value: MessageTemplate.Value)] = []
        if let node = json["fields"] {
            guard let members = node.members else {
                throw FixtureError(.invalidValue, at: node, path: join(path, "fields"), "expected an object keyed by field number")
            }
            let spec = self.spec!
            for member in members {
                let fieldPath = join(path, "fields." + member.key)
                guard let number = Int(member.key), number >= 2, number <= spec.maximumField else {
                    throw FixtureError(.invalidPath, at: member.value, path: fieldPath, "\(FixtureJSON.quote(member.key)) is not a field number 2–\(spec.maximumField)")
                }
                guard spec.field(number) != nil else {
                    throw FixtureError(.invalidPath, at: member.value, path: fieldPath, "spec \(spec.name) has no field \(number)")
                }
                switch member.value.value {
                case .string(let text), .number(let text):
                    fields.append((number, .text(try self.template(text, node: member.value, path: fieldPath))))
                case .object(let elements):
                    guard let layout = spec.field(number)?.subfields else {
                        throw FixtureError(.invalidValue, at: member.value, path: fieldPath, "spec \(spec.name) defines no subfields for field \(number): give its value as text")
                    }
                    var subfields: [(id: String, value: Template)] = []
                    for element in elements {
                        let elementPath = fieldPath + "." + element.key
                        if case .berTLV = layout {} else if layout.element(element.key) == nil {
                            throw FixtureError(.invalidPath, at: element.value, path: elementPath, "spec \(spec.name) has no subfield \(number).\(element.key)")
                        }
                        guard let text = element.value.scalarText else {
                            throw FixtureError(.invalidValue, at: element.value, path: elementPath, "expected a string, found \(element.value.kindName)")
                        }
                        subfields.append((element.key, try self.template(text, node: element.value, path: elementPath)))
                    }
                    fields.append((number, .subfields(subfields)))
                default:
                    throw FixtureError(.invalidValue, at: member.value, path: fieldPath, "expected a string, or an object of subfields, found \(member.value.kindName)")
                }
            }
        }
        return .message(MessageTemplate(mti: mti, header: header, fields: fields))
    }

    func expectation(_ json: FixtureJSON, path: String) throws(FixtureError) -> Expectation {
        guard json.members != nil else {
            throw FixtureError(.invalidValue, at: json, path: path, "expected {\"mti\": …, \"fields\": {…}}, found \(json.kindName)")
        }
        try self.allowOnly(json, path: path, ["mti", "fields", "noResponse"])
        let noResponse = try self.bool(json["noResponse"], path: join(path, "noResponse")) ?? false
        var checks: [Expectation.Check] = []
        if let node = json["mti"] {
            checks.append(Expectation.Check(path: "mti", matchers: try self.matchers(node, path: join(path, "mti"), fieldPath: nil)))
        }
        if let node = json["fields"] {
            guard let members = node.members else {
                throw FixtureError(.invalidValue, at: node, path: join(path, "fields"), "expected an object keyed by field path (\"39\", \"124.05\")")
            }
            for member in members {
                let jsonPath = join(path, "fields." + member.key)
                let fieldPath = try self.fieldPath(member.key, node: member.value, path: jsonPath)
                // A nested object of subfields: "124": {"05": {"mandatory": true}}.
                if fieldPath.subfield == nil, let elements = member.value.members, !elements.isEmpty,
                   elements.allSatisfy({ !FieldMatcher.names.contains($0.key) }), self.spec!.field(fieldPath.field)?.subfields != nil {
                    for element in elements {
                        let subPath = try self.fieldPath(member.key + "." + element.key, node: element.value, path: jsonPath + "." + element.key)
                        checks.append(Expectation.Check(
                            path: subPath.description, matchers: try self.matchers(element.value, path: jsonPath + "." + element.key, fieldPath: subPath)
                        ))
                    }
                    continue
                }
                checks.append(Expectation.Check(path: fieldPath.description, matchers: try self.matchers(member.value, path: jsonPath, fieldPath: fieldPath)))
            }
        }
        if noResponse, !checks.isEmpty {
            throw FixtureError(.invalidValue, at: json, path: path, "\"noResponse\": true cannot be combined with checks of the response")
        }
        return Expectation(noResponse: noResponse, checks: checks)
    }

    func matchers(_ json: FixtureJSON, path: String, fieldPath: FieldPath?) throws(FixtureError) -> [FieldMatcher] {
        switch json.value {
        case .string(let text), .number(let text):
            return [.exact(try self.template(text, node: json, path: path))]
        case .null:
            return [.absent]
        case .object(let members) where !members.isEmpty:
            var matchers: [FieldMatcher] = []
            for member in members {
                let matcherPath = path + "." + member.key
                let node = member.value
                switch member.key {
                case "exact":
                    guard let text = node.scalarText else { throw FixtureError(.invalidMatcher, at: node, path: matcherPath, "expected the value as a string") }
                    matchers.append(.exact(try self.template(text, node: node, path: matcherPath)))
                case "regex":
                    guard case .string(let text) = node.value else { throw FixtureError(.invalidMatcher, at: node, path: matcherPath, "expected a regular expression as a string") }
                    let template = try self.template(text, node: node, path: matcherPath)
                    if template.isLiteral {
                        do {
                            _ = try Regex(text)
                        } catch {
                            throw FixtureError(.invalidMatcher, at: node, path: matcherPath, "invalid regular expression /\(text)/: \(error)")
                        }
                    }
                    matchers.append(.regex(template))
                case "mandatory", "absent":
                    guard case .bool(true) = node.value else {
                        throw FixtureError(.invalidMatcher, at: node, path: matcherPath, "write \"\(member.key)\": true")
                    }
                    matchers.append(member.key == "mandatory" ? .mandatory : .absent)
                case "echo":
                    switch node.value {
                    case .bool(true):
                        guard fieldPath != nil else { throw FixtureError(.invalidMatcher, at: node, path: matcherPath, "the MTI cannot echo the request's (it changes)") }
                        matchers.append(.echo(nil))
                    case .string(let text), .number(let text):
                        matchers.append(.echo(try self.fieldPath(text, node: node, path: matcherPath)))
                    default:
                        throw FixtureError(.invalidMatcher, at: node, path: matcherPath, "write \"echo\": true (the same field of the request) or \"echo\": \"37\" (another one)")
                    }
                case "range":
                    guard case .array(let bounds) = node.value, bounds.count == 2 else {
                        throw FixtureError(.invalidMatcher, at: node, path: matcherPath, "write \"range\": [min, max] (integers; null for no bound)")
                    }
                    var values: [Int64?] = []
                    for (i, bound) in bounds.enumerated() {
                        if case .null = bound.value {
                            values.append(nil)
                        } else if let text = bound.scalarText, let value = FieldMatcher.integer(text) {
                            values.append(value)
                        } else {
                            throw FixtureError(.invalidMatcher, at: bound, path: matcherPath + "[\(i)]", "expected an integer or null")
                        }
                    }
                    if let low = values[0], let high = values[1], low > high {
                        throw FixtureError(.invalidMatcher, at: node, path: matcherPath, "the lower bound \(low) is above the upper bound \(high)")
                    }
                    matchers.append(.range(min: values[0], max: values[1]))
                case "oneOf":
                    guard case .array(let items) = node.value, !items.isEmpty else {
                        throw FixtureError(.invalidMatcher, at: node, path: matcherPath, "write \"oneOf\": [\"00\", \"10\"]")
                    }
                    var templates: [Template] = []
                    for (i, item) in items.enumerated() {
                        guard let text = item.scalarText else { throw FixtureError(.invalidMatcher, at: item, path: matcherPath + "[\(i)]", "expected a string") }
                        templates.append(try self.template(text, node: item, path: matcherPath + "[\(i)]"))
                    }
                    matchers.append(.oneOf(templates))
                default:
                    throw FixtureError(
                        .invalidMatcher, at: node, path: matcherPath,
                        "unknown matcher \(FixtureJSON.quote(member.key)) (known: \(FieldMatcher.names.joined(separator: ", ")))"
                    )
                }
            }
            if matchers.contains(.absent), matchers.count > 1 {
                throw FixtureError(.invalidMatcher, at: json, path: path, "\"absent\" cannot be combined with other matchers")
            }
            return matchers
        default:
            throw FixtureError(
                .invalidMatcher, at: json, path: path,
                "expected the exact value as a string, null for absent, or a matcher object such as {\"mandatory\": true}; found \(json.kindName)"
            )
        }
    }

    // MARK: Helpers

    func fieldPath(_ text: String, node: FixtureJSON, path: String) throws(FixtureError) -> FieldPath {
        let spec = self.spec!
        let parsed: FieldPath
        do {
            parsed = try FieldPath(parsing: text)
        } catch {
            throw FixtureError(.invalidPath, at: node, path: path, "\(FixtureJSON.quote(text)) is not a field path such as \"39\" or \"124.05\"")
        }
        guard parsed.field >= 2, let field = spec.field(parsed.field) else {
            throw FixtureError(.invalidPath, at: node, path: path, "spec \(spec.name) has no field \(parsed.field)")
        }
        if let sub = parsed.subfield {
            guard let layout = field.subfields else {
                throw FixtureError(.invalidPath, at: node, path: path, "spec \(spec.name) defines no subfields for field \(parsed.field)")
            }
            if case .berTLV = layout {
                return FieldPath(field: parsed.field, subfield: sub.uppercased())
            }
            guard layout.element(sub) != nil else {
                throw FixtureError(.invalidPath, at: node, path: path, "spec \(spec.name) has no subfield \(parsed.field).\(sub)")
            }
        }
        return parsed
    }

    func template(_ text: String, node: FixtureJSON, path: String) throws(FixtureError) -> Template {
        do {
            return try Template(parsing: text)
        } catch {
            throw FixtureError(error.code, at: node, path: path, error.message)
        }
    }

    func allowOnly(_ json: FixtureJSON, path: String, _ keys: [String]) throws(FixtureError) {
        for member in json.members ?? [] where !keys.contains(member.key) {
            throw FixtureError(
                .unknownKey, at: member.value, path: join(path, member.key),
                "unknown key \(FixtureJSON.quote(member.key)) (allowed here: \(keys.joined(separator: ", ")))"
            )
        }
    }

    func string(_ node: FixtureJSON?, path: String) throws(FixtureError) -> String? {
        guard let node else { return nil }
        guard case .string(let text) = node.value else { throw FixtureError(.invalidValue, at: node, path: path, "expected a string, found \(node.kindName)") }
        return text
    }

    func bool(_ node: FixtureJSON?, path: String) throws(FixtureError) -> Bool? {
        guard let node else { return nil }
        guard case .bool(let flag) = node.value else { throw FixtureError(.invalidValue, at: node, path: path, "expected true or false, found \(node.kindName)") }
        return flag
    }

    func seconds(_ node: FixtureJSON?, path: String) throws(FixtureError) -> Double? {
        guard let node else { return nil }
        guard case .number(let text) = node.value, let value = Double(text), value > 0, value <= 3600 else {
            throw FixtureError(.invalidValue, at: node, path: path, "expected seconds as a number above 0 (at most 3600)")
        }
        return value
    }
}

private func join(_ path: String, _ key: String) -> String {
    joinPath(path, key)
}

extension ISO8583Framing.LengthPrefix {
    /// The names fixtures and the CLI use: `binary2`, `binary4`, `ascii4`, `bcd2`.
    public init?(name: String) {
        switch name {
        case "binary2": self = .binary2
        case "binary4": self = .binary4
        case "ascii4": self = .ascii4
        case "bcd2": self = .bcd2
        default: return nil
        }
    }

    public static let names = ["binary2", "binary4", "ascii4", "bcd2"]

    /// The prefix's name, as ``init(name:)`` reads it.
    public var name: String {
        switch self {
        case .binary2: "binary2"
        case .binary4: "binary4"
        case .ascii4: "ascii4"
        case .bcd2: "bcd2"
        }
    }
}

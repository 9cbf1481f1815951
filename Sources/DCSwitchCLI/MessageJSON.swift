import FixtureReplay
import ISO8583

/// The CLI's JSON form of a message: `{"mti":"0200","fields":{"2":"…","55":"9F26…"}}`.
enum MessageJSON {
    static func render(_ message: ISO8583Message, spec: MessageSpec, subfields: Bool, reveal: Bool) -> FixtureJSON {
        var members: [(String, FixtureJSON)] = [("mti", .string(message.mti.description))]
        if let header = message.header {
            members.append(("header", .string(Hex.encode(header))))
        }
        var fields: [(String, FixtureJSON)] = []
        for number in message.fieldNumbers {
            let text = message[number] ?? ""
            let path = FieldPath(field: number)
            if subfields, let layout = spec.field(number)?.subfields, let elements = try? Subfields.parse(text, as: layout, field: number) {
                let nested = elements.map { element -> (String, FixtureJSON) in
                    let sensitivity = reveal ? .none : spec.sensitivity(of: FieldPath(field: number, subfield: element.id))
                    let fieldSensitivity = reveal ? .none : spec.sensitivity(of: path)
                    // A field masked as a whole masks every subfield too.
                    let mask = sensitivity != .none ? sensitivity : (fieldSensitivity == .none ? .none : .full)
                    return (element.id, .string(Masking.mask(element.value, as: mask)))
                }
                fields.append((String(number), .object(nested)))
            } else {
                fields.append((String(number), .string(reveal ? text : Masking.mask(text, as: spec.sensitivity(of: path)))))
            }
        }
        members.append(("fields", .object(fields)))
        if !message.warnings.isEmpty {
            members.append(("warnings", .array(message.warnings.map(\.json))))
        }
        return .object(members)
    }

    static func parse(_ text: String, spec: MessageSpec) throws(ISO8583Error) -> ISO8583Message {
        let json: FixtureJSON
        do {
            json = try FixtureJSON(parsing: text)
        } catch {
            // Text given with --json may span lines; the offset counts bytes from its start.
            let place = error.line > 1 ? " (line \(error.line), column \(error.column))" : ""
            throw ISO8583Error(.invalidValue, offset: error.offset, expected: "JSON", found: error.reason + place)
        }
        guard case .object = json.value else {
            throw ISO8583Error(.invalidValue, expected: "a JSON object {\"mti\":…,\"fields\":{…}}", found: "another JSON value")
        }
        guard let mtiText = json["mti"]?.stringOrNumberText, let mti = MTI(mtiText) else {
            throw ISO8583Error(.invalidMTI, field: "mti", expected: "\"mti\" as four digits", found: json["mti"]?.minifiedText ?? "nothing")
        }
        var message = ISO8583Message(mti: mti)
        if let header = json["header"]?.stringOrNumberText {
            guard let bytes = Hex.decode(header) else { throw ISO8583Error(.invalidHex, field: "header", expected: "hex text") }
            message.header = bytes
        }
        guard let fields = json["fields"]?.members else {
            throw ISO8583Error(.invalidValue, field: "fields", expected: "\"fields\" as an object keyed by field number")
        }
        var errors: [ISO8583Error] = []
        for field in fields {
            let key = field.key
            guard let number = Int(key), number >= 2, number <= spec.maximumField else {
                errors.append(ISO8583Error(.invalidPath, field: key, expected: "a field number 2–\(spec.maximumField)"))
                continue
            }
            switch field.value.value {
            case .string(let text), .number(let text):
                message[number] = text
            case .object(let members):
                guard let layout = spec.field(number)?.subfields else {
                    errors.append(ISO8583Error(.invalidValue, field: key, expected: "text: the spec defines no subfields for field \(number)"))
                    continue
                }
                var elements: [Subfield] = []
                for member in members {
                    guard let text = member.value.stringOrNumberText else {
                        errors.append(ISO8583Error(.invalidValue, field: "\(number).\(member.key)", expected: "a string"))
                        continue
                    }
                    elements.append(Subfield(id: member.key, value: text))
                }
                do throws(ISO8583Error) {
                    message[number] = try Subfields.build(elements, as: layout, field: number)
                } catch {
                    errors.append(error)
                }
            default:
                errors.append(ISO8583Error(.invalidValue, field: key, expected: "a string, or an object of subfields"))
            }
        }
        if !errors.isEmpty { throw ISO8583Error.validationFailed(errors) }
        return message
    }
}

/// `dcswitch iso describe`: a dump for people.
enum MessageDump {
    static func render(_ message: ISO8583Message, spec: MessageSpec, reveal: Bool) -> String {
        var out = ""
        let mtiName = spec.messages.first(where: { $0.mti == message.mti.description })?.name ?? ""
        out += "MTI   \(message.mti)  \(mtiName)\n"
        if let header = message.header { out += "HDR   \(Hex.encode(header))\n" }
        let names = message.fieldNumbers.map { spec.field($0)?.name ?? "(not in spec)" }
        let width = min(max(names.map(\.count).max() ?? 0, 10), 44)
        for (number, name) in zip(message.fieldNumbers, names) {
            let text = message[number] ?? ""
            let path = FieldPath(field: number)
            let fieldSpec = spec.field(number)
            let value = reveal ? text : Masking.mask(text, as: spec.sensitivity(of: path))
            out += pad(String(number), 4, left: true) + "  " + pad(name, width) + "  " + (fieldSpec?.formatSummary ?? "") + "\n"
            out += "      " + value + "\n"
            if let layout = fieldSpec?.subfields, let elements = try? Subfields.parse(text, as: layout, field: number) {
                for element in elements {
                    let subPath = FieldPath(field: number, subfield: element.id)
                    let subName = spec.name(of: subPath) ?? ""
                    var mask = spec.sensitivity(of: subPath)
                    if mask == .none, spec.sensitivity(of: path) != .none { mask = .full }
                    let subValue = reveal ? element.value : Masking.mask(element.value, as: mask)
                    out += "      \(number).\(element.id)  \(subName)\n          \(subValue)\n"
                }
            }
        }
        for warning in message.warnings {
            out += "warning: \(warning)\n"
        }
        return out
    }

    static func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        guard text.count < width else { return String(text.prefix(width)) }
        let spaces = String(repeating: " ", count: width - text.count)
        return left ? spaces + text : text + spaces
    }
}

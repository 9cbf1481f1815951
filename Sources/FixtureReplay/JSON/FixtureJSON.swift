/// A JSON value that remembers where it was in its file (line and column) and keeps object keys in their order.
///
/// Fixture files are written by hand: an error has to say which file, which JSON path and which line, and
/// the order of keys matters (the order of TLV subfields is the order of their bytes). Foundation's parsers
/// keep neither, hence this small one. The `dcswitch iso` JSON lines are read and written with it too.
public struct FixtureJSON: Sendable, Equatable {
    /// The value.
    public indirect enum Value: Sendable, Equatable {
        case string(String)
        /// A number, as written.
        case number(String)
        case bool(Bool)
        case null
        case array([FixtureJSON])
        case object([Member])
    }

    /// One key and value of an object.
    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: FixtureJSON

        public init(key: String, value: FixtureJSON) {
            self.key = key
            self.value = value
        }
    }

    public var value: Value
    /// 1-based line of the value's first character; 0 for values built in code.
    public var line: Int
    /// 1-based column of the value's first character; 0 for values built in code.
    public var column: Int

    public init(_ value: Value, line: Int = 0, column: Int = 0) {
        self.value = value
        self.line = line
        self.column = column
    }

    public static func == (lhs: FixtureJSON, rhs: FixtureJSON) -> Bool { lhs.value == rhs.value }

    // MARK: Building in code

    public static func string(_ text: String) -> FixtureJSON { FixtureJSON(.string(text)) }
    public static func bool(_ flag: Bool) -> FixtureJSON { FixtureJSON(.bool(flag)) }
    public static func number(_ value: Int64) -> FixtureJSON { FixtureJSON(.number(String(value))) }
    public static func array(_ items: [FixtureJSON]) -> FixtureJSON { FixtureJSON(.array(items)) }
    public static func object(_ members: [(String, FixtureJSON)]) -> FixtureJSON {
        FixtureJSON(.object(members.map { Member(key: $0.0, value: $0.1) }))
    }

    // MARK: Reading

    /// The member `key` of an object.
    public subscript(key: String) -> FixtureJSON? {
        guard case .object(let members) = self.value else { return nil }
        return members.first(where: { $0.key == key })?.value
    }

    /// The members of an object, `nil` for anything else.
    public var members: [Member]? {
        if case .object(let members) = self.value { return members }
        return nil
    }

    /// The text of a string or a number.
    public var scalarText: String? {
        switch self.value {
        case .string(let text), .number(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        default: return nil
        }
    }

    /// The text of a string or a number, `nil` for anything else (booleans too, unlike ``scalarText``).
    public var stringOrNumberText: String? {
        switch self.value {
        case .string(let text), .number(let text): return text
        default: return nil
        }
    }

    /// What kind of value this is, for error messages.
    public var kindName: String {
        switch self.value {
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

extension FixtureJSON {
    /// Compact text, on one line, with a space after each comma and colon: `{"a": [1, true]}`.
    public var compactText: String { self.text(comma: ", ", colon: ": ") }

    /// Text with no spaces at all, as a JSON line is written: `{"a":[1,true]}`. Numbers are as written.
    public var minifiedText: String { self.text(comma: ",", colon: ":") }

    private func text(comma: String, colon: String) -> String {
        switch self.value {
        case .string(let s): return Self.quote(s)
        case .number(let n): return n
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items): return "[" + items.map { $0.text(comma: comma, colon: colon) }.joined(separator: comma) + "]"
        case .object(let members):
            return "{" + members.map { Self.quote($0.key) + colon + $0.value.text(comma: comma, colon: colon) }.joined(separator: comma) + "}"
        }
    }

    /// Indented text for people and diffs: containers whose compact form fits in `inlineWidth` characters stay on
    /// one line.
    public func prettyText(indent: String = "", inlineWidth: Int = 100) -> String {
        let compact = self.compactText
        switch self.value {
        case .array(let items):
            if compact.count + indent.count <= inlineWidth || items.isEmpty { return compact }
            let inner = indent + "  "
            return "[\n" + items.map { inner + $0.prettyText(indent: inner, inlineWidth: inlineWidth) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let members):
            let nested = members.contains { member in
                if case .object(let m) = member.value.value, m.count > 1 { return true }
                return false
            }
            if (!nested && compact.count + indent.count <= inlineWidth) || members.isEmpty { return compact }
            let inner = indent + "  "
            return "{\n" + members.map { inner + Self.quote($0.key) + ": " + $0.value.prettyText(indent: inner, inlineWidth: inlineWidth) }
                .joined(separator: ",\n") + "\n" + indent + "}"
        default:
            return compact
        }
    }

    /// `s` as a JSON string literal.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16, uppercase: false)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// Why a fixture could not be loaded or a step could not be prepared: names the file, the JSON path inside it
/// (`steps[1].expect.fields.39`) and, when known, the line and column.
public struct FixtureError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let raw: UInt8
        private init(_ raw: UInt8) { self.raw = raw }

        /// The file could not be read.
        public static let unreadableFile = Code(1)
        /// The file is not valid JSON.
        public static let invalidJSON = Code(2)
        /// A key the format does not know (often a typo).
        public static let unknownKey = Code(3)
        /// A required key is missing.
        public static let missingKey = Code(4)
        /// A value of the wrong type or out of range.
        public static let invalidValue = Code(5)
        /// A matcher the format does not know, or a bad matcher argument (an invalid regex, say).
        public static let invalidMatcher = Code(6)
        /// A `${…}` template that does not parse, or names an unknown generator.
        public static let invalidTemplate = Code(7)
        /// A variable that is not defined when a step needs it.
        public static let undefinedVariable = Code(8)
        /// A field path the spec does not have.
        public static let invalidPath = Code(9)
        /// The request does not fit the spec.
        public static let invalidRequest = Code(10)
        /// The spec could not be loaded.
        public static let invalidSpec = Code(11)

        public var description: String {
            switch self.raw {
            case 1: return "unreadable_file"
            case 2: return "invalid_json"
            case 3: return "unknown_key"
            case 4: return "missing_key"
            case 5: return "invalid_value"
            case 6: return "invalid_matcher"
            case 7: return "invalid_template"
            case 8: return "undefined_variable"
            case 9: return "invalid_path"
            case 10: return "invalid_request"
            case 11: return "invalid_spec"
            default: return "error_\(self.raw)"
            }
        }
    }

    public var code: Code
    /// The fixture file.
    public var file: String?
    /// The JSON path inside the file: `steps[1].expect.fields.39`; empty for the whole document.
    public var path: String
    /// 1-based line, when known.
    public var line: Int?
    /// 1-based column, when known.
    public var column: Int?
    /// One sentence for people.
    public var message: String

    public init(_ code: Code, file: String? = nil, path: String = "", line: Int? = nil, column: Int? = nil, _ message: String) {
        self.code = code
        self.file = file
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    /// An error about `node`, at `path`.
    init(_ code: Code, at node: FixtureJSON?, path: String, _ message: String) {
        self.init(code, path: path, line: node.flatMap { $0.line > 0 ? $0.line : nil }, column: node.flatMap { $0.column > 0 ? $0.column : nil }, message)
    }

    /// `Fixtures/replay/nfc.json:12:9: steps[0].expect.fields.39: unknown matcher "exakt" …`
    public var description: String {
        var text = self.file ?? "fixture"
        if let line {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        }
        text += ": "
        if !self.path.isEmpty { text += self.path + ": " }
        return text + self.message
    }

    func inFile(_ file: String) -> FixtureError {
        var copy = self
        copy.file = file
        return copy
    }
}

/// `steps[1]` + `expect` → `steps[1].expect`; an empty path is the document itself.
func joinPath(_ path: String, _ key: String) -> String {
    path.isEmpty ? key : path + "." + key
}

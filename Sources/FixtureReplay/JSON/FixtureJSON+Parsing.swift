extension FixtureJSON {
    /// Why a text is not JSON, and where.
    public struct SyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
        /// 0-based byte offset in the text.
        public var offset: Int
        /// 1-based line.
        public var line: Int
        /// 1-based column, counted in bytes.
        public var column: Int
        /// What is wrong there: `expected ':' after the key, found '"'`.
        public var reason: String

        /// `invalid JSON at line 1, column 8 (offset 7): expected ':' after the key, found '"'`
        public var description: String {
            "invalid JSON at line \(self.line), column \(self.column) (offset \(self.offset)): \(self.reason)"
        }
    }

    /// Parses one JSON document; a syntax error names the line and column.
    public static func parse(_ text: String) throws(FixtureError) -> FixtureJSON {
        do {
            return try FixtureJSON(parsing: text)
        } catch {
            throw FixtureError(.invalidJSON, line: error.line, column: error.column, "invalid JSON: \(error.reason)")
        }
    }

    /// Parses one JSON document: values remember their line and column, objects keep their key order, and a key
    /// given twice is an error.
    public init(parsing text: String) throws(SyntaxError) {
        var parser = Parser(bytes: Array(text.utf8))
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.i == parser.bytes.count else { throw parser.error("text after the JSON value") }
        self = value
    }
}

/// A recursive-descent parser for one JSON document that tracks lines and columns.
private struct Parser {
    let bytes: [UInt8]
    var i = 0
    private var line = 1
    private var lineStart = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var column: Int { self.i - self.lineStart + 1 }

    func error(_ reason: String) -> FixtureJSON.SyntaxError {
        FixtureJSON.SyntaxError(offset: self.i, line: self.line, column: self.column, reason: reason)
    }

    mutating func skipSpace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0D: i += 1
            case 0x0A:
                i += 1
                line += 1
                lineStart = i
            default: return
            }
        }
    }

    private mutating func expect(_ c: UInt8, _ what: String) throws(FixtureJSON.SyntaxError) {
        guard i < bytes.count, bytes[i] == c else {
            throw error(i < bytes.count ? "expected \(what), found '\(Character(Unicode.Scalar(bytes[i])))'" : "expected \(what), found the end of the text")
        }
        i += 1
    }

    mutating func value(depth: Int) throws(FixtureJSON.SyntaxError) -> FixtureJSON {
        guard depth < 64 else { throw error("nested deeper than 64 levels") }
        guard i < bytes.count else { throw error("unexpected end of the text") }
        let line = self.line
        let column = self.column
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var members: [FixtureJSON.Member] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
                i += 1
                return FixtureJSON(.object(members), line: line, column: column)
            }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a key in double quotes") }
                let key = try string()
                if members.contains(where: { $0.key == key }) { throw error("duplicate key \"\(key)\"") }
                skipSpace()
                try expect(UInt8(ascii: ":"), "':' after the key")
                skipSpace()
                members.append(FixtureJSON.Member(key: key, value: try value(depth: depth + 1)))
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                try expect(UInt8(ascii: "}"), "',' or '}'")
                return FixtureJSON(.object(members), line: line, column: column)
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [FixtureJSON] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
                i += 1
                return FixtureJSON(.array(items), line: line, column: column)
            }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                try expect(UInt8(ascii: "]"), "',' or ']'")
                return FixtureJSON(.array(items), line: line, column: column)
            }
        case UInt8(ascii: "\""):
            return FixtureJSON(.string(try string()), line: line, column: column)
        case UInt8(ascii: "t"):
            try literal("true")
            return FixtureJSON(.bool(true), line: line, column: column)
        case UInt8(ascii: "f"):
            try literal("false")
            return FixtureJSON(.bool(false), line: line, column: column)
        case UInt8(ascii: "n"):
            try literal("null")
            return FixtureJSON(.null, line: line, column: column)
        default:
            let start = i
            while i < bytes.count, "+-0123456789.eE".utf8.contains(bytes[i]) { i += 1 }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            guard i > start, Double(text) != nil else {
                i = start
                throw error("expected a value (string, number, object, array, true, false or null)")
            }
            return FixtureJSON(.number(text), line: line, column: column)
        }
    }

    private mutating func literal(_ word: String) throws(FixtureJSON.SyntaxError) {
        for c in word.utf8 {
            guard i < bytes.count, bytes[i] == c else { throw error("expected \(word)") }
            i += 1
        }
    }

    private mutating func string() throws(FixtureJSON.SyntaxError) -> String {
        try expect(UInt8(ascii: "\""), "'\"'")
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() {
            if !raw.isEmpty {
                scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
                raw.removeAll()
            }
        }
        while true {
            guard i < bytes.count else { throw error("unterminated string") }
            let c = bytes[i]
            if c == 0x0A { throw error("line break inside a string (write \\n)") }
            i += 1
            if c == UInt8(ascii: "\"") { break }
            guard c == UInt8(ascii: "\\") else {
                raw.append(c)
                continue
            }
            guard i < bytes.count else { throw error("unterminated escape") }
            let e = bytes[i]
            i += 1
            flush()
            switch e {
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""): scalars.append(Unicode.Scalar(e))
            case UInt8(ascii: "u"):
                guard i + 4 <= bytes.count, let code = UInt32(String(decoding: bytes[i..<i + 4], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(code) else {
                    throw error("bad \\u escape")
                }
                scalars.append(scalar)
                i += 4
            default:
                i -= 1
                throw error("unknown escape \\\(Character(Unicode.Scalar(e)))")
            }
        }
        flush()
        return String(scalars)
    }
}

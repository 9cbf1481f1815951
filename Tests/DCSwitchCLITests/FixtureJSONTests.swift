import FixtureReplay
import Testing

@Suite("FixtureJSON: the one order-preserving JSON reader and writer")
struct FixtureJSONTests {
    @Test func keysKeepTheirOrderAndNumbersTheirText() throws {
        let json = try FixtureJSON(parsing: #"{"b": 1.50, "a": [true, null, "x"]}"#)
        #expect(json.members?.map(\.key) == ["b", "a"])
        #expect(json["b"]?.stringOrNumberText == "1.50")
        #expect(json["a"]?.stringOrNumberText == nil)
    }

    @Test func minifiedTextHasNoSpacesAndCompactTextHasOneAfterEachSeparator() throws {
        let json = try FixtureJSON(parsing: "{ \"k\" : [1e3, false, {\"q\": \"a\\\"b\\\\c\\u0001\\n\\/\"}] }")
        #expect(json.minifiedText == #"{"k":[1e3,false,{"q":"a\"b\\c\u0001\n/"}]}"#)
        #expect(json.compactText == #"{"k": [1e3, false, {"q": "a\"b\\c\u0001\n/"}]}"#)
    }

    @Test(arguments: [
        ("{\"a\" 1}", 5, 1, 6, "expected ':' after the key, found '1'"),
        ("{\n  \"a\": 1,\n  \"a\": 2\n}", 17, 3, 6, "duplicate key \"a\""),
        ("[1, 2", 5, 1, 6, "expected ',' or ']', found the end of the text"),
        ("\"\\q\"", 2, 1, 3, "unknown escape \\q"),
        ("{} x", 3, 1, 4, "text after the JSON value"),
    ])
    func aSyntaxErrorNamesTheOffsetLineAndColumn(text: String, offset: Int, line: Int, column: Int, reason: String) {
        #expect {
            _ = try FixtureJSON(parsing: text)
        } throws: { error in
            guard let error = error as? FixtureJSON.SyntaxError else { return false }
            return error.offset == offset && error.line == line && error.column == column && error.reason == reason
        }
    }
}

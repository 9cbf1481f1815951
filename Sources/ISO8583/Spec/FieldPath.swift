/// A field or subfield address: `"2"`, `"55.9F26"`, `"124.03"`.
public struct FieldPath: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public var field: Int
    /// The subfield id: a TLV tag or element id, upper-cased for BER-TLV tags.
    public var subfield: String?

    public init(field: Int, subfield: String? = nil) {
        self.field = field
        self.subfield = subfield
    }

    /// Parses `"124.03"`; throws ``ISO8583Error/Code/invalidPath`` for anything else.
    public init(parsing text: String) throws(ISO8583Error) {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, let number = Int(first), number >= 0, number <= 192 else {
            throw ISO8583Error(.invalidPath, field: text, expected: "a field number 0–192, optionally followed by .SUBFIELD")
        }
        self.field = number
        if parts.count == 2 {
            guard !parts[1].isEmpty else {
                throw ISO8583Error(.invalidPath, field: text, expected: "a subfield id after the dot")
            }
            self.subfield = String(parts[1])
        }
    }

    public init(stringLiteral value: String) {
        do {
            try self.init(parsing: value)
        } catch {
            preconditionFailure("invalid field path literal \(value): \(error)")
        }
    }

    public init(integerLiteral value: Int) {
        self.init(field: value)
    }

    public var description: String {
        if let subfield { return "\(self.field).\(subfield)" }
        return String(self.field)
    }
}

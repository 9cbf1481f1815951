/// A message type indicator: version, class, function and origin, as four decimal digits.
public struct MTI: Hashable, Sendable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The four digits as a number, `200` for `0200`.
    public var value: UInt16

    @inlinable
    public init(value: UInt16) {
        precondition(value <= 9999, "an MTI has four digits")
        self.value = value
    }

    /// Parses four ASCII digits; `nil` for anything else.
    @inlinable
    public init?(_ text: some StringProtocol) {
        var value: UInt16 = 0
        var count = 0
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), count < 4 else { return nil }
            value = value &* 10 &+ UInt16(byte &- UInt8(ascii: "0"))
            count += 1
        }
        guard count == 4 else { return nil }
        self.value = value
    }

    public init(stringLiteral value: String) {
        guard let mti = MTI(value) else { preconditionFailure("invalid MTI literal \(value)") }
        self = mti
    }

    /// `0` for ISO 8583:1987, `1` for 1993, `2` for 2003.
    @inlinable public var version: Int { Int(self.value / 1000) }
    /// The message class: `1` authorization, `2` financial, `4` reversal, `5` reconciliation, `8` network management.
    @inlinable public var messageClass: Int { Int(self.value / 100 % 10) }
    /// `0` request, `1` request response, `2` advice, `3` advice response, …
    @inlinable public var function: Int { Int(self.value / 10 % 10) }
    /// `0` acquirer, `1` acquirer repeat, `2` issuer, `3` issuer repeat, …
    @inlinable public var origin: Int { Int(self.value % 10) }

    /// Whether this is a request or advice that expects a response (function 0 or 2).
    @inlinable public var expectsResponse: Bool { self.function % 2 == 0 && self.function <= 4 }
    /// Whether this is a response (function 1 or 3).
    @inlinable public var isResponse: Bool { self.function % 2 == 1 && self.function <= 5 }
    /// Whether this is a repeat (origin 1 or 3).
    @inlinable public var isRepeat: Bool { self.origin % 2 == 1 }

    /// The MTI of the response to this request: `0200` → `0210`, `0421` → `0430`.
    @inlinable
    public var response: MTI {
        MTI(value: self.value - UInt16(self.function * 10 + self.origin) + UInt16((self.function + 1) * 10 + (self.origin & ~1)))
    }

    /// The request this response answers (origin 0 or 2): `0210` → `0200`.
    @inlinable
    public var request: MTI {
        MTI(value: self.value - UInt16(self.function * 10 + self.origin) + UInt16((self.function - 1) * 10 + (self.origin & ~1)))
    }

    /// The four ASCII digits.
    @inlinable
    public var digits: (UInt8, UInt8, UInt8, UInt8) {
        let v = self.value
        return (
            UInt8(v / 1000) + 48, UInt8(v / 100 % 10) + 48, UInt8(v / 10 % 10) + 48, UInt8(v % 10) + 48
        )
    }

    public var description: String {
        let d = self.digits
        return String(decoding: [d.0, d.1, d.2, d.3], as: UTF8.self)
    }

    public static func < (lhs: MTI, rhs: MTI) -> Bool { lhs.value < rhs.value }

    public static let authorizationRequest: MTI = "0100"
    public static let authorizationResponse: MTI = "0110"
    public static let financialRequest: MTI = "0200"
    public static let financialResponse: MTI = "0210"
    public static let reversalAdvice: MTI = "0420"
    public static let reversalAdviceRepeat: MTI = "0421"
    public static let reversalResponse: MTI = "0430"
    public static let reconciliationRequest: MTI = "0500"
    public static let reconciliationResponse: MTI = "0510"
    public static let networkManagementRequest: MTI = "0800"
    public static let networkManagementResponse: MTI = "0810"
}

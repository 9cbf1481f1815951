/// A DE 39 response code.
public struct ResponseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public var description: String { self.rawValue }
    /// Whether the code approves the transaction.
    public var isApproval: Bool { self.rawValue == "00" }

    public static let approved: ResponseCode = "00"
    public static let invalidTransaction: ResponseCode = "12"
    public static let invalidAmount: ResponseCode = "13"
    public static let unknownAccount: ResponseCode = "14"
    public static let noSuchIssuer: ResponseCode = "15"
    public static let unableToLocateRecord: ResponseCode = "25"
    public static let formatError: ResponseCode = "30"
    public static let insufficientFunds: ResponseCode = "51"
    public static let transactionNotPermitted: ResponseCode = "57"
    public static let securityViolation: ResponseCode = "63"
    public static let responseReceivedTooLate: ResponseCode = "68"
    public static let issuerUnavailable: ResponseCode = "91"
    public static let noRoute: ResponseCode = "92"
    public static let duplicateTransmission: ResponseCode = "94"
    public static let systemMalfunction: ResponseCode = "96"
}

/// A failure that answers the acquirer with a particular DE 39 code. Every switch-level error conforms, so the
/// mapping from failure to response code lives in one place per failure type.
public protocol ResponseCodeConvertible: Error {
    var responseCode: ResponseCode { get }
}

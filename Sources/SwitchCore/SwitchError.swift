/// A failure inside the switch, mapped to the DE 39 the acquirer sees.
public struct SwitchError: Error, Hashable, Sendable, CustomStringConvertible, ResponseCodeConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let raw: String
        private init(_ raw: String) { self.raw = raw }
        /// A mandatory field is missing or malformed.
        public static let formatError = Code("formatError")
        /// The MTI / processing code is not a transaction the switch carries.
        public static let unsupportedTransaction = Code("unsupportedTransaction")
        /// No bank for the card, wallet or institution.
        public static let noRoute = Code("noRoute")
        /// The bank's answer is not what the protocol says.
        public static let invalidBankAnswer = Code("invalidBankAnswer")
        /// A file the switch keeps could not be written.
        public static let storage = Code("storage")
        /// The owner-change records could not be made durable.
        public static let registryUnavailable = Code("registryUnavailable")
        public var description: String { self.raw }
    }

    public var code: Code
    public var detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(self.code): \(self.detail)" }

    public var responseCode: ResponseCode {
        switch self.code {
        case .formatError: return .formatError
        case .unsupportedTransaction: return .invalidTransaction
        case .noRoute: return .noSuchIssuer
        case .registryUnavailable: return .issuerUnavailable
        default: return .systemMalfunction
        }
    }
}

/// What ties a response to its request on one connection.
///
/// The default key is the MTI of the expected response + DE 41 (terminal) + DE 11 (STAN), plus
/// DE 37 (retrieval reference) where present. A request's key carries the MTI of the response it
/// expects (request MTI + 10: 0200 → 0210, 0420 → 0430) and a response's key its own MTI, so a
/// 0430 can never complete a 0200. The codec decides which fields go in
/// (``LinkMessageCodec/matchKey(of:)``); ``discriminator`` holds any further field a network
/// needs (DE 32, DE 7...).
///
/// Terminal IDs (8 characters) and retrieval references (12) fit Swift's small-string storage,
/// so building a key allocates nothing.
public struct LinkMatchKey: Hashable, Sendable, CustomStringConvertible {
    /// The MTI of the response that completes the exchange, its four digits read as a decimal
    /// number (0210 → 210, 1110 → 1110).
    public var responseMTI: UInt16
    /// DE 41, the card acceptor terminal identification, when present.
    public var terminalID: String?
    /// DE 11, the system trace audit number.
    public var stan: UInt32
    /// DE 37, the retrieval reference number, when present.
    public var retrievalReference: String?
    /// Any further field the network matches on.
    public var discriminator: String?

    /// Creates the key of a request: the response MTI is derived from `requestMTI`.
    public init(
        requestMTI: UInt16,
        terminalID: String?,
        stan: UInt32,
        retrievalReference: String? = nil,
        discriminator: String? = nil
    ) {
        self.responseMTI = Self.responseMTI(forRequest: requestMTI)
        self.terminalID = terminalID
        self.stan = stan
        self.retrievalReference = retrievalReference
        self.discriminator = discriminator
    }

    /// Creates the key of a response (its repeat indicator is cleared: 0211 matches like 0210).
    public init(
        responseMTI: UInt16,
        terminalID: String?,
        stan: UInt32,
        retrievalReference: String? = nil,
        discriminator: String? = nil
    ) {
        self.responseMTI = responseMTI - (responseMTI % 10) % 2
        self.terminalID = terminalID
        self.stan = stan
        self.retrievalReference = retrievalReference
        self.discriminator = discriminator
    }

    /// The MTI answering `requestMTI`: the function digit goes up by one (request → response,
    /// advice → advice response) and a repeat is answered like the original (0201 → 0210,
    /// 0421 → 0430).
    public static func responseMTI(forRequest requestMTI: UInt16) -> UInt16 {
        let origin = requestMTI % 10
        let function = (requestMTI / 10) % 10
        let base = requestMTI - origin - function * 10
        return base + (function | 1) * 10 + (origin - origin % 2)
    }

    /// The MTI as four digits, `"0210"`.
    public var mtiDescription: String {
        formatDigits(Int(self.responseMTI), width: 4)
    }

    /// The STAN as six digits, `"000123"`.
    public var stanDescription: String {
        formatDigits(Int(self.stan), width: 6)
    }

    public var description: String {
        var text = "mti=" + self.mtiDescription + " stan=" + self.stanDescription
        if let terminalID { text += " terminal=" + terminalID }
        if let retrievalReference { text += " rrn=" + retrievalReference }
        if let discriminator { text += " extra=" + discriminator }
        return text
    }
}

/// Zero-padded decimal digits without Foundation formatting.
func formatDigits(_ value: Int, width: Int) -> String {
    let digits = String(value)
    guard digits.utf8.count < width else { return digits }
    return String(repeating: "0", count: width - digits.utf8.count) + digits
}

/// Typed accessors for the fields every flow reads.
extension ISO8583Message {
    /// DE 2, primary account number.
    public var pan: String? {
        get { self[2] }
        set { self[2] = newValue }
    }

    /// DE 3, processing code.
    public var processingCode: String? {
        get { self[3] }
        set { self[3] = newValue }
    }

    /// DE 4, transaction amount in minor units.
    public var amount: Int64? {
        get { self.numericValue(4) }
        set { self[4] = newValue.map { Self.zeroPadded($0, width: 12) } }
    }

    /// DE 7, transmission date and time (MMDDhhmmss).
    public var transmissionDateTime: String? {
        get { self[7] }
        set { self[7] = newValue }
    }

    /// DE 11, system trace audit number.
    public var stan: String? {
        get { self[11] }
        set { self[11] = newValue }
    }

    /// DE 12, local transaction time (hhmmss).
    public var localTime: String? {
        get { self[12] }
        set { self[12] = newValue }
    }

    /// DE 13, local transaction date (MMDD).
    public var localDate: String? {
        get { self[13] }
        set { self[13] = newValue }
    }

    /// DE 22, point-of-service entry mode.
    public var entryMode: String? {
        get { self[22] }
        set { self[22] = newValue }
    }

    /// DE 32, acquiring institution identification code.
    public var acquirerID: String? {
        get { self[32] }
        set { self[32] = newValue }
    }

    /// DE 37, retrieval reference number.
    public var rrn: String? {
        get { self[37] }
        set { self[37] = newValue }
    }

    /// DE 38, authorization identification response.
    public var authorizationCode: String? {
        get { self[38] }
        set { self[38] = newValue }
    }

    /// DE 39, response code.
    public var responseCode: String? {
        get { self[39] }
        set { self[39] = newValue }
    }

    /// DE 41, card acceptor terminal identification.
    public var terminalID: String? {
        get { self[41] }
        set { self[41] = newValue }
    }

    /// DE 42, card acceptor identification code.
    public var merchantID: String? {
        get { self[42] }
        set { self[42] = newValue }
    }

    /// DE 49, transaction currency code.
    public var currencyCode: String? {
        get { self[49] }
        set { self[49] = newValue }
    }

    /// DE 70, network management information code.
    public var networkManagementCode: String? {
        get { self[70] }
        set { self[70] = newValue }
    }

    /// DE 100, receiving institution identification code.
    public var receivingInstitution: String? {
        get { self[100] }
        set { self[100] = newValue }
    }

    /// DE 102 in the DC extension: the payer's wallet address.
    public var payerWallet: String? {
        get { self[102] }
        set { self[102] = newValue }
    }

    /// DE 103 in the DC extension: the payee's wallet address.
    public var payeeWallet: String? {
        get { self[103] }
        set { self[103] = newValue }
    }

    /// The value of a numeric character field, without allocating.
    public func numericValue(_ number: Int) -> Int64? {
        let parsed: Int64?? = self.withASCIIBytes(of: number) { bytes in
            var value: Int64 = 0
            guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
            for b in bytes {
                let d = b &- 48
                guard d < 10 else { return nil }
                value = value &* 10 &+ Int64(d)
            }
            return value
        }
        if let parsed { return parsed }
        guard let text = self[number] else { return nil }
        return Int64(text)
    }

    /// A copy of the request with the fields a response echoes, MTI set to the response type and DE 39 set.
    ///
    /// Echoes DE 2–4, 7, 11–13, 32, 37, 41, 42, 49, 102, 103 when present, as ISO 8583 responses do.
    public func makeResponse(responseCode: String, echoing extra: [Int] = []) -> ISO8583Message {
        var response = ISO8583Message(mti: self.mti.response, capacity: 192)
        for number in Self.echoedFields + extra {
            if let value = self[number] { response[number] = value }
        }
        response[39] = responseCode
        return response
    }

    static let echoedFields = [2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49, 100, 102, 103]

    static func zeroPadded(_ value: Int64, width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

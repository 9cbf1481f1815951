/// An error raised by the ISO 8583 networking layer: framing, links and request/response matching.
///
/// Errors carry a ``Code`` that callers switch on, and a human-readable ``detail`` that never
/// contains message content (no card numbers, no keys): only lengths, limits, MTIs and STANs.
public struct ISO8583NetworkError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a value that can grow without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case frameTooLarge
            case invalidLengthPrefix
            case frameTooShort
            case missingTPDU
            case duplicateRequest
            case missingMatchKey
            case timeout
            case notSignedOn
            case connectionClosed
            case linkShutdown
            case encodingFailed
            case signOnFailed
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// A frame's declared length exceeds the link's maximum frame length.
        public static let frameTooLarge = Code(.frameTooLarge)
        /// A length prefix could not be read (a non-digit in an ASCII length, a non-BCD nibble).
        public static let invalidLengthPrefix = Code(.invalidLengthPrefix)
        /// A frame is shorter than its mandatory parts (for example the 5-byte TPDU).
        public static let frameTooShort = Code(.frameTooShort)
        /// The framing requires a TPDU and none was given for an outbound frame.
        public static let missingTPDU = Code(.missingTPDU)
        /// A request with the same match key is already in flight on this connection.
        public static let duplicateRequest = Code(.duplicateRequest)
        /// The codec produced no match key for a request, so its response could never be matched.
        public static let missingMatchKey = Code(.missingMatchKey)
        /// No response arrived before the request's deadline.
        public static let timeout = Code(.timeout)
        /// The link is not signed on and carries no traffic.
        public static let notSignedOn = Code(.notSignedOn)
        /// The connection closed while the request was in flight.
        public static let connectionClosed = Code(.connectionClosed)
        /// The link has been shut down.
        public static let linkShutdown = Code(.linkShutdown)
        /// The codec failed to encode an outbound message.
        public static let encodingFailed = Code(.encodingFailed)
        /// The peer declined the sign-on or did not answer it in time.
        public static let signOnFailed = Code(.signOnFailed)

        public var description: String { self.base.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// What happened, for logs and error messages. Never contains message content.
    public var detail: String

    /// Creates an error with a code and a detail text.
    public init(code: Code, detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String {
        "ISO8583NetworkError.\(self.code): \(self.detail)"
    }
}

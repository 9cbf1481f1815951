/// What a client link has done since it was created. Read it at any time from any thread.
public struct LinkStatistics: Hashable, Sendable {
    /// Where the link is now.
    public var state: LinkState = .idle
    /// Requests waiting for their response.
    public var inFlight: Int = 0
    /// Requests written to the peer.
    public var requestsSent: Int = 0
    /// Responses matched to their request.
    public var responsesMatched: Int = 0
    /// Requests failed because no response arrived in time.
    public var timeouts: Int = 0
    /// Responses that matched no request in flight (late after a timeout, or unsolicited).
    public var lateResponses: Int = 0
    /// Requests refused because the same key was already in flight.
    public var duplicatesRejected: Int = 0
    /// Requests refused because the link was not signed on.
    public var rejectedNotSignedOn: Int = 0
    /// Requests failed because the connection closed under them.
    public var failedByDisconnect: Int = 0
    /// Frames the codec could not decode (dropped).
    public var decodeErrors: Int = 0
    /// Messages the client does not expect (requests from the peer, responses without a key).
    public var unexpectedMessages: Int = 0
    /// Connections established.
    public var connections: Int = 0
    /// Connection attempts that failed.
    public var connectFailures: Int = 0
    /// Successful sign-ons.
    public var signOns: Int = 0
    /// Echo tests sent.
    public var echoTestsSent: Int = 0
    /// Framing errors (oversize frame, unreadable length) that closed the connection.
    public var framingErrors: Int = 0

    /// Creates zeroed statistics.
    public init() {}
}

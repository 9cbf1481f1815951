/// What an ``ISO8583Server`` has done since it started. Read it at any time from any thread.
public struct ServerStatistics: Hashable, Sendable {
    /// Connections open now.
    public var openConnections: Int = 0
    /// Connections accepted in all.
    public var acceptedConnections: Int = 0
    /// Requests handed to the application handler.
    public var requestsDelivered: Int = 0
    /// Requests handed to the application and not answered yet.
    public var requestsInFlight: Int = 0
    /// Responses written (application answers, network management answers, format errors).
    public var responsesWritten: Int = 0
    /// 0800 sign-on, echo and sign-off requests answered by the server itself.
    public var networkRequestsAnswered: Int = 0
    /// Frames the codec could not decode.
    public var formatErrors: Int = 0
    /// Undecodable frames dropped because the codec built no format-error response.
    public var formatErrorsDropped: Int = 0
    /// Requests refused because the peer had not signed on.
    public var rejectedNotSignedOn: Int = 0
    /// Application handler futures that failed (no answer was written).
    public var handlerFailures: Int = 0
    /// Answers that could not be encoded.
    public var encodingFailures: Int = 0
    /// Answers completed after their connection had closed.
    public var answersAfterClose: Int = 0
    /// Responses and other messages the server does not expect from a client.
    public var unexpectedMessages: Int = 0
    /// Framing errors (oversize frame, unreadable length) that closed a connection.
    public var framingErrors: Int = 0

    /// Creates zeroed statistics.
    public init() {}
}

import Logging
import NIOCore

/// What a message is, as far as a link is concerned.
public enum LinkMessageKind: Hashable, Sendable {
    /// A request that expects a response (0100, 0200, 0420, ...), matched by ``LinkMessageCodec/matchKey(of:)``.
    case request
    /// A response (0110, 0210, 0430, ...), matched by ``LinkMessageCodec/matchKey(of:)``.
    case response
    /// An 0800 network management request: DE 70 and DE 11.
    case networkManagementRequest(NetworkManagementCode, stan: UInt32)
    /// An 0810 network management response: DE 70, DE 11 and whether DE 39 is `00`.
    case networkManagementResponse(NetworkManagementCode, stan: UInt32, approved: Bool)
}

/// What the links need to know about the messages they carry. The ISO 8583 message type conforms
/// to this in the switch; tests use a small fake format.
///
/// All methods are called on the connection's event loop, on the hot path: they should work on
/// the message's bytes and fields directly, with no Foundation formatting.
public protocol LinkMessageCodec: Sendable {
    /// The decoded message.
    associatedtype Message: Sendable

    /// Decodes the message bytes of one frame (no length prefix, no TPDU).
    ///
    /// A throw is a format error: the server answers with ``formatErrorResponse(to:error:)``,
    /// the client counts and drops the frame. The connection stays open.
    func decode(_ payload: ByteBuffer) throws -> Message

    /// Appends the encoded message (MTI, bitmap, fields) to `buffer`.
    func encode(_ message: Message, into buffer: inout ByteBuffer) throws

    /// Classifies a message: request, response or network management.
    func kind(of message: Message) -> LinkMessageKind

    /// The key that ties a request to its response (see ``LinkMatchKey``): for a request the key
    /// of the response it expects, for a response its own. `nil` when the message lacks the fields.
    func matchKey(of message: Message) -> LinkMatchKey?

    /// Builds an 0800 with DE 70 = `code` and DE 11 = `stan` (sign-on, echo test, sign-off).
    func makeNetworkManagementRequest(_ code: NetworkManagementCode, stan: UInt32) -> Message

    /// Builds the 0810 answering `request`, with DE 39 = `00` when `approved`.
    func makeNetworkManagementResponse(to request: Message, approved: Bool) -> Message

    /// Builds the answer to a frame that could not be decoded (the switch answers DE 39 = 30,
    /// format error), or returns `nil` to drop the frame (it is counted).
    func formatErrorResponse(to payload: ByteBuffer, error: any Error) -> Message?

    /// Builds the answer to a request the link refused on its own (the peer is not signed on),
    /// or returns `nil` to drop it (it is counted). The default drops.
    func rejectionResponse(to request: Message, reason: LinkRejectionReason) -> Message?

    /// Log metadata describing a message (`iso.mti`, `iso.stan`...); never card numbers, PINs
    /// or keys. The default describes the match key.
    func logMetadata(of message: Message) -> Logger.Metadata
}

extension LinkMessageCodec {
    /// Drops refused requests.
    public func rejectionResponse(to request: Message, reason: LinkRejectionReason) -> Message? {
        nil
    }

    /// Describes the message by its match key.
    public func logMetadata(of message: Message) -> Logger.Metadata {
        guard let key = self.matchKey(of: message) else { return [:] }
        return key.logMetadata
    }
}

extension LinkMatchKey {
    /// `iso.mti` (the response MTI), `iso.stan`, and `iso.terminal` / `iso.rrn` when present.
    public var logMetadata: Logger.Metadata {
        var metadata: Logger.Metadata = [
            "iso.mti": .string(self.mtiDescription),
            "iso.stan": .string(self.stanDescription),
        ]
        if let terminalID { metadata["iso.terminal"] = .string(terminalID) }
        if let retrievalReference { metadata["iso.rrn"] = .string(retrievalReference) }
        return metadata
    }
}

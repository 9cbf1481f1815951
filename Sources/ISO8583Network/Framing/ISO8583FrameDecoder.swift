import NIOCore

/// Splits a byte stream into ``ISO8583Frame``s according to an ``ISO8583Framing``.
///
/// Use it in a `ByteToMessageHandler`. A framing error (oversize frame, unreadable prefix) is
/// thrown; the handler fires it down the pipeline, where the link handlers close the connection,
/// since the stream can no longer be delimited.
public struct ISO8583FrameDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = ISO8583Frame

    /// The framing this decoder applies.
    public let framing: ISO8583Framing

    /// Creates a decoder for `framing`.
    public init(framing: ISO8583Framing = .default) {
        self.framing = framing
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try buffer.readISO8583Frame(self.framing) else {
            return .needMoreData
        }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        // A partial frame at EOF is dropped: there is no message to deliver.
        try self.decode(context: context, buffer: &buffer)
    }
}

/// Writes ``ISO8583Frame``s with their length prefix (and TPDU) according to an ``ISO8583Framing``.
///
/// The links encode messages straight into framed buffers (``NIOCore/ByteBuffer/writeISO8583Frame(_:tpdu:body:)``);
/// this encoder is for pipelines that produce frames themselves.
public struct ISO8583FrameEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = ISO8583Frame

    /// The framing this encoder applies.
    public let framing: ISO8583Framing

    /// Creates an encoder for `framing`.
    public init(framing: ISO8583Framing = .default) {
        self.framing = framing
    }

    public func encode(data: ISO8583Frame, out: inout ByteBuffer) throws {
        try out.writeISO8583Frame(data, framing: self.framing)
    }
}

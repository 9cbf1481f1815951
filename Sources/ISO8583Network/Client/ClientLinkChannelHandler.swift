import NIOCore

/// The last handler of a client link's pipeline: forwards one connection's events to the link.
final class ClientLinkChannelHandler<Codec: LinkMessageCodec>: ChannelInboundHandler {
    typealias InboundIn = ISO8583Frame

    private let core: LinkCore<Codec>
    private let connectionID: UInt64

    init(core: LinkCore<Codec>, connectionID: UInt64) {
        self.core = core
        self.connectionID = connectionID
    }

    func channelActive(context: ChannelHandlerContext) {
        self.core.channelActive(context.channel, connectionID: self.connectionID)
        context.fireChannelActive()
    }

    @_specialize(exported: false, where Codec == ISO8583LinkCodec)
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.core.frameReceived(Self.unwrapInboundIn(data), connectionID: self.connectionID)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.core.channelInactive(connectionID: self.connectionID)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.core.errorCaught(error, connectionID: self.connectionID)
        context.close(promise: nil)
    }
}

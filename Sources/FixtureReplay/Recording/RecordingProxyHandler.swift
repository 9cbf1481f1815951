import ISO8583Network
import NIOCore

/// One direction of a proxied connection: writes every byte read on its channel to the partner channel as it came,
/// and keeps a copy of each complete frame (``ByteBuffer/readISO8583Frame(_:)``) for the recording.
///
/// Decoding waits for the end of the connection, off the event loop: forwarding never depends on it. A length
/// prefix that cannot be read is noted once; the bytes after it are still forwarded, no longer split. When the
/// partner cannot take more, this side stops reading until it can. When either side closes, the other is closed
/// after what was written to it has gone out.
final class RecordingProxyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let direction: SessionCapture.Direction
    let partner: any Channel
    let connection: ProxyConnection
    let framing: ISO8583Framing
    /// Bytes of a frame not yet complete.
    private var incomplete: ByteBuffer?
    private var splitting = true

    init(direction: SessionCapture.Direction, partner: any Channel, connection: ProxyConnection, framing: ISO8583Framing) {
        self.direction = direction
        self.partner = partner
        self.connection = connection
        self.framing = framing
    }

    func channelActive(context: ChannelHandlerContext) {
        // The target side reads once the client side is up, so that nothing is written to a client not yet registered.
        if self.direction == .clientToTarget { _ = self.partner.setOption(ChannelOptions.autoRead, value: true) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = Self.unwrapInboundIn(data)
        self.partner.write(bytes, promise: nil)
        guard self.splitting else { return }
        if var incomplete = self.incomplete.take() {
            incomplete.writeBuffer(&bytes)
            bytes = incomplete
        }
        do {
            while let frame = try bytes.readISO8583Frame(self.framing) {
                self.connection.append(.frame(self.direction, frame.payload))
            }
        } catch {
            self.splitting = false
            self.connection.append(.framingLost(self.direction, "\(error)"))
            return
        }
        if bytes.readableBytes > 0 {
            bytes.discardReadBytes()
            self.incomplete = bytes
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.partner.flush()
        if !self.partner.isWritable { _ = context.channel.setOption(ChannelOptions.autoRead, value: false) }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { _ = self.partner.setOption(ChannelOptions.autoRead, value: true) }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let partner = self.partner
        // An empty write completes once everything written before it has gone out; closing at once would drop that.
        partner.writeAndFlush(ByteBuffer()).whenComplete { _ in partner.close(promise: nil) }
        self.connection.sideClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset or a broken pipe: the connection is over, both ways.
        context.close(promise: nil)
    }
}

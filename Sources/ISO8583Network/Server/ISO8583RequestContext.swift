import Logging
import NIOCore

/// What the server's request handler knows about the request it is given.
public struct ISO8583RequestContext: Sendable {
    /// The connection's event loop; answering with a future on this loop avoids a hop.
    public var eventLoop: any EventLoop
    /// The peer's address.
    public var remoteAddress: SocketAddress?
    /// The TPDU the request arrived with, when the framing has one.
    public var tpdu: TPDU?
    /// A logger carrying the server's and the connection's metadata.
    public var logger: Logger

    /// Creates a context.
    public init(eventLoop: any EventLoop, remoteAddress: SocketAddress?, tpdu: TPDU?, logger: Logger) {
        self.eventLoop = eventLoop
        self.remoteAddress = remoteAddress
        self.tpdu = tpdu
        self.logger = logger
    }
}

import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The host side of ISO 8583 links: accepts TCP connections, frames them, answers network
/// management (0800 sign-on, echo test, sign-off → 0810 with DE 39 = 00) itself, and hands every
/// other request to the application's ``Handler``.
///
/// Answers are written as their futures complete, in any order, and flushed once per read burst.
/// An undecodable frame does not close the connection: the codec's
/// ``LinkMessageCodec/formatErrorResponse(to:error:)`` answers it (or it is counted and dropped).
/// A framing error (oversize frame, unreadable length) closes the connection.
public final class ISO8583Server<Codec: LinkMessageCodec>: Sendable {
    /// Answers one request: a response, `nil` for no answer, or a failed future (counted, no
    /// answer). Called on the connection's event loop; return a future on
    /// ``ISO8583RequestContext/eventLoop`` to avoid a hop.
    public typealias Handler = @Sendable (Codec.Message, ISO8583RequestContext) -> EventLoopFuture<Codec.Message?>

    /// Where and how the server listens.
    public struct Configuration: Sendable {
        /// The address to bind.
        public var host: String
        /// The port to bind; `0` picks a free one (see ``ISO8583Server/port``).
        public var port: Int
        /// A name for logs (`link.name`).
        public var name: String
        /// The framing of every accepted connection.
        public var framing: ISO8583Framing
        /// Sign-on policy and idle timeout of accepted connections.
        public var hostLink: HostLinkStateMachine.Configuration
        /// Binds with `SO_REUSEPORT`, so that other sockets of this user that ask for the same may hold the port
        /// too: a port reserved by a bound, non-listening socket stays this server's across a restart. Off by
        /// default, so that a second server started by mistake on a busy port fails instead of sharing its traffic.
        public var sharesPort: Bool

        /// Creates a configuration.
        public init(
            host: String = "127.0.0.1",
            port: Int = 0,
            name: String = "server",
            framing: ISO8583Framing = .default,
            hostLink: HostLinkStateMachine.Configuration = .init(),
            sharesPort: Bool = false
        ) {
            self.host = host
            self.port = port
            self.name = name
            self.framing = framing
            self.hostLink = hostLink
            self.sharesPort = sharesPort
        }
    }

    /// The configuration in force.
    public let configuration: Configuration
    private let listener: any Channel
    private let connections: NIOLockedValueBox<[ObjectIdentifier: any Channel]>
    private let published: NIOLockedValueBox<ServerStatistics>
    private let logger: Logger

    private init(
        configuration: Configuration,
        listener: any Channel,
        connections: NIOLockedValueBox<[ObjectIdentifier: any Channel]>,
        published: NIOLockedValueBox<ServerStatistics>,
        logger: Logger
    ) {
        self.configuration = configuration
        self.listener = listener
        self.connections = connections
        self.published = published
        self.logger = logger
    }

    /// Binds and starts accepting connections.
    ///
    /// - Parameters:
    ///   - configuration: address, framing and policies.
    ///   - codec: turns bytes into messages and builds network management answers.
    ///   - eventLoopGroup: accepted connections are spread over its event loops.
    ///   - logger: receives connection events and refused or undecodable messages.
    ///   - handler: answers requests.
    public static func start(
        configuration: Configuration,
        codec: Codec,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger,
        handler: @escaping Handler
    ) -> EventLoopFuture<ISO8583Server> {
        var namedLogger = logger
        namedLogger[metadataKey: "link.name"] = .string(configuration.name)
        let logger = namedLogger
        let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
        let published = NIOLockedValueBox(ServerStatistics())
        let framing = configuration.framing
        let hostLink = configuration.hostLink
        let connectionLogger = logger
        return ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.socketOption(.init(rawValue: SO_REUSEPORT)), value: configuration.sharesPort ? 1 : 0)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                let id = ObjectIdentifier(channel)
                connections.withLockedValue { $0[id] = channel }
                published.withLockedValue {
                    $0.openConnections += 1
                    $0.acceptedConnections += 1
                }
                channel.closeFuture.whenComplete { _ in
                    connections.withLockedValue { _ = $0.removeValue(forKey: id) }
                    published.withLockedValue { $0.openConnections -= 1 }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(ISO8583FrameDecoder(framing: framing)),
                        ServerConnectionHandler(
                            codec: codec,
                            framing: framing,
                            hostConfiguration: hostLink,
                            handler: handler,
                            statistics: published,
                            logger: connectionLogger
                        )
                    )
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .map { listener in
                logger.info("server listening", metadata: ["link.address": "\(listener.localAddress.map { "\($0)" } ?? "?")"])
                return ISO8583Server(
                    configuration: configuration,
                    listener: listener,
                    connections: connections,
                    published: published,
                    logger: logger
                )
            }
    }

    /// The bound address.
    public var localAddress: SocketAddress? {
        self.listener.localAddress
    }

    /// The bound port (useful when the configuration asked for port 0).
    public var port: Int? {
        self.listener.localAddress?.port
    }

    /// The server's counters, as of the last event.
    public var statistics: ServerStatistics {
        self.published.withLockedValue { $0 }
    }

    /// Stops accepting connections and closes every open one. Answers still being computed are
    /// dropped (counted in ``ServerStatistics/answersAfterClose``).
    public func close() -> EventLoopFuture<Void> {
        let eventLoop = self.listener.eventLoop
        let logger = self.logger
        let connections = self.connections
        return self.listener.close().flatMapError { _ in eventLoop.makeSucceededVoidFuture() }
            .flatMap {
                let open = connections.withLockedValue { Array($0.values) }
                let closes = open.map { channel in
                    channel.close().flatMapError { _ in channel.eventLoop.makeSucceededVoidFuture() }
                }
                return EventLoopFuture.andAllComplete(closes, on: eventLoop)
            }
            .map { logger.info("server closed") }
    }
}

import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The acquirer (client) side of an ISO 8583 link over TCP.
///
/// The link connects, signs on (0800, DE 70 = 001), and from then on carries requests: many in
/// flight at once on the one connection, each matched to its response by the codec's
/// ``LinkMatchKey``. When idle it sends echo tests; when the peer stops answering, or the
/// connection drops, it reconnects with exponential backoff and signs on again. ``shutdown()``
/// signs off (002) and closes.
///
/// All state lives on one event loop (``eventLoop``): calls from that loop run inline, calls from
/// elsewhere hop onto it. No lock is taken on the request path.
///
/// ```swift
/// let link = ISO8583Link(configuration: .init(host: "127.0.0.1", port: 8583), codec: codec,
///                        eventLoopGroup: group, logger: logger)
/// link.start()
/// try await link.waitForSignOn().get()
/// let response = try await link.send(request).get()
/// ```
public final class ISO8583Link<Codec: LinkMessageCodec>: Sendable {
    /// Where and how the link connects.
    public struct Configuration: Sendable {
        /// The peer's host name or address.
        public var host: String
        /// The peer's TCP port.
        public var port: Int
        /// A name for logs and metrics (`link.name`).
        public var name: String
        /// The framing of the link.
        public var framing: ISO8583Framing
        /// The TPDU written in front of outbound messages when the framing has one.
        public var tpdu: TPDU?
        /// How long a request waits for its response unless ``ISO8583Link/send(_:timeout:)`` says otherwise.
        public var requestTimeout: TimeAmount
        /// How long a TCP connect may take.
        public var connectTimeout: TimeAmount
        /// Sign-on, echo and reconnect policies.
        public var stateMachine: ClientLinkStateMachine.Configuration

        /// Creates a configuration.
        public init(
            host: String,
            port: Int,
            name: String = "link",
            framing: ISO8583Framing = .default,
            tpdu: TPDU? = nil,
            requestTimeout: TimeAmount = .seconds(30),
            connectTimeout: TimeAmount = .seconds(5),
            stateMachine: ClientLinkStateMachine.Configuration = .init()
        ) {
            self.host = host
            self.port = port
            self.name = name
            self.framing = framing
            self.tpdu = tpdu
            self.requestTimeout = requestTimeout
            self.connectTimeout = connectTimeout
            self.stateMachine = stateMachine
        }
    }

    /// The configuration in force.
    public let configuration: Configuration
    /// The event loop every operation of this link runs on.
    public let eventLoop: any EventLoop
    private let core: NIOLoopBoundBox<LinkCore<Codec>>
    private let published: NIOLockedValueBox<LinkStatistics>

    /// Creates a link; it does nothing until ``start()``.
    ///
    /// - Parameters:
    ///   - configuration: the peer and the policies.
    ///   - codec: turns messages into bytes and tells requests from responses.
    ///   - eventLoopGroup: the link picks one event loop of this group and stays on it.
    ///   - logger: receives connection events, timeouts and late responses (info level or quieter).
    public init(configuration: Configuration, codec: Codec, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        var logger = logger
        logger[metadataKey: "link.name"] = .string(configuration.name)
        logger[metadataKey: "link.peer"] = .string("\(configuration.host):\(configuration.port)")
        let eventLoop = eventLoopGroup.next()
        let published = NIOLockedValueBox(LinkStatistics())
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.published = published
        self.core = NIOLoopBoundBox.makeBoxSendingValue(
            LinkCore(
                configuration: configuration,
                codec: codec,
                eventLoop: eventLoop,
                logger: logger,
                published: published
            ),
            eventLoop: eventLoop
        )
    }

    /// Starts connecting; the link signs on and keeps itself connected until ``shutdown()``.
    public func start() {
        self.onLoop { $0.start() }
    }

    /// Sends a request and returns its response.
    ///
    /// The future fails with ``ISO8583NetworkError`` when the link is not signed on
    /// (``ISO8583NetworkError/Code/notSignedOn``), when a request with the same key is already in
    /// flight (``ISO8583NetworkError/Code/duplicateRequest``), when no response arrives within
    /// `timeout` (``ISO8583NetworkError/Code/timeout``; a response arriving afterwards is logged
    /// and counted as late) or when the connection closes first
    /// (``ISO8583NetworkError/Code/connectionClosed``).
    ///
    /// - Parameters:
    ///   - request: the request; the codec must give it a match key.
    ///   - timeout: how long to wait; the configuration's ``Configuration/requestTimeout`` when `nil`.
    @_specialize(exported: false, where Codec == ISO8583LinkCodec)
    public func send(_ request: Codec.Message, timeout: TimeAmount? = nil) -> EventLoopFuture<Codec.Message> {
        let promise = self.eventLoop.makePromise(of: Codec.Message.self)
        self.onLoop { $0.send(request, timeout: timeout, promise: promise) }
        return promise.futureResult
    }

    /// Completes once the link is signed on (at once when it already is); fails when the link
    /// shuts down first.
    public func waitForSignOn() -> EventLoopFuture<Void> {
        if self.eventLoop.inEventLoop {
            return self.core.value.waitForSignOn()
        }
        return self.eventLoop.flatSubmit { self.core.value.waitForSignOn() }
    }

    /// Signs off (when signed on), closes the connection and stops reconnecting. Requests still in
    /// flight fail with ``ISO8583NetworkError/Code/linkShutdown``.
    public func shutdown() -> EventLoopFuture<Void> {
        if self.eventLoop.inEventLoop {
            return self.core.value.shutdown()
        }
        return self.eventLoop.flatSubmit { self.core.value.shutdown() }
    }

    /// The link's state and counters, as of the last event.
    public var statistics: LinkStatistics {
        self.published.withLockedValue { $0 }
    }

    /// Where the link is in its life.
    public var state: LinkState {
        self.statistics.state
    }

    private func onLoop(_ body: @escaping @Sendable (LinkCore<Codec>) -> Void) {
        if self.eventLoop.inEventLoop {
            body(self.core.value)
        } else {
            self.eventLoop.execute { body(self.core.value) }
        }
    }
}

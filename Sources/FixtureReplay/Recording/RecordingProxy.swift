import Foundation
import ISO8583
import ISO8583Network
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A recording proxy: clients connect to it as to the host; it forwards every byte to the target and back,
/// unchanged, and writes what passed as fixtures, one per client connection.
///
/// Each accepted connection gets a connection of its own to the target, on the same event loop. Frames are split
/// with the configured length prefix as they pass, and decoded with the spec when the connection ends — a frame
/// that does not decode is still forwarded, and reported. The client's requests and their responses become the
/// steps of `connection-NNNN.json` (see ``FixtureRecorder/record(_:source:)``), in the order the client sent them.
///
/// ```swift
/// let proxy = try await RecordingProxy.start(configuration: .init(
///     targetHost: "127.0.0.1", targetPort: 8583, spec: .builtin("dcswitch-1987")!, specName: "dcswitch-1987",
///     directory: "recorded"
/// ))
/// // … point the acquirer at proxy.port …
/// let summary = await proxy.shutdown()
/// ```
public final class RecordingProxy: Sendable {
    public struct Configuration: Sendable {
        public var listenHost: String
        /// `0` picks a free port (see ``RecordingProxy/port``).
        public var listenPort: Int
        public var targetHost: String
        public var targetPort: Int
        /// The spec the frames are decoded with, and its name as the fixtures give it.
        public var spec: MessageSpec
        public var specName: String
        /// The length prefix, on both sides.
        public var framing: ISO8583Framing.LengthPrefix
        /// Where the fixtures go (created if missing); existing `connection-NNNN.json` files are kept.
        public var directory: String
        /// How the exchanges become expectations (volatile paths, fresh identifiers).
        public var recorder: FixtureRecorder
        /// How long connecting to the target may take.
        public var connectTimeout: TimeAmount

        public init(
            listenHost: String = "127.0.0.1", listenPort: Int = 0, targetHost: String, targetPort: Int, spec: MessageSpec, specName: String,
            framing: ISO8583Framing.LengthPrefix = .binary2, directory: String, recorder: FixtureRecorder = FixtureRecorder(),
            connectTimeout: TimeAmount = .seconds(5)
        ) {
            self.listenHost = listenHost
            self.listenPort = listenPort
            self.targetHost = targetHost
            self.targetPort = targetPort
            self.spec = spec
            self.specName = specName
            self.framing = framing
            self.directory = directory
            self.recorder = recorder
            self.connectTimeout = connectTimeout
        }

        var targetText: String { "\(self.targetHost):\(self.targetPort)" }
    }

    /// The proxy could not start: names the address and why.
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    private struct State {
        var summary: RecordingSummary
        var accepted = 0
        var open: [Int: ProxyConnection] = [:]
        /// Connections ended whose fixture is still being written.
        var writing: [Int: EventLoopFuture<Void>] = [:]
    }

    public let configuration: Configuration
    private let listener: any Channel
    private let state: NIOLockedValueBox<State>

    private init(configuration: Configuration, listener: any Channel, state: NIOLockedValueBox<State>) {
        self.configuration = configuration
        self.listener = listener
        self.state = state
    }

    /// The port the proxy listens on.
    public var port: Int { self.listener.localAddress?.port ?? self.configuration.listenPort }

    /// What was recorded so far (connections still open are not in it yet).
    public var summary: RecordingSummary { self.state.withLockedValue { $0.summary } }

    /// Creates the directory, checks that the target accepts connections, and starts listening.
    ///
    /// - Throws: ``StartError`` when the directory cannot be created, the target cannot be reached, or the address
    ///   cannot be bound (a port in use, an address not of this machine).
    public static func start(
        configuration: Configuration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        threadPool: NIOThreadPool = .singleton,
        logger: Logger = Logger(label: "dcswitch.record", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws(StartError) -> RecordingProxy {
        let firstNumber: Int
        do {
            try FileManager.default.createDirectory(atPath: configuration.directory, withIntermediateDirectories: true)
            firstNumber = try Self.firstFreeNumber(in: configuration.directory)
        } catch {
            throw StartError(description: "cannot write fixtures to \(configuration.directory): \(error.localizedDescription)")
        }
        do {
            let probe = try await Self.targetBootstrap(configuration, on: eventLoopGroup.next())
                .connect(host: configuration.targetHost, port: configuration.targetPort).get()
            try? await probe.close()
        } catch {
            throw StartError(description: "cannot connect to the target \(configuration.targetText): \(Self.reason(error))")
        }
        let listen = "\(configuration.listenHost):\(configuration.listenPort)"
        let state = NIOLockedValueBox(State(summary: RecordingSummary(listen: listen, target: configuration.targetText)))
        let finished: @Sendable (ProxyConnection, [ProxyConnection.Event]) -> Void = { connection, events in
            Self.finish(connection, events: events, number: firstNumber + connection.number - 1, configuration: configuration, state: state, threadPool: threadPool, on: eventLoopGroup.next())
        }
        let listener: any Channel
        do {
            listener = try await ServerBootstrap(group: eventLoopGroup)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { client in
                    Self.connect(client, configuration: configuration, state: state, logger: logger, finished: finished)
                }
                .bind(host: configuration.listenHost, port: configuration.listenPort).get()
        } catch {
            throw StartError(description: "cannot listen on \(listen): \(Self.reason(error))")
        }
        if let port = listener.localAddress?.port {
            state.withLockedValue { $0.summary.listen = "\(configuration.listenHost):\(port)" }
        }
        logger.info("recording proxy listening", metadata: ["proxy.listen": "\(listen)", "proxy.target": "\(configuration.targetText)"])
        return RecordingProxy(configuration: configuration, listener: listener, state: state)
    }

    /// Stops listening, closes the connections still open, waits for every fixture to be written, and returns the
    /// summary.
    public func shutdown() async -> RecordingSummary {
        try? await self.listener.close()
        let open = self.state.withLockedValue { Array($0.open.values) }
        for connection in open { connection.close() }
        // A connection being closed reaches `writing` only once both its sides are down.
        while true {
            let (opened, writes) = self.state.withLockedValue { ($0.open.count, Array($0.writing.values)) }
            if opened == 0, writes.isEmpty { break }
            for write in writes { try? await write.get() }
            if opened > 0 { try? await Task.sleep(for: .milliseconds(10)) }
        }
        return self.summary
    }

    private static func targetBootstrap(_ configuration: Configuration, on eventLoop: any EventLoop) -> ClientBootstrap {
        ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
    }

    /// Connects an accepted client to the target and puts a handler on each side. A failed future closes the client.
    private static func connect(
        _ client: any Channel, configuration: Configuration, state: NIOLockedValueBox<State>, logger: Logger,
        finished: @escaping @Sendable (ProxyConnection, [ProxyConnection.Event]) -> Void
    ) -> EventLoopFuture<Void> {
        let clientAddress = client.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        let number = state.withLockedValue {
            $0.accepted += 1
            $0.summary.connections += 1
            return $0.accepted
        }
        let connection = ProxyConnection(number: number, clientAddress: clientAddress, finished: finished)
        let framing = ISO8583Framing(lengthPrefix: configuration.framing)
        return Self.targetBootstrap(configuration, on: client.eventLoop)
            .channelOption(ChannelOptions.autoRead, value: false)
            .channelInitializer { target in
                target.eventLoop.makeCompletedFuture {
                    try target.pipeline.syncOperations.addHandler(
                        RecordingProxyHandler(direction: .targetToClient, partner: client, connection: connection, framing: framing)
                    )
                }
            }
            .connect(host: configuration.targetHost, port: configuration.targetPort)
            .flatMapError { error in
                state.withLockedValue {
                    $0.summary.targetUnreachable.append("connection \(number) from \(clientAddress): cannot connect to \(configuration.targetText): \(Self.reason(error))")
                }
                logger.info("target unreachable", metadata: ["proxy.connection": "\(number)", "proxy.error": "\(error)"])
                return client.eventLoop.makeFailedFuture(error)
            }
            .flatMapThrowing { target in
                connection.attach(client: client, target: target)
                state.withLockedValue { $0.open[number] = connection }
                do {
                    try client.pipeline.syncOperations.addHandler(
                        RecordingProxyHandler(direction: .clientToTarget, partner: target, connection: connection, framing: framing)
                    )
                } catch {
                    // The target side's close will not be met by the client's: count the client's here.
                    target.close(promise: nil)
                    connection.sideClosed()
                    throw error
                }
                logger.debug("connection proxied", metadata: ["proxy.connection": "\(number)", "proxy.client": "\(clientAddress)"])
            }
    }

    /// Pairs and records a finished connection on the thread pool, and files the result in the summary.
    private static func finish(
        _ connection: ProxyConnection, events: [ProxyConnection.Event], number: Int, configuration: Configuration,
        state: NIOLockedValueBox<State>, threadPool: NIOThreadPool, on eventLoop: any EventLoop
    ) {
        let write = threadPool.runIfActive(eventLoop: eventLoop) {
            let capture = ProxyConnection.capture(events, spec: configuration.spec)
            let path = (configuration.directory as NSString).appendingPathComponent("connection-" + ISO8583LinkCodec.digits(number, width: 4) + ".json")
            var written: String?
            var problem: String?
            do {
                let source = FixtureRecorder.SessionSource(
                    name: "connection \(connection.number) from \(connection.clientAddress)", file: path,
                    description: "Recorded through dcswitch record: \(connection.clientAddress) → \(configuration.targetText).",
                    specName: configuration.specName, framing: configuration.framing
                )
                if let document = try configuration.recorder.record(capture, source: source) {
                    try Data((document.prettyText() + "\n").utf8).write(to: URL(fileURLWithPath: path))
                    written = path
                }
            } catch {
                problem = "connection \(connection.number): \(path): \(error)"
            }
            state.withLockedValue {
                $0.summary.add(capture, connection: connection.number)
                if let written { $0.summary.fixtures.append(written) }
                if let problem { $0.summary.notWritten.append(problem) }
            }
        }
        state.withLockedValue {
            $0.open[connection.number] = nil
            $0.writing[connection.number] = write
        }
        write.whenComplete { _ in state.withLockedValue { _ = $0.writing.removeValue(forKey: connection.number) } }
    }

    /// A socket error in a few words: `connection refused`, `address already in use`, `unknown host`.
    static func reason(_ error: any Error) -> String {
        switch error {
        case let error as NIOConnectionError:
            if let dns = error.dnsAError ?? error.dnsAAAAError { return Self.reason(dns) }
            return error.connectionErrors.first.map { Self.reason($0.error) } ?? "no address to connect to"
        case let error as IOError:
            return String(cString: strerror(error.errnoCode)).lowercased()
        case ChannelError.connectTimeout(let timeout):
            return "no connection within \(timeout.nanoseconds / 1_000_000) ms"
        case let error as SocketAddressError:
            if case .unknown(let host, _) = error { return "unknown host \(host)" }
            return "\(error)"
        default:
            return "\(error)"
        }
    }

    /// One past the highest `connection-NNNN.json` in `directory`.
    static func firstFreeNumber(in directory: String) throws -> Int {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        let numbers = names.compactMap { name -> Int? in
            guard name.hasPrefix("connection-"), name.hasSuffix(".json") else { return nil }
            return Int(name.dropFirst("connection-".count).dropLast(".json".count))
        }
        return (numbers.max() ?? 0) + 1
    }
}

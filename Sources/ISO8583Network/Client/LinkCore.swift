import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The event-loop side of an ``ISO8583Link``: runs the ``ClientLinkStateMachine``, owns the
/// connection, the pending-request table and the single timer. Touched on its event loop only
/// (it lives in a `NIOLoopBoundBox`), so it needs no lock.
///
/// The hot paths carry `@_specialize` for ``ISO8583LinkCodec``: the switch and the banks instantiate this type from
/// other modules, where the compiler cannot specialize it, and unspecialized every match-key hash, heap swap and
/// promise went through witness tables and runtime metadata lookups (about a tenth of the switch's allocations).
final class LinkCore<Codec: LinkMessageCodec> {
    typealias Message = Codec.Message

    let configuration: ISO8583Link<Codec>.Configuration
    let codec: Codec
    let eventLoop: any EventLoop
    let logger: Logger
    private let published: NIOLockedValueBox<LinkStatistics>

    private var machine: ClientLinkStateMachine
    private var table = PendingRequestTable<LinkMatchKey, EventLoopPromise<Message>>()
    private var statistics = LinkStatistics()
    private var channel: (any Channel)?
    private var connectionID: UInt64 = 0
    private var closeReason: ISO8583NetworkError?
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var flushScheduled = false
    private var signOnWaiters: [EventLoopPromise<Void>] = []
    private var shutdownPromise: EventLoopPromise<Void>?
    private var isShutDown = false

    init(
        configuration: ISO8583Link<Codec>.Configuration,
        codec: Codec,
        eventLoop: any EventLoop,
        logger: Logger,
        published: NIOLockedValueBox<LinkStatistics>
    ) {
        self.configuration = configuration
        self.codec = codec
        self.eventLoop = eventLoop
        self.logger = logger
        self.published = published
        self.machine = ClientLinkStateMachine(configuration: configuration.stateMachine)
    }

    // MARK: Commands from the link

    func start() {
        self.run(self.machine.start())
    }

    @_specialize(exported: false, where Codec == ISO8583LinkCodec)
    func send(_ request: Message, timeout: TimeAmount?, promise: EventLoopPromise<Message>) {
        guard self.machine.canSendTraffic, let channel = self.channel else {
            self.statistics.rejectedNotSignedOn += 1
            self.publish()
            promise.fail(
                ISO8583NetworkError(code: .notSignedOn, detail: "link \(self.configuration.name) is \(self.machine.linkState)")
            )
            return
        }
        guard let key = self.codec.matchKey(of: request) else {
            promise.fail(ISO8583NetworkError(code: .missingMatchKey, detail: "the request has no match key"))
            return
        }
        let deadline = NIODeadline.now() + (timeout ?? self.configuration.requestTimeout)
        do {
            try self.table.insert(promise, forKey: key, deadline: deadline)
        } catch {
            self.publish()
            promise.fail(error)
            return
        }
        var buffer = channel.allocator.buffer(capacity: 1024)  // dcswitch-1987 legs often pass 512 bytes
        do {
            let codec = self.codec
            try buffer.writeISO8583Frame(self.configuration.framing, tpdu: self.configuration.tpdu) { body in
                try codec.encode(request, into: &body)
            }
        } catch {
            _ = self.table.cancel(key)
            self.publish()
            promise.fail(Self.encodingError(error))
            return
        }
        self.statistics.requestsSent += 1
        channel.write(buffer, promise: nil)
        self.scheduleFlush()
        self.armTimer(at: deadline)
        self.publish()
    }

    func waitForSignOn() -> EventLoopFuture<Void> {
        if self.machine.canSendTraffic {
            return self.eventLoop.makeSucceededVoidFuture()
        }
        if self.isShutDown {
            return self.eventLoop.makeFailedFuture(Self.shutdownError)
        }
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.signOnWaiters.append(promise)
        return promise.futureResult
    }

    func shutdown() -> EventLoopFuture<Void> {
        if let promise = self.shutdownPromise {
            return promise.futureResult
        }
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.shutdownPromise = promise
        self.run(self.machine.stop(now: .now()))
        if self.machine.linkState == .closed {
            self.finishShutdown()
        }
        return promise.futureResult
    }

    // MARK: Events from the channel

    func channelActive(_ channel: any Channel, connectionID: UInt64) {
        guard connectionID == self.connectionID else {
            channel.close(promise: nil)
            return
        }
        self.channel = channel
        self.closeReason = nil
        self.statistics.connections += 1
        self.logger.debug("link connected", metadata: ["link.peer": "\(channel.remoteAddress.map { "\($0)" } ?? "?")"])
        self.run(self.machine.connected(now: .now()))
    }

    func channelInactive(connectionID: UInt64) {
        guard connectionID == self.connectionID, self.channel != nil else { return }
        self.channel = nil
        let reason = self.closeReason ?? ISO8583NetworkError(code: .connectionClosed, detail: "the connection closed")
        self.failAllPending(reason)
        self.logger.info("link disconnected", metadata: ["link.reason": "\(reason.code)"])
        self.run(self.machine.disconnected(now: .now()))
    }

    func errorCaught(_ error: any Error, connectionID: UInt64) {
        guard connectionID == self.connectionID else { return }
        if let error = error as? ISO8583NetworkError {
            self.statistics.framingErrors += 1
            self.closeReason = error
        }
        self.logger.info("link error, closing the connection", metadata: ["link.error": "\(error)"])
        self.publish()
    }

    @_specialize(exported: false, where Codec == ISO8583LinkCodec)
    func frameReceived(_ frame: ISO8583Frame, connectionID: UInt64) {
        guard connectionID == self.connectionID else { return }
        let now = NIODeadline.now()
        let message: Message
        do {
            message = try self.codec.decode(frame.payload)
        } catch {
            self.machine.inboundTraffic(now: now)
            self.statistics.decodeErrors += 1
            self.publish()
            self.logger.info("undecodable frame dropped", metadata: ["link.error": "\(error)"])
            return
        }
        switch self.codec.kind(of: message) {
        case .response:
            self.machine.inboundTraffic(now: now)
            guard let key = self.codec.matchKey(of: message) else {
                self.statistics.unexpectedMessages += 1
                self.publish()
                self.logger.info("response without match key dropped")
                return
            }
            if let promise = self.table.complete(key) {
                self.publish()
                promise.succeed(message)
            } else {
                self.publish()
                self.logger.info("late or unmatched response dropped", metadata: key.logMetadata)
            }
        case .networkManagementResponse(let code, let stan, let approved):
            self.run(self.machine.networkResponseReceived(code, stan: stan, approved: approved, now: now))
        case .networkManagementRequest(let code, _):
            let action = self.machine.networkRequestReceived(code, now: now)
            guard case .answerNetworkRequest(let approved, let closeAfterwards) = action else {
                self.run(action)
                return
            }
            let answer = self.codec.makeNetworkManagementResponse(to: message, approved: approved)
            let written = self.write(answer, flush: true)
            if closeAfterwards {
                self.logger.info("peer signed the link off")
                self.closeReason = ISO8583NetworkError(code: .connectionClosed, detail: "the peer signed the link off")
                let channel = self.channel
                if let written {
                    written.whenComplete { _ in channel?.close(promise: nil) }
                } else {
                    channel?.close(promise: nil)
                }
            }
            self.rearmTimer()
        case .request:
            self.machine.inboundTraffic(now: now)
            self.statistics.unexpectedMessages += 1
            self.publish()
            self.logger.info("request from the host dropped: the client link does not serve requests")
        }
    }

    // MARK: Actions

    private func run(_ action: ClientLinkStateMachine.Action) {
        switch action {
        case .none:
            break
        case .connect:
            self.connect()
        case .sendNetworkRequest(let code, let stan):
            if code == .echoTest { self.statistics.echoTestsSent += 1 }
            self.logger.debug("network management request", metadata: ["iso.nmic": "\(code)", "iso.stan": "\(stan)"])
            _ = self.write(self.codec.makeNetworkManagementRequest(code, stan: stan), flush: true)
        case .answerNetworkRequest:
            // Answered where the request is at hand (frameReceived).
            break
        case .signedOn:
            self.statistics.signOns += 1
            self.logger.info("link signed on")
            let waiters = self.signOnWaiters
            self.signOnWaiters.removeAll()
            self.rearmTimer()
            self.publish()
            for waiter in waiters { waiter.succeed() }
        case .closeConnection(let reason):
            self.closeReason = reason
            self.logger.info("closing the link connection", metadata: ["link.reason": "\(reason)"])
            self.channel?.close(promise: nil)
        case .scheduleReconnect(let delay, let attempt):
            self.logger.info(
                "link reconnecting after backoff",
                metadata: ["link.attempt": "\(attempt)", "link.delay_ms": "\(delay.nanoseconds / 1_000_000)"]
            )
        case .shutdownComplete:
            self.finishShutdown()
        }
        self.rearmTimer()
        self.publish()
    }

    private func connect() {
        self.connectionID &+= 1
        let connectionID = self.connectionID
        let box = NIOLoopBound(self, eventLoop: self.eventLoop)
        let framing = self.configuration.framing
        let bootstrap = ClientBootstrap(group: self.eventLoop)
            .connectTimeout(self.configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(ISO8583FrameDecoder(framing: framing)),
                        ClientLinkChannelHandler(core: box.value, connectionID: connectionID)
                    )
                }
            }
        // An address given as an IP literal is connected to directly. A host name goes through getaddrinfo, which NIO
        // runs on a Dispatch thread: one more thread hop per connect, and reconnecting then depends on Dispatch.
        let connected: EventLoopFuture<any Channel>
        if let address = try? SocketAddress(ipAddress: self.configuration.host, port: self.configuration.port) {
            connected = bootstrap.connect(to: address)
        } else {
            connected = bootstrap.connect(host: self.configuration.host, port: self.configuration.port)
        }
        connected
            .hop(to: self.eventLoop)
            .assumeIsolated()
            .whenFailure { error in
                self.connectFailed(error, connectionID: connectionID)
            }
    }

    private func connectFailed(_ error: any Error, connectionID: UInt64) {
        guard connectionID == self.connectionID else { return }
        self.statistics.connectFailures += 1
        self.logger.info("link connect failed", metadata: ["link.error": "\(error)"])
        self.run(self.machine.connectFailed(now: .now()))
    }

    @discardableResult
    private func write(_ message: Message, flush: Bool) -> EventLoopFuture<Void>? {
        guard let channel = self.channel else { return nil }
        var buffer = channel.allocator.buffer(capacity: 256)
        do {
            let codec = self.codec
            try buffer.writeISO8583Frame(self.configuration.framing, tpdu: self.configuration.tpdu) { body in
                try codec.encode(message, into: &body)
            }
        } catch {
            self.logger.error("network management message could not be encoded", metadata: ["link.error": "\(error)"])
            return nil
        }
        let promise = self.eventLoop.makePromise(of: Void.self)
        if flush {
            channel.writeAndFlush(buffer, promise: promise)
        } else {
            channel.write(buffer, promise: promise)
            self.scheduleFlush()
        }
        return promise.futureResult
    }

    private func scheduleFlush() {
        guard !self.flushScheduled else { return }
        self.flushScheduled = true
        self.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            self.channel?.flush()
        }
    }

    private func failAllPending(_ reason: ISO8583NetworkError) {
        let pending = self.table.removeAll()
        self.statistics.failedByDisconnect += pending.count
        self.publish()
        for (_, promise) in pending {
            promise.fail(reason)
        }
    }

    private func finishShutdown() {
        guard !self.isShutDown else { return }
        self.isShutDown = true
        self.timer?.cancel()
        self.timer = nil
        self.timerDeadline = nil
        self.failAllPending(Self.shutdownError)
        let waiters = self.signOnWaiters
        self.signOnWaiters.removeAll()
        for waiter in waiters { waiter.fail(Self.shutdownError) }
        self.logger.info("link shut down")
        self.publish()
        self.shutdownPromise?.succeed()
    }

    // MARK: Timer

    private func armTimer(at deadline: NIODeadline) {
        if let current = self.timerDeadline, current <= deadline { return }
        self.schedule(at: deadline)
    }

    private func rearmTimer() {
        let candidates = [self.machine.nextDeadline, self.table.nextDeadline].compactMap { $0 }
        guard let next = candidates.min() else {
            self.timer?.cancel()
            self.timer = nil
            self.timerDeadline = nil
            return
        }
        self.armTimer(at: next)
    }

    private func schedule(at deadline: NIODeadline) {
        self.timer?.cancel()
        self.timerDeadline = deadline
        self.timer = self.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timerFired()
        }
    }

    private func timerFired() {
        self.timer = nil
        self.timerDeadline = nil
        let now = NIODeadline.now()
        let expired = self.table.removeExpired(now: now)
        if !expired.isEmpty {
            self.publish()
            for (key, promise) in expired {
                self.logger.info("request timed out", metadata: key.logMetadata)
                promise.fail(ISO8583NetworkError(code: .timeout, detail: "no response in time for \(key)"))
            }
        }
        self.run(self.machine.timerFired(now: now))
    }

    // MARK: Statistics

    private func publish() {
        var snapshot = self.statistics
        snapshot.state = self.machine.linkState
        snapshot.inFlight = self.table.count
        snapshot.responsesMatched = self.table.counters.matched
        snapshot.timeouts = self.table.counters.timedOut
        snapshot.lateResponses = self.table.counters.lateResponses
        snapshot.duplicatesRejected = self.table.counters.duplicatesRejected
        self.published.withLockedValue { $0 = snapshot }
    }

    private static var shutdownError: ISO8583NetworkError {
        ISO8583NetworkError(code: .linkShutdown, detail: "the link is shut down")
    }

    private static func encodingError(_ error: any Error) -> ISO8583NetworkError {
        ISO8583NetworkError(code: .encodingFailed, detail: "the request could not be encoded: \(error)")
    }
}

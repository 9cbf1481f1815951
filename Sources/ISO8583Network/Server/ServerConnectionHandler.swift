import Logging
import NIOConcurrencyHelpers
import NIOCore

/// One accepted connection of an ``ISO8583Server``: answers network management through the
/// ``HostLinkStateMachine``, hands requests to the application, writes answers as they complete
/// (in any order) and flushes once per read burst. Pre-specialized for ``ISO8583LinkCodec`` (see ``LinkCore``).
final class ServerConnectionHandler<Codec: LinkMessageCodec>: ChannelInboundHandler {
    typealias InboundIn = ISO8583Frame
    typealias OutboundOut = ByteBuffer
    typealias Handler = ISO8583Server<Codec>.Handler

    private let codec: Codec
    private let framing: ISO8583Framing
    private let handler: Handler
    private let statistics: NIOLockedValueBox<ServerStatistics>
    private var logger: Logger
    private var machine: HostLinkStateMachine
    private var context: ChannelHandlerContext?
    private var requestContext: ISO8583RequestContext?
    private var inReadBurst = false
    private var needsFlush = false
    private var flushScheduled = false
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?

    init(
        codec: Codec,
        framing: ISO8583Framing,
        hostConfiguration: HostLinkStateMachine.Configuration,
        handler: @escaping Handler,
        statistics: NIOLockedValueBox<ServerStatistics>,
        logger: Logger
    ) {
        self.codec = codec
        self.framing = framing
        self.handler = handler
        self.statistics = statistics
        self.logger = logger
        self.machine = HostLinkStateMachine(configuration: hostConfiguration, now: .now())
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let remote = context.channel.remoteAddress {
            self.logger[metadataKey: "link.peer"] = .string("\(remote)")
        }
        self.requestContext = ISO8583RequestContext(
            eventLoop: context.eventLoop,
            remoteAddress: context.channel.remoteAddress,
            tpdu: nil,
            logger: self.logger
        )
        self.rearmTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.timer?.cancel()
        self.timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.machine.disconnected()
        self.timer?.cancel()
        self.timer = nil
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is ISO8583NetworkError {
            self.statistics.withLockedValue { $0.framingErrors += 1 }
        }
        self.logger.info("connection error, closing", metadata: ["link.error": "\(error)"])
        context.close(promise: nil)
    }

    @_specialize(exported: false, where Codec == ISO8583LinkCodec)
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.inReadBurst = true
        let frame = Self.unwrapInboundIn(data)
        let now = NIODeadline.now()
        let message: Codec.Message
        do {
            message = try self.codec.decode(frame.payload)
        } catch {
            self.machine.inboundTraffic(now: now)
            self.formatError(frame, error: error)
            return
        }
        switch self.codec.kind(of: message) {
        case .networkManagementRequest(let code, _):
            switch self.machine.networkRequestReceived(code, now: now) {
            case .answer(let approved):
                self.logger.debug("network management answered", metadata: ["iso.nmic": "\(code)"])
                let answer = self.codec.makeNetworkManagementResponse(to: message, approved: approved)
                let written = self.write(answer, tpdu: frame.tpdu?.swapped)
                self.statistics.withLockedValue {
                    $0.networkRequestsAnswered += 1
                    $0.record(written)
                }
            case .deliver:
                self.deliver(message, tpdu: frame.tpdu)
            }
        case .request:
            switch self.machine.requestReceived(now: now) {
            case .deliver:
                self.deliver(message, tpdu: frame.tpdu)
            case .reject(let reason):
                self.logger.info("request refused", metadata: self.codec.logMetadata(of: message).merging(["link.reason": "\(reason)"]) { $1 })
                let written = self.codec.rejectionResponse(to: message, reason: reason).map {
                    self.write($0, tpdu: frame.tpdu?.swapped)
                }
                self.statistics.withLockedValue {
                    $0.rejectedNotSignedOn += 1
                    if let written { $0.record(written) }
                }
            }
        case .response, .networkManagementResponse:
            self.machine.inboundTraffic(now: now)
            self.statistics.withLockedValue { $0.unexpectedMessages += 1 }
            self.logger.info("unexpected response from a client dropped", metadata: self.codec.logMetadata(of: message))
        }
    }

    @_specialize(exported: false, where Codec == ISO8583LinkCodec)
    func channelReadComplete(context: ChannelHandlerContext) {
        self.inReadBurst = false
        if self.needsFlush {
            self.needsFlush = false
            context.flush()
        }
        self.rearmTimer()
        context.fireChannelReadComplete()
    }

    // MARK: Helpers

    private func formatError(_ frame: ISO8583Frame, error: any Error) {
        guard let answer = self.codec.formatErrorResponse(to: frame.payload, error: error) else {
            self.statistics.withLockedValue {
                $0.formatErrors += 1
                $0.formatErrorsDropped += 1
            }
            self.logger.info("undecodable frame dropped", metadata: ["link.error": "\(error)"])
            return
        }
        self.logger.info("undecodable frame answered with a format error", metadata: ["link.error": "\(error)"])
        let written = self.write(answer, tpdu: frame.tpdu?.swapped)
        self.statistics.withLockedValue {
            $0.formatErrors += 1
            $0.record(written)
        }
    }

    private func deliver(_ request: Codec.Message, tpdu: TPDU?) {
        guard let context = self.context, var requestContext = self.requestContext else { return }
        requestContext.tpdu = tpdu
        self.statistics.withLockedValue {
            $0.requestsDelivered += 1
            $0.requestsInFlight += 1
        }
        self.handler(request, requestContext)
            .hop(to: context.eventLoop)
            .assumeIsolated()
            .whenComplete { result in
                self.answer(result, tpdu: tpdu?.swapped)
            }
    }

    @_specialize(exported: false, where Codec == ISO8583LinkCodec)
    private func answer(_ result: Result<Codec.Message?, any Error>, tpdu: TPDU?) {
        switch result {
        case .success(.some(let response)):
            guard self.context != nil else {
                self.statistics.withLockedValue {
                    $0.requestsInFlight -= 1
                    $0.answersAfterClose += 1
                }
                return
            }
            let written = self.write(response, tpdu: tpdu)
            self.statistics.withLockedValue {
                $0.requestsInFlight -= 1
                $0.record(written)
            }
            if !self.inReadBurst {
                self.scheduleFlush()
            }
        case .success(.none):
            self.statistics.withLockedValue { $0.requestsInFlight -= 1 }
        case .failure(let error):
            self.statistics.withLockedValue {
                $0.requestsInFlight -= 1
                $0.handlerFailures += 1
            }
            self.logger.info("request handler failed, no answer written", metadata: ["link.error": "\(error)"])
        }
    }

    /// Encodes and writes (without flushing) one answer; returns whether it was written.
    private func write(_ message: Codec.Message, tpdu: TPDU?) -> Bool {
        guard let context = self.context else { return false }
        var buffer = context.channel.allocator.buffer(capacity: 1024)  // dcswitch-1987 answers often pass 512 bytes
        do {
            let codec = self.codec
            try buffer.writeISO8583Frame(self.framing, tpdu: tpdu) { body in
                try codec.encode(message, into: &body)
            }
        } catch {
            self.logger.error("answer could not be encoded", metadata: ["link.error": "\(error)"])
            return false
        }
        context.write(Self.wrapOutboundOut(buffer), promise: nil)
        self.needsFlush = true
        return true
    }

    private func scheduleFlush() {
        guard !self.flushScheduled, let context = self.context else { return }
        self.flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            if self.needsFlush, let context = self.context {
                self.needsFlush = false
                context.flush()
            }
        }
    }

    private func rearmTimer() {
        guard let deadline = self.machine.nextDeadline, let context = self.context else { return }
        if let current = self.timerDeadline, self.timer != nil, current <= deadline { return }
        self.timer?.cancel()
        self.timerDeadline = deadline
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timer = nil
            self.timerDeadline = nil
            switch self.machine.timerFired(now: .now()) {
            case .none:
                self.rearmTimer()
            case .closeConnection(let reason):
                self.logger.info("closing an idle connection", metadata: ["link.reason": "\(reason)"])
                self.context?.close(promise: nil)
            }
        }
    }
}

extension ServerStatistics {
    /// Counts an answer as written, or as an encoding failure.
    fileprivate mutating func record(_ written: Bool) {
        if written {
            self.responsesWritten += 1
        } else {
            self.encodingFailures += 1
        }
    }
}

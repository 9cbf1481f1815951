import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import ISO8583Network

/// The server's per-connection handler, driven through an `EmbeddedChannel`.
@Suite("Server connection handler")
struct ServerConnectionHandlerTests {
    /// A connection with a handler whose application answers are held until the test releases them.
    final class Harness {
        let channel: EmbeddedChannel
        let statistics = NIOLockedValueBox(ServerStatistics())
        let held = NIOLockedValueBox<[(FakeMessage, EventLoopPromise<FakeMessage?>)]>([])
        let logs = InMemoryLogs()
        let framing: ISO8583Framing

        init(
            codec: FakeCodec = FakeCodec(),
            framing: ISO8583Framing = .default,
            requiresSignOn: Bool = true,
            answer: (@Sendable (FakeMessage, ISO8583RequestContext) -> EventLoopFuture<FakeMessage?>)? = nil
        ) throws {
            self.framing = framing
            let channel = EmbeddedChannel()
            let held = self.held
            let handler: ISO8583Server<FakeCodec>.Handler = answer ?? { request, context in
                let promise = context.eventLoop.makePromise(of: FakeMessage?.self)
                held.withLockedValue { $0.append((request, promise)) }
                return promise.futureResult
            }
            try channel.pipeline.syncOperations.addHandlers(
                ByteToMessageHandler(ISO8583FrameDecoder(framing: framing)),
                ServerConnectionHandler(
                    codec: codec,
                    framing: framing,
                    hostConfiguration: .init(requiresSignOn: requiresSignOn),
                    handler: handler,
                    statistics: self.statistics,
                    logger: self.logs.logger()
                )
            )
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
            self.channel = channel
        }

        /// Writes frames as one read burst (channelRead each, then one channelReadComplete).
        func receive(_ messages: FakeMessage..., tpdu: TPDU? = nil, completeBurst: Bool = true) throws {
            for message in messages {
                self.channel.pipeline.syncOperations.fireChannelRead(
                    NIOAny(ByteBuffer.frame(message, framing: self.framing, tpdu: tpdu))
                )
            }
            if completeBurst {
                self.channel.pipeline.syncOperations.fireChannelReadComplete()
            }
        }

        /// Reads every flushed frame and decodes it.
        func sent() throws -> [ISO8583Frame] {
            var frames: [ISO8583Frame] = []
            while var buffer = try self.channel.readOutbound(as: ByteBuffer.self) {
                while let frame = try buffer.readISO8583Frame(self.framing) {
                    frames.append(frame)
                }
                #expect(buffer.readableBytes == 0)
            }
            return frames
        }

        func sentMessages() throws -> [FakeMessage] {
            try self.sent().map { try FakeCodec().decode($0.payload) }
        }

        func signOn() throws {
            try self.receive(FakeMessage(mti: 800, stan: 1, networkCode: 1))
            #expect(try self.sentMessages() == [FakeMessage(mti: 810, stan: 1, networkCode: 1, responseCode: "00")])
        }
    }

    @Test("sign-on, echo test and sign-off are answered by the server itself with DE 39 = 00")
    func networkManagement() throws {
        let harness = try Harness()
        try harness.receive(FakeMessage(mti: 800, stan: 1, networkCode: 301))
        #expect(try harness.sentMessages() == [FakeMessage(mti: 810, stan: 1, networkCode: 301, responseCode: "00")])
        try harness.signOn()
        try harness.receive(FakeMessage(mti: 800, stan: 2, networkCode: 2))
        #expect(try harness.sentMessages() == [FakeMessage(mti: 810, stan: 2, networkCode: 2, responseCode: "00")])
        #expect(harness.held.withLockedValue { $0.isEmpty })
        #expect(harness.statistics.withLockedValue { $0.networkRequestsAnswered } == 3)
    }

    @Test("network management codes other than sign-on, echo and sign-off go to the application")
    func cutoverDelivered() throws {
        let harness = try Harness()
        try harness.signOn()
        try harness.receive(FakeMessage(mti: 800, stan: 5, networkCode: 201))
        #expect(harness.held.withLockedValue { $0.map(\.0.networkCode) } == [201])
    }

    @Test("requests before sign-on are refused through the codec; after sign-off too")
    func refusedBeforeSignOn() throws {
        let harness = try Harness()
        let request = FakeMessage(mti: 200, stan: 9, terminal: "TERM0001", body: "x")
        try harness.receive(request)
        #expect(try harness.sentMessages() == [request.response(code: "NS")])
        #expect(harness.held.withLockedValue { $0.isEmpty })
        try harness.signOn()
        try harness.receive(FakeMessage(mti: 800, stan: 3, networkCode: 2))
        _ = try harness.sent()
        try harness.receive(request)
        #expect(try harness.sentMessages() == [request.response(code: "NS")])
        #expect(harness.statistics.withLockedValue { $0.rejectedNotSignedOn } == 2)
        #expect(harness.logs.contains("request refused"))
    }

    @Test("a codec without a rejection answer: refused requests are counted and dropped")
    func refusedDropped() throws {
        let harness = try Harness(codec: FakeCodec(answersRejections: false))
        try harness.receive(FakeMessage(mti: 200, stan: 9, terminal: "T"))
        #expect(try harness.sent().isEmpty)
        #expect(harness.statistics.withLockedValue { $0.rejectedNotSignedOn } == 1)
    }

    @Test("without required sign-on, requests go straight to the application")
    func noSignOnRequired() throws {
        let harness = try Harness(requiresSignOn: false)
        try harness.receive(FakeMessage(mti: 200, stan: 9, terminal: "T"))
        #expect(harness.held.withLockedValue { $0.count } == 1)
    }

    @Test("answers completing outside a read burst are written in completion order and flushed once")
    func outOfOrder() throws {
        let harness = try Harness()
        try harness.signOn()
        let requests = (1...3).map { FakeMessage(mti: 200, stan: UInt32($0), terminal: "TERM0001", body: "req\($0)") }
        try harness.receive(requests[0], requests[1], requests[2])
        #expect(try harness.sent().isEmpty)
        let held = harness.held.withLockedValue { $0 }
        #expect(held.map(\.0) == requests)
        held[2].1.succeed(held[2].0.response())
        held[0].1.succeed(held[0].0.response())
        held[1].1.succeed(held[1].0.response())
        // Written but not flushed until the event loop runs the batched flush.
        #expect(try harness.channel.readOutbound(as: ByteBuffer.self) == nil)
        harness.channel.embeddedEventLoop.run()
        #expect(try harness.sentMessages() == [requests[2].response(), requests[0].response(), requests[1].response()])
        #expect(harness.statistics.withLockedValue { ($0.requestsDelivered, $0.requestsInFlight) } == (3, 0))
    }

    @Test("answers ready during a read burst are flushed once, at channelReadComplete")
    func flushPerBurst() throws {
        let harness = try Harness { request, context in
            context.eventLoop.makeSucceededFuture(request.response())
        }
        try harness.signOn()
        let requests = (1...5).map { FakeMessage(mti: 200, stan: UInt32($0), terminal: "T", body: "b\($0)") }
        for request in requests {
            try harness.receive(request, completeBurst: false)
        }
        #expect(try harness.channel.readOutbound(as: ByteBuffer.self) == nil)
        harness.channel.pipeline.syncOperations.fireChannelReadComplete()
        #expect(try harness.sentMessages() == requests.map { $0.response() })
    }

    @Test("an undecodable frame gets a format-error answer and the connection stays open")
    func formatError() throws {
        let harness = try Harness()
        try harness.signOn()
        try harness.channel.writeInbound(ByteBuffer.frame(text: "this is not a message"))
        #expect(try harness.sentMessages() == [FakeMessage(mti: 9999, stan: 0, responseCode: "30", body: "format error")])
        #expect(harness.channel.isActive)
        let request = FakeMessage(mti: 200, stan: 4, terminal: "T")
        try harness.receive(request)
        #expect(harness.held.withLockedValue { $0.map(\.0) } == [request])
        #expect(harness.statistics.withLockedValue { $0.formatErrors } == 1)
    }

    @Test("an undecodable frame without a format-error answer is counted and dropped")
    func formatErrorDropped() throws {
        let harness = try Harness(codec: FakeCodec(answersFormatErrors: false))
        try harness.channel.writeInbound(ByteBuffer.frame(text: "garbage"))
        #expect(try harness.sent().isEmpty)
        #expect(harness.channel.isActive)
        #expect(harness.statistics.withLockedValue { ($0.formatErrors, $0.formatErrorsDropped) } == (1, 1))
        #expect(harness.logs.contains("undecodable frame dropped"))
    }

    @Test("an oversize frame or a non-digit ASCII length closes the connection")
    func framingErrorCloses() throws {
        let harness = try Harness(framing: ISO8583Framing(maximumFrameLength: 64))
        _ = try? harness.channel.writeInbound(ByteBuffer(bytes: [0x00, 0xC8, 0x30]))
        #expect(!harness.channel.isActive)
        #expect(harness.statistics.withLockedValue { $0.framingErrors } == 1)

        let ascii = try Harness(framing: ISO8583Framing(lengthPrefix: .ascii4))
        _ = try? ascii.channel.writeInbound(ByteBuffer(string: "00X1"))
        #expect(!ascii.channel.isActive)
        #expect(ascii.logs.contains("connection error, closing"))
    }

    @Test("answers carry the request's TPDU with destination and source swapped")
    func tpduSwapped() throws {
        let framing = ISO8583Framing(lengthPrefix: .bcd2, hasTPDU: true)
        let harness = try Harness(framing: framing) { request, context in
            #expect(context.tpdu == TPDU(destination: 0x0001, source: 0x0002))
            return context.eventLoop.makeSucceededFuture(request.response())
        }
        let tpdu = TPDU(destination: 0x0001, source: 0x0002)
        try harness.receive(FakeMessage(mti: 800, stan: 1, networkCode: 1), tpdu: tpdu)
        try harness.receive(FakeMessage(mti: 200, stan: 2, terminal: "T"), tpdu: tpdu)
        let frames = try harness.sent()
        #expect(frames.count == 2)
        #expect(frames.allSatisfy { $0.tpdu == TPDU(destination: 0x0002, source: 0x0001) })
    }

    @Test("failed handlers, nil answers, unencodable answers and answers after close are counted")
    func failuresCounted() throws {
        let harness = try Harness()
        try harness.signOn()
        try harness.receive(
            FakeMessage(mti: 200, stan: 1, terminal: "T"),
            FakeMessage(mti: 200, stan: 2, terminal: "T"),
            FakeMessage(mti: 200, stan: 3, terminal: "T"),
            FakeMessage(mti: 200, stan: 4, terminal: "T")
        )
        let held = harness.held.withLockedValue { $0 }
        held[0].1.fail(FakeCodecError(reason: "bank down"))
        held[1].1.succeed(nil)
        held[2].1.succeed(held[2].0.response(body: "UNENCODABLE"))
        harness.channel.embeddedEventLoop.run()
        #expect(try harness.sent().isEmpty)
        // An unexpected response from the client is dropped.
        try harness.receive(FakeMessage(mti: 210, stan: 77, terminal: "T", responseCode: "00"))
        _ = try harness.channel.close().wait()
        held[3].1.succeed(held[3].0.response())
        let statistics = harness.statistics.withLockedValue { $0 }
        #expect(statistics.handlerFailures == 1)
        #expect(statistics.encodingFailures == 1)
        #expect(statistics.answersAfterClose == 1)
        #expect(statistics.unexpectedMessages == 1)
        #expect(statistics.requestsInFlight == 0)
    }
}

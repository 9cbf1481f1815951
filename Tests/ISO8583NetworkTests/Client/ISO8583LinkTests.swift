import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import ISO8583Network

/// Client link against server over real loopback TCP.
@Suite("Link end to end over loopback TCP")
final class ISO8583LinkTests {
    /// Each test's own loops: the shared singleton group also serves the other suites running in parallel (and
    /// PostgreSQL clients), and a loop busy there delayed what these tests wait for past their deadlines.
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    deinit {
        // Not `syncShutdownGracefully`: deinit runs on a thread of Swift's cooperative pool (two threads here), which
        // every suite running in parallel needs; blocking it while the loops wind down stalls them all.
        self.group.shutdownGracefully { _ in }
    }

    typealias Handler = ISO8583Server<FakeCodec>.Handler

    static let echoHandler: Handler = { request, context in
        context.eventLoop.makeSucceededFuture(request.response())
    }

    func startServer(
        port: Int = 0,
        codec: FakeCodec = FakeCodec(),
        framing: ISO8583Framing = .default,
        hostLink: HostLinkStateMachine.Configuration = .init(),
        sharesPort: Bool = false,
        logs: InMemoryLogs = InMemoryLogs(),
        handler: @escaping Handler = ISO8583LinkTests.echoHandler
    ) async throws -> ISO8583Server<FakeCodec> {
        try await ISO8583Server.start(
            configuration: .init(port: port, framing: framing, hostLink: hostLink, sharesPort: sharesPort),
            codec: codec,
            eventLoopGroup: self.group,
            logger: logs.logger("server"),
            handler: handler
        ).get()
    }

    func makeLink(
        port: Int,
        framing: ISO8583Framing = .default,
        tpdu: TPDU? = nil,
        requestTimeout: TimeAmount = .seconds(10),
        stateMachine: ClientLinkStateMachine.Configuration = .init(
            networkResponseTimeout: .seconds(2),
            backoff: ReconnectBackoff(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200))
        ),
        logs: InMemoryLogs = InMemoryLogs()
    ) -> ISO8583Link<FakeCodec> {
        ISO8583Link(
            configuration: .init(
                host: "127.0.0.1",
                port: port,
                name: "test-link",
                framing: framing,
                tpdu: tpdu,
                requestTimeout: requestTimeout,
                stateMachine: stateMachine
            ),
            codec: FakeCodec(),
            eventLoopGroup: self.group,
            logger: logs.logger("link")
        )
    }

    func request(_ stan: UInt32, terminal: String = "TERM0001", mti: UInt16 = 200, body: String? = nil) -> FakeMessage {
        FakeMessage(mti: mti, stan: stan, terminal: terminal, body: body ?? "purchase \(stan)")
    }

    @Test("the client signs on, carries a request, signs off")
    func signOnRequestSignOff() async throws {
        let server = try await self.startServer()
        let link = self.makeLink(port: server.port!)
        #expect(link.state == .idle)
        link.start()
        try await link.waitForSignOn().get()
        #expect(link.state == .signedOn)
        #expect(server.statistics.networkRequestsAnswered == 1)

        let response = try await link.send(self.request(1)).get()
        #expect(response == self.request(1).response())

        try await link.shutdown().get()
        #expect(link.state == .closed)
        #expect(link.statistics.signOns == 1)
        await eventually("the server answered the sign-off") { server.statistics.networkRequestsAnswered == 2 }
        await eventually("the server saw the connection close") { server.statistics.openConnections == 0 }
        try await server.close().get()
    }

    @Test("requests before sign-on fail with notSignedOn; a closed link refuses everything")
    func notSignedOn() async throws {
        let link = self.makeLink(port: 1)
        await #expect(throws: ISO8583NetworkError.self) { try await link.send(self.request(1)).get() }
        #expect(link.statistics.rejectedNotSignedOn == 1)
        try await link.shutdown().get()
        #expect(link.state == .closed)
        await #expect(throws: ISO8583NetworkError.self) { try await link.waitForSignOn().get() }
    }

    @Test("1,000 requests in flight on one connection, answered in shuffled order, all matched")
    func thousandInFlightOutOfOrder() async throws {
        let count = 1_000
        let held = NIOLockedValueBox<[(FakeMessage, EventLoopPromise<FakeMessage?>)]>([])
        let server = try await self.startServer { request, context in
            let promise = context.eventLoop.makePromise(of: FakeMessage?.self)
            let ready: [(FakeMessage, EventLoopPromise<FakeMessage?>)]? = held.withLockedValue { held in
                held.append((request, promise))
                guard held.count == count else { return nil }
                defer { held.removeAll() }
                return held
            }
            if let ready {
                // Everything is in flight: answer in a shuffled order.
                for (request, promise) in ready.shuffled() {
                    promise.succeed(request.response(body: "answer to \(request.body)"))
                }
            }
            return promise.futureResult
        }
        let link = self.makeLink(port: server.port!)
        link.start()
        try await link.waitForSignOn().get()

        let requests = (1...count).map { self.request(UInt32($0), terminal: "TERM\($0 % 7)") }
        let futures = requests.map { link.send($0) }
        var matched = 0
        for (request, future) in zip(requests, futures) {
            let response = try await future.get()
            #expect(response.stan == request.stan)
            #expect(response.terminal == request.terminal)
            #expect(response.body == "answer to \(request.body)")
            matched += 1
        }
        #expect(matched == count)
        let statistics = link.statistics
        #expect(statistics.responsesMatched == count)
        #expect(statistics.inFlight == 0)
        #expect(statistics.lateResponses == 0)
        #expect(statistics.requestsSent == count)
        try await link.shutdown().get()
        try await server.close().get()
    }

    @Test("a duplicate in-flight key is rejected; a 0420 with the same STAN is a different key")
    func duplicateKey() async throws {
        let held = NIOLockedValueBox<[(FakeMessage, EventLoopPromise<FakeMessage?>)]>([])
        let server = try await self.startServer { request, context in
            let promise = context.eventLoop.makePromise(of: FakeMessage?.self)
            held.withLockedValue { $0.append((request, promise)) }
            return promise.futureResult
        }
        let link = self.makeLink(port: server.port!)
        link.start()
        try await link.waitForSignOn().get()

        let first = link.send(self.request(42))
        await #expect {
            try await link.send(self.request(42, body: "again")).get()
        } throws: { error in
            (error as? ISO8583NetworkError)?.code == .duplicateRequest
        }
        let reversal = link.send(self.request(42, mti: 420, body: "reversal"))
        await eventually("both requests reached the server") { held.withLockedValue { $0.count } == 2 }
        // Answer the reversal first: it must not complete the purchase.
        let pending = held.withLockedValue { $0 }
        pending[1].1.succeed(pending[1].0.response())
        let reversalResponse = try await reversal.get()
        #expect(reversalResponse.mti == 430)
        pending[0].1.succeed(pending[0].0.response())
        let purchaseResponse = try await first.get()
        #expect(purchaseResponse.mti == 210)
        #expect(purchaseResponse.body == "purchase 42")
        #expect(link.statistics.duplicatesRejected == 1)
        try await link.shutdown().get()
        try await server.close().get()
    }

    @Test("a request times out; its late response is counted and completes nothing else")
    func timeoutAndLateResponse() async throws {
        let release = NIOLockedValueBox<[(FakeMessage, EventLoopPromise<FakeMessage?>)]>([])
        let server = try await self.startServer { request, context in
            if request.stan == 1 {
                let promise = context.eventLoop.makePromise(of: FakeMessage?.self)
                release.withLockedValue { $0.append((request, promise)) }
                return promise.futureResult
            }
            return context.eventLoop.makeSucceededFuture(request.response())
        }
        let logs = InMemoryLogs()
        let link = self.makeLink(port: server.port!, logs: logs)
        link.start()
        try await link.waitForSignOn().get()

        await #expect {
            try await link.send(self.request(1), timeout: .milliseconds(50)).get()
        } throws: { error in
            (error as? ISO8583NetworkError)?.code == .timeout
        }
        #expect(link.statistics.timeouts == 1)
        // Another request is in flight when the late response arrives.
        let second = link.send(self.request(2))
        #expect(try await second.get() == self.request(2).response())
        await eventually("the slow request reached the server") { release.withLockedValue { $0.count } == 1 }
        let (slowRequest, slowPromise) = release.withLockedValue { $0[0] }
        slowPromise.succeed(slowRequest.response())
        await eventually("the late response was counted") { link.statistics.lateResponses == 1 }
        #expect(logs.contains("late or unmatched response"))
        #expect(link.statistics.responsesMatched == 1)
        #expect(link.statistics.state == .signedOn)
        // The link still works.
        #expect(try await link.send(self.request(3)).get().stan == 3)
        try await link.shutdown().get()
        try await server.close().get()
    }

    @Test("an idle link sends echo tests and stays signed on")
    func echoWhenIdle() async throws {
        let server = try await self.startServer()
        let link = self.makeLink(
            port: server.port!,
            stateMachine: .init(networkResponseTimeout: .seconds(2), echoInterval: .milliseconds(50))
        )
        link.start()
        try await link.waitForSignOn().get()
        await eventually("three echo tests were answered") {
            link.statistics.echoTestsSent >= 3 && server.statistics.networkRequestsAnswered >= 4
        }
        #expect(link.state == .signedOn)
        #expect(link.statistics.signOns == 1)
        try await link.shutdown().get()
        try await server.close().get()
    }

    @Test("a peer that ignores echo tests is declared dead; the link reconnects and signs on again")
    func deadPeer() async throws {
        // This server hands echo tests to the application, which never answers them.
        let server = try await self.startServer(codec: FakeCodec(echoTestIsOrdinaryRequest: true)) { request, context in
            context.eventLoop.makeSucceededFuture(request.networkCode == 301 ? nil : request.response())
        }
        let logs = InMemoryLogs()
        let link = self.makeLink(
            port: server.port!,
            stateMachine: .init(
                networkResponseTimeout: .milliseconds(150),
                echoInterval: .milliseconds(50),
                maximumMissedEchoes: 2,
                backoff: ReconnectBackoff(initialDelay: .milliseconds(10), maximumDelay: .milliseconds(50))
            ),
            logs: logs
        )
        link.start()
        try await link.waitForSignOn().get()
        await eventually("the link signed on a second time") { link.statistics.signOns >= 2 }
        #expect(link.statistics.connections >= 2)
        #expect(logs.contains("closing the link connection"))
        try await link.shutdown().get()
        try await server.close().get()
    }

    @Test("server restart: in-flight requests fail, the client backs off, reconnects and signs on again")
    func serverRestart() async throws {
        let held = NIOLockedValueBox<[EventLoopPromise<FakeMessage?>]>([])
        let holdingHandler: Handler = { _, context in
            let promise = context.eventLoop.makePromise(of: FakeMessage?.self)
            held.withLockedValue { $0.append(promise) }
            return promise.futureResult
        }
        // The server comes back on the same port. While it is down, nothing else may take that port: not another
        // test's server, and not a connection's source port (the link would connect to itself). A bound socket
        // that never listens holds the port for the whole test; connecting to it is refused.
        let reservation = try PortReservation()
        defer { reservation.release() }
        let port = reservation.port
        let first = try await self.startServer(port: port, sharesPort: true, handler: holdingHandler)
        let link = self.makeLink(port: port)
        link.start()
        try await link.waitForSignOn().get()
        let inFlight = link.send(self.request(1))
        await eventually("the request reached the server") { held.withLockedValue { $0.count } == 1 }

        try await first.close().get()
        await #expect {
            try await inFlight.get()
        } throws: { error in
            (error as? ISO8583NetworkError)?.code == .connectionClosed
        }
        // Generous: the suites run in parallel on two cores, and this one had waited past 10 s in a full run.
        await eventually(within: 30, "the link failed to reconnect a few times") { link.statistics.connectFailures >= 2 }
        #expect(link.state != .signedOn)
        await #expect(throws: ISO8583NetworkError.self) { try await link.send(self.request(2)).get() }

        let second = try await self.startServer(port: port, sharesPort: true)
        try await link.waitForSignOn().get()
        #expect(link.statistics.signOns == 2)
        #expect(try await link.send(self.request(3)).get() == self.request(3).response())
        #expect(link.statistics.failedByDisconnect == 1)
        held.withLockedValue { $0.forEach { $0.succeed(nil) } }
        try await link.shutdown().get()
        try await second.close().get()
    }

    @Test("the server closes a silent connection after its idle timeout; the client comes back")
    func serverIdleTimeout() async throws {
        let server = try await self.startServer(hostLink: .init(idleTimeout: .milliseconds(100)))
        let link = self.makeLink(
            port: server.port!,
            stateMachine: .init(
                echoInterval: nil,
                backoff: ReconnectBackoff(initialDelay: .milliseconds(10), maximumDelay: .milliseconds(50))
            )
        )
        link.start()
        try await link.waitForSignOn().get()
        await eventually("the client signed on again after the idle close") { link.statistics.signOns >= 2 }
        #expect(server.statistics.acceptedConnections >= 2)
        try await link.shutdown().get()
        try await server.close().get()
    }

    @Test(
        "every framing works end to end",
        arguments: [
            ISO8583Framing(lengthPrefix: .ascii4, hasTPDU: true),
            ISO8583Framing(lengthPrefix: .bcd2),
            ISO8583Framing(lengthPrefix: .binary4, hasTPDU: true),
        ]
    )
    func framings(framing: ISO8583Framing) async throws {
        let server = try await self.startServer(framing: framing)
        let link = self.makeLink(
            port: server.port!,
            framing: framing,
            tpdu: framing.hasTPDU ? TPDU(destination: 0x0010, source: 0x0020) : nil
        )
        link.start()
        try await link.waitForSignOn().get()
        #expect(try await link.send(self.request(5)).get() == self.request(5).response())
        try await link.shutdown().get()
        try await server.close().get()
    }

    @Test("an undecodable answer is counted and dropped by the client; the connection stays up")
    func undecodableAnswer() async throws {
        let server = try await self.startServer { request, context in
            // A five-digit MTI: the client's codec cannot decode it.
            let answer = request.stan == 1 ? FakeMessage(mti: 12345, stan: 1) : request.response()
            return context.eventLoop.makeSucceededFuture(answer)
        }
        let link = self.makeLink(port: server.port!)
        link.start()
        try await link.waitForSignOn().get()
        await #expect {
            try await link.send(self.request(1), timeout: .milliseconds(100)).get()
        } throws: { error in
            (error as? ISO8583NetworkError)?.code == .timeout
        }
        #expect(link.statistics.decodeErrors == 1)
        #expect(try await link.send(self.request(2)).get().stan == 2)
        #expect(link.statistics.connections == 1)
        try await link.shutdown().get()
        try await server.close().get()
    }

    @Test("an unencodable request fails alone and leaves nothing in flight")
    func unencodable() async throws {
        let server = try await self.startServer()
        let link = self.makeLink(port: server.port!)
        link.start()
        try await link.waitForSignOn().get()
        await #expect {
            try await link.send(self.request(8, body: "UNENCODABLE")).get()
        } throws: { error in
            (error as? ISO8583NetworkError)?.code == .encodingFailed
        }
        #expect(link.statistics.inFlight == 0)
        #expect(try await link.send(self.request(8)).get().stan == 8)
        try await link.shutdown().get()
        try await server.close().get()
    }
}

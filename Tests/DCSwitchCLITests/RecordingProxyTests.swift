import DCSwitchTestKit
import FixtureReplay
import Foundation
import ISO8583
import ISO8583Network
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// The recording proxy over real loopback TCP: in front of `dcswitch serve` (the shipped fixtures go through it, and
/// what it recorded replays against the same network), and in front of a scripted host that shows the bytes pass
/// unchanged both ways, in every framing, and that undecodable frames and unanswered requests are reported.
@Suite("dcswitch record: the recording proxy")
struct RecordingProxyTests {
    static let spec = MessageSpec.builtin("dcswitch-1987")!

    @Test func fixturesReplayedThroughTheProxyAreRecordedAndTheRecordingReplays() async throws {
        let serve = try await ServeProcess.start()
        defer { serve.terminate() }
        let directory = try TestPostgres.makeTemporaryDirectory("record-out")
        let proxy = try await RecordingProxy.start(configuration: .init(
            targetHost: "127.0.0.1", targetPort: serve.port, spec: Self.spec, specName: "dcswitch-1987", directory: directory,
            recorder: FixtureRecorder(freshIdentifiers: true)
        ))

        // 1. The replay runner, pointed at the proxy, passes as it does against the switch itself.
        let suite = CLI.root.appendingPathComponent("Fixtures/replay")
        let names = ["03-transfer-in-within-bank", "07-nfc", "15-format-error", "16-invalid-processing-code"]
        let throughProxy = FixtureReplayer(configuration: .init(host: "127.0.0.1", port: proxy.port, timeout: 5))
        var identifiers = IdentifierSource()
        var stepsSent = 0
        for name in names {
            let fixture = try Fixture.load(path: suite.appendingPathComponent(name + ".json").path)
            let result = await throughProxy.run(fixture, identifiers: &identifiers)
            #expect(result.passed, "\(name) through the proxy: \(ReplayReport.lines(for: result, reveal: false, verbose: true).joined(separator: "\n"))")
            stepsSent += fixture.steps.count
        }
        let summary = await proxy.shutdown()

        // 2. One fixture per connection; every request but the echo test of 15 (network management) is a step.
        #expect(summary.connections == names.count, "\(summary.lines)")
        #expect(summary.fixtures.count == names.count, "\(summary.lines)")
        #expect(summary.exchangesRecorded == stepsSent - 1, "\(summary.lines)")
        // A sign-on and a sign-off per connection, and the echo test.
        #expect(summary.networkManagement == 2 * names.count + 1, "\(summary.lines)")
        #expect(summary.unanswered.isEmpty && summary.undecodable.isEmpty && summary.unpaired.isEmpty, "\(summary.lines)")
        #expect(summary.framingErrors.isEmpty && summary.notWritten.isEmpty, "\(summary.lines)")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(files == (1...names.count).map { "connection-000\($0).json" }, "\(files)")
        let texts = try files.map { try String(contentsOfFile: directory + "/" + $0, encoding: .utf8) }
        let all = texts.joined(separator: "\n")
        // The recorder's matchers, as `replay --record` writes them.
        #expect(all.contains(#""11": "${new.stan}""#), "\(all)")
        #expect(all.contains(#""39": "00""#) && all.contains(#""39": "30""#) && all.contains(#""39": "12""#), "\(all)")
        #expect(all.contains(#""124.05": {"mandatory": true}"#), "\(all)")
        #expect(all.contains(#""103": {"echo": true}"#), "\(all)")
        // The request that breaks the spec is kept as the bytes that went out; the echo test is not recorded.
        #expect(all.contains(#""hex": "303230304232333830343031"#), "\(all)")
        #expect(!all.contains(#""mti": "0800""#), "\(all)")
        #expect(!all.contains(#""signOn""#), "\(all)")

        // 3. The recording replays against the same network, twice (fresh identifiers each time).
        let direct = FixtureReplayer(configuration: .init(host: "127.0.0.1", port: serve.port, timeout: 5))
        for _ in 0..<2 {
            for file in files {
                let fixture = try Fixture.load(path: directory + "/" + file)
                let result = await direct.run(fixture, identifiers: &identifiers)
                #expect(result.passed, "\(file): \(ReplayReport.lines(for: result, reveal: false, verbose: true).joined(separator: "\n"))")
            }
        }
    }

    @Test func theRecordCommandRecordsWhatSendSendsAndReplayPassesIt() async throws {
        let serve = try await ServeProcess.start()
        defer { serve.terminate() }
        let directory = try TestPostgres.makeTemporaryDirectory("record-cli")
        let port = try await Self.freePort()
        let record = try SpawnedProcess(
            executable: CLI.binary.path,
            arguments: [
                "record", "--listen", "127.0.0.1:\(port)", "--target", serve.target, "--output", directory, "--fresh-ids", "--duration", "6",
            ],
            outputPath: try TestPostgres.makeTemporaryDirectory("record-cli-log") + "/record.log"
        )
        let deadline = ContinuousClock.now + .seconds(20)
        while !record.output.contains("Recording:"), record.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(record.output.contains("clients connect to 127.0.0.1:\(port), forwarded to \(serve.target)"), "\(record.output)")

        let sent = try await CLI.run(["send", "--target", "127.0.0.1:\(port)", "--spec", "dcswitch-1987", "--timeout", "5", "--json", Self.transferIn])
        #expect(sent.status == 0, "\(sent.stdout)\n\(sent.stderr)")
        #expect(sent.lines.first?.contains(#""39":"00""#) == true, "\(sent.stdout)")
        let status = await record.exited()
        let text = record.output
        #expect(status == 0, "\(text)")
        #expect(text.contains("Recorded 1 exchange of 1 connection (127.0.0.1:\(port) → \(serve.target)) in 1 fixture"), "\(text)")
        #expect(text.contains("network management: 2 exchanges forwarded, not recorded"), "\(text)")
        let fixture = directory + "/connection-0001.json"
        let recording = try String(contentsOfFile: fixture, encoding: .utf8)
        #expect(recording.contains(#""37": "${new.rrn}""#) && recording.contains(#""13": "transfer-in""#), "\(recording)")

        let replay = try await CLI.run(["replay", directory, "--target", serve.target, "--timeout", "5"])
        #expect(replay.status == 0, "\(replay.stdout)\n\(replay.stderr)\n\(recording)")
        #expect(replay.stdout.contains("PASS"), "\(replay.stdout)")
    }

    @Test(arguments: [ISO8583Framing.LengthPrefix.binary2, .binary4, .ascii4, .bcd2])
    func bytesPassUnchangedAndUndecodableAndUnansweredFramesAreReported(framing: ISO8583Framing.LengthPrefix) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let host = try await ScriptedHost.start(framing: framing, group: group)
        let directory = try TestPostgres.makeTemporaryDirectory("record-bytes")
        let proxy = try await RecordingProxy.start(
            configuration: .init(
                targetHost: "127.0.0.1", targetPort: host.port, spec: Self.spec, specName: "dcswitch-1987", framing: framing, directory: directory
            ),
            eventLoopGroup: group
        )

        // A sign-on, two payments, a frame that is no ISO 8583 message at all, and a payment the host never answers
        // (it closes the connection): in one stream, written in uneven pieces that cut frames and prefixes.
        let payments = [Self.payment(stan: "000002"), Self.payment(stan: "000003")]
        let signOn = try Self.frame(Self.spec.encode(ISO8583Message(mti: "0800", fields: [7: "1121100000", 11: "000001", 70: "001"])), framing)
        let garbage = try Self.frame(ByteBuffer(bytes: Array("NOT AN ISO MESSAGE".utf8)), framing)
        let unanswered = try Self.frame(Self.spec.encode(Self.payment(stan: "000004", processingCode: ScriptedHost.hangUpCode)), framing)
        var stream = signOn
        stream += try Self.frame(Self.spec.encode(payments[0]), framing)
        stream += garbage
        stream += try Self.frame(Self.spec.encode(payments[1]), framing)
        let client = try await RawClient.connect(port: proxy.port, group: group)
        var offset = 0
        for size in [1, 3, 7, 40, 2, 90, 5, 1000] where offset < stream.count {
            let end = min(offset + size, stream.count)
            try await client.write(Array(stream[offset..<end]))
            offset = end
            try await Task.sleep(for: .milliseconds(5))
        }
        if offset < stream.count { try await client.write(Array(stream[offset...])) }

        // Three answers (0810, 0210, 0210) arrive; what each side got is exactly what the other sent.
        try await host.waitForAnswers(3)
        try await client.waitFor(byteCount: host.sentBytes.count)
        #expect(host.receivedBytes == stream)
        #expect(client.receivedBytes == host.sentBytes)

        try await client.write(unanswered)
        try await client.waitForClose()
        #expect(host.receivedBytes == stream + unanswered)
        let summary = await proxy.shutdown()

        #expect(summary.connections == 1)
        #expect(summary.exchangesRecorded == 2, "\(summary.lines)")
        #expect(summary.networkManagement == 1, "\(summary.lines)")
        #expect(summary.undecodable.count == 1, "\(summary.lines)")
        #expect(summary.undecodable.first?.hasPrefix("connection 1: client → target: 18 bytes that do not decode with dcswitch-1987") == true, "\(summary.lines)")
        #expect(summary.unanswered == ["connection 1: 0200 STAN 000004 terminal TERM0001"], "\(summary.lines)")
        #expect(summary.lines.contains("unanswered requests: 1") && summary.lines.contains("undecodable frames: 1"), "\(summary.lines)")
        #expect(summary.fixtures == [directory + "/connection-0001.json"], "\(summary.lines)")

        // The fixture: the two answered payments in order, the sign-on kept as the fixture's, the framing named.
        let fixture = try Fixture.load(path: directory + "/connection-0001.json")
        #expect(fixture.steps.map(\.name) == ["1. 0200 009000", "2. 0200 009000"])
        #expect(fixture.signOn)
        #expect(fixture.framing == (framing == .binary2 ? nil : framing))
        let text = try String(contentsOfFile: directory + "/connection-0001.json", encoding: .utf8)
        #expect(text.contains(#""11": "000003""#) && text.contains(#""39": "00""#), "\(text)")
    }

    @Test func requestsArePairedWithTheirResponsesWhateverTheOrder() throws {
        var capture = SessionCapture(spec: Self.spec)
        func frame(_ message: ISO8583Message) throws -> ReplayFrame {
            ReplayFrame(decoding: try Self.spec.encode(message), spec: Self.spec)
        }
        var first = Self.payment(stan: "000011")
        // A value that looks like a placeholder is recorded as a literal.
        first[42] = "SHOP${NAME}0001"
        let second = Self.payment(stan: "000012")
        // No sign-on before the first request: the fixture will not sign on either.
        capture.receive(try frame(first), from: .clientToTarget)
        capture.receive(try frame(second), from: .clientToTarget)
        // The host's own echo test, answered by the client: paired, not a step.
        capture.receive(try frame(ISO8583Message(mti: "0800", fields: [11: "900001", 70: "301"])), from: .targetToClient)
        capture.receive(try frame(ISO8583Message(mti: "0810", fields: [11: "900001", 39: "00", 70: "301"])), from: .clientToTarget)
        // The answers come in the other order; the second without DE 37 (a format-error answer may lack it).
        capture.receive(try frame(second.makeResponse(responseCode: "30").removing(37)), from: .targetToClient)
        capture.receive(try frame(first.makeResponse(responseCode: "00")), from: .targetToClient)
        // A response to nothing, and one more for a request already answered.
        capture.receive(try frame(Self.payment(stan: "000099").makeResponse(responseCode: "00")), from: .targetToClient)
        capture.receive(try frame(first.makeResponse(responseCode: "00")), from: .targetToClient)

        #expect(capture.exchanges.map { $0.request.message?[11] } == ["000011", "000012"])
        #expect(capture.exchanges.map { $0.response?.message?[39] } == ["00", "30"])
        #expect(capture.unanswered.isEmpty)
        #expect(!capture.signedOnFirst)
        #expect(capture.networkManagement == 1)
        #expect(capture.unmatchedResponses.map(\.description) == [
            "target → client: an 0210 with STAN 000099 answers no request in flight",
            "target → client: an 0210 with STAN 000011 answers no request in flight",
        ])

        let recorded = try #require(try FixtureRecorder().record(capture, source: .init(name: "paired", file: "paired.json", specName: "dcswitch-1987")))
        let text = recorded.prettyText()
        #expect(text.contains(#""signOn": false"#), "\(text)")
        #expect(text.contains(#""39": "30""#) && text.contains(#""39": "00""#), "\(text)")
        #expect(text.contains(#""42": "SHOP$${NAME}0001""#), "\(text)")
        let fixture = try Fixture.parse(text, file: "paired.json")
        #expect(fixture.steps.count == 2)
        #expect(!fixture.signOn)
    }

    // MARK: Helpers

    /// A transfer-in from a BANKA card to its holder's wallet, as `dcswitch send` takes it.
    static let transferIn = #"{"mti":"0200","fields":{"2":"4761730000000029","3":"401090","4":"000000000210","7":"0101000000","11":"000031","12":"000000","13":"0101","22":"012","32":"30000000001","37":"000000000031","41":"TERM0001","48":{"03":"0000010000000002"},"49":"156","103":"DC1000000000133691CAE5EA8B35741B7E64F71E56C16C5A19C31","124":{"04":"00000000000000AA","13":"transfer-in"}}}"#

    static func payment(stan: String, processingCode: String = "009000") -> ISO8583Message {
        ISO8583Message(mti: "0200", fields: [3: processingCode, 4: "000000000150", 7: "1121100000", 11: stan, 37: "000000" + stan, 41: "TERM0001", 49: "156"])
    }

    /// `payload` with its length prefix.
    static func frame(_ payload: ByteBuffer, _ framing: ISO8583Framing.LengthPrefix) throws -> [UInt8] {
        var buffer = ByteBuffer()
        try buffer.writeISO8583Frame(ISO8583Frame(payload: payload), framing: ISO8583Framing(lengthPrefix: framing))
        return Array(buffer.readableBytesView)
    }

    /// A port nothing listens on right now.
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port
        try await channel.close()
        return try #require(port)
    }
}

extension ISO8583Message {
    fileprivate func removing(_ number: Int) -> ISO8583Message {
        var copy = self
        copy.remove(number)
        return copy
    }
}

/// A host that answers every decodable request with DE 39 = 00 (an 0810 to an 0800), ignores what does not decode,
/// hangs up on processing code ``hangUpCode``, and keeps every byte it received and sent.
private final class ScriptedHost: Sendable {
    static let hangUpCode = "990000"

    private struct Bytes {
        var received: [UInt8] = []
        var sent: [UInt8] = []
        var answers = 0
    }

    let port: Int
    private let bytes: NIOLockedValueBox<Bytes>
    private let channel: any Channel

    private init(port: Int, bytes: NIOLockedValueBox<Bytes>, channel: any Channel) {
        self.port = port
        self.bytes = bytes
        self.channel = channel
    }

    var receivedBytes: [UInt8] { self.bytes.withLockedValue { $0.received } }
    var sentBytes: [UInt8] { self.bytes.withLockedValue { $0.sent } }

    static func start(framing: ISO8583Framing.LengthPrefix, group: any EventLoopGroup) async throws -> ScriptedHost {
        let bytes = NIOLockedValueBox(Bytes())
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Handler(framing: ISO8583Framing(lengthPrefix: framing), bytes: bytes))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedHost(port: channel.localAddress!.port!, bytes: bytes, channel: channel)
    }

    func waitForAnswers(_ count: Int) async throws {
        try await waitUntil("\(count) answers from the host") { self.bytes.withLockedValue { $0.answers >= count } }
    }

    deinit { self.channel.close(promise: nil) }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let framing: ISO8583Framing
        let bytes: NIOLockedValueBox<Bytes>
        var buffer = ByteBuffer()

        init(framing: ISO8583Framing, bytes: NIOLockedValueBox<Bytes>) {
            self.framing = framing
            self.bytes = bytes
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var chunk = Self.unwrapInboundIn(data)
            self.bytes.withLockedValue { $0.received += chunk.readableBytesView }
            self.buffer.writeBuffer(&chunk)
            while let frame = try? self.buffer.readISO8583Frame(self.framing) {
                guard let request = try? RecordingProxyTests.spec.decode(frame.payload) else { continue }
                if request[3] == ScriptedHost.hangUpCode {
                    context.close(promise: nil)
                    return
                }
                var answer = ByteBuffer()
                try! answer.writeISO8583Frame(ISO8583Frame(payload: RecordingProxyTests.spec.encode(request.makeResponse(responseCode: "00", echoing: [70]))), framing: self.framing)
                self.bytes.withLockedValue {
                    $0.sent += answer.readableBytesView
                    $0.answers += 1
                }
                context.writeAndFlush(NIOAny(answer), promise: nil)
            }
        }
    }
}

/// A client that writes raw bytes and keeps every byte it receives.
private final class RawClient: Sendable {
    private let channel: any Channel
    private let received: NIOLockedValueBox<[UInt8]>

    private init(channel: any Channel, received: NIOLockedValueBox<[UInt8]>) {
        self.channel = channel
        self.received = received
    }

    var receivedBytes: [UInt8] { self.received.withLockedValue { $0 } }

    static func connect(port: Int, group: any EventLoopGroup) async throws -> RawClient {
        let received = NIOLockedValueBox<[UInt8]>([])
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(received: received)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawClient(channel: channel, received: received)
    }

    func write(_ bytes: [UInt8]) async throws {
        try await self.channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    func waitFor(byteCount: Int) async throws {
        try await waitUntil("\(byteCount) bytes at the client") { self.receivedBytes.count >= byteCount }
    }

    func waitForClose() async throws {
        try await self.channel.closeFuture.get()
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<[UInt8]>

        init(received: NIOLockedValueBox<[UInt8]>) { self.received = received }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let chunk = Self.unwrapInboundIn(data)
            self.received.withLockedValue { $0 += chunk.readableBytesView }
        }
    }
}

private struct Timeout: Error, CustomStringConvertible {
    var description: String
}

/// Polls `condition` for up to 10 s.
private func waitUntil(_ what: String, _ condition: @Sendable () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while !condition() {
        guard ContinuousClock.now < deadline else { throw Timeout(description: "no \(what) within 10 s") }
        try await Task.sleep(for: .milliseconds(10))
    }
}

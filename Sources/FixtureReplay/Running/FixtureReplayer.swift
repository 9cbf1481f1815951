import ISO8583
import ISO8583Network
import Logging
import NIOCore
import NIOPosix

/// Replays fixtures against a host: one connection per fixture, its steps in order, each response checked.
///
/// ```swift
/// let replayer = FixtureReplayer(configuration: .init(host: "127.0.0.1", port: 8583))
/// let result = await replayer.run(try Fixture.load(path: "Fixtures/replay/nfc.json"))
/// print(result.passed)
/// ```
public struct FixtureReplayer: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Seconds a step waits for its response when neither it nor its fixture says.
        public var timeout: Double
        /// The length prefix when the fixture names none (the switch's: 2-byte binary).
        public var framing: ISO8583Framing.LengthPrefix
        /// Variables from the command line: they override the fixtures' own `variables`.
        public var variables: [String: String]
        /// Whether responses are checked (`false` when recording).
        public var checksExpectations: Bool

        public init(
            host: String, port: Int, timeout: Double = 10, framing: ISO8583Framing.LengthPrefix = .binary2,
            variables: [String: String] = [:], checksExpectations: Bool = true
        ) {
            self.host = host
            self.port = port
            self.timeout = timeout
            self.framing = framing
            self.variables = variables
            self.checksExpectations = checksExpectations
        }
    }

    public let configuration: Configuration
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    let clock: @Sendable () -> Int64

    public init(
        configuration: Configuration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "dcswitch.replay", factory: { _ in SwiftLogNoOpLogHandler() }),
        clock: @escaping @Sendable () -> Int64 = { UTCClock.nowNanoseconds() }
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.clock = clock
    }

    /// Runs `fixture`. `identifiers` carries fresh STANs and RRNs from one fixture to the next.
    public func run(_ fixture: Fixture, identifiers: inout IdentifierSource) async -> FixtureResult {
        let start = ContinuousClock.now
        var context = ReplayContext(variables: [:], identifiers: identifiers, clock: self.clock)
        defer { identifiers = context.identifierSource }
        func finish(_ steps: [StepResult], problem: String?) -> FixtureResult {
            FixtureResult(
                name: fixture.name, file: fixture.file, spec: fixture.spec, steps: steps, problem: problem,
                duration: Self.seconds(ContinuousClock.now - start)
            )
        }
        // The fixture's variables in order, then the command line's on top.
        for (name, template) in fixture.variables {
            if let value = self.configuration.variables[name] {
                context.variables[name] = value
                continue
            }
            do {
                context.variables[name] = try template.resolve(&context)
            } catch {
                return finish([], problem: FixtureError(error.code, file: fixture.file, path: "variables.\(name)", error.message).description)
            }
        }
        for (name, value) in self.configuration.variables { context.variables[name] = value }

        let timeoutFor = { (step: FixtureStep) in step.timeout ?? fixture.timeout ?? self.configuration.timeout }
        let session: ReplaySession
        do {
            session = try await ReplaySession.open(
                host: self.configuration.host, port: self.configuration.port, spec: fixture.spec,
                framing: ISO8583Framing(lengthPrefix: fixture.framing ?? self.configuration.framing), signOn: fixture.signOn,
                timeout: max(fixture.timeout ?? self.configuration.timeout, 1), eventLoopGroup: self.eventLoopGroup, logger: self.logger
            )
        } catch {
            var result = finish([], problem: error.message)
            result.hostUnreachable = error.unreachable
            return result
        }
        var results: [StepResult] = []
        var sent: [BuiltRequest?] = []
        for step in fixture.steps {
            if let last = results.last, last.status != .passed {
                results.append(StepResult(name: step.name, status: .skipped))
                sent.append(nil)
                continue
            }
            if !results.isEmpty, !session.isUsable {
                results.append(StepResult(name: step.name, status: .error, problems: [
                    "the connection was lost after the previous step (the host closed it)",
                ]))
                sent.append(nil)
                continue
            }
            let result = await self.run(step, fixture: fixture, session: session, timeout: timeoutFor(step), context: &context, sent: sent)
            results.append(result)
            sent.append(result.request)
        }
        await session.close()
        return finish(results, problem: nil)
    }

    private func run(
        _ step: FixtureStep, fixture: Fixture, session: ReplaySession, timeout: Double, context: inout ReplayContext, sent: [BuiltRequest?]
    ) async -> StepResult {
        let request: BuiltRequest
        do {
            request = try step.request.build(spec: fixture.spec, context: &context, earlier: sent, path: step.jsonPath)
        } catch {
            return StepResult(name: step.name, status: .error, problems: [error.inFile(fixture.file).description])
        }
        let start = ContinuousClock.now
        let outcome = await session.exchange(request, timeout: timeout)
        let duration = Self.seconds(ContinuousClock.now - start)
        var result = StepResult(name: step.name, status: .passed, duration: duration, request: request)
        let expectsNoResponse = self.configuration.checksExpectations && step.expect?.noResponse == true
        let response: ReplayFrame
        switch outcome {
        case .timeout:
            if expectsNoResponse { return result }
            result.status = .error
            result.problems.append("no response within \(ReplaySession.seconds(timeout))")
            return result
        case .failed(let reason):
            result.status = .error
            result.problems.append(reason)
            return result
        case .response(let frame):
            response = frame
            result.response = frame
        }
        if expectsNoResponse {
            result.status = .failed
            result.problems.append("expected no response, got " + (response.message.map { "an \($0.mti)" } ?? "\(response.bytes.count) bytes"))
            return result
        }
        guard let message = response.message else {
            result.status = .failed
            result.problems.append("the response does not decode with \(fixture.spec.name): \(response.lenientError.map { "\($0)" } ?? "unknown error")")
            return result
        }
        if let strictError = response.strictError, !step.lenientResponse, self.configuration.checksExpectations {
            result.status = .failed
            result.problems.append("the response breaks \(fixture.spec.name): \(strictError) (add \"lenient\": true to the step to accept it)")
        }
        if self.configuration.checksExpectations, let expect = step.expect {
            let requestValue = { (path: String) -> String? in Self.value(at: path, in: request.message, spec: fixture.spec) }
            for check in expect.checks {
                let actual = Self.value(at: check.path, in: message, spec: fixture.spec)
                for matcher in check.matchers {
                    do {
                        if let mismatch = try matcher.check(actual, path: check.path, request: requestValue, context: &context) {
                            result.differences.append(FieldDifference(path: check.path, expected: mismatch.expected, actual: actual, note: mismatch.note))
                        }
                    } catch {
                        result.problems.append(FixtureError(error.code, file: fixture.file, path: joinPath(step.jsonPath, "expect.fields.\(check.path)"), error.message).description)
                    }
                }
            }
            if !result.differences.isEmpty || !result.problems.isEmpty { result.status = .failed }
        }
        for capture in step.captures {
            let value = Self.value(at: capture.path.description, in: capture.fromRequest ? request.message : message, spec: fixture.spec)
            guard let value else {
                result.status = .failed
                result.problems.append("cannot capture ${\(capture.name)}: the \(capture.fromRequest ? "request" : "response") has no \(FieldMatcher.label(capture.path.description))")
                continue
            }
            context.variables[capture.name] = value
        }
        return result
    }

    /// The value at `path` (`mti`, `39`, `124.05`), `nil` when absent or unreadable.
    static func value(at path: String, in message: ISO8583Message?, spec: MessageSpec) -> String? {
        guard let message else { return nil }
        if path == "mti" { return message.mti.description }
        guard let fieldPath = try? FieldPath(parsing: path) else { return nil }
        return (try? message.value(at: fieldPath, spec: spec)) ?? nil
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

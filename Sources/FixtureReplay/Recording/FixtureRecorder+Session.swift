import ISO8583
import ISO8583Network

extension FixtureRecorder {
    /// What a proxied connection is recorded as.
    public struct SessionSource: Sendable {
        /// The fixture's name.
        public var name: String
        /// Where the fixture will be written (it names the fixture in errors).
        public var file: String
        /// Free text for the fixture's `description` (where the traffic came from).
        public var description: String?
        /// The spec as the fixture names it: a built-in name or a spec file.
        public var specName: String
        /// The link's length prefix.
        public var framing: ISO8583Framing.LengthPrefix

        public init(name: String, file: String, description: String? = nil, specName: String, framing: ISO8583Framing.LengthPrefix = .binary2) {
            self.name = name
            self.file = file
            self.description = description
            self.specName = specName
            self.framing = framing
        }
    }

    /// The fixture of one proxied connection: a step for each request of the client that got its response, in the
    /// order the client sent them, with the same expectations as ``record(_:result:)`` writes for replayed requests.
    /// `"signOn": false` when the client did not sign on before its first request; `framing` when not `binary2`.
    ///
    /// - Returns: `nil` when no request of the client was answered (nothing to replay).
    /// - Throws: ``FixtureError`` when the recorded requests do not load back as a fixture with `source.specName`.
    public func record(_ session: SessionCapture, source: SessionSource) throws(FixtureError) -> FixtureJSON? {
        let answered = session.answered
        guard !answered.isEmpty else { return nil }
        let spec = session.codec.spec
        var top: [(String, FixtureJSON)] = [("name", .string(source.name))]
        if let description = source.description { top.append(("description", .string(description))) }
        top.append(("spec", .string(source.specName)))
        if !session.signedOnFirst { top.append(("signOn", .bool(false))) }
        if source.framing != .binary2 { top.append(("framing", .string(source.framing.name))) }
        let steps = answered.enumerated().map { index, exchange in
            FixtureJSON.object([("name", .string(Self.stepName(exchange, number: index + 1))), ("request", .request(exchange.request, spec: spec))])
        }
        top.append(("steps", .array(steps)))
        let fixture = try Fixture.parse(FixtureJSON.object(top).prettyText(), file: source.file, defaultSpec: source.specName)
        let results = zip(fixture.steps, answered).map { step, exchange in
            StepResult(
                name: step.name, status: .passed,
                request: BuiltRequest(message: exchange.request.message, bytes: exchange.request.bytes), response: exchange.response
            )
        }
        return try self.record(fixture, result: FixtureResult(name: fixture.name, file: source.file, spec: spec, steps: results, problem: nil, duration: 0))
    }

    /// `3. 0200 009000`: the position, the MTI and the processing code.
    static func stepName(_ exchange: SessionCapture.Exchange, number: Int) -> String {
        guard let message = exchange.request.message else { return "\(number)." }
        return "\(number). \(message.mti)" + (message[3].map { " \($0)" } ?? "")
    }
}

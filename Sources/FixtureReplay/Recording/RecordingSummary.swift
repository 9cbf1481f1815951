/// What a ``RecordingProxy`` saw and wrote: counts, and a line for each thing that did not become a fixture step.
public struct RecordingSummary: Sendable {
    /// `HOST:PORT` the proxy listened on, and the target's.
    public var listen: String
    public var target: String
    /// Client connections accepted.
    public var connections = 0
    /// Client connections closed at once because the target could not be reached, one line each.
    public var targetUnreachable: [String] = []
    /// Exchanges written as fixture steps.
    public var exchangesRecorded = 0
    /// Network-management exchanges (0800/0810), forwarded and not recorded.
    public var networkManagement = 0
    /// Requests of the target (other than network management), forwarded and not recorded.
    public var targetRequests = 0
    /// Requests of the client that got no response before the connection ended, one line each.
    public var unanswered: [String] = []
    /// Frames that do not decode with the spec, one line each.
    public var undecodable: [String] = []
    /// Responses that answer no request in flight, and messages that expect none, one line each.
    public var unpaired: [String] = []
    /// Connections whose framing was lost, one line each.
    public var framingErrors: [String] = []
    /// The fixture files written.
    public var fixtures: [String] = []
    /// Fixtures that could not be written, one line each.
    public var notWritten: [String] = []

    public init(listen: String, target: String) {
        self.listen = listen
        self.target = target
    }

    /// Adds one finished connection.
    mutating func add(_ capture: SessionCapture, connection: Int) {
        let prefix = "connection \(connection): "
        self.exchangesRecorded += capture.answered.count
        self.networkManagement += capture.networkManagement
        self.targetRequests += capture.targetRequests
        self.unanswered += capture.unanswered.map { prefix + $0.label }
        self.undecodable += capture.undecodable.map { prefix + $0.description }
        self.unpaired += (capture.unmatchedResponses + capture.unpaired).map { prefix + $0.description }
        self.framingErrors += capture.framingErrors.map { prefix + $0.description }
    }

    /// The summary for people: a headline, then a line per kind of trouble and one per instance.
    public var lines: [String] {
        func plural(_ count: Int, _ word: String) -> String { "\(count) \(word)\(count == 1 ? "" : "s")" }
        var lines = [
            "Recorded \(plural(self.exchangesRecorded, "exchange")) of \(plural(self.connections, "connection")) (\(self.listen) → \(self.target)) "
                + "in \(plural(self.fixtures.count, "fixture"))",
        ]
        lines += self.fixtures.sorted().map { "  " + $0 }
        if self.networkManagement > 0 {
            lines.append("network management: \(plural(self.networkManagement, "exchange")) forwarded, not recorded (replay signs on by itself)")
        }
        if self.targetRequests > 0 {
            lines.append("requests of the target: \(self.targetRequests) forwarded, not recorded")
        }
        for (title, items) in [
            ("unanswered requests", self.unanswered), ("undecodable frames", self.undecodable),
            ("unpaired messages", self.unpaired), ("framing errors", self.framingErrors),
            ("target unreachable", self.targetUnreachable), ("fixtures not written", self.notWritten),
        ] where !items.isEmpty {
            lines.append("\(title): \(items.count)")
            lines += items.map { "  " + $0 }
        }
        return lines
    }
}

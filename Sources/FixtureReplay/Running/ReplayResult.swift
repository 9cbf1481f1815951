import ISO8583

/// What one step did.
public struct StepResult: Sendable {
    public enum Status: String, Sendable {
        /// Every check held.
        case passed
        /// The response did not match.
        case failed
        /// No usable response: a timeout, a dropped connection, a request that could not be built.
        case error
        /// Not run because an earlier step did not pass.
        case skipped
    }

    public var name: String
    public var status: Status
    /// Seconds from send to response.
    public var duration: Double
    public var request: BuiltRequest?
    public var response: ReplayFrame?
    /// The checks that did not hold.
    public var differences: [FieldDifference]
    /// What went wrong besides field checks (a timeout, a decode error, a missing capture).
    public var problems: [String]

    init(name: String, status: Status, duration: Double = 0, request: BuiltRequest? = nil, response: ReplayFrame? = nil,
         differences: [FieldDifference] = [], problems: [String] = []) {
        self.name = name
        self.status = status
        self.duration = duration
        self.request = request
        self.response = response
        self.differences = differences
        self.problems = problems
    }
}

/// One check that did not hold: the path, what was expected and what came.
public struct FieldDifference: Sendable, Hashable {
    /// `mti`, `39`, `124.05`.
    public var path: String
    public var expected: FieldMatcher.Expected
    /// The response's value; `nil` when the field is absent.
    public var actual: String?
    public var note: String?
}

/// What one fixture did.
public struct FixtureResult: Sendable {
    public var name: String
    public var file: String
    /// The fixture's spec (for masking); `nil` when the fixture did not load.
    public var spec: MessageSpec?
    public var steps: [StepResult]
    /// Why the fixture could not run at all (it did not load, the host was unreachable).
    public var problem: String?
    /// Seconds for the whole fixture, connection included.
    public var duration: Double
    /// Whether the fixture could not run because no connection to the host could be made.
    public var hostUnreachable = false

    public init(name: String, file: String, spec: MessageSpec?, steps: [StepResult], problem: String?, duration: Double) {
        self.name = name
        self.file = file
        self.spec = spec
        self.steps = steps
        self.problem = problem
        self.duration = duration
    }

    /// Whether the fixture passed: it ran and every step passed.
    public var passed: Bool {
        self.problem == nil && !self.steps.isEmpty && self.steps.allSatisfy { $0.status == .passed }
    }
}

import ISO8583
import ISO8583Network

/// One fixture: a session of steps against one host, each a request and what its response must look like.
///
/// The file format is in `Fixtures/README.md`. A fixture runs on a connection of its own: connect, sign on
/// (unless `"signOn": false`), the steps in order, sign off.
public struct Fixture: Sendable {
    /// The file it came from.
    public var file: String
    /// A short name (the file name without `.json` when the file gives none).
    public var name: String
    public var description: String?
    /// The spec the messages use.
    public var spec: MessageSpec
    /// How the spec was named in the file (or the default).
    public var specName: String
    /// Whether the session signs on before the first step.
    public var signOn: Bool
    /// Seconds a step waits for its response unless the step says otherwise.
    public var timeout: Double?
    /// The length prefix of the link, when the fixture sets one.
    public var framing: ISO8583Framing.LengthPrefix?
    /// Variables set before the first step, in order (each may use the ones before and the generators).
    public var variables: [(name: String, value: Template)]
    public var steps: [FixtureStep]
    /// The document as read (the recorder writes it back with new expectations).
    public var document: FixtureJSON
    /// Whether the document was a bare message or a list of them rather than a fixture.
    public var isBareMessages: Bool
}

/// One request and its expected response.
public struct FixtureStep: Sendable {
    public var name: String
    public var request: RequestSource
    public var expect: Expectation?
    /// Variables to set from this step's messages, in order.
    public var captures: [Capture]
    /// Seconds to wait for the response.
    public var timeout: Double?
    /// Whether a response that decodes only leniently (content-class violations) passes.
    public var lenientResponse: Bool
    /// Where the step is in its file (`steps[1]`), for errors found while it runs.
    public var jsonPath: String
    /// The step as written (the recorder keeps its request and captures).
    public var source: FixtureJSON
}

/// What a step sends.
public enum RequestSource: Sendable {
    /// A message in the `iso decode` JSON form, with placeholders.
    case message(MessageTemplate)
    /// Bytes as hex (placeholders allowed), sent as they are: the way to send a malformed message.
    case hex(Template)
    /// Exactly what an earlier step (by index) sent: a duplicate.
    case repeatStep(Int)
}

/// A message with placeholders in its values.
public struct MessageTemplate: Sendable {
    public enum Value: Sendable {
        case text(Template)
        /// Subfields by id, in order.
        case subfields([(id: String, value: Template)])
    }

    public var mti: Template
    public var header: Template?
    public var fields: [(number: Int, value: Value)]
}

/// Sets a variable from a field of a step's response (or request).
public struct Capture: Sendable {
    public var name: String
    public var path: FieldPath
    /// From the request sent rather than the response.
    public var fromRequest: Bool
}

/// What a response must look like.
public struct Expectation: Sendable {
    /// A check of one path: `mti`, `39`, `124.05`.
    public struct Check: Sendable {
        public var path: String
        public var matchers: [FieldMatcher]
    }

    /// No response at all may come within the timeout.
    public var noResponse: Bool
    /// Checks in the order written, the MTI first when present.
    public var checks: [Check]
}

import NIOCore

/// The host (server) side of an ISO 8583 link: it answers the peer's sign-on, echo and sign-off
/// itself, lets traffic through only once the peer has signed on, and closes a connection that
/// has been silent for too long.
///
/// A pure value with no I/O and no clock of its own, like ``ClientLinkStateMachine``.
public struct HostLinkStateMachine: Sendable {
    /// Policies of a host link.
    public struct Configuration: Hashable, Sendable {
        /// Whether traffic is refused until the peer has signed on (0800, DE 70 = 001).
        public var requiresSignOn: Bool
        /// A connection that has received nothing for this long is closed; `nil` never closes.
        public var idleTimeout: TimeAmount?

        /// Creates a configuration.
        public init(requiresSignOn: Bool = true, idleTimeout: TimeAmount? = nil) {
            self.requiresSignOn = requiresSignOn
            self.idleTimeout = idleTimeout
        }
    }

    /// What to do with a peer's 0800.
    public enum NetworkRequestAction: Hashable, Sendable {
        /// Answer with an 0810, DE 39 = 00 when approved.
        case answer(approved: Bool)
        /// Not a code the link handles itself (key exchange, cutover...): hand it to the application.
        case deliver
    }

    /// What to do with a peer's request.
    public enum RequestAction: Hashable, Sendable {
        /// Hand it to the application.
        case deliver
        /// Refuse it without involving the application.
        case reject(LinkRejectionReason)
    }

    /// What to do when the timer fires.
    public enum TimerAction: Hashable, Sendable {
        /// Nothing.
        case none
        /// Close the connection.
        case closeConnection(reason: ISO8583NetworkError)
    }

    enum State: Hashable, Sendable {
        case connected(lastInbound: NIODeadline)
        case signedOn(lastInbound: NIODeadline)
        case closed
    }

    /// The configuration in force.
    public let configuration: Configuration
    private(set) var state: State

    /// Creates the state machine of a connection accepted at `now`.
    public init(configuration: Configuration = Configuration(), now: NIODeadline) {
        self.configuration = configuration
        self.state = .connected(lastInbound: now)
    }

    /// Whether the peer is signed on.
    public var isSignedOn: Bool {
        if case .signedOn = self.state { return true }
        return false
    }

    /// The current state, summarised.
    public var linkState: LinkState {
        switch self.state {
        case .connected: .signingOn
        case .signedOn: .signedOn
        case .closed: .closed
        }
    }

    /// When the owner must call ``timerFired(now:)`` next, or `nil` when no timer is needed.
    public var nextDeadline: NIODeadline? {
        guard let idleTimeout = self.configuration.idleTimeout else { return nil }
        switch self.state {
        case .connected(let lastInbound), .signedOn(let lastInbound):
            return lastInbound + idleTimeout
        case .closed:
            return nil
        }
    }

    /// The peer sent an 0800 with network management code `code`.
    public mutating func networkRequestReceived(_ code: NetworkManagementCode, now: NIODeadline) -> NetworkRequestAction {
        switch self.state {
        case .connected, .signedOn:
            switch code {
            case .signOn:
                self.state = .signedOn(lastInbound: now)
                return .answer(approved: true)
            case .signOff:
                self.state = .connected(lastInbound: now)
                return .answer(approved: true)
            case .echoTest:
                self.touch(now: now)
                return .answer(approved: true)
            default:
                self.touch(now: now)
                return .deliver
            }
        case .closed:
            return .answer(approved: false)
        }
    }

    /// The peer sent a request (anything but network management).
    public mutating func requestReceived(now: NIODeadline) -> RequestAction {
        switch self.state {
        case .signedOn:
            self.state = .signedOn(lastInbound: now)
            return .deliver
        case .connected:
            self.state = .connected(lastInbound: now)
            return self.configuration.requiresSignOn ? .reject(.notSignedOn) : .deliver
        case .closed:
            return .reject(.notSignedOn)
        }
    }

    /// Something else arrived (a malformed frame, a response): the peer is alive.
    public mutating func inboundTraffic(now: NIODeadline) {
        self.touch(now: now)
    }

    /// The timer armed at ``nextDeadline`` fired.
    public mutating func timerFired(now: NIODeadline) -> TimerAction {
        guard let deadline = self.nextDeadline, now >= deadline else { return .none }
        self.state = .closed
        return .closeConnection(
            reason: ISO8583NetworkError(code: .timeout, detail: "nothing received for \(self.configuration.idleTimeout!)")
        )
    }

    /// The connection closed.
    public mutating func disconnected() {
        self.state = .closed
    }

    private mutating func touch(now: NIODeadline) {
        switch self.state {
        case .connected:
            self.state = .connected(lastInbound: now)
        case .signedOn:
            self.state = .signedOn(lastInbound: now)
        case .closed:
            break
        }
    }
}

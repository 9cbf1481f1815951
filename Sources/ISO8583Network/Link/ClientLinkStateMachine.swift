import NIOCore

/// The acquirer (client) side of an ISO 8583 link: connect, sign on, carry traffic, echo when idle,
/// declare the peer dead after missed echoes, sign off, reconnect with backoff.
///
/// A pure value: every event method takes the current time and returns the ``Action`` the channel
/// handler has to perform. It does no I/O and reads no clock, so it is tested with plain
/// `NIODeadline` values. The owner arms one timer at ``nextDeadline`` and calls
/// ``timerFired(now:)`` when it expires (firing early or late is harmless).
///
/// ```
/// idle ─start→ connecting ─connected→ signingOn ─0810 00→ signedOn ─stop→ signingOff ─0810→ closing → closed
///                  │ connectFailed        │ declined/timeout     │ missed echoes / peer sign-off
///                  ▼                      ▼                      ▼
///           waitingToReconnect ←─disconnected── closing ←────────┘
/// ```
public struct ClientLinkStateMachine: Sendable {
    /// Timers and policies of a client link.
    public struct Configuration: Hashable, Sendable {
        /// Whether the link signs on (0800, DE 70 = 001) before carrying traffic. When `false`
        /// the link is usable as soon as it is connected.
        public var requiresSignOn: Bool
        /// How long a sign-on, echo or sign-off waits for its 0810.
        public var networkResponseTimeout: TimeAmount
        /// How long the link may receive nothing before it sends an echo test (DE 70 = 301);
        /// `nil` disables echo tests.
        public var echoInterval: TimeAmount?
        /// After this many echo tests in a row go unanswered, the peer is declared dead and the
        /// connection is closed (then re-established).
        public var maximumMissedEchoes: Int
        /// The reconnect backoff.
        public var backoff: ReconnectBackoff
        /// Seed of the jitter generator; `nil` draws one at random.
        public var jitterSeed: UInt64?
        /// The first STAN used for network management messages.
        public var firstSTAN: UInt32

        /// Creates a configuration.
        public init(
            requiresSignOn: Bool = true,
            networkResponseTimeout: TimeAmount = .seconds(10),
            echoInterval: TimeAmount? = .seconds(60),
            maximumMissedEchoes: Int = 3,
            backoff: ReconnectBackoff = ReconnectBackoff(),
            jitterSeed: UInt64? = nil,
            firstSTAN: UInt32 = 1
        ) {
            precondition(maximumMissedEchoes >= 1, "maximumMissedEchoes must be at least 1")
            self.requiresSignOn = requiresSignOn
            self.networkResponseTimeout = networkResponseTimeout
            self.echoInterval = echoInterval
            self.maximumMissedEchoes = maximumMissedEchoes
            self.backoff = backoff
            self.jitterSeed = jitterSeed
            self.firstSTAN = firstSTAN
        }
    }

    /// What the owner of the state machine has to do after an event.
    public enum Action: Hashable, Sendable {
        /// Nothing.
        case none
        /// Open a TCP connection; report ``connected(now:)`` or ``connectFailed(now:)``.
        case connect
        /// Send an 0800 with this network management code and STAN.
        case sendNetworkRequest(NetworkManagementCode, stan: UInt32)
        /// Answer the peer's 0800 with an 0810 (DE 39 = 00 when approved); close the connection
        /// afterwards when asked to (the peer signed us off).
        case answerNetworkRequest(approved: Bool, closeAfterwards: Bool)
        /// The link is signed on: it carries traffic from now on.
        case signedOn
        /// Close the connection (report ``disconnected(now:)`` once it is closed). In-flight
        /// requests fail with `reason`.
        case closeConnection(reason: ISO8583NetworkError)
        /// A reconnect is scheduled `delay` from now (attempt number `attempt`); the timer at
        /// ``nextDeadline`` triggers it.
        case scheduleReconnect(delay: TimeAmount, attempt: Int)
        /// The link has stopped for good.
        case shutdownComplete
    }

    struct NetworkRequest: Hashable, Sendable {
        var stan: UInt32
        var sentAt: NIODeadline
        var deadline: NIODeadline
    }

    struct SignedOn: Hashable, Sendable {
        var lastInbound: NIODeadline
        var echo: NetworkRequest?
        var missedEchoes: Int
    }

    enum State: Hashable, Sendable {
        case idle
        case connecting(attempt: Int, stopRequested: Bool)
        case signingOn(attempt: Int, NetworkRequest)
        case signedOn(SignedOn)
        case signingOff(NetworkRequest)
        case closing(attempt: Int, stopRequested: Bool)
        case waitingToReconnect(attempt: Int, until: NIODeadline)
        case closed
    }

    /// The configuration in force.
    public let configuration: Configuration
    private(set) var state: State
    private var stans: STANCounter
    private var random: SplitMix64

    /// Creates a state machine in the ``LinkState/idle`` state.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.state = .idle
        self.stans = STANCounter(first: configuration.firstSTAN)
        self.random = SplitMix64(seed: configuration.jitterSeed ?? UInt64.random(in: .min ... .max))
    }

    // MARK: Queries

    /// The current state, summarised.
    public var linkState: LinkState {
        switch self.state {
        case .idle: .idle
        case .connecting: .connecting
        case .signingOn: .signingOn
        case .signedOn: .signedOn
        case .signingOff: .signingOff
        case .closing: .closing
        case .waitingToReconnect: .waitingToReconnect
        case .closed: .closed
        }
    }

    /// Whether the link carries traffic now: only when signed on.
    public var canSendTraffic: Bool {
        if case .signedOn = self.state { return true }
        return false
    }

    /// When the owner must call ``timerFired(now:)`` next, or `nil` when no timer is needed.
    public var nextDeadline: NIODeadline? {
        switch self.state {
        case .signingOn(_, let request), .signingOff(let request):
            return request.deadline
        case .signedOn(let signedOn):
            if let echo = signedOn.echo { return echo.deadline }
            return self.configuration.echoInterval.map { signedOn.lastInbound + $0 }
        case .waitingToReconnect(_, let until):
            return until
        case .idle, .connecting, .closing, .closed:
            return nil
        }
    }

    // MARK: Events

    /// The owner starts the link.
    public mutating func start() -> Action {
        switch self.state {
        case .idle:
            self.state = .connecting(attempt: 0, stopRequested: false)
            return .connect
        case .connecting, .signingOn, .signedOn, .signingOff, .closing, .waitingToReconnect, .closed:
            return .none
        }
    }

    /// The TCP connection is established.
    public mutating func connected(now: NIODeadline) -> Action {
        switch self.state {
        case .connecting(let attempt, stopRequested: false):
            if self.configuration.requiresSignOn {
                let request = self.makeNetworkRequest(now: now)
                self.state = .signingOn(attempt: attempt, request)
                return .sendNetworkRequest(.signOn, stan: request.stan)
            }
            self.state = .signedOn(SignedOn(lastInbound: now, echo: nil, missedEchoes: 0))
            return .signedOn
        case .connecting(let attempt, stopRequested: true):
            self.state = .closing(attempt: attempt, stopRequested: true)
            return .closeConnection(reason: Self.shutdownError)
        case .idle, .signingOn, .signedOn, .signingOff, .closing, .waitingToReconnect, .closed:
            // A connection we no longer want: close it.
            return .closeConnection(reason: Self.shutdownError)
        }
    }

    /// The TCP connection could not be established.
    public mutating func connectFailed(now: NIODeadline) -> Action {
        switch self.state {
        case .connecting(let attempt, stopRequested: false):
            return self.scheduleReconnect(afterFailedAttempts: attempt + 1, now: now)
        case .connecting(_, stopRequested: true):
            self.state = .closed
            return .shutdownComplete
        case .idle, .signingOn, .signedOn, .signingOff, .closing, .waitingToReconnect, .closed:
            return .none
        }
    }

    /// The connection closed, for whatever reason.
    public mutating func disconnected(now: NIODeadline) -> Action {
        switch self.state {
        case .signingOn(let attempt, _):
            return self.scheduleReconnect(afterFailedAttempts: attempt + 1, now: now)
        case .signedOn:
            return self.scheduleReconnect(afterFailedAttempts: 1, now: now)
        case .closing(let attempt, stopRequested: false):
            return self.scheduleReconnect(afterFailedAttempts: attempt + 1, now: now)
        case .signingOff, .closing(_, stopRequested: true):
            self.state = .closed
            return .shutdownComplete
        case .idle, .connecting, .waitingToReconnect, .closed:
            return .none
        }
    }

    /// An 0810 arrived for network management code `code` with STAN `stan`; `approved` when DE 39 = 00.
    public mutating func networkResponseReceived(
        _ code: NetworkManagementCode,
        stan: UInt32,
        approved: Bool,
        now: NIODeadline
    ) -> Action {
        switch self.state {
        case .signingOn(let attempt, let request):
            guard code == .signOn, stan == request.stan else { return .none }
            if approved {
                self.state = .signedOn(SignedOn(lastInbound: now, echo: nil, missedEchoes: 0))
                return .signedOn
            }
            self.state = .closing(attempt: attempt, stopRequested: false)
            return .closeConnection(
                reason: ISO8583NetworkError(code: .signOnFailed, detail: "the peer declined the sign-on (STAN \(stan))")
            )
        case .signedOn(var signedOn):
            signedOn.lastInbound = now
            signedOn.missedEchoes = 0
            if code == .echoTest, signedOn.echo?.stan == stan {
                signedOn.echo = nil
            }
            self.state = .signedOn(signedOn)
            return .none
        case .signingOff(let request):
            guard code == .signOff, stan == request.stan else { return .none }
            self.state = .closing(attempt: 0, stopRequested: true)
            return .closeConnection(reason: Self.shutdownError)
        case .idle, .connecting, .closing, .waitingToReconnect, .closed:
            return .none
        }
    }

    /// The peer sent an 0800 with network management code `code`.
    public mutating func networkRequestReceived(_ code: NetworkManagementCode, now: NIODeadline) -> Action {
        switch self.state {
        case .signedOn(var signedOn):
            if code == .signOff {
                self.state = .closing(attempt: 0, stopRequested: false)
                return .answerNetworkRequest(approved: true, closeAfterwards: true)
            }
            signedOn.lastInbound = now
            signedOn.missedEchoes = 0
            self.state = .signedOn(signedOn)
            return .answerNetworkRequest(approved: true, closeAfterwards: false)
        case .signingOn, .signingOff:
            return .answerNetworkRequest(approved: true, closeAfterwards: false)
        case .idle, .connecting, .closing, .waitingToReconnect, .closed:
            return .none
        }
    }

    /// Any other message arrived (a response, say): the peer is alive, the idle clock restarts.
    public mutating func inboundTraffic(now: NIODeadline) {
        guard case .signedOn(var signedOn) = self.state else { return }
        signedOn.lastInbound = now
        signedOn.missedEchoes = 0
        self.state = .signedOn(signedOn)
    }

    /// The timer armed at ``nextDeadline`` fired.
    public mutating func timerFired(now: NIODeadline) -> Action {
        switch self.state {
        case .signingOn(let attempt, let request):
            guard now >= request.deadline else { return .none }
            self.state = .closing(attempt: attempt, stopRequested: false)
            return .closeConnection(
                reason: ISO8583NetworkError(
                    code: .signOnFailed,
                    detail: "no sign-on answer within \(self.configuration.networkResponseTimeout)"
                )
            )
        case .signedOn(var signedOn):
            if let echo = signedOn.echo {
                guard now >= echo.deadline else { return .none }
                if signedOn.lastInbound >= echo.sentAt {
                    // Something arrived since the echo went out: the peer is alive.
                    signedOn.echo = nil
                    signedOn.missedEchoes = 0
                    self.state = .signedOn(signedOn)
                    return self.timerFired(now: now)
                }
                signedOn.missedEchoes += 1
                if signedOn.missedEchoes >= self.configuration.maximumMissedEchoes {
                    self.state = .closing(attempt: 0, stopRequested: false)
                    return .closeConnection(
                        reason: ISO8583NetworkError(
                            code: .timeout,
                            detail: "peer declared dead after \(signedOn.missedEchoes) unanswered echo tests"
                        )
                    )
                }
                let request = self.makeNetworkRequest(now: now)
                signedOn.echo = request
                self.state = .signedOn(signedOn)
                return .sendNetworkRequest(.echoTest, stan: request.stan)
            }
            guard let interval = self.configuration.echoInterval, now >= signedOn.lastInbound + interval else {
                return .none
            }
            let request = self.makeNetworkRequest(now: now)
            signedOn.echo = request
            self.state = .signedOn(signedOn)
            return .sendNetworkRequest(.echoTest, stan: request.stan)
        case .signingOff(let request):
            guard now >= request.deadline else { return .none }
            self.state = .closing(attempt: 0, stopRequested: true)
            return .closeConnection(reason: Self.shutdownError)
        case .waitingToReconnect(let attempt, let until):
            guard now >= until else { return .none }
            self.state = .connecting(attempt: attempt, stopRequested: false)
            return .connect
        case .idle, .connecting, .closing, .closed:
            return .none
        }
    }

    /// The owner wants the link stopped: sign off when signed on, then close; no reconnect.
    public mutating func stop(now: NIODeadline) -> Action {
        switch self.state {
        case .idle, .waitingToReconnect:
            self.state = .closed
            return .shutdownComplete
        case .connecting(let attempt, _):
            self.state = .connecting(attempt: attempt, stopRequested: true)
            return .none
        case .signingOn(let attempt, _):
            self.state = .closing(attempt: attempt, stopRequested: true)
            return .closeConnection(reason: Self.shutdownError)
        case .signedOn:
            let request = self.makeNetworkRequest(now: now)
            self.state = .signingOff(request)
            return .sendNetworkRequest(.signOff, stan: request.stan)
        case .closing(let attempt, _):
            self.state = .closing(attempt: attempt, stopRequested: true)
            return .none
        case .signingOff, .closed:
            return .none
        }
    }

    // MARK: Helpers

    private static let shutdownError = ISO8583NetworkError(code: .linkShutdown, detail: "the link is shutting down")

    private mutating func makeNetworkRequest(now: NIODeadline) -> NetworkRequest {
        NetworkRequest(
            stan: self.stans.next(),
            sentAt: now,
            deadline: now + self.configuration.networkResponseTimeout
        )
    }

    private mutating func scheduleReconnect(afterFailedAttempts attempt: Int, now: NIODeadline) -> Action {
        let random = self.configuration.backoff.jitter > 0 ? self.random.nextUnit() : 0
        let delay = self.configuration.backoff.delay(forAttempt: attempt, random: random)
        self.state = .waitingToReconnect(attempt: attempt, until: now + delay)
        return .scheduleReconnect(delay: delay, attempt: attempt)
    }
}

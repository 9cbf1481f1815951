/// Where a link is in its life, as reported to callers and metrics.
public enum LinkState: String, Hashable, Sendable, CaseIterable {
    /// Created, not started.
    case idle
    /// A TCP connection is being established.
    case connecting
    /// Connected; the 0800 sign-on is awaiting its 0810.
    case signingOn
    /// Signed on: the only state in which the link carries traffic.
    case signedOn
    /// The 0800 sign-off is awaiting its 0810.
    case signingOff
    /// The connection is being closed.
    case closing
    /// Disconnected; a reconnect is scheduled after a backoff.
    case waitingToReconnect
    /// Stopped for good.
    case closed
}

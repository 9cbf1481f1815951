import NIOCore

/// One change of a coin's ownership, as the registration center records it.
///
/// The switch produces these for every approved transaction that moves digital currency: one record per
/// coin whose owner changes, one per coin that is retired (`to == nil`) and one per coin that is created as
/// payment or change (`from == nil`). `(transactionID, coinID)` identifies a record: writing the same pair
/// twice is a replay, never a second change.
public struct OwnerChangeRecord: Hashable, Sendable {
    /// What happened to the coin.
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        /// The central bank issued the coin to its first owner.
        case issue
        /// The coin moved, whole, from one wallet to another.
        case transfer
        /// The coin was spent with a value that did not match; it no longer exists.
        case retire
        /// A new coin was made from a retired one, for the payee or as the payer's change.
        case create
    }

    /// The switch's transaction identifier (unique per approved transaction).
    public var transactionID: String
    /// The coin the record is about.
    public var coinID: String
    public var kind: Kind
    /// The wallet that owned the coin before, `nil` for `issue` and `create`.
    public var fromWallet: String?
    /// The wallet that owns the coin after, `nil` for `retire`.
    public var toWallet: String?
    /// The coin's value in minor units.
    public var value: Int64
    /// The flow name (`nfc`, `qr-bsc`, …) that caused the change.
    public var flow: String
    /// Institution code of the payer's bank (empty for issuance).
    public var payerBank: String
    /// Institution code of the payee's bank.
    public var payeeBank: String
    /// When the switch approved the transaction, nanoseconds since the Unix epoch.
    public var createdAtNanos: Int64

    public init(
        transactionID: String,
        coinID: String,
        kind: Kind,
        fromWallet: String?,
        toWallet: String?,
        value: Int64,
        flow: String,
        payerBank: String,
        payeeBank: String,
        createdAtNanos: Int64
    ) {
        self.transactionID = transactionID
        self.coinID = coinID
        self.kind = kind
        self.fromWallet = fromWallet
        self.toWallet = toWallet
        self.value = value
        self.flow = flow
        self.payerBank = payerBank
        self.payeeBank = payeeBank
        self.createdAtNanos = createdAtNanos
    }
}

/// Where the switch hands owner-change records.
///
/// `append` completes once the records are durable: the switch answers the acquirer only after the
/// returned future succeeds. A sink that cannot take more (its backlog bound is reached, or its storage is
/// down for longer than it may buffer) fails the future with ``OwnerChangeSinkError``; the switch then
/// declines the transaction rather than lose its records.
public protocol OwnerChangeSink: Sendable {
    func append(_ records: [OwnerChangeRecord], on eventLoop: any EventLoop) -> EventLoopFuture<Void>
}

/// Says which transactions have owner-change records: a switch restarting after a crash asks it about the
/// transactions it had in progress, to tell an approval whose records were made durable (complete it) from one whose
/// records never were (reverse its legs).
public protocol OwnerChangeLookup: Sendable {
    /// The ids among `transactionIDs` that have records, counting records accepted but not yet in the database.
    func transactionsWithRecords(among transactionIDs: [String]) async throws -> Set<String>
}

/// Why a sink refused records.
public struct OwnerChangeSinkError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let raw: String
        private init(_ raw: String) { self.raw = raw }
        /// The sink's backlog bound is reached; try again later.
        public static let backlogFull = Code("backlogFull")
        /// The sink is shut down.
        public static let closed = Code("closed")
        /// Writing the journal failed.
        public static let ioFailure = Code("ioFailure")
        public var description: String { raw }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

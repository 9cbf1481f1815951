import DigitalCurrency

/// The rules that turn owner-change records into coin state, checked one record at a time.
///
/// Pure logic, no I/O: the writer runs it over a batch, grouped by coin in record order, starting from the state the
/// first record implies (optimistic: PostgreSQL then checks that precondition in one set-based statement), or from
/// the registered state when that check fails.
enum CoinLedger {
    /// A coin's state as far as the rules need it. `nil` state means the coin does not exist.
    struct State: Hashable {
        var owner: String
        var status: Coin.Status
        var value: Int64
        /// The owner before the current one, if known (the registry keeps it in `coins.previous_owner`).
        var previousOwner: String?
    }

    /// What one coin's records do: the state to write (if it changed) and the records refused.
    struct Outcome {
        var start: State?
        var final: State?
        var alerts: [RegistryAlert]
        /// Whether any record was applied (so the coin row must be written).
        var changed: Bool
        /// When the last applied record was created.
        var lastAppliedNanos: Int64
        /// When the coin came into existence, for a coin created by these records.
        var createdNanos: Int64?
    }

    /// The state the first record of a chain takes for granted: an issue or create expects no coin, a transfer or
    /// retire expects a live coin owned by its `from` wallet.
    static func assumedStart(for first: OwnerChangeRecord) -> State? {
        switch first.kind {
        case .issue, .create:
            return nil
        case .transfer, .retire:
            return State(owner: first.fromWallet ?? "", status: .live, value: first.value, previousOwner: nil)
        }
    }

    /// Applies `records` (one coin's, in order) to `start`.
    static func walk(_ records: [OwnerChangeRecord], from start: State?) -> Outcome {
        records.withUnsafeBufferPointer { walk($0, positions: $0.indices, from: start) }
    }

    /// Applies the records at `positions` of `records` (one coin's, in order) to `start`. The records are read in
    /// place: none is copied (a copy retains and releases each of its seven strings).
    static func walk<Positions: Sequence<Int>>(
        _ records: UnsafeBufferPointer<OwnerChangeRecord>, positions: Positions, from start: State?
    ) -> Outcome {
        var state = start
        var alerts: [RegistryAlert] = []
        // Former owners: the latest apart, so that a coin moved once in the batch (the common case) allocates no set.
        var latestFormerOwner = start?.previousOwner
        var earlierFormerOwners: Set<String> = []
        var changed = false
        var lastApplied: Int64 = 0
        var created: Int64?

        func refuse(_ kind: RegistryAlert.Kind, _ position: Int, _ detail: String) {
            alerts.append(
                RegistryAlert(
                    kind: kind, transactionID: records[position].transactionID, coinID: records[position].coinID,
                    claimedOwner: records[position].fromWallet, registeredOwner: state?.owner,
                    coinStatus: state?.status, detail: detail))
        }

        for position in positions {
            let record = records.baseAddress! + position
            switch record.pointee.kind {
            case .issue, .create:
                if let existing = state {
                    refuse(
                        .duplicateCoin, position,
                        "\(record.pointee.kind.rawValue) of a coin that already exists (owner \(existing.owner))")
                    continue
                }
                guard let to = record.pointee.toWallet, record.pointee.value > 0 else {
                    refuse(
                        .malformedRecord, position,
                        "\(record.pointee.kind.rawValue) needs a to-wallet and a positive value")
                    continue
                }
                state = State(owner: to, status: .live, value: record.pointee.value, previousOwner: nil)
                created = record.pointee.createdAtNanos
            case .transfer, .retire:
                guard let current = state else {
                    refuse(
                        .unknownCoin, position, "\(record.pointee.kind.rawValue) of a coin the registry does not know")
                    continue
                }
                guard let from = record.pointee.fromWallet else {
                    refuse(.malformedRecord, position, "\(record.pointee.kind.rawValue) needs a from-wallet")
                    continue
                }
                if current.status == .retired {
                    refuse(.doubleSpend, position, "coin already retired")
                    continue
                }
                if from != current.owner {
                    if from == latestFormerOwner || earlierFormerOwners.contains(from) {
                        refuse(.doubleSpend, position, "spent again by a former owner; owned by \(current.owner)")
                    } else {
                        refuse(.wrongOwner, position, "spent by a wallet that does not own it; owned by \(current.owner)")
                    }
                    continue
                }
                if record.pointee.kind == .transfer {
                    guard let to = record.pointee.toWallet else {
                        refuse(.malformedRecord, position, "transfer needs a to-wallet")
                        continue
                    }
                    if let latest = latestFormerOwner { earlierFormerOwners.insert(latest) }
                    latestFormerOwner = from
                    state = State(owner: to, status: .live, value: current.value, previousOwner: from)
                } else {
                    state = State(owner: from, status: .retired, value: current.value, previousOwner: current.previousOwner)
                }
            }
            changed = true
            lastApplied = record.pointee.createdAtNanos
        }
        return Outcome(
            start: start, final: state, alerts: alerts, changed: changed, lastAppliedNanos: lastApplied,
            createdNanos: created)
    }

    /// A batch's records grouped by coin, without an array per coin: `heads` are the positions of each coin's first
    /// record, in order of first appearance; `next[position]` is the position of the same coin's next record, or -1.
    struct Chains {
        var heads: [Int] = []
        var next: [Int]

        init(_ records: UnsafeBufferPointer<OwnerChangeRecord>) {
            next = [Int](repeating: -1, count: records.count)
            var chainOfCoin: [String: Int] = [:]
            chainOfCoin.reserveCapacity(records.count)
            var tails: [Int] = []
            heads.reserveCapacity(records.count)
            tails.reserveCapacity(records.count)
            for position in records.indices {
                if let chain = chainOfCoin[records[position].coinID] {
                    next[tails[chain]] = position
                    tails[chain] = position
                } else {
                    chainOfCoin[records[position].coinID] = heads.count
                    heads.append(position)
                    tails.append(position)
                }
            }
        }

        /// The positions of the chain that starts at `head`, in record order.
        func positions(from head: Int) -> UnfoldFirstSequence<Int> {
            sequence(first: head) { [next] in next[$0] >= 0 ? next[$0] : nil }
        }
    }

    /// Groups records by coin, keeping the order of first appearance and, within a coin, record order.
    static func chains(_ records: [OwnerChangeRecord]) -> [[OwnerChangeRecord]] {
        records.withUnsafeBufferPointer { buffer in
            let chains = Chains(buffer)
            return chains.heads.map { head in chains.positions(from: head).map { buffer[$0] } }
        }
    }
}

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
        var state = start
        var alerts: [RegistryAlert] = []
        var formerOwners: Set<String> = []
        if let previous = start?.previousOwner { formerOwners.insert(previous) }
        var changed = false
        var lastApplied: Int64 = 0
        var created: Int64?

        func refuse(_ kind: RegistryAlert.Kind, _ record: OwnerChangeRecord, _ detail: String) {
            alerts.append(
                RegistryAlert(
                    kind: kind, transactionID: record.transactionID, coinID: record.coinID,
                    claimedOwner: record.fromWallet, registeredOwner: state?.owner, coinStatus: state?.status,
                    detail: detail))
        }

        for record in records {
            switch record.kind {
            case .issue, .create:
                if let existing = state {
                    refuse(
                        .duplicateCoin, record,
                        "\(record.kind.rawValue) of a coin that already exists (owner \(existing.owner))")
                    continue
                }
                guard let to = record.toWallet, record.value > 0 else {
                    refuse(.malformedRecord, record, "\(record.kind.rawValue) needs a to-wallet and a positive value")
                    continue
                }
                state = State(owner: to, status: .live, value: record.value, previousOwner: nil)
                created = record.createdAtNanos
            case .transfer, .retire:
                guard let current = state else {
                    refuse(.unknownCoin, record, "\(record.kind.rawValue) of a coin the registry does not know")
                    continue
                }
                guard let from = record.fromWallet else {
                    refuse(.malformedRecord, record, "\(record.kind.rawValue) needs a from-wallet")
                    continue
                }
                if current.status == .retired {
                    refuse(.doubleSpend, record, "coin already retired")
                    continue
                }
                if from != current.owner {
                    if formerOwners.contains(from) {
                        refuse(.doubleSpend, record, "spent again by a former owner; owned by \(current.owner)")
                    } else {
                        refuse(.wrongOwner, record, "spent by a wallet that does not own it; owned by \(current.owner)")
                    }
                    continue
                }
                if record.kind == .transfer {
                    guard let to = record.toWallet else {
                        refuse(.malformedRecord, record, "transfer needs a to-wallet")
                        continue
                    }
                    formerOwners.insert(from)
                    state = State(owner: to, status: .live, value: current.value, previousOwner: from)
                } else {
                    state = State(owner: from, status: .retired, value: current.value, previousOwner: current.previousOwner)
                }
            }
            changed = true
            lastApplied = record.createdAtNanos
        }
        return Outcome(
            start: start, final: state, alerts: alerts, changed: changed, lastAppliedNanos: lastApplied,
            createdNanos: created)
    }

    /// Groups records by coin, keeping the order of first appearance and, within a coin, record order.
    static func chains(_ records: [OwnerChangeRecord]) -> [[OwnerChangeRecord]] {
        var index: [String: Int] = [:]
        index.reserveCapacity(records.count)
        var chains: [[OwnerChangeRecord]] = []
        chains.reserveCapacity(records.count)
        records.withUnsafeBufferPointer { records in
            for position in records.indices {
                if let chain = index[records[position].coinID] {
                    chains[chain].append(records[position])
                } else {
                    index[records[position].coinID] = chains.count
                    chains.append([records[position]])
                }
            }
        }
        return chains
    }
}

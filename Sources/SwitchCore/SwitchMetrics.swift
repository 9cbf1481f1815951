import CoreMetrics
import Synchronization

/// The switch's swift-metrics instruments: transactions per flow and response code, latency per flow,
/// reversals, duplicates, owner-change records. Instruments are created once per label set and cached, so
/// recording costs a dictionary lookup, not a registry lookup.
final class SwitchMetrics: Sendable {
    private struct Key: Hashable {
        var flow: String
        var code: String
    }

    private let transactions = Mutex<[Key: Counter]>([:])
    private let latency = Mutex<[String: Timer]>([:])
    let reversals = Counter(label: "dcswitch_reversals_queued_total")
    let duplicates = Counter(label: "dcswitch_duplicate_requests_total")
    let shed = Counter(label: "dcswitch_requests_shed_total")
    let records = Counter(label: "dcswitch_owner_change_records_total")
    let inFlight = Meter(label: "dcswitch_transactions_in_flight")

    func answered(flow: String, code: String, nanoseconds: Int64?) {
        let key = Key(flow: flow, code: code)
        let counter = self.transactions.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "dcswitch_transactions_total", dimensions: [("flow", flow), ("rc", code)])
            counters[key] = counter
            return counter
        }
        counter.increment()
        if let nanoseconds {
            let timer = self.latency.withLock { timers in
                if let timer = timers[flow] { return timer }
                let timer = Timer(label: "dcswitch_transaction_duration_seconds", dimensions: [("flow", flow)], preferredDisplayUnit: .seconds)
                timers[flow] = timer
                return timer
            }
            timer.recordNanoseconds(nanoseconds)
        }
    }
}

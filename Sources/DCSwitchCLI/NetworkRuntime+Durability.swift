import BankSimulator
import RegistrationCenter
import TrafficGenerator

extension NetworkRuntime {
    /// The journals an approval waits for, as measured so far: each bank's, then the registration center's.
    func durability() -> [LoadReport.DurabilityPoint] {
        var points: [LoadReport.DurabilityPoint] = []
        for bank in self.banks {
            guard let statistics = bank.processor.journal?.statistics else { continue }
            points.append(
                .init(
                    name: "\(bank.configuration.bank.id) journal", appends: statistics.entries, syncs: statistics.syncs,
                    appendMs: .init(nanoseconds: statistics.appendLatency), fsyncMs: .init(nanoseconds: statistics.syncLatency)
                ))
        }
        let journal = self.registry.statistics().journal
        points.append(
            .init(
                name: "registry journal", appends: Int(journal.entries), syncs: Int(journal.syncs),
                appendMs: .init(nanoseconds: journal.appendLatency), fsyncMs: .init(nanoseconds: journal.syncLatency)
            ))
        return points
    }
}

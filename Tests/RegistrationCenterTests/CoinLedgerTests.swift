import DigitalCurrency
import Testing

@testable import RegistrationCenter

@Suite("CoinLedger")
struct CoinLedgerTests {
    typealias F = RegistryFixtures

    @Test func transferChainMovesOwnership() {
        let chain = [F.transfer("t1", coin: "c", from: "A", to: "B"), F.transfer("t2", coin: "c", from: "B", to: "C")]
        let outcome = CoinLedger.walk(chain, from: CoinLedger.assumedStart(for: chain[0]))
        #expect(outcome.alerts.isEmpty)
        #expect(outcome.final?.owner == "C")
        #expect(outcome.final?.previousOwner == "B")
        #expect(outcome.changed)
    }

    @Test func spendingTwiceIsADoubleSpendAndKeepsTheFirstPayee() {
        let chain = [F.transfer("t1", coin: "c", from: "A", to: "B"), F.transfer("t2", coin: "c", from: "A", to: "C")]
        let outcome = CoinLedger.walk(chain, from: CoinLedger.assumedStart(for: chain[0]))
        #expect(outcome.final?.owner == "B")
        #expect(outcome.alerts.map(\.kind) == [.doubleSpend])
        #expect(outcome.alerts.first?.transactionID == "t2")
    }

    @Test func everyFormerOwnerSpendingAgainIsADoubleSpend() {
        // The registered previous owner, the owner two moves back and the latest former owner are all remembered.
        let start = CoinLedger.State(owner: "A", status: .live, value: 5, previousOwner: "P")
        let chain = [
            F.transfer("t1", coin: "c", from: "A", to: "B"), F.transfer("t2", coin: "c", from: "B", to: "C"),
            F.transfer("t3", coin: "c", from: "P", to: "D"), F.transfer("t4", coin: "c", from: "A", to: "D"),
            F.transfer("t5", coin: "c", from: "B", to: "D"), F.transfer("t6", coin: "c", from: "Z", to: "D"),
        ]
        let outcome = CoinLedger.walk(chain, from: start)
        #expect(outcome.final?.owner == "C")
        #expect(outcome.alerts.map(\.kind) == [.doubleSpend, .doubleSpend, .doubleSpend, .wrongOwner])
        #expect(outcome.alerts.map(\.transactionID) == ["t3", "t4", "t5", "t6"])
    }

    @Test func spendingByAStrangerIsWrongOwner() {
        let start = CoinLedger.State(owner: "A", status: .live, value: 5, previousOwner: nil)
        let outcome = CoinLedger.walk([F.transfer("t1", coin: "c", from: "Z", to: "B")], from: start)
        #expect(outcome.alerts.map(\.kind) == [.wrongOwner])
        #expect(outcome.alerts.first?.registeredOwner == "A")
        #expect(!outcome.changed)
    }

    @Test func spendingARetiredCoinIsADoubleSpend() {
        let chain = [F.retire("t1", coin: "c", from: "A"), F.transfer("t2", coin: "c", from: "A", to: "B")]
        let outcome = CoinLedger.walk(chain, from: CoinLedger.assumedStart(for: chain[0]))
        #expect(outcome.final?.status == .retired)
        #expect(outcome.alerts.map(\.kind) == [.doubleSpend])
    }

    @Test func issuingAnExistingCoinIsRefused() {
        let start = CoinLedger.State(owner: "A", status: .live, value: 5, previousOwner: nil)
        let outcome = CoinLedger.walk([F.issue("i1", coin: "c", to: "B")], from: start)
        #expect(outcome.alerts.map(\.kind) == [.duplicateCoin])
        #expect(outcome.final?.owner == "A")
    }

    @Test func unknownCoinAndMalformedRecords() {
        let unknown = CoinLedger.walk([F.transfer("t1", coin: "c", from: "A", to: "B")], from: nil)
        #expect(unknown.alerts.map(\.kind) == [.unknownCoin])
        var noTo = F.transfer("t2", coin: "c", from: "A", to: "B")
        noTo.toWallet = nil
        let malformed = CoinLedger.walk([noTo], from: CoinLedger.State(owner: "A", status: .live, value: 1))
        #expect(malformed.alerts.map(\.kind) == [.malformedRecord])
    }

    @Test func chainsKeepFirstAppearanceAndRecordOrder() {
        let records = [
            F.transfer("t1", coin: "x", from: "A", to: "B"), F.issue("i", coin: "y", to: "C"),
            F.transfer("t2", coin: "x", from: "B", to: "D"),
        ]
        let chains = CoinLedger.chains(records)
        #expect(chains.map { $0.map(\.transactionID) } == [["t1", "t2"], ["i"]])
    }
}

extension CoinLedger.State {
    init(owner: String, status: Coin.Status, value: Int64) {
        self.init(owner: owner, status: status, value: value, previousOwner: nil)
    }
}

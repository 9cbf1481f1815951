import BankSimulator
import DCSwitchTestKit
import DigitalCurrency
import ISO8583
import NIOCore
import Testing

/// Acquirer requests as `Specs/FLOWS.md` describes them.
struct Requests {
    let spec: MessageSpec
    var stan = 0

    init(spec: MessageSpec) { self.spec = spec }

    mutating func base(_ mti: MTI, code: String, entry: String, amount: Int64?, flow: Flow) -> ISO8583Message {
        stan += 1
        var m = ISO8583Message(mti: mti)
        m[3] = code
        if let amount { m.amount = amount }
        m[7] = "1121101500"
        m[11] = String(repeating: "0", count: 6 - String(stan).count) + String(stan)
        m[12] = "101500"
        m[13] = "1121"
        m[22] = entry
        m[32] = "12345"
        m[37] = "RRN" + String(repeating: "0", count: 9 - String(stan).count) + String(stan)
        m[41] = "TERM0001"
        m[42] = "MERCHANT0000001"
        m[49] = "156"
        return m
    }

    func dc(_ elements: [(String, String)]) -> String {
        try! Subfields.build(elements.map { Subfield(id: $0.0, value: $0.1) }, as: spec.field(124)!.subfields!, field: 124)
    }

    mutating func payment(_ flow: Flow, from payer: String, to payee: String, amount: Int64) -> ISO8583Message {
        let entry = ["nfc": "071", "qr-bsc": "031", "qr-csb": "032", "in-app": "010"][flow.rawValue]!
        var m = base("0200", code: "009000", entry: entry, amount: amount, flow: flow)
        switch flow {
        case .qrBSC:
            m[103] = payee
            m[124] = dc([("07", "DCQR1:B:\(payer):N\(stan)"), ("13", flow.rawValue)])
        case .qrCSB:
            m[102] = payer
            m[124] = dc([("02", "SIG"), ("04", "N\(stan)"), ("07", "DCQR1:C:\(payee)"), ("13", flow.rawValue)])
        default:
            m[102] = payer
            m[103] = payee
            m[124] = dc([("02", "SIG"), ("04", "N\(stan)"), ("13", flow.rawValue)])
        }
        return m
    }

    mutating func transferIn(card: String, to wallet: String, amount: Int64) -> ISO8583Message {
        var m = base("0200", code: "401090", entry: "012", amount: amount, flow: .transferIn)
        m[2] = card
        m[103] = wallet
        m[124] = dc([("13", "transfer-in")])
        return m
    }

    mutating func redeem(wallet: String, to card: String, amount: Int64) -> ISO8583Message {
        var m = base("0200", code: "409010", entry: "012", amount: amount, flow: .redeem)
        m[2] = card
        m[102] = wallet
        m[124] = dc([("02", "SIG"), ("04", "N\(stan)"), ("13", "redeem")])
        return m
    }

    mutating func openAccount(institution: String, name: String, account: String) -> ISO8583Message {
        var m = base("0100", code: "900000", entry: "012", amount: nil, flow: .accountOpen)
        m[48] = try! Subfields.build([Subfield(id: "01", value: name), Subfield(id: "02", value: "ID-\(name)"), Subfield(id: "03", value: account)], as: spec.field(48)!.subfields!, field: 48)
        m[100] = institution
        m[124] = dc([("13", "account-open")])
        return m
    }
}

extension ISO8583Message {
    func dc(_ id: String) -> String? {
        try? self.value(at: FieldPath(field: 124, subfield: id), spec: MessageSpec.builtin("dcswitch-1987")!)
    }

    /// Owner-change records this approval implies: items of DE 124.03 and 124.11.
    var recordCount: Int {
        [self.dc("03"), self.dc("11")].compactMap { $0 }.reduce(0) { $0 + $1.split(separator: ";").count }
    }
}

@Suite("The switch end to end: real banks, real PostgreSQL, loopback TCP", .serialized)
struct EndToEndTests {
    @Test func everyFlowWithinAndAcrossBanks() async throws {
        let net = try await TestNetwork.start(bankCount: 2)
        var requests = Requests(spec: net.spec)
        let a = net.seeds["BANK0"]!, b = net.seeds["BANK1"]!
        var records = 0

        func expectApproved(_ request: ISO8583Message, _ label: String) async throws -> ISO8583Message {
            let answer = try await net.send(request)
            #expect(answer.responseCode == "00", "\(label): DE 39 \(answer.responseCode ?? "none")")
            #expect(answer.stan == request.stan && answer.rrn == request.rrn)
            records += answer.recordCount
            return answer
        }

        // Exchange within one bank and across two.
        _ = try await expectApproved(requests.transferIn(card: a.customers[0].card, to: a.customers[0].wallet.address, amount: 1_234), "transfer-in, same bank")
        _ = try await expectApproved(requests.transferIn(card: a.customers[1].card, to: b.customers[1].wallet.address, amount: 7_000), "transfer-in, across banks")
        _ = try await expectApproved(requests.redeem(wallet: b.customers[2].wallet.address, to: b.customers[2].card, amount: 2_500), "redeem, same bank")
        _ = try await expectApproved(requests.redeem(wallet: a.customers[3].wallet.address, to: b.customers[3].card, amount: 6_001), "redeem, across banks")
        // Payments to merchants, each flow within and across banks.
        for flow in [Flow.nfc, .qrBSC, .qrCSB, .inApp] {
            let same = try await expectApproved(requests.payment(flow, from: a.customers[4].wallet.address, to: a.merchants[0].wallet.address, amount: 1_100), "\(flow.rawValue), same bank")
            #expect(same.dc("05") != nil)
            _ = try await expectApproved(requests.payment(flow, from: b.customers[4].wallet.address, to: a.merchants[1].wallet.address, amount: 3_333), "\(flow.rawValue), across banks")
        }
        // Account opening: the new wallet can be funded at once.
        let opened = try await expectApproved(requests.openAccount(institution: b.bank.institution, name: "Ada", account: b.customers[5].account), "account-open")
        let newWallet = try #require(opened.payerWallet)
        #expect(opened.dc("01")?.count == 130)
        #expect(net.switchServer.paymentSwitch.routing.wallet(newWallet)?.bankID == "BANK1")
        _ = try await expectApproved(requests.transferIn(card: a.customers[5].card, to: newWallet, amount: 4_000), "transfer-in to the new wallet")
        #expect(net.banks["BANK1"]!.books.value(ofWallet: newWallet) == 4_000)

        let invariants = try await net.invariants()
        #expect(invariants.holds, "\(invariants)")
        let stats = try await net.registry.database.stats()
        #expect(stats.records >= Int64(records))
        try await net.stop()
    }

    @Test func declinesMoveNothing() async throws {
        let net = try await TestNetwork.start(bankCount: 2)
        var requests = Requests(spec: net.spec)
        let a = net.seeds["BANK0"]!, b = net.seeds["BANK1"]!
        let before = net.banks["BANK0"]!.books.value(ofWallet: a.customers[0].wallet.address)

        let tooMuch = try await net.send(requests.payment(.nfc, from: a.customers[0].wallet.address, to: b.merchants[0].wallet.address, amount: 1_000_000_000))
        #expect(tooMuch.responseCode == "51")
        let unknownPayee = "DC" + b.bank.institution + String(repeating: "F", count: 40)
        let unknown = try await net.send(requests.payment(.inApp, from: a.customers[0].wallet.address, to: unknownPayee, amount: 100))
        #expect(unknown.responseCode == "14")
        let unknownPayer = try await net.send(requests.payment(.nfc, from: "DC" + a.bank.institution + String(repeating: "E", count: 40), to: b.merchants[0].wallet.address, amount: 100))
        #expect(unknownPayer.responseCode == "14")
        let noRoute = try await net.send(requests.transferIn(card: "9999990000000001", to: a.customers[0].wallet.address, amount: 100))
        #expect(noRoute.responseCode == "15")
        var missingAmount = requests.payment(.nfc, from: a.customers[0].wallet.address, to: b.merchants[0].wallet.address, amount: 100)
        missingAmount[4] = nil
        #expect(try await net.send(missingAmount).responseCode == "30")
        // The connection stays up after a format error.
        let fine = try await net.send(requests.payment(.nfc, from: a.customers[0].wallet.address, to: b.merchants[0].wallet.address, amount: 100))
        #expect(fine.responseCode == "00")

        try await net.settle()
        #expect(net.banks["BANK0"]!.books.value(ofWallet: a.customers[0].wallet.address) == before.map { $0 - 100 })
        let invariants = try await net.invariants()
        #expect(invariants.holds, "\(invariants)")
        try await net.stop()
    }

    @Test func aRepeatedRequestGetsTheOriginalAnswerAndRunsOnce() async throws {
        let net = try await TestNetwork.start(bankCount: 2)
        var requests = Requests(spec: net.spec)
        let a = net.seeds["BANK0"]!, b = net.seeds["BANK1"]!
        let request = requests.payment(.nfc, from: a.customers[0].wallet.address, to: b.merchants[0].wallet.address, amount: 2_000)
        let first = try await net.send(request)
        let second = try await net.send(request)
        #expect(first.responseCode == "00")
        #expect(second.responseCode == "00")
        #expect(first.dc("05") == second.dc("05"))
        #expect(net.banks["BANK1"]!.books.value(ofWallet: b.merchants[0].wallet.address) == 2_000)
        #expect(net.switchServer.paymentSwitch.statistics.duplicates == 1)
        let invariants = try await net.invariants()
        #expect(invariants.holds, "\(invariants)")
        try await net.stop()
    }

    @Test func payeeBankDownReversesTheDebit() async throws {
        let net = try await TestNetwork.start(bankCount: 2, bankTimeout: .milliseconds(500))
        var requests = Requests(spec: net.spec)
        let a = net.seeds["BANK0"]!, b = net.seeds["BANK1"]!
        let before = net.banks["BANK0"]!.books.value(ofWallet: a.customers[0].wallet.address)
        try await net.banks["BANK1"]!.shutdown()
        let answer = try await net.send(requests.payment(.nfc, from: a.customers[0].wallet.address, to: b.merchants[0].wallet.address, amount: 3_000))
        #expect(answer.responseCode == "91")
        try await net.settle()
        #expect(net.switchServer.paymentSwitch.reversals.pendingCount == 0)
        #expect(net.banks["BANK0"]!.books.value(ofWallet: a.customers[0].wallet.address) == before)
        #expect(net.banks["BANK0"]!.books.verify().isEmpty)
        try await net.stop()
    }

    @Test func payeeBankSlowerThanTheTimeoutIsReversedOnBothSides() async throws {
        let net = try await TestNetwork.start(bankCount: 2, bankTimeout: .milliseconds(300))
        var requests = Requests(spec: net.spec)
        let a = net.seeds["BANK0"]!, b = net.seeds["BANK1"]!
        net.banks["BANK1"]!.setFaults(FaultInjection(delayMilliseconds: 800))
        let answer = try await net.send(requests.payment(.nfc, from: a.customers[0].wallet.address, to: b.merchants[0].wallet.address, amount: 3_000))
        #expect(answer.responseCode == "68")
        net.banks["BANK1"]!.setFaults(.none)
        // The late answer arrives after the timeout: counted, it completes nothing.
        try await Task.sleep(for: .milliseconds(900))
        let invariants = try await net.invariants()
        #expect(invariants.holds, "\(invariants)")
        #expect(net.banks["BANK1"]!.books.value(ofWallet: b.merchants[0].wallet.address) == 0)
        #expect(net.switchServer.paymentSwitch.statistics.reversalsQueued == 2)
        try await net.stop()
    }

    /// Past `maxInFlight` the switch sheds load: the excess is declined 91 at once, without touching a bank, while
    /// the admitted transactions complete; once they have, new requests are admitted again.
    @Test func requestsBeyondMaxInFlightAreDeclinedAtOnceAndTheRestComplete() async throws {
        let net = try await TestNetwork.start(bankCount: 2, bankTimeout: .seconds(2), maxInFlight: 2)
        var requests = Requests(spec: net.spec)
        let a = net.seeds["BANK0"]!, b = net.seeds["BANK1"]!
        net.banks["BANK1"]!.setFaults(FaultInjection(delayMilliseconds: 400))
        let slow = (0..<2).map { i in
            let request = requests.payment(.nfc, from: a.customers[i].wallet.address, to: b.merchants[0].wallet.address, amount: 1_000)
            return Task { try await net.send(request) }
        }
        try await Task.sleep(for: .milliseconds(150))
        let clock = ContinuousClock()
        let started = clock.now
        let excessRequest = requests.payment(.nfc, from: a.customers[2].wallet.address, to: b.merchants[1].wallet.address, amount: 1_000)
        let excess = try await net.send(excessRequest)
        #expect(excess.responseCode == "91")
        #expect(clock.now - started < .milliseconds(390), "the excess was declined without waiting for the 400 ms bank")
        for task in slow { #expect(try await task.value.responseCode == "00") }
        net.banks["BANK1"]!.setFaults(.none)
        // The shed request is not remembered as a duplicate: sent again once there is room, it is carried.
        let again = try await net.send(excessRequest)
        #expect(again.responseCode == "00")
        let statistics = net.switchServer.paymentSwitch.statistics
        #expect(statistics.shed == 1)
        #expect(statistics.approved == 3)
        #expect(net.banks["BANK0"]!.books.value(ofWallet: a.customers[2].wallet.address) == 19_000, "paid once: shed, then carried")
        let invariants = try await net.invariants()
        #expect(invariants.holds, "\(invariants)")
        try await net.stop()
    }

    /// The overload defect found by the 5,000 TPS demo: a payer spent the change of a transaction whose credit leg
    /// then failed, and the reversal could not give back what it took. The change is now pending until the switch
    /// completes the transaction, so the second payment cannot use it, and the reversal is exact.
    @Test func changeCannotBeSpentBeforeItsTransactionCompletes() async throws {
        let net = try await TestNetwork.start(bankCount: 2, bankTimeout: .milliseconds(300))
        var requests = Requests(spec: net.spec)
        let a = net.seeds["BANK0"]!, b = net.seeds["BANK1"]!
        let alice = a.customers[0].wallet.address, bob = a.customers[1].wallet.address
        // Alice holds 4 coins of 5,000. 7,000 takes one whole coin and 2,000 of the next: 3,000 of change, pending.
        net.banks["BANK1"]!.setFaults(FaultInjection(delayMilliseconds: 800))
        let first = requests.payment(.nfc, from: alice, to: b.merchants[0].wallet.address, amount: 7_000)
        let firstAnswer = Task { try await net.send(first) }
        try await Task.sleep(for: .milliseconds(150))
        #expect(net.banks["BANK0"]!.books.spendableValue(ofWallet: alice) == 10_000)
        #expect(net.banks["BANK0"]!.books.value(ofWallet: alice) == 13_000)
        // 12,000 would need the change: funds on hold.
        let second = try await net.send(requests.payment(.inApp, from: alice, to: a.merchants[0].wallet.address, amount: 12_000))
        #expect(second.responseCode == "51")
        #expect(try await firstAnswer.value.responseCode == "68")
        net.banks["BANK1"]!.setFaults(.none)
        try await Task.sleep(for: .milliseconds(900))
        let invariants = try await net.invariants()
        #expect(invariants.holds, "\(invariants)")
        #expect(net.banks["BANK0"]!.books.value(ofWallet: alice) == 20_000)

        // A transaction that completes: the switch's completion advice makes Bob's change spendable.
        let third = try await net.send(requests.payment(.nfc, from: bob, to: a.merchants[1].wallet.address, amount: 7_000))
        #expect(third.responseCode == "00")
        try await net.settle()
        #expect(net.banks["BANK0"]!.books.pendingValue == 0)
        #expect(net.switchServer.paymentSwitch.completions.statistics.acknowledged >= 1)
        let fourth = try await net.send(requests.payment(.nfc, from: bob, to: a.merchants[1].wallet.address, amount: 12_000))
        #expect(fourth.responseCode == "00")
        let after = try await net.invariants()
        #expect(after.holds, "\(after)")
        try await net.stop()
    }

    @Test func reconciliationTotalsPerBank() async throws {
        let net = try await TestNetwork.start(bankCount: 2)
        var requests = Requests(spec: net.spec)
        let a = net.seeds["BANK0"]!, b = net.seeds["BANK1"]!
        _ = try await net.send(requests.payment(.nfc, from: a.customers[0].wallet.address, to: b.merchants[0].wallet.address, amount: 1_500))
        _ = try await net.send(requests.payment(.inApp, from: b.customers[0].wallet.address, to: a.merchants[0].wallet.address, amount: 400))
        var query = ISO8583Message(mti: "0500")
        query[7] = "1121101500"
        query[11] = "900001"
        query[15] = net.switchServer.paymentSwitch.settlement.currentDate
        query[33] = a.bank.institution
        query[41] = "TERM0001"
        let totals = try await net.send(query)
        #expect(totals.responseCode == "00")
        #expect(totals[76] == "0000000001" && totals[88] == "0000000000001500")
        #expect(totals[74] == "0000000001" && totals[86] == "0000000000000400")
        #expect(totals[97] == "D0000000000001100")
        try await net.stop()
    }
}

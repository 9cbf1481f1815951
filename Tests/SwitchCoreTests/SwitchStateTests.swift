import Foundation
import DigitalCurrency
import ISO8583
import NIOCore
import NIOEmbedded
import Testing
@testable import SwitchCore

@Suite("Flow classification, duplicates, settlement")
struct SwitchStateTests {
    @Test func transactionIDsAreShortBase36() {
        #expect(PaymentSwitch.base36(0, width: 1) == "0")
        #expect(PaymentSwitch.base36(35, width: 1) == "Z")
        #expect(PaymentSwitch.base36(36, width: 1) == "10")
        #expect(PaymentSwitch.base36(1_295, width: 1) == "ZZ")
        #expect(PaymentSwitch.base36(7, width: 6) == "000007")
        // A start time of 2026 in seconds fits six digits; two billion transactions fit six more.
        let prefix = "T" + PaymentSwitch.base36(1_795_303_291, width: 6)
        #expect(prefix.utf8.count == 7)
        let last = prefix + PaymentSwitch.base36(2_000_000_000, width: 1)
        #expect(last.utf8.count == 13 && (last + "/C").utf8.count == 15)
        #expect(UInt64(PaymentSwitch.base36(2_000_000_000, width: 1), radix: 36) == 2_000_000_000)
    }

    let spec = MessageSpec.builtin("dcswitch-1987")!

    func request(_ mti: MTI, _ fields: [Int: String]) -> ISO8583Message {
        ISO8583Message(mti: mti, fields: fields)
    }

    @Test(arguments: [
        ("0100", "900000", "012", Flow.accountOpen),
        ("0200", "401090", "012", .transferIn),
        ("0200", "409010", "012", .redeem),
        ("0200", "009000", "071", .nfc),
        ("0200", "009000", "031", .qrBSC),
        ("0200", "009000", "032", .qrCSB),
        ("0200", "009000", "010", .inApp),
    ])
    func flowsAreRecognised(_ mti: String, _ code: String, _ entry: String, _ flow: Flow) throws {
        #expect(try PaymentRequest.flow(of: request(MTI(mti)!, [3: code, 22: entry])) == flow)
    }

    @Test func unknownProcessingCodeIsAnInvalidTransaction() {
        do {
            _ = try PaymentRequest.flow(of: request("0200", [3: "310000", 22: "071"]))
            Issue.record("classified")
        } catch {
            #expect(error.responseCode == .invalidTransaction)
        }
    }

    @Test func qrPayloadsNameThePartiesTheirCodesCarry() throws {
        let payer = "DC10000000001" + String(repeating: "A", count: 40)
        let merchant = "DC10000000002" + String(repeating: "B", count: 40)
        let dcFormat = spec.field(124)!.subfields!
        var bsc = request("0200", [3: "009000", 4: "000000001000", 22: "031", 103: merchant])
        bsc[124] = try Subfields.build([Subfield(id: "07", value: "DCQR1:B:\(payer):N1")], as: dcFormat, field: 124)
        let parsedBSC = try PaymentRequest(bsc, flow: .qrBSC, spec: spec)
        #expect(parsedBSC.payer == .wallet(payer) && parsedBSC.payee == .wallet(merchant))

        var csb = request("0200", [3: "009000", 4: "000000001000", 22: "032", 102: payer])
        csb[124] = try Subfields.build([Subfield(id: "07", value: "DCQR1:C:\(merchant)")], as: dcFormat, field: 124)
        let parsedCSB = try PaymentRequest(csb, flow: .qrCSB, spec: spec)
        #expect(parsedCSB.payee == .wallet(merchant))

        csb[103] = payer  // contradicts the code
        #expect(throws: SwitchError.self) { try PaymentRequest(csb, flow: .qrCSB, spec: spec) }
    }

    @Test func missingWalletIsAFormatError() {
        let r = request("0200", [3: "009000", 4: "000000001000", 22: "071"])
        do {
            _ = try PaymentRequest(r, flow: .nfc, spec: spec)
            Issue.record("parsed")
        } catch {
            #expect(error.responseCode == .formatError)
        }
    }

    @Test func repeatsGetTheOriginalAnswerAlsoWhileInProgress() throws {
        let loop = EmbeddedEventLoop()
        let detector = DuplicateDetector(spec: self.spec)
        let original = request("0200", [11: "000001", 32: "12345", 37: "000000000001", 41: "TERM0001", 13: "1121"])
        let key = try #require(DuplicateDetector.Key(original))
        guard case .process = detector.check(key, on: loop) else { Issue.record("first seen as a repeat"); return }
        guard case .repeatOf(let waiting) = detector.check(key, on: loop) else { Issue.record("repeat processed"); return }
        var answer = original.makeResponse(responseCode: "00")
        answer[38] = "ABC123"
        detector.complete(key, with: answer)
        #expect(try waiting.wait()[38] == "ABC123")
        guard case .repeatOf(let later) = detector.check(key, on: loop) else { Issue.record("late repeat processed"); return }
        #expect(try later.wait()[38] == "ABC123")

        var other = original
        other[11] = "000002"
        guard case .process = detector.check(try #require(DuplicateDetector.Key(other)), on: loop) else {
            Issue.record("a different STAN was taken for a repeat")
            return
        }
    }

    @Test func aForgottenRequestAnswersItsWaitersAndIsNewWhenRepeated() throws {
        let loop = EmbeddedEventLoop()
        let detector = DuplicateDetector(spec: self.spec)
        let original = request("0200", [11: "000001", 32: "12345", 37: "000000000001", 41: "TERM0001", 13: "1121"])
        let key = try #require(DuplicateDetector.Key(original))
        guard case .process = detector.check(key, on: loop) else { Issue.record("first seen as a repeat"); return }
        guard case .repeatOf(let waiting) = detector.check(key, on: loop) else { Issue.record("repeat processed"); return }
        detector.forget(key, answering: original.makeResponse(responseCode: "91"))
        #expect(try waiting.wait().responseCode == "91")
        #expect(detector.count == 0)
        guard case .process = detector.check(key, on: loop) else { Issue.record("a forgotten request was answered again"); return }
    }

    @Test func answersSurviveARestartOfTheSwitch() throws {
        let loop = EmbeddedEventLoop()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dup-\(UInt64.random(in: 0...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/duplicates.log"
        let original = request("0200", [3: "009000", 4: "000000001500", 11: "000001", 32: "12345", 37: "000000000001", 41: "TERM0001", 13: "1121"])
        let key = try #require(DuplicateDetector.Key(original))
        var answer = original.makeResponse(responseCode: "00")
        answer[38] = "ABC123"
        do {
            let detector = try DuplicateDetector(path: path, spec: self.spec)
            guard case .process = detector.check(key, on: loop) else { Issue.record("first seen as a repeat"); return }
            detector.complete(key, with: answer)
            // In progress when the process dies: no answer to remember.
            var other = original
            other[11] = "000002"
            _ = detector.check(try #require(DuplicateDetector.Key(other)), on: loop)
        }
        // A crash in the middle of the next line.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("1763700000000000000|200|12345|TERM".utf8))
        try handle.close()

        let restarted = try DuplicateDetector(path: path, spec: self.spec)
        #expect(restarted.count == 1)
        guard case .repeatOf(let repeated) = restarted.check(key, on: loop) else { Issue.record("a repeat after restart was processed"); return }
        let again = try repeated.wait()
        #expect(again[38] == "ABC123" && again.responseCode == "00" && again[4] == "000000001500")
        var other = original
        other[11] = "000002"
        guard case .process = restarted.check(try #require(DuplicateDetector.Key(other)), on: loop) else {
            Issue.record("an unanswered request was remembered")
            return
        }
        // The torn line is gone after the rewrite at start. (The open log is mapped: zeros follow its lines.)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.split(separator: "\n").filter { !$0.utf8.contains(0) }.count == 1)

        // Answers older than the retention are dropped at start.
        let shortLived = try DuplicateDetector(path: path, spec: self.spec, retention: .nanoseconds(1))
        #expect(shortLived.count == 0)
    }

    @Test func settlementNetsPositionsPerDateAndCutsOver() {
        let ledger = SettlementLedger(date: "1121")
        ledger.recordApproval(payerBank: "A", payeeBank: "B", amount: 500)
        ledger.recordApproval(payerBank: "B", payeeBank: "A", amount: 200)
        ledger.recordReversal(bank: "A", amount: 100, isCredit: false)
        #expect(ledger.totals(bank: "A", date: "1121").net == 200 - 500 + 100)
        #expect(ledger.totals(bank: "B", date: "1121").net == 500 - 200)
        let positions = ledger.positions(date: "1121")
        #expect(positions.values.reduce(0) { $0 + $1.net } == 100)
        #expect(ledger.cutover(to: "1122") == "1121")
        ledger.recordApproval(payerBank: "A", payeeBank: "B", amount: 1)
        #expect(ledger.totals(bank: "A", date: "1121").debits == 1)
        #expect(ledger.totals(bank: "A", date: "1122").debits == 1)
    }

    @Test func routingByBINInstitutionAndRegisteredKey() throws {
        let network = NetworkConfiguration(switchNode: .init(port: 0), banks: [
            BankConfiguration(id: "A", institution: "10000000001", port: 1, bins: ["476173"], customers: .init(count: 0, accountBalance: 0, walletCoins: 0, coinValue: 0), merchants: .init(count: 0), treasury: .init(coins: 0, coinValue: 0)),
            BankConfiguration(id: "B", institution: "10000000002", port: 2, bins: ["522011"], customers: .init(count: 0, accountBalance: 0, walletCoins: 0, coinValue: 0), merchants: .init(count: 0), treasury: .init(coins: 0, coinValue: 0)),
        ])
        let routing = RoutingTable(network: network)
        #expect(routing.bank(forCard: "4761730000000011") == "A")
        #expect(routing.bank(forCard: "9999990000000011") == nil)
        let wallet = Wallet.seeded("w", institution: "10000000002")
        #expect(routing.bank(forWallet: wallet.address) == "B")
        routing.register(wallet: wallet.address, bankID: "B", publicKeyHex: wallet.publicKeyHex)
        #expect(routing.wallet(wallet.address)?.publicKeyHex == wallet.publicKeyHex)
        #expect(routing.bank(forWallet: "DC99999999999" + String(repeating: "0", count: 40)) == nil)
    }
}

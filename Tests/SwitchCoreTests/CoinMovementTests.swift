import DigitalCurrency
import Testing
@testable import SwitchCore

@Suite("Coin movements reported by the payer bank")
struct CoinMovementTests {
    @Test func splitPaymentMakesFourRecords() throws {
        // 300 paid from coins A (100, moved whole) and B (500, retired): P 200 for the payee, C 300 change.
        let movement = try CoinMovement(spent: "A:100:T;B:500:R", created: "N1-0:200:P;N1-1:300:C")
        #expect(movement.isBalanced)
        #expect(movement.valueToPayee == 300)
        #expect(movement.payeeCoinList == "A:100;N1-0:200")
        let records = movement.records(transactionID: "T1", flow: .nfc, payerWallet: "PAYER", payeeWallet: "PAYEE", payerBank: "1", payeeBank: "2", at: 5)
        #expect(records.map(\.kind) == [.transfer, .retire, .create, .create])
        #expect(records.map(\.fromWallet) == ["PAYER", "PAYER", nil, nil])
        #expect(records.map(\.toWallet) == ["PAYEE", nil, "PAYEE", "PAYER"])
        #expect(Set(records.map(\.coinID)).count == 4)
    }

    @Test func unbalancedMovementIsDetected() throws {
        let movement = try CoinMovement(spent: "B:500:R", created: "N1-0:200:P;N1-1:200:C")
        #expect(!movement.isBalanced)
    }

    @Test(arguments: ["A:100", "A:x:T", "A:100:P", ":100:T", "A:-5:T", "A:0:T", "A::T", "A:100:TT", "A:100:T;", "A:99999999999999999999:T"])
    func malformedItemsAreRejected(_ spent: String) {
        #expect(throws: CoinMovement.ParseError.self) { try CoinMovement(spent: spent, created: nil) }
    }

    @Test func theErrorNamesTheElementAndTheItem() {
        #expect(throws: CoinMovement.ParseError(element: "124.11", item: "N1-1:200:T")) {
            try CoinMovement(spent: "B:500:R", created: "N1-0:300:P;N1-1:200:T")
        }
    }
}

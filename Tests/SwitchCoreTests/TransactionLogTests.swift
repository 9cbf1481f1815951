import DCSwitchTestKit
import Foundation
import ISO8583
import Testing
@testable import SwitchCore

@Suite("The switch's transaction log and its mapped append-only file")
struct TransactionLogTests {
    let spec = MessageSpec.builtin("dcswitch-1987")!

    func leg(_ txn: String, amount: String) -> ISO8583Message {
        var leg = ISO8583Message(mti: .financialRequest, fields: [:])
        leg[3] = "401090"
        leg[4] = amount
        leg[7] = "1121120000"
        leg[11] = "000123"
        leg[32] = "10000000001"
        leg[33] = "99999999999"
        leg[124] = "05" + String(format: "%03d", txn.utf8.count) + txn
        return leg
    }

    @Test func appendsSurviveReopeningAndCrossWindows() throws {
        let path = try TestPostgres.makeTemporaryDirectory("appendfile") + "/lines.log"
        var expected = ""
        do {
            let file = try AppendOnlyFile(path: path)
            // More than one window's worth, in lines of varied length.
            var n = 0
            while expected.utf8.count < AppendOnlyFile.window + AppendOnlyFile.window / 2 {
                let line = "line \(n) " + String(repeating: "x", count: n % 3000) + "\n"
                try file.append(line)
                expected += line
                n += 1
            }
        }
        // Closed: cut to its lines, no zeros left.
        #expect(try String(contentsOfFile: path, encoding: .utf8) == expected)
        do {
            let file = try AppendOnlyFile(path: path)
            try file.append("after reopening\n")
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == expected + "after reopening\n")
    }

    @Test func aTailOfZerosLeftByACrashIsCutOff() throws {
        let path = try TestPostgres.makeTemporaryDirectory("appendfile") + "/crashed.log"
        // What a crashed process leaves: its lines, then the rest of the mapped window, zeros.
        var bytes = Array("first\nsecond\n".utf8)
        bytes += [UInt8](repeating: 0, count: 100_000)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            let file = try AppendOnlyFile(path: path)
            try file.append("third\n")
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "first\nsecond\nthird\n")
    }

    @Test func replaceKeepsAppendingToTheNewFile() throws {
        let path = try TestPostgres.makeTemporaryDirectory("appendfile") + "/replaced.log"
        do {
            let file = try AppendOnlyFile(path: path)
            try file.append("old 1\nold 2\n")
            try file.replace { "kept\n" }
            try file.append("new\n")
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "kept\nnew\n")
    }

    @Test func openTransactionsAreWhatTheLinesLeaveOpen() throws {
        let path = try TestPostgres.makeTemporaryDirectory("txnlog") + "/transactions.log"
        do {
            let log = try TransactionLog(path: path, spec: self.spec)
            #expect(log.openTransactions.isEmpty)
            // T1: debit, credit, approved, acknowledged by both banks: closed.
            try log.debit("T1", bank: "BANKA", leg: self.leg("T1", amount: "000000001000"))
            try log.credit("T1", bank: "BANKB", leg: self.leg("T1/C", amount: "000000001000"))
            try log.approved("T1", banks: ["BANKA", "BANKB"])
            try log.acknowledged(["T1"], bank: "BANKA")
            try log.acknowledged(["T1"], bank: "BANKB")
            // T2: approved, only one bank acknowledged.
            try log.debit("T2", bank: "BANKA", leg: self.leg("T2", amount: "000000002000"))
            try log.credit("T2", bank: "BANKB", leg: self.leg("T2/C", amount: "000000002000"))
            try log.approved("T2", banks: ["BANKA", "BANKB"])
            try log.acknowledged(["T1", "T2"], bank: "BANKA")
            // T3: debit and credit sent, no outcome.
            try log.debit("T3", bank: "BANKA", leg: self.leg("T3", amount: "000000003000"))
            try log.credit("T3", bank: "BANKA", leg: self.leg("T3/C", amount: "000000003000"))
            // T4: declined: ended.
            try log.debit("T4", bank: "BANKB", leg: self.leg("T4", amount: "000000004000"))
            try log.ended("T4")
            // T5: an account opening in flight, with a customer reference that has a space.
            try log.opening("T5", bank: "BANKC", leg: self.leg("T5", amount: "000000000000"), customerReference: "CUST 42")
            #expect(log.openCount == 3)
        }
        let reopened = try TransactionLog(path: path, spec: self.spec)
        let open = Dictionary(uniqueKeysWithValues: reopened.openTransactions.map { ($0.transactionID, $0) })
        #expect(Set(open.keys) == ["T2", "T3", "T5"])
        #expect(open["T2"]?.awaitingCompletion == ["BANKB"])
        #expect(open["T3"]?.awaitingCompletion == nil)
        #expect(open["T3"]?.debit?.bank == "BANKA")
        #expect(open["T3"]?.debit?.leg[4] == "000000003000")
        #expect(open["T3"]?.credit?.leg[124] == self.leg("T3/C", amount: "0")[124])
        #expect(open["T5"]?.opening?.bank == "BANKC")
        #expect(open["T5"]?.opening?.customerReference == "CUST 42")
        #expect(open["T5"]?.debit == nil)
        // Reopening rewrote the file with the open transactions only.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.contains(" T1 ") && !text.contains(" T4 "))
        #expect(reopened.openCount == 3)
    }

    @Test func aTornLastLineIsSkipped() throws {
        let path = try TestPostgres.makeTemporaryDirectory("txnlog") + "/torn.log"
        do {
            let log = try TransactionLog(path: path, spec: self.spec)
            try log.debit("T1", bank: "BANKA", leg: self.leg("T1", amount: "000000001000"))
        }
        // A crash in the middle of the next line: half of it, then zeros.
        let half = "D T2 BANKA 0200F23A"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(half.utf8) + Data(count: 4096))
        try handle.close()
        let reopened = try TransactionLog(path: path, spec: self.spec)
        #expect(reopened.openTransactions.map(\.transactionID) == ["T1"])
        #expect(reopened.openTransactions.first?.debit != nil)
    }

    @Test func theFileIsRewrittenWhenItGrowsPastTheBound() throws {
        let path = try TestPostgres.makeTemporaryDirectory("txnlog") + "/compact.log"
        let log = try TransactionLog(path: path, spec: self.spec, compactionBytes: 64 << 10)
        try log.debit("OPEN", bank: "BANKA", leg: self.leg("OPEN", amount: "000000000100"))
        for i in 0..<2000 {
            try log.debit("T\(i)", bank: "BANKA", leg: self.leg("T\(i)", amount: "000000000100"))
            try log.ended("T\(i)")
        }
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        // 2000 transactions of some 150 bytes would be 300 kB; rewrites keep the file near the bound (plus the window
        // of zeros a mapped file carries while open).
        #expect(size < (64 << 10) * 2 + AppendOnlyFile.window)
        let text = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\0").first.map(String.init) ?? ""
        #expect(text.utf8.count < (64 << 10) * 2)
        #expect(text.contains("D OPEN BANKA"))
        #expect(log.openCount == 1)
    }
}

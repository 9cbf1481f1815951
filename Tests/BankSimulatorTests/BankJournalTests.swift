@testable import BankSimulator
import DigitalCurrency
import ISO8583
import Logging
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Bank journal: effects as lines, group commit, crash recovery")
struct BankJournalTests {
    let seed = BankFixtures.seedA
    let logs = InMemoryLogs()

    /// Legs of every kind, including ones that leave change, declines, repeats and reversals.
    func legs() -> [ISO8583Message] {
        let c = self.seed.customers
        let m = self.seed.merchants
        return [
            BankFixtures.walletDebit(txn: "J1", amount: 1300, payer: c[0].wallet.address, payee: m[0].wallet.address, stan: 1),
            BankFixtures.transferInDebit(txn: "J2", amount: 2500, card: c[1].card, payee: c[1].wallet.address, stan: 2),
            BankFixtures.credit(txn: "J3", amount: 800, coins: "EXT-1:500;EXT-2:300", wallet: m[1].wallet.address, stan: 3),
            BankFixtures.credit(txn: "J4", amount: 400, coins: "EXT-3:400", card: c[2].card, flow: .redeem, stan: 4),
            BankFixtures.walletDebit(txn: "J5", amount: 99_999, payer: c[3].wallet.address, payee: m[0].wallet.address, stan: 5),
            BankFixtures.walletDebit(txn: "J6", amount: 700, payer: c[4].wallet.address, payee: m[2].wallet.address, stan: 6),
            BankFixtures.reversal(txn: "J6", amount: 700, stan: 7),
            BankFixtures.reversal(txn: "J4/C", amount: 400, stan: 8),
            BankFixtures.openAccount(account: c[5].account, stan: 9),
            BankFixtures.walletDebit(txn: "J1", amount: 1300, payer: c[0].wallet.address, payee: m[0].wallet.address, stan: 10),
            BankFixtures.completion(["J1", "J3", "J6", "NOPE"], stan: 12),
            BankFixtures.walletDebit(txn: "J7", amount: 100, payer: c[0].wallet.address, payee: m[0].wallet.address, stan: 11),
        ]
    }

    @Test func everyEffectRoundTripsThroughItsJournalLine() throws {
        var books = BankBooks(seed: self.seed)
        var effects: [BankBooks.Effect] = []
        for request in self.legs() {
            if let effect = books.handle(request).effect { effects.append(effect) }
        }
        #expect(effects.count == 11)
        var replayed = BankBooks(seed: self.seed)
        for effect in effects {
            let line = effect.journalPayload
            #expect(!line.contains("\n"))
            let decoded = BankBooks.Effect(journalPayload: Substring(line))
            #expect(decoded == effect, "\(line)")
            let applied = replayed.apply(decoded ?? effect)
            #expect(applied)
        }
        #expect(replayed == books)
    }

    @Test func processorRecoversIdenticalBooksAfterACrash() async throws {
        let path = BankFixtures.temporaryPath("bank.journal")
        let group = MultiThreadedEventLoopGroup.singleton
        let loop = group.any()
        let crashed = try BankProcessor.open(bank: self.seed.bank, seed: self.seed, journalPath: path, logger: self.logs.logger())
        var codes: [String] = []
        for request in self.legs() {
            let response = try await crashed.process(request, on: loop).get()
            codes.append(response?.responseCode ?? "none")
        }
        #expect(codes == ["00", "00", "00", "00", "51", "00", "00", "00", "00", "00", "00", "00"])
        let before = crashed.books
        #expect(before.verify() == [])
        #expect(crashed.journal?.statistics.entries == 11)
        // Every append's wait and every sync are measured; an append waits at least for the sync that covers it.
        let statistics = try #require(crashed.journal?.statistics)
        #expect(statistics.appendLatency.totalCount == 11)
        #expect(statistics.syncs > 0 && statistics.syncLatency.totalCount == UInt64(statistics.syncs))
        #expect(statistics.appendLatency.maxRecorded >= statistics.syncLatency.min)
        // The process dies: no shutdown, no close. Everything answered was synced.
        let recovered = try BankProcessor.open(bank: self.seed.bank, seed: self.seed, journalPath: path, logger: self.logs.logger())
        let after = recovered.books
        #expect(after == before)
        #expect(after.verify() == [])
        #expect(after.coinValueHeld == before.coinValueHeld)
        #expect(after.openedWallets.count == 1)
        #expect(recovered.journal?.statistics.recoveredEntries == 11)

        // Idempotency survives the crash: the repeated debit gets its original answer, the reversal is still done.
        let repeated = try await recovered.process(self.legs()[0], on: loop).get()
        #expect(BankFixtures.dcValue(repeated!, "11") == "J1.0:300:P;J1.1:700:C")
        let reversal = try await recovered.process(BankFixtures.reversal(txn: "J6", amount: 700, stan: 12, repeat: true), on: loop).get()
        #expect(reversal?.responseCode == "00")
        #expect(recovered.books == before)
        try await recovered.close()
    }

    @Test func writtenDurabilityRecoversFromAProcessCrashWithoutSyncing() async throws {
        let path = BankFixtures.temporaryPath("written.journal")
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let crashed = try BankProcessor.open(bank: self.seed.bank, seed: self.seed, journalPath: path, durability: .written, logger: self.logs.logger())
        for request in self.legs() {
            _ = try await crashed.process(request, on: loop).get()
        }
        #expect(crashed.journal?.statistics.syncs == 0)
        #expect(crashed.journal?.statistics.entries == 11)
        // Every append's wait is measured; there is no sync to time.
        #expect(crashed.journal?.statistics.appendLatency.totalCount == 11)
        #expect(crashed.journal?.statistics.syncLatency.totalCount == 0)
        // The bank process dies; the kernel still has every line it was given.
        let recovered = try BankProcessor.open(bank: self.seed.bank, seed: self.seed, journalPath: path, logger: self.logs.logger())
        #expect(recovered.books == crashed.books)
        #expect(recovered.books.verify() == [])
        try await recovered.close()
    }

    @Test func tornLastEntryIsIgnored() async throws {
        let path = BankFixtures.temporaryPath("torn.journal")
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let processor = try BankProcessor.open(bank: self.seed.bank, seed: self.seed, journalPath: path, logger: self.logs.logger())
        for request in self.legs().prefix(3) {
            _ = try await processor.process(request, on: loop).get()
        }
        let durable = processor.books
        try await processor.close()
        // A crash mid-write: half a line at the end (its answer was never sent).
        let line = "0000002A 12345678 D|J9|0315|100|W|DC100000"
        try appendBytes(path, Array(line.utf8))

        let recovered = try BankProcessor.open(bank: self.seed.bank, seed: self.seed, journalPath: path, logger: self.logs.logger())
        #expect(recovered.books == durable)
        #expect(recovered.books.verify() == [])
        #expect(recovered.journal?.statistics.discardedBytes == line.utf8.count)
        #expect(self.logs.entries.contains { $0.message.contains("torn tail") && $0.level <= .info })

        // New lines follow the last good one.
        let response = try await recovered.process(self.legs()[5], on: loop).get()
        #expect(response?.responseCode == "00")
        let expected = recovered.books
        try await recovered.close()
        let again = try BankProcessor.open(bank: self.seed.bank, seed: self.seed, journalPath: path, logger: self.logs.logger())
        #expect(again.books == expected)
        #expect(again.journal?.statistics.discardedBytes == 0)
        try await again.close()
    }

    @Test func spaceReservedAheadIsNotATornTailAndACleanCloseGivesItBack() async throws {
        let path = BankFixtures.temporaryPath("reserved.journal")
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let crashed = try BankProcessor.open(bank: self.seed.bank, seed: self.seed, journalPath: path, logger: self.logs.logger())
        for request in self.legs().prefix(4) {
            _ = try await crashed.process(request, on: loop).get()
        }
        // Lines go into space reserved ahead, so the file is longer than its lines (header included) while the bank runs.
        let content = try contentLength(path)
        let lineBytes = try #require(crashed.journal?.statistics.bytes)
        #expect(content > lineBytes)
        #expect(try fileSize(path) > content)

        // The process dies without closing: the file ends in reserved zeros, which are not a torn tail.
        let recovered = try BankProcessor.open(bank: self.seed.bank, seed: self.seed, journalPath: path, logger: self.logs.logger())
        #expect(recovered.books == crashed.books)
        #expect(recovered.journal?.statistics.recoveredEntries == 4)
        #expect(recovered.journal?.statistics.discardedBytes == 0)
        #expect(!self.logs.entries.contains { $0.message.contains("torn tail") })

        // A line torn inside the reserved space is cut off, its bytes counted without the zeros after it.
        let response = try await recovered.process(self.legs()[5], on: loop).get()
        #expect(response?.responseCode == "00")
        let durable = recovered.books
        let end = try contentLength(path)
        let torn = Array("0000002A 12345678 D|J9|0315".utf8)
        try writeBytes(path, torn, at: end)
        let again = try BankProcessor.open(bank: self.seed.bank, seed: self.seed, journalPath: path, logger: self.logs.logger())
        #expect(again.books == durable)
        #expect(again.journal?.statistics.discardedBytes == torn.count)
        #expect(self.logs.entries.contains { $0.message.contains("torn tail") })

        // A clean close cuts the file back to its last line.
        try await again.close()
        #expect(try fileSize(path) == end)
        let last = try #require(try readLastByte(path))
        #expect(last == 10)
    }

    @Test func lineWithABadChecksumEndsTheJournal() async throws {
        let path = BankFixtures.temporaryPath("corrupt.journal")
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let processor = try BankProcessor.open(bank: self.seed.bank, seed: self.seed, journalPath: path, logger: self.logs.logger())
        _ = try await processor.process(self.legs()[0], on: loop).get()
        let afterFirst = processor.books
        _ = try await processor.process(self.legs()[1], on: loop).get()
        try await processor.close()
        // Flip one payload byte of the last line.
        var bytes = try readBytes(path)
        bytes[bytes.count - 5] ^= 0x01
        try writeBytes(path, bytes)
        let recovered = try BankProcessor.open(bank: self.seed.bank, seed: self.seed, journalPath: path, logger: self.logs.logger())
        #expect(recovered.books == afterFirst)
        try await recovered.close()
    }

    @Test func journalOfOtherBooksIsRefused() async throws {
        let path = BankFixtures.temporaryPath("foreign.journal")
        let processor = try BankProcessor.open(bank: self.seed.bank, seed: self.seed, journalPath: path, logger: self.logs.logger())
        try await processor.close()
        #expect {
            try BankProcessor.open(bank: BankFixtures.seedB.bank, seed: BankFixtures.seedB, journalPath: path, logger: self.logs.logger())
        } throws: { error in
            (error as? BankJournalError)?.code == .foreign
        }
    }

    @Test func concurrentAppendsShareSyncs() async throws {
        let path = BankFixtures.temporaryPath("group.journal")
        let group = MultiThreadedEventLoopGroup.singleton
        let seed = SeedData(bank: BankFixtures.bank(customers: 200))
        let processor = try BankProcessor.open(bank: seed.bank, seed: seed, journalPath: path, logger: self.logs.logger())
        let merchant = seed.merchants[0].wallet.address
        // 200 debits in flight at once, one per wallet (change is pending until its transaction completes); each
        // answer waits for its line to be synced.
        var futures: [EventLoopFuture<ISO8583Message?>] = []
        for i in 0..<200 {
            let payer = seed.customers[i].wallet.address
            futures.append(processor.process(BankFixtures.walletDebit(txn: "G\(i)", amount: 10, payer: payer, payee: merchant, stan: i), on: group.any()))
        }
        var approved = 0
        for future in futures where try await future.get()?.responseCode == "00" { approved += 1 }
        #expect(approved == 200)
        let statistics = try #require(processor.journal?.statistics)
        #expect(statistics.entries == 200)
        #expect(statistics.syncs >= 1 && statistics.syncs <= 200)
        let books = processor.books
        try await processor.close()
        let recovered = try BankProcessor.open(bank: seed.bank, seed: seed, journalPath: path, logger: self.logs.logger())
        #expect(recovered.books == books)
        #expect(recovered.books.valueSentOut == 2000)
        try await recovered.close()
    }
}

func readBytes(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw POSIXFailure(call: "open") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { break }
        bytes += chunk[0..<n]
    }
    return bytes
}

func writeBytes(_ path: String, _ bytes: [UInt8]) throws {
    let fd = open(path, O_WRONLY | O_TRUNC)
    guard fd >= 0 else { throw POSIXFailure(call: "open") }
    defer { close(fd) }
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}

func appendBytes(_ path: String, _ bytes: [UInt8]) throws {
    let fd = open(path, O_WRONLY | O_APPEND)
    guard fd >= 0 else { throw POSIXFailure(call: "open") }
    defer { close(fd) }
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}

func writeBytes(_ path: String, _ bytes: [UInt8], at offset: Int) throws {
    let fd = open(path, O_WRONLY)
    guard fd >= 0 else { throw POSIXFailure(call: "open") }
    defer { close(fd) }
    let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
    guard written == bytes.count else { throw POSIXFailure(call: "pwrite") }
}

func fileSize(_ path: String) throws -> Int {
    var status = stat()
    guard stat(path, &status) == 0 else { throw POSIXFailure(call: "stat") }
    return Int(status.st_size)
}

func readLastByte(_ path: String) throws -> UInt8? {
    try readAll(path).last
}

/// The length of a file without the zero bytes at its end.
func contentLength(_ path: String) throws -> Int {
    let bytes = try readAll(path)
    return (bytes.lastIndex { $0 != 0 } ?? -1) + 1
}

func readAll(_ path: String) throws -> [UInt8] {
    let size = try fileSize(path)
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw POSIXFailure(call: "open") }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: size)
    let read = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, size, 0) }
    guard read == size else { throw POSIXFailure(call: "pread") }
    return bytes
}

struct POSIXFailure: Error {
    var call: String
}

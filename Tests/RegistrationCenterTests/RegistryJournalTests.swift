import DigitalCurrency
import Foundation
import NIOCore
import NIOConcurrencyHelpers
import Testing

@testable import RegistrationCenter

@Suite("RegistryJournal")
struct RegistryJournalTests {
    typealias F = RegistryFixtures

    static func records(_ txn: Int, count: Int = 2) -> [OwnerChangeRecord] {
        (0..<count).map { F.transfer("txn-\(txn)", coin: "coin-\(txn)-\($0)", from: "W-a\t\\x", to: "W-b\n") }
    }

    static func open(_ directory: String, segmentBytes: Int = 64 << 20) throws -> (RegistryJournal, [RegistryJournal.Entry]) {
        let result = try RegistryJournal.open(.init(directory: directory, segmentBytes: segmentBytes), logger: .noop) {
            _ in
        }
        return (result.journal, result.recovered)
    }

    static func segments(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("segment-") }.sorted()
    }

    @Test func durableEntriesAreRecoveredInOrder() async throws {
        let directory = try F.temporaryDirectory("journal")
        let delivered = NIOLockedValueBox<[UInt64]>([])
        let (journal, recovered) = try RegistryJournal.open(.init(directory: directory), logger: .noop) { entries in
            delivered.withLockedValue { $0 += entries.map(\.sequence) }
        }
        #expect(recovered.isEmpty)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for txn in 0..<50 { group.addTask { try await journal.append(Self.records(txn)) } }
            try await group.waitForAll()
        }
        await journal.close()
        #expect(delivered.withLockedValue { $0 }.sorted() == Array(1...50))
        let statistics = journal.statistics()
        #expect(statistics.entries == 50 && statistics.records == 100)

        let (reopened, again) = try Self.open(directory)
        #expect(again.map(\.sequence) == Array(1...50))
        let transactions = Set(again.flatMap { $0.records.map(\.transactionID) })
        #expect(transactions == Set((0..<50).map { "txn-\($0)" }))
        // Strings with tabs, backslashes and newlines survive the binary form.
        #expect(again[0].records[0].fromWallet == "W-a\t\\x")
        // New appends continue the sequence.
        try await reopened.append(Self.records(99))
        await reopened.close()
        #expect(try Self.open(directory).1.last?.sequence == 51)
    }

    @Test(arguments: [1, 7, 19, 40])
    func tornTailIsCutOffAndEarlierEntriesSurvive(keptBytesOfLastEntry: Int) async throws {
        let directory = try F.temporaryDirectory("journal-torn")
        let (journal, _) = try Self.open(directory)
        for txn in 0..<3 { try await journal.append(Self.records(txn)) }
        await journal.close()
        let segment = directory + "/" + (try Self.segments(directory)).first!
        let intact = try Data(contentsOf: URL(fileURLWithPath: segment))

        // Simulate a crash in the middle of writing a fourth entry: only its first bytes reached the file.
        var torn = intact
        let fourth = try Self.encodedEntry(sequence: 4, records: Self.records(3))
        torn.append(fourth.prefix(keptBytesOfLastEntry))
        try torn.write(to: URL(fileURLWithPath: segment))

        let (reopened, recovered) = try Self.open(directory)
        #expect(recovered.map(\.sequence) == [1, 2, 3])
        #expect(try Data(contentsOf: URL(fileURLWithPath: segment)) == intact)
        try await reopened.append(Self.records(3))
        await reopened.close()
        #expect(try Self.open(directory).1.map(\.sequence) == [1, 2, 3, 4])
    }

    @Test(arguments: [0, 7])
    func spaceReservedAheadIsCutWithoutLosingEntries(keptBytesOfTornEntry: Int) async throws {
        let directory = try F.temporaryDirectory("journal-reserved")
        let (journal, _) = try Self.open(directory, segmentBytes: 1 << 20)
        for txn in 0..<3 { try await journal.append(Self.records(txn)) }
        let segment = directory + "/" + (try Self.segments(directory)).first!
        let written = Int(journal.statistics().bytes)
        // While the journal is open, its segment is longer than its entries: the space after them is reserved.
        let reservedSize = try FileManager.default.attributesOfItem(atPath: segment)[.size] as? Int
        #expect(reservedSize == 1 << 20)
        await journal.close()
        let intact = try Data(contentsOf: URL(fileURLWithPath: segment))
        #expect(intact.count == written)

        // What a crash leaves: the entries, maybe the start of one that was being written, then reserved zeros.
        var crashed = intact
        crashed.append(try Self.encodedEntry(sequence: 4, records: Self.records(3)).prefix(keptBytesOfTornEntry))
        crashed.append(Data(count: (1 << 20) - crashed.count))
        try crashed.write(to: URL(fileURLWithPath: segment))

        let (reopened, recovered) = try Self.open(directory, segmentBytes: 1 << 20)
        #expect(recovered.map(\.sequence) == [1, 2, 3])
        #expect(try Data(contentsOf: URL(fileURLWithPath: segment)) == intact)
        try await reopened.append(Self.records(3))
        await reopened.close()
        #expect(try Self.open(directory).1.map(\.sequence) == [1, 2, 3, 4])
    }

    @Test func corruptChecksumEndsTheReadableLog() async throws {
        let directory = try F.temporaryDirectory("journal-crc")
        let (journal, _) = try Self.open(directory)
        for txn in 0..<3 { try await journal.append(Self.records(txn)) }
        await journal.close()
        let segment = directory + "/" + (try Self.segments(directory)).first!
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
        bytes[bytes.count - 3] ^= 0xFF  // flip a bit in the last entry's payload
        try bytes.write(to: URL(fileURLWithPath: segment))
        #expect(try Self.open(directory).1.map(\.sequence) == [1, 2])
    }

    @Test func checkpointSkipsCommittedEntriesAndDeletesTheirSegments() async throws {
        let directory = try F.temporaryDirectory("journal-ckpt")
        let (journal, _) = try Self.open(directory, segmentBytes: 1 << 16)
        for chunk in stride(from: 0, to: 2000, by: 100) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for txn in chunk..<chunk + 100 { group.addTask { try await journal.append(Self.records(txn, count: 3)) } }
                try await group.waitForAll()
            }
        }
        let before = try Self.segments(directory).count
        #expect(before > 3)
        journal.checkpoint(through: 1500)
        await journal.close()
        #expect(try Self.segments(directory).count < before)
        let (reopened, recovered) = try Self.open(directory, segmentBytes: 1 << 16)
        // Whole segments are kept: what is recovered starts at or before 1501 and runs to the end, and only the
        // entries after the checkpoint are returned.
        #expect(recovered.first?.sequence == 1501)
        #expect(recovered.last?.sequence == 2000)
        #expect(recovered.count == 500)
        reopened.checkpoint(through: 2000)
        await reopened.close()
        #expect(try Self.open(directory).1.isEmpty)
    }

    @Test func aSecondWriterOnTheSameDirectoryIsRefused() async throws {
        let directory = try F.temporaryDirectory("journal-lock")
        let (journal, _) = try Self.open(directory)
        let error = #expect(throws: RegistrationCenterError.self) { _ = try Self.open(directory) }
        #expect(error?.code == .journalIO)
        await journal.close()
        let (again, _) = try Self.open(directory)
        await again.close()
    }

    @Test func appendsAfterCloseAreRefused() async throws {
        let (journal, _) = try Self.open(try F.temporaryDirectory("journal-closed"))
        await journal.close()
        let error = await #expect(throws: OwnerChangeSinkError.self) {
            try await journal.append(Self.records(1))
        }
        #expect(error?.code == .closed)
    }

    /// The on-disk bytes of one entry.
    static func encodedEntry(sequence: UInt64, records: [OwnerChangeRecord]) throws -> Data {
        var builder = EntryBytes()
        try builder.entry(sequence: sequence, records: records)
        return builder.data
    }
}

/// Encodes entries exactly like ``RegistryJournal`` (magic, length, sequence, CRC-32C, payload).
struct EntryBytes {
    var data = Data()

    mutating func entry(sequence: UInt64, records: [OwnerChangeRecord]) throws {
        var payload = ByteBufferAllocator().buffer(capacity: 256)
        try JournalCoding.encode(records, into: &payload)
        let payloadBytes = Array(payload.readableBytesView)
        var sequenceBytes = sequence.bigEndian
        let crc = withUnsafeBytes(of: &sequenceBytes) { sequenceRaw in
            payloadBytes.withUnsafeBytes { CRC32C.update(CRC32C.update(0, $0), sequenceRaw) }
        }
        func append<T: FixedWidthInteger>(_ value: T) {
            var big = value.bigEndian
            withUnsafeBytes(of: &big) { data.append(contentsOf: $0) }
        }
        append(RegistryJournal.entryMagic)
        append(UInt32(payloadBytes.count))
        append(sequence)
        append(crc)
        data.append(contentsOf: payloadBytes)
    }
}

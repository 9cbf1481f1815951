import Foundation
import NIOCore
import PostgresNIO

/// One line of a traffic generator `--record` file: an approved transaction and how many owner-change records its
/// approval must have produced. JSON: `{"txn":"<transactionID>","flow":"nfc","records":N}`.
public struct RecordedApproval: Sendable, Hashable, Codable {
    /// The switch's transaction id (the `transaction_id` of its owner-change records).
    public var txn: String
    /// The flow name.
    public var flow: String
    /// Owner-change records the approval must have.
    public var records: Int

    public init(txn: String, flow: String, records: Int) {
        self.txn = txn
        self.flow = flow
        self.records = records
    }

    /// Reads a record file: JSON lines, blank lines ignored.
    ///
    /// - Throws: ``RegistrationCenterError/Code/invalidRecordFile`` naming the line and what is wrong.
    public static func read(file path: String) throws -> [RecordedApproval] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw RegistrationCenterError(.invalidRecordFile, "\(path): cannot read: \(error.localizedDescription)")
        }
        let decoder = JSONDecoder()
        var result: [RecordedApproval] = []
        var lineNumber = 0
        var offset = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            defer { offset += line.count + 1 }
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }) {
                continue
            }
            do {
                let record = try decoder.decode(RecordedApproval.self, from: Data(line))
                guard record.records >= 0 else {
                    throw RegistrationCenterError(.invalidRecordFile, "negative \"records\"")
                }
                result.append(record)
            } catch {
                let reason: String
                switch error {
                case DecodingError.keyNotFound(let key, _): reason = "missing key \"\(key.stringValue)\""
                case DecodingError.typeMismatch(_, let context): reason = "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
                case DecodingError.dataCorrupted: reason = "not JSON"
                case let error as RegistrationCenterError: reason = error.message
                default: reason = "\(error)"
                }
                throw RegistrationCenterError(
                    .invalidRecordFile, "\(path):\(lineNumber) (byte offset \(offset)): \(reason)")
            }
        }
        return result
    }
}

extension RegistryDatabase {
    /// What ``verify(_:)`` found. Encodes to the JSON that `dcswitch registry verify` prints last.
    public struct Verification: Sendable, Hashable, Codable {
        /// Approved transactions in the record file (distinct transaction ids).
        public var transactions: Int
        /// Sum of the approvals' expected record counts.
        public var recordsExpected: Int64
        /// Owner-change records registered for those transactions.
        public var recordsFound: Int64
        /// Rows repeating a (coin, from, to) move within one transaction.
        public var duplicates: Int64
        /// Transactions with fewer records than expected (none at all, or some).
        public var missingTransactions: Int64
        /// Transactions with more records than expected.
        public var extraTransactions: Int64
        /// Transaction ids listed more than once in the file.
        public var repeatedApprovals: Int
        /// Up to 20 transaction ids among the missing ones.
        public var missingSample: [String]
        /// Value conservation over the whole registry.
        public var conservation: RegistryDatabase.Conservation

        /// Every approval has exactly its records, nothing is doubled, and value is conserved.
        public var ok: Bool {
            recordsExpected == recordsFound && duplicates == 0 && missingTransactions == 0 && extraTransactions == 0
                && conservation.ok
        }

        enum CodingKeys: String, CodingKey {
            case transactions
            case recordsExpected = "records_expected"
            case recordsFound = "records_found"
            case duplicates
            case missingTransactions = "missing_transactions"
            case extraTransactions = "extra_transactions"
            case repeatedApprovals = "repeated_approvals"
            case missingSample = "missing_sample"
            case conservation
        }
    }

    /// Checks that every approval in a traffic generator `--record` file has exactly its owner-change records.
    public func verify(recordFile path: String) async throws -> Verification {
        try await verify(RecordedApproval.read(file: path))
    }

    /// Checks that every approval has exactly its owner-change records, and that value is conserved.
    public func verify(_ approvals: [RecordedApproval]) async throws -> Verification {
        var expected: [String: Int] = [:]
        var repeated = 0
        for approval in approvals {
            if expected.updateValue(approval.records, forKey: approval.txn) != nil { repeated += 1 }
        }
        var text = CopyTextEncoder(capacity: expected.count * 32)
        for (txn, count) in expected {
            text.text(txn)
            text.tab()
            text.integer(Int64(count))
            text.endRow()
        }
        let logger = self.logger
        let copyData = text.buffer
        var verification = try await client.withConnection { connection -> Verification in
            try await connection.query(
                "CREATE TEMP TABLE IF NOT EXISTS verify_approvals (txn text PRIMARY KEY, expected int)",
                logger: logger)
            try await connection.query("TRUNCATE verify_approvals", logger: logger)
            try await connection.copyFrom(table: "verify_approvals", columns: ["txn", "expected"], logger: logger) {
                writer in
                if copyData.readableBytes > 0 { try await writer.write(copyData) }
            }
            try await connection.query("ANALYZE verify_approvals", logger: logger)
            var result = Verification(
                transactions: expected.count, recordsExpected: 0, recordsFound: 0, duplicates: 0,
                missingTransactions: 0, extraTransactions: 0, repeatedApprovals: repeated, missingSample: [],
                conservation: .init(issued: 0, live: 0, ok: false))
            let rows = try await connection.query(
                """
                WITH found AS (
                    SELECT o.transaction_id,
                           count(*) AS found,
                           count(*) - count(DISTINCT (o.coin_id, o.from_wallet, o.to_wallet)) AS repeats
                    FROM owner_changes o JOIN verify_approvals v ON v.txn = o.transaction_id
                    GROUP BY o.transaction_id
                )
                SELECT coalesce(sum(v.expected), 0)::int8,
                       coalesce(sum(f.found), 0)::int8,
                       coalesce(sum(f.repeats), 0)::int8,
                       count(*) FILTER (WHERE coalesce(f.found, 0) < v.expected),
                       count(*) FILTER (WHERE coalesce(f.found, 0) > v.expected)
                FROM verify_approvals v LEFT JOIN found f ON f.transaction_id = v.txn
                """, logger: logger)
            for try await (expectedSum, found, repeats, missing, extra) in rows.decode(
                (Int64, Int64, Int64, Int64, Int64).self)
            {
                result.recordsExpected = expectedSum
                result.recordsFound = found
                result.duplicates = repeats
                result.missingTransactions = missing
                result.extraTransactions = extra
            }
            if result.missingTransactions > 0 {
                let sample = try await connection.query(
                    """
                    SELECT v.txn FROM verify_approvals v
                    WHERE v.expected > (SELECT count(*) FROM owner_changes o WHERE o.transaction_id = v.txn)
                    ORDER BY v.txn LIMIT 20
                    """, logger: logger)
                for try await txn in sample.decode(String.self) { result.missingSample.append(txn) }
            }
            try await connection.query("DROP TABLE verify_approvals", logger: logger)
            return result
        }
        verification.conservation = try await conservation()
        return verification
    }
}

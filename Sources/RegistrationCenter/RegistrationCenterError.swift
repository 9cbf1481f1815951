/// An error from the registration center: the embedded cluster, the journal, the database or a query.
public struct RegistrationCenterError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is. New codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let raw: String
        private init(_ raw: String) { self.raw = raw }

        /// The PostgreSQL server binaries (`initdb`, `pg_ctl`) were not found.
        public static let postgresNotInstalled = Code("postgresNotInstalled")
        /// A PostgreSQL tool (`initdb`, `pg_ctl`, `psql`) failed.
        public static let postgresCommandFailed = Code("postgresCommandFailed")
        /// A database URL could not be parsed.
        public static let invalidDatabaseURL = Code("invalidDatabaseURL")
        /// The journal could not be opened, written or read.
        public static let journalIO = Code("journalIO")
        /// A journal entry failed to decode although its checksum matched.
        public static let journalCorrupt = Code("journalCorrupt")
        /// A migration failed or the database holds a newer schema than this build knows.
        public static let migrationFailed = Code("migrationFailed")
        /// A record file given to `verify` is malformed.
        public static let invalidRecordFile = Code("invalidRecordFile")
        /// The database could not be reached, or a query on it failed.
        public static let databaseUnavailable = Code("databaseUnavailable")
        /// The registration center is not running or is shut down.
        public static let notRunning = Code("notRunning")
        /// A query or registration was given bad input.
        public static let invalidInput = Code("invalidInput")

        public var description: String { raw }
    }

    /// The kind of failure.
    public var code: Code
    /// What went wrong, for people.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "RegistrationCenterError(\(code)): \(message)" }
}

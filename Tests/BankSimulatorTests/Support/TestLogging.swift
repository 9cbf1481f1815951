import Logging
import NIOConcurrencyHelpers

/// Collects log entries in memory; tests never bootstrap the global logging system.
final class InMemoryLogs: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    private let storage = NIOLockedValueBox<[Entry]>([])

    var entries: [Entry] { self.storage.withLockedValue { $0 } }

    func append(_ entry: Entry) {
        self.storage.withLockedValue { $0.append(entry) }
    }

    func logger(_ label: String = "test", level: Logger.Level = .debug) -> Logger {
        var logger = Logger(label: label) { _ in InMemoryLogHandler(logs: self) }
        logger.logLevel = level
        return logger
    }

    /// Every message and metadata value as text, for checks that something never appears in a log.
    var allText: String {
        self.entries.map { entry in
            entry.message + " " + entry.metadata.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }.joined(separator: "\n")
    }
}

struct InMemoryLogHandler: LogHandler {
    let logs: InMemoryLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = self.metadata
        if let extra = event.metadata {
            merged.merge(extra) { $1 }
        }
        self.logs.append(.init(level: event.level, message: "\(event.message)", metadata: merged))
    }
}

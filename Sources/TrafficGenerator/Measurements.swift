import DigitalCurrency
import Histogram

/// A latency histogram in microseconds (1 µs to any value, three significant digits).
public typealias LatencyHistogram = Histogram<UInt64>

extension Histogram where Count == UInt64 {
    /// An empty microsecond histogram that grows to fit what it records.
    static func microseconds() -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 1_000_000, numberOfSignificantValueDigits: .three)
        histogram.autoResize = true
        return histogram
    }
}

/// Counts and histograms of one flow.
public struct FlowMeasurements: Sendable {
    /// Requests sent.
    public var sent: Int = 0
    /// Answers with DE 39 = 00.
    public var approved: Int = 0
    /// Answers with another DE 39.
    public var declined: Int = 0
    /// Requests without an answer (timeout, connection lost, not signed on).
    public var errors: Int = 0
    /// Owner-change records the approvals imply (DE 124.03 + 124.11 items).
    public var ownerChangeRecords: Int = 0
    /// Latency from the intended start (corrected for coordinated omission), µs, answered requests.
    public var latency: LatencyHistogram = .microseconds()
    /// Service time from the actual send to the answer, µs.
    public var service: LatencyHistogram = .microseconds()

    public init() {}

    /// Adds `other`'s counts and histograms.
    public mutating func add(_ other: FlowMeasurements) {
        self.sent += other.sent
        self.approved += other.approved
        self.declined += other.declined
        self.errors += other.errors
        self.ownerChangeRecords += other.ownerChangeRecords
        self.latency.add(other.latency)
        self.service.add(other.service)
    }

    /// Requests answered (approved or declined).
    public var answered: Int { self.approved + self.declined }
}

/// Why a request got no answer.
public enum TransactionError: String, Hashable, Sendable, CaseIterable, Codable {
    /// No answer within the timeout.
    case timeout
    /// The link was not signed on when the request was due.
    case notSignedOn = "not-signed-on"
    /// The connection closed with the request in flight.
    case connectionClosed = "connection-closed"
    /// Anything else (encoding, duplicate key, shutdown).
    case other
}

/// Everything measured over a span of time (a whole run, or one second of it): per flow, overall, per DE 39.
///
/// Measurements of shards, or of consecutive seconds, add up with ``add(_:)``.
public struct Measurements: Sendable {
    /// Per flow, in `Flow.allCases` order.
    public var flows: [FlowMeasurements]
    /// All flows: latency from the intended start, µs.
    public var latency: LatencyHistogram = .microseconds()
    /// All flows: service time, µs.
    public var service: LatencyHistogram = .microseconds()
    /// Answers per DE 39 (two ASCII bytes packed, see ``ResponseSummary/responseCode``).
    public var responseCodes: [UInt16: Int] = [:]
    /// Latency per DE 39 (kept for whole runs, not per second).
    public var responseCodeLatency: [UInt16: LatencyHistogram] = [:]
    /// Requests without an answer, by reason.
    public var errors: [TransactionError: Int] = [:]
    /// Deliberate double-spend attempts sent, and how many of them were approved.
    public var doubleSpendAttempts: Int = 0
    public var doubleSpendsApproved: Int = 0
    /// Whether ``responseCodeLatency`` is kept.
    public let keepsResponseCodeLatency: Bool

    /// Empty measurements.
    public init(keepsResponseCodeLatency: Bool = true) {
        self.flows = Array(repeating: FlowMeasurements(), count: Flow.allCases.count)
        self.keepsResponseCodeLatency = keepsResponseCodeLatency
    }

    /// The flow's measurements.
    public subscript(flow: Flow) -> FlowMeasurements {
        get { self.flows[flow.ordinal] }
        set { self.flows[flow.ordinal] = newValue }
    }

    /// Requests sent, all flows.
    public var sent: Int { self.flows.reduce(0) { $0 + $1.sent } }
    /// Approvals, all flows.
    public var approved: Int { self.flows.reduce(0) { $0 + $1.approved } }
    /// Declines, all flows.
    public var declined: Int { self.flows.reduce(0) { $0 + $1.declined } }
    /// Requests without an answer, all flows.
    public var errorCount: Int { self.flows.reduce(0) { $0 + $1.errors } }
    /// Answers, all flows.
    public var answered: Int { self.approved + self.declined }
    /// Owner-change records implied by the approvals, all flows.
    public var ownerChangeRecords: Int { self.flows.reduce(0) { $0 + $1.ownerChangeRecords } }

    // MARK: Recording (hot path)

    /// Counts a request sent.
    @inline(__always)
    public mutating func recordSent(_ flow: Flow) {
        self.flows[flow.ordinal].sent &+= 1
    }

    /// Records an answer: latency from the intended start and service time, µs.
    public mutating func recordAnswer(_ flow: Flow, summary: ResponseSummary, latency: UInt64, service: UInt64) {
        let i = flow.ordinal
        if summary.isApproved {
            self.flows[i].approved &+= 1
            self.flows[i].ownerChangeRecords &+= summary.ownerChangeRecords
        } else {
            self.flows[i].declined &+= 1
        }
        self.flows[i].latency.record(latency)
        self.flows[i].service.record(service)
        self.latency.record(latency)
        self.service.record(service)
        self.responseCodes[summary.responseCode, default: 0] &+= 1
        if self.keepsResponseCodeLatency {
            self.responseCodeLatency[summary.responseCode, default: .microseconds()].record(latency)
        }
    }

    /// Records a request that got no answer.
    public mutating func recordError(_ flow: Flow, _ error: TransactionError) {
        self.flows[flow.ordinal].errors &+= 1
        self.errors[error, default: 0] &+= 1
    }

    /// Adds `other`.
    public mutating func add(_ other: Measurements) {
        for i in self.flows.indices { self.flows[i].add(other.flows[i]) }
        self.latency.add(other.latency)
        self.service.add(other.service)
        for (code, count) in other.responseCodes { self.responseCodes[code, default: 0] += count }
        if self.keepsResponseCodeLatency {
            for (code, histogram) in other.responseCodeLatency { self.responseCodeLatency[code, default: .microseconds()].add(histogram) }
        }
        for (error, count) in other.errors { self.errors[error, default: 0] += count }
        self.doubleSpendAttempts += other.doubleSpendAttempts
        self.doubleSpendsApproved += other.doubleSpendsApproved
    }
}

extension Flow {
    /// Position in `Flow.allCases`, for arrays indexed by flow.
    @inline(__always)
    var ordinal: Int {
        switch self {
        case .accountOpen: return 0
        case .transferIn: return 1
        case .redeem: return 2
        case .nfc: return 3
        case .qrBSC: return 4
        case .qrCSB: return 5
        case .inApp: return 6
        }
    }
}

/// DE 39 text of a packed response code.
func responseCodeText(_ code: UInt16) -> String {
    guard code != 0 else { return "none" }
    return String(decoding: [UInt8(code >> 8), UInt8(code & 0xFF)], as: UTF8.self)
}

import ISO8583Network

/// The variables of one fixture run and the source of generated values.
///
/// Generated identifiers are unique within a process and, for RRNs, across runs: a fixture replayed many
/// times is never a duplicate of an earlier run (the switch's duplicate key is DE 32, 41, 11, 37 and 13).
public struct ReplayContext: Sendable {
    /// Variable values by name.
    public var variables: [String: String]
    private var identifiers: IdentifierSource
    private let clock: @Sendable () -> Int64

    /// - Parameters:
    ///   - variables: the starting variables.
    ///   - identifiers: where STANs, RRNs and nonces come from.
    ///   - clock: nanoseconds since 1970 (injected so tests can fix the date).
    public init(
        variables: [String: String] = [:],
        identifiers: IdentifierSource = IdentifierSource(),
        clock: @escaping @Sendable () -> Int64 = { UTCClock.nowNanoseconds() }
    ) {
        self.variables = variables
        self.identifiers = identifiers
        self.clock = clock
    }

    /// The identifier source as it stands (to carry it on to the next fixture).
    public var identifierSource: IdentifierSource { self.identifiers }

    mutating func generate(_ generator: Template.Generator) -> String {
        switch generator {
        case .stan: return self.identifiers.nextSTAN()
        case .rrn: return self.identifiers.nextRRN()
        case .nonce: return self.identifiers.nextNonce()
        case .dateTime, .date, .time:
            let p = UTCClock.calendarParts(nanosecondsSinceEpoch: self.clock())
            let date = Self.digits(p.month, 2) + Self.digits(p.day, 2)
            let time = Self.digits(p.hour, 2) + Self.digits(p.minute, 2) + Self.digits(p.second, 2)
            switch generator {
            case .date: return date
            case .time: return time
            default: return date + time
            }
        case .signature:
            preconditionFailure("signatures are computed by the request builder")
        }
    }

    static func digits(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}

/// Fresh STANs, RRNs and nonces.
public struct IdentifierSource: Sendable {
    private var stan: UInt32
    private var rrnBase: UInt64
    private var rrnCounter: UInt64 = 0
    private var random: SplitMix

    /// A source seeded from the clock and the system's random generator.
    public init() {
        var system = SystemRandomNumberGenerator()
        self.init(firstSTAN: UInt32.random(in: 1...999_999, using: &system), rrnBase: UInt64(UTCClock.nowNanoseconds() / 1_000), seed: system.next())
    }

    /// A deterministic source (tests).
    public init(firstSTAN: UInt32, rrnBase: UInt64, seed: UInt64) {
        self.stan = min(max(firstSTAN, 1), 999_999)
        self.rrnBase = rrnBase % 1_000_000_000_000
        self.random = SplitMix(state: seed)
    }

    /// Six digits, 000001–999999, then round again.
    public mutating func nextSTAN() -> String {
        let value = self.stan
        self.stan = value >= 999_999 ? 1 : value + 1
        return ReplayContext.digits(Int(value), 6)
    }

    /// Twelve digits: the microsecond clock at start plus a counter.
    public mutating func nextRRN() -> String {
        let value = (self.rrnBase + self.rrnCounter) % 1_000_000_000_000
        self.rrnCounter += 1
        return ReplayContext.digits(Int(value), 12)
    }

    /// Sixteen upper-case hex characters.
    public mutating func nextNonce() -> String {
        let value = self.random.next()
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for i in 0..<16 { out.append(digits[Int((value >> UInt64(60 - 4 * i)) & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

struct SplitMix: Sendable {
    var state: UInt64

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

import ISO8583
import ISO8583Network
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// A stand-in for the switch's acquirer-facing side that answers every request itself: approvals shaped like the
/// switch's (DE 38, DE 124.05 transaction id, DE 124.03 spent coins and DE 124.11 new coins; for account opening
/// DE 102 and DE 124.01), and on request some declines, slow answers and no answers at all.
///
/// It measures the generator rather than the switch: `dcswitch load --stand-in` runs the generator against it
/// in-process to find the generator's own ceiling on a machine, and the generator's tests use it over loopback.
public final class StandInSwitch: Sendable {
    /// How the stand-in answers.
    public struct Behavior: Hashable, Sendable {
        /// Share (0–1) of requests declined with ``declineCode``.
        public var declineFraction: Double
        /// DE 39 of a decline.
        public var declineCode: String
        /// Share (0–1) of requests answered only after ``delay``.
        public var delayFraction: Double
        /// How late the delayed share is answered.
        public var delay: TimeAmount
        /// Share (0–1) of requests never answered.
        public var dropFraction: Double
        /// Answer every request after this long (0 for at once).
        public var fixedDelay: TimeAmount

        public init(
            declineFraction: Double = 0, declineCode: String = "51", delayFraction: Double = 0, delay: TimeAmount = .zero,
            dropFraction: Double = 0, fixedDelay: TimeAmount = .zero
        ) {
            self.declineFraction = declineFraction
            self.declineCode = declineCode
            self.delayFraction = delayFraction
            self.delay = delay
            self.dropFraction = dropFraction
            self.fixedDelay = fixedDelay
        }

        /// Approve everything at once.
        public static let approveAll = Behavior()
    }

    /// What the stand-in has seen.
    public struct Counters: Hashable, Sendable {
        public var requests = 0
        public var approved = 0
        public var declined = 0
        public var delayed = 0
        public var dropped = 0
        /// Owner-change records implied by the approvals sent (DE 124.03 + 124.11 items).
        public var ownerChangeRecords = 0
        /// Requests per DE 124.13 flow name.
        public var flows: [String: Int] = [:]
        public init() {}
    }

    private let server: ISO8583Server<ISO8583LinkCodec>
    private let counterBox: NIOLockedValueBox<Counters>

    private init(server: ISO8583Server<ISO8583LinkCodec>, counters: NIOLockedValueBox<Counters>) {
        self.server = server
        self.counterBox = counters
    }

    /// The bound port.
    public var port: Int { self.server.port ?? 0 }

    /// What has been seen so far.
    public var counters: Counters { self.counterBox.withLockedValue { $0 } }

    /// Starts listening on `host:port` (`0` picks a free port).
    public static func start(
        host: String = "127.0.0.1", port: Int = 0, behavior: Behavior = .approveAll, eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) async throws -> StandInSwitch {
        guard let spec = MessageSpec.builtin("dcswitch-1987") else { throw LoadGenerator.RunError("the dcswitch-1987 spec is missing") }
        let counters = NIOLockedValueBox(Counters())
        let sequence = NIOLockedValueBox<UInt64>(0)
        let server = try await ISO8583Server.start(
            configuration: .init(host: host, port: port, name: "stand-in-switch"),
            codec: ISO8583LinkCodec(spec: spec),
            eventLoopGroup: eventLoopGroup,
            logger: logger
        ) { request, context in
            let n = sequence.withLockedValue { value -> UInt64 in
                value &+= 1
                return value
            }
            // A fixed pseudo-random draw per request (deterministic for a given order of arrival).
            let draw = Double(LoadRandom.mix(n) >> 11) * 0x1.0p-53
            var fate = Fate.approve
            if draw < behavior.dropFraction {
                fate = .drop
            } else if draw < behavior.dropFraction + behavior.declineFraction {
                fate = .decline
            } else if draw < behavior.dropFraction + behavior.declineFraction + behavior.delayFraction {
                fate = .delay
            }
            let response = fate == .drop ? nil : Self.answer(to: request, approve: fate != .decline, declineCode: behavior.declineCode, sequence: n)
            counters.withLockedValue { c in
                c.requests += 1
                if let flow = Self.flowName(request) { c.flows[flow, default: 0] += 1 }
                switch fate {
                case .drop: c.dropped += 1
                case .decline: c.declined += 1
                case .delay:
                    c.delayed += 1
                    c.approved += 1
                case .approve: c.approved += 1
                }
                if let response, fate != .decline { c.ownerChangeRecords += ResponseSummary(response: response).ownerChangeRecords }
            }
            var delay = behavior.fixedDelay
            if fate == .delay { delay = delay + behavior.delay }
            if fate == .drop {
                return context.eventLoop.makeSucceededFuture(nil)
            }
            if delay == .zero {
                return context.eventLoop.makeSucceededFuture(response)
            }
            return context.eventLoop.scheduleTask(in: delay) { response }.futureResult
        }.get()
        return StandInSwitch(server: server, counters: counters)
    }

    enum Fate { case approve, decline, delay, drop }

    /// DE 124.13 of a request.
    static func flowName(_ request: ISO8583Message) -> String? {
        var name: String?
        _ = request.withASCIIBytes(of: 124) { bytes in
            ResponseSummary.scanDE124(bytes) { tag, value in
                if tag == 13 { name = String(decoding: value, as: UTF8.self) }
            }
        }
        return name
    }

    /// The answer the switch would give: approved with coin lists, or declined with `declineCode`.
    static func answer(to request: ISO8583Message, approve: Bool, declineCode: String, sequence: UInt64) -> ISO8583Message {
        var response = request.makeResponse(responseCode: approve ? "00" : declineCode)
        let flow = Self.flowName(request) ?? ""
        var tlv = TLVText(lengthDigits: 3)
        if approve {
            response[38] = RequestBuilder.zeroPadded(sequence % 1_000_000, width: 6)
            let id = NonceSource.hex16(LoadRandom.mix(sequence ^ 0xD5))
            if flow == "account-open" {
                let bank = request[100] ?? "00000000000"
                response[102] = "DC" + bank + String(repeating: "0", count: 24) + id
                tlv.append("01", "04" + String(repeating: "AB", count: 64))
                tlv.append("05", "TX" + id)
            } else {
                // One spent coin retired, a coin for the payee and change for the payer; every third one moved whole.
                let coin = "C" + id
                tlv.append("03", sequence % 3 == 0 ? coin + ":" + (request[4] ?? "0") + ":T" : coin + ":10000:R")
                tlv.append("05", "TX" + id)
                if sequence % 3 != 0 {
                    tlv.append("11", coin + "P:" + (request[4] ?? "0") + ":P;" + coin + "C:1:C")
                }
            }
        }
        tlv.append("13", flow)
        response[124] = tlv.text
        return response
    }

    /// Stops listening and closes every connection.
    public func close() async throws {
        try await self.server.close().get()
    }
}

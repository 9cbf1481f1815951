import ISO8583
import ISO8583Network

/// One proxied connection as the recorder sees it: every decoded frame in either direction, paired into exchanges.
///
/// A plain value with no I/O, fed by ``RecordingProxy`` as frames pass. Requests are paired with responses the way
/// the links match them (``ISO8583LinkCodec/matchKey(of:)``: the response MTI + DE 41 + DE 11, + DE 37 where
/// present); a response that carries less than its request (a format-error answer without DE 37, say) falls back to
/// the response MTI and DE 11, and one without DE 11 to the oldest request waiting for that MTI.
///
/// What becomes a fixture step: each request the client sent, in the order it sent them, with its response.
/// Network management (0800/0810: sign-on, echo test, sign-off) is paired but not recorded — replay signs on by
/// itself on every fixture's connection — except that it decides the fixture's `signOn`. Requests the target sent
/// (its own echo tests) are paired and counted, not recorded: a fixture cannot express them.
public struct SessionCapture: Sendable {
    /// Which way a frame went.
    public enum Direction: String, Sendable {
        case clientToTarget = "client → target"
        case targetToClient = "target → client"
    }

    /// A request the client sent and, once it came, its response.
    public struct Exchange: Sendable {
        public var request: ReplayFrame
        public var response: ReplayFrame?
    }

    /// A frame forwarded but recorded nowhere, and why.
    public struct Note: Sendable, CustomStringConvertible {
        public var direction: Direction
        public var reason: String
        public var description: String { "\(self.direction.rawValue): \(self.reason)" }
    }

    /// A request waiting for its response.
    private struct Pending {
        var key: LinkMatchKey?
        /// The MTI of the response that completes it, as a decimal number (0210 → 210).
        var responseMTI: UInt16
        var stan: UInt32?
        /// Its index in ``exchanges``; `nil` for network management and requests of the target.
        var exchange: Int?
        var isSignOn: Bool
    }

    let codec: ISO8583LinkCodec
    /// The client's requests, in the order sent.
    public private(set) var exchanges: [Exchange] = []
    /// Whether the client signed on (0800 DE 70 = 001) before its first request, and the target did not decline it.
    /// The sign-on need not be answered yet when the first request goes out.
    public var signedOnFirst: Bool { self.signOnBeforeFirstRequest && !self.signOnDeclined }
    private var signOnSent = false
    private var signOnBeforeFirstRequest = false
    private var signOnDeclined = false
    /// Network-management exchanges, either way: forwarded, not recorded.
    public private(set) var networkManagement = 0
    /// Requests the target sent (other than network management): forwarded, not recorded.
    public private(set) var targetRequests = 0
    /// Frames that decode with the spec not even leniently.
    public private(set) var undecodable: [Note] = []
    /// Responses that answer no request in flight.
    public private(set) var unmatchedResponses: [Note] = []
    /// Messages that expect no response (advices without answers, notifications): forwarded, not recorded.
    public private(set) var unpaired: [Note] = []
    /// A length prefix that could not be read: from there on that direction is forwarded but no longer decoded.
    public private(set) var framingErrors: [Note] = []
    private var pendingFromClient: [Pending] = []
    private var pendingFromTarget: [Pending] = []

    public init(spec: MessageSpec) {
        self.codec = ISO8583LinkCodec(spec: spec)
    }

    /// The client's requests that got no response.
    public var unanswered: [Exchange] {
        self.exchanges.filter { $0.response == nil }
    }

    /// The answered exchanges: what a fixture records.
    public var answered: [Exchange] {
        self.exchanges.filter { $0.response != nil }
    }

    /// Takes one frame that passed.
    public mutating func receive(_ frame: ReplayFrame, from direction: Direction) {
        guard let message = frame.message else {
            let reason = frame.lenientError.map { "\($0)" } ?? "unreadable"
            self.undecodable.append(Note(direction: direction, reason: "\(frame.bytes.count) bytes that do not decode with \(self.codec.spec.name): \(reason)"))
            return
        }
        if message.mti.isResponse {
            self.respond(frame, message: message, from: direction)
        } else if message.mti.expectsResponse {
            self.request(frame, message: message, from: direction)
        } else {
            self.unpaired.append(Note(direction: direction, reason: "an \(message.mti) expects no response: not recorded"))
        }
    }

    /// Notes that `direction` can no longer be split into frames.
    public mutating func framingLost(_ direction: Direction, _ detail: String) {
        self.framingErrors.append(Note(direction: direction, reason: "framing lost, the rest is forwarded undecoded: \(detail)"))
    }

    private mutating func request(_ frame: ReplayFrame, message: ISO8583Message, from direction: Direction) {
        var pending = Pending(
            key: self.codec.matchKey(of: message), responseMTI: LinkMatchKey.responseMTI(forRequest: message.mti.value),
            stan: message.numericValue(11).map { UInt32(truncatingIfNeeded: $0) }, exchange: nil, isSignOn: false
        )
        switch (self.codec.kind(of: message), direction) {
        case (.networkManagementRequest(let code, _), _):
            pending.isSignOn = code == .signOn && direction == .clientToTarget
            if pending.isSignOn { self.signOnSent = true }
        case (_, .clientToTarget):
            if self.exchanges.isEmpty { self.signOnBeforeFirstRequest = self.signOnSent }
            pending.exchange = self.exchanges.count
            self.exchanges.append(Exchange(request: frame))
        case (_, .targetToClient):
            self.targetRequests += 1
        }
        switch direction {
        case .clientToTarget: self.pendingFromClient.append(pending)
        case .targetToClient: self.pendingFromTarget.append(pending)
        }
    }

    private mutating func respond(_ frame: ReplayFrame, message: ISO8583Message, from direction: Direction) {
        let key = self.codec.matchKey(of: message)
        let mti = LinkMatchKey(responseMTI: message.mti.value, terminalID: nil, stan: 0).responseMTI
        let stan = message.numericValue(11).map { UInt32(truncatingIfNeeded: $0) }
        let pendings = direction == .targetToClient ? self.pendingFromClient : self.pendingFromTarget
        let found = pendings.firstIndex { key != nil && $0.key == key }
            ?? pendings.firstIndex { $0.responseMTI == mti && stan != nil && $0.stan == stan }
            ?? (stan == nil ? pendings.firstIndex { $0.responseMTI == mti } : nil)
        guard let found else {
            self.unmatchedResponses.append(Note(direction: direction, reason: "an \(message.mti)\(message[11].map { " with STAN \($0)" } ?? "") answers no request in flight"))
            return
        }
        let pending: Pending
        switch direction {
        case .targetToClient: pending = self.pendingFromClient.remove(at: found)
        case .clientToTarget: pending = self.pendingFromTarget.remove(at: found)
        }
        if let index = pending.exchange {
            self.exchanges[index].response = frame
        } else if message.mti.messageClass == 8 {
            self.networkManagement += 1
            if pending.isSignOn, case .networkManagementResponse(_, _, approved: false) = self.codec.kind(of: message) {
                self.signOnDeclined = true
            }
        }
    }
}

extension SessionCapture.Exchange {
    /// `0200 STAN 000123`, for reports (no card data).
    public var label: String {
        guard let message = self.request.message else { return "\(self.request.bytes.count) bytes" }
        return "\(message.mti)" + (message[11].map { " STAN \($0)" } ?? "") + (message[41].map { " terminal \($0)" } ?? "")
    }
}

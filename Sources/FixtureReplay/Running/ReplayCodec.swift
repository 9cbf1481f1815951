import ISO8583
import ISO8583Network
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// One message on a replay link: the bytes as sent or received, and what they decode to.
public struct ReplayFrame: Sendable {
    /// The message: strictly decoded, or leniently when ``strictError`` is set; `nil` when nothing decodes.
    public var message: ISO8583Message?
    /// The bytes, without framing.
    public var bytes: [UInt8]
    /// Why the bytes do not decode strictly (what the switch itself would refuse).
    public var strictError: ISO8583Error?
    /// Why the bytes do not decode at all.
    public var lenientError: ISO8583Error?

    public init(message: ISO8583Message?, bytes: [UInt8], strictError: ISO8583Error? = nil, lenientError: ISO8583Error? = nil) {
        self.message = message
        self.bytes = bytes
        self.strictError = strictError
        self.lenientError = lenientError
    }

    /// Decodes `payload` (one frame's message bytes) strictly, else leniently, else not at all: never throws, so
    /// whatever came can be reported.
    public init(decoding payload: ByteBuffer, spec: MessageSpec) {
        let bytes = Array(payload.readableBytesView)
        do {
            self.init(message: try spec.decode(payload, options: .strict), bytes: bytes)
        } catch {
            do {
                let lenient = try spec.decode(payload, options: DecodeOptions(contentValidation: .lenient, allowTrailingBytes: true))
                self.init(message: lenient, bytes: bytes, strictError: error)
            } catch let lenientError {
                self.init(message: nil, bytes: bytes, strictError: error, lenientError: lenientError)
            }
        }
    }
}

/// The codec of a replay link: one exchange at a time, so the next response answers the request in flight
/// whatever fields it carries (a format-error answer may have no STAN to match on); bytes are sent exactly as
/// the step built them (a malformed request stays malformed); responses that do not decode are delivered, not
/// dropped, so the step can report them. While no step is in flight, 0810s go to the link's own sign-on and
/// sign-off.
struct ReplayCodec: LinkMessageCodec {
    typealias Message = ReplayFrame

    let spec: MessageSpec
    /// Whether a step's request is in flight.
    let inFlight: NIOLockedValueBox<Bool>
    private let management: ISO8583LinkCodec
    /// Every exchange has this key: the link holds one request at a time.
    private static let key = LinkMatchKey(responseMTI: 0, terminalID: nil, stan: 0)

    init(spec: MessageSpec, inFlight: NIOLockedValueBox<Bool>) {
        self.spec = spec
        self.inFlight = inFlight
        self.management = ISO8583LinkCodec(spec: spec)
    }

    func decode(_ payload: ByteBuffer) throws -> ReplayFrame {
        ReplayFrame(decoding: payload, spec: self.spec)
    }

    func encode(_ frame: ReplayFrame, into buffer: inout ByteBuffer) throws {
        if frame.bytes.isEmpty, let message = frame.message {
            try self.spec.encode(message, into: &buffer)
        } else {
            buffer.writeBytes(frame.bytes)
        }
    }

    func kind(of frame: ReplayFrame) -> LinkMessageKind {
        guard let message = frame.message else { return .response }
        if message.mti.messageClass == 8, !message.mti.isResponse {
            // The host's own echo or sign-off: the link answers it.
            return self.management.kind(of: message)
        }
        if message.mti.messageClass == 8, !self.inFlight.withLockedValue({ $0 }) {
            return self.management.kind(of: message)
        }
        return message.mti.isResponse || !message.mti.expectsResponse ? .response : .request
    }

    func matchKey(of frame: ReplayFrame) -> LinkMatchKey? {
        Self.key
    }

    func makeNetworkManagementRequest(_ code: NetworkManagementCode, stan: UInt32) -> ReplayFrame {
        ReplayFrame(message: self.management.makeNetworkManagementRequest(code, stan: stan), bytes: [])
    }

    func makeNetworkManagementResponse(to request: ReplayFrame, approved: Bool) -> ReplayFrame {
        let message = request.message.map { self.management.makeNetworkManagementResponse(to: $0, approved: approved) }
        return ReplayFrame(message: message, bytes: [])
    }

    func formatErrorResponse(to payload: ByteBuffer, error: any Error) -> ReplayFrame? {
        nil
    }

    func logMetadata(of frame: ReplayFrame) -> Logger.Metadata {
        frame.message.map { self.management.logMetadata(of: $0) } ?? [:]
    }
}

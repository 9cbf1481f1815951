import ISO8583Network
import Logging
import NIOCore

/// A tiny text message format standing in for ISO 8583 in these tests:
/// `MTI|STAN|TERMINAL|NMIC|RC|BODY`, for example `0200|000001|TERM0001|||hello`.
struct FakeMessage: Hashable, Sendable {
    var mti: UInt16
    var stan: UInt32
    var terminal: String?
    var networkCode: UInt16?
    var responseCode: String?
    var body: String

    init(
        mti: UInt16,
        stan: UInt32,
        terminal: String? = nil,
        networkCode: UInt16? = nil,
        responseCode: String? = nil,
        body: String = ""
    ) {
        self.mti = mti
        self.stan = stan
        self.terminal = terminal
        self.networkCode = networkCode
        self.responseCode = responseCode
        self.body = body
    }

    /// The response to this request: MTI + 10, same STAN and terminal.
    func response(code: String = "00", body: String? = nil) -> FakeMessage {
        FakeMessage(
            mti: LinkMatchKey.responseMTI(forRequest: self.mti),
            stan: self.stan,
            terminal: self.terminal,
            networkCode: self.networkCode,
            responseCode: code,
            body: body ?? self.body
        )
    }

    var wire: String {
        [
            formatted(self.mti, 4), formatted(self.stan, 6), self.terminal ?? "",
            self.networkCode.map { formatted($0, 3) } ?? "", self.responseCode ?? "", self.body,
        ].joined(separator: "|")
    }
}

struct FakeCodecError: Error, Hashable {
    var reason: String
}

/// Implements ``LinkMessageCodec`` for ``FakeMessage``.
struct FakeCodec: LinkMessageCodec {
    /// Whether undecodable frames are answered (`9999|...|30|`) or dropped.
    var answersFormatErrors = true
    /// Whether requests refused before sign-on get an answer with response code `NS`.
    var answersRejections = true
    /// Treat echo tests as ordinary requests (so the server hands them to the application, which
    /// can leave them unanswered): simulates a peer that ignores echo tests.
    var echoTestIsOrdinaryRequest = false

    func decode(_ payload: ByteBuffer) throws -> FakeMessage {
        let text = String(buffer: payload)
        let parts = text.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 6 else { throw FakeCodecError(reason: "expected 6 fields, found \(parts.count)") }
        guard parts[0].utf8.count == 4, let mti = UInt16(parts[0]) else {
            throw FakeCodecError(reason: "bad MTI")
        }
        guard let stan = UInt32(parts[1]) else { throw FakeCodecError(reason: "bad STAN") }
        return FakeMessage(
            mti: mti,
            stan: stan,
            terminal: parts[2].isEmpty ? nil : String(parts[2]),
            networkCode: parts[3].isEmpty ? nil : UInt16(parts[3]),
            responseCode: parts[4].isEmpty ? nil : String(parts[4]),
            body: String(parts[5])
        )
    }

    func encode(_ message: FakeMessage, into buffer: inout ByteBuffer) throws {
        if message.body == "UNENCODABLE" { throw FakeCodecError(reason: "unencodable") }
        buffer.writeString(message.wire)
    }

    func kind(of message: FakeMessage) -> LinkMessageKind {
        let isResponse = (message.mti / 10) % 2 == 1
        if message.mti % 1000 / 100 == 8, let code = message.networkCode {
            let code = NetworkManagementCode(rawValue: code)
            if self.echoTestIsOrdinaryRequest, code == .echoTest, !isResponse {
                return .request
            }
            return isResponse
                ? .networkManagementResponse(code, stan: message.stan, approved: message.responseCode == "00")
                : .networkManagementRequest(code, stan: message.stan)
        }
        return isResponse ? .response : .request
    }

    func matchKey(of message: FakeMessage) -> LinkMatchKey? {
        let isResponse = (message.mti / 10) % 2 == 1
        return isResponse
            ? LinkMatchKey(responseMTI: message.mti, terminalID: message.terminal, stan: message.stan)
            : LinkMatchKey(requestMTI: message.mti, terminalID: message.terminal, stan: message.stan)
    }

    func makeNetworkManagementRequest(_ code: NetworkManagementCode, stan: UInt32) -> FakeMessage {
        FakeMessage(mti: 800, stan: stan, networkCode: code.rawValue)
    }

    func makeNetworkManagementResponse(to request: FakeMessage, approved: Bool) -> FakeMessage {
        request.response(code: approved ? "00" : "05")
    }

    func formatErrorResponse(to payload: ByteBuffer, error: any Error) -> FakeMessage? {
        guard self.answersFormatErrors else { return nil }
        return FakeMessage(mti: 9999, stan: 0, responseCode: "30", body: "format error")
    }

    func rejectionResponse(to request: FakeMessage, reason: LinkRejectionReason) -> FakeMessage? {
        self.answersRejections ? request.response(code: "NS") : nil
    }
}

private func formatted<T: BinaryInteger>(_ value: T, _ width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}

extension ByteBuffer {
    /// A frame of `message` with the default framing.
    static func frame(_ message: FakeMessage, framing: ISO8583Framing = .default, tpdu: TPDU? = nil) -> ByteBuffer {
        var buffer = ByteBuffer()
        try! buffer.writeISO8583Frame(framing, tpdu: tpdu) { $0.writeString(message.wire) }
        return buffer
    }

    /// A frame with raw `text` as the message.
    static func frame(text: String, framing: ISO8583Framing = .default, tpdu: TPDU? = nil) -> ByteBuffer {
        var buffer = ByteBuffer()
        try! buffer.writeISO8583Frame(framing, tpdu: tpdu) { $0.writeString(text) }
        return buffer
    }
}

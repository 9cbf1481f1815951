import ISO8583
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The ISO 8583 codec as links use it: decodes strictly with a spec, matches responses by MTI class + DE 41 +
/// DE 11 (+ DE 37), answers network management, and turns undecodable frames into DE 39 = 30 answers.
public struct ISO8583LinkCodec: LinkMessageCodec {
    public typealias Message = ISO8583Message

    public let spec: MessageSpec
    /// Whether DE 37 is part of the match key when present (the default).
    public var matchesRetrievalReference: Bool

    public init(spec: MessageSpec, matchesRetrievalReference: Bool = true) {
        self.spec = spec
        self.matchesRetrievalReference = matchesRetrievalReference
    }

    public func decode(_ payload: ByteBuffer) throws -> ISO8583Message {
        try self.spec.decode(payload, options: .strict)
    }

    public func encode(_ message: ISO8583Message, into buffer: inout ByteBuffer) throws {
        try self.spec.encode(message, into: &buffer)
    }

    public func kind(of message: ISO8583Message) -> LinkMessageKind {
        let mti = message.mti
        if mti.messageClass == 8 {
            let code = NetworkManagementCode(rawValue: UInt16(truncatingIfNeeded: message.numericValue(70) ?? 0))
            let stan = UInt32(truncatingIfNeeded: message.numericValue(11) ?? 0)
            if mti.isResponse {
                return .networkManagementResponse(code, stan: stan, approved: message.withASCIIBytes(of: 39, { $0.elementsEqual("00".utf8) }) ?? false)
            }
            return .networkManagementRequest(code, stan: stan)
        }
        return mti.isResponse ? .response : .request
    }

    public func matchKey(of message: ISO8583Message) -> LinkMatchKey? {
        guard let stan = message.numericValue(11) else { return nil }
        let terminal = message[41]
        let rrn = self.matchesRetrievalReference ? message[37] : nil
        if message.mti.isResponse {
            return LinkMatchKey(responseMTI: message.mti.value, terminalID: terminal, stan: UInt32(truncatingIfNeeded: stan), retrievalReference: rrn)
        }
        return LinkMatchKey(requestMTI: message.mti.value, terminalID: terminal, stan: UInt32(truncatingIfNeeded: stan), retrievalReference: rrn)
    }

    public func makeNetworkManagementRequest(_ code: NetworkManagementCode, stan: UInt32) -> ISO8583Message {
        var message = ISO8583Message(mti: .networkManagementRequest, capacity: 64)
        message[7] = Self.transmissionDateTime()
        message[11] = Self.digits(Int(stan % 1_000_000), width: 6)
        message[70] = code.description
        return message
    }

    public func makeNetworkManagementResponse(to request: ISO8583Message, approved: Bool) -> ISO8583Message {
        var response = ISO8583Message(mti: request.mti.response, capacity: 64)
        for number in [7, 11, 70] {
            if let value = request[number] { response[number] = value }
        }
        response[39] = approved ? "00" : "91"
        return response
    }

    /// Answers an undecodable request with DE 39 = 30, echoing what can still be read (MTI, DE 11, 37, 41).
    /// Echoed fields that break the spec (often the very reason for the format error) are left out, so that the
    /// answer can be encoded.
    public func formatErrorResponse(to payload: ByteBuffer, error: any Error) -> ISO8583Message? {
        if let message = try? self.spec.decode(payload, options: DecodeOptions(contentValidation: .lenient, allowTrailingBytes: true)) {
            guard message.mti.expectsResponse else { return nil }
            var response = message.makeResponse(responseCode: "30")
            do throws(ISO8583Error) {
                _ = try self.spec.encode(response)
            } catch {
                for failure in error.errors.isEmpty ? [error] : error.errors {
                    guard let number = failure.field.flatMap({ Int($0.prefix(while: \.isNumber)) }), number != 39 else { continue }
                    response.remove(number)
                }
            }
            return response
        }
        // Nothing decodes: answer with what the MTI says, if it is readable.
        guard payload.readableBytes >= 4, let text = payload.getString(at: payload.readerIndex, length: 4), let mti = MTI(text), mti.expectsResponse else {
            return nil
        }
        var response = ISO8583Message(mti: mti.response, capacity: 32)
        response[39] = "30"
        return response
    }

    public func rejectionResponse(to request: ISO8583Message, reason: LinkRejectionReason) -> ISO8583Message? {
        guard request.mti.expectsResponse else { return nil }
        return request.makeResponse(responseCode: "91")
    }

    public func logMetadata(of message: ISO8583Message) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["iso.mti": .string(message.mti.description)]
        if let stan = message[11] { metadata["iso.stan"] = .string(stan) }
        if let rc = message[39] { metadata["iso.rc"] = .string(rc) }
        return metadata
    }

    /// DE 7 for now, `MMDDhhmmss` in UTC, without Foundation formatting.
    public static func transmissionDateTime(nanosecondsSinceEpoch: Int64 = UTCClock.nowNanoseconds()) -> String {
        let parts = UTCClock.calendarParts(nanosecondsSinceEpoch: nanosecondsSinceEpoch)
        return digits(parts.month, width: 2) + digits(parts.day, width: 2) + digits(parts.hour, width: 2)
            + digits(parts.minute, width: 2) + digits(parts.second, width: 2)
    }

    public static func digits(_ value: Int, width: Int) -> String {
        let text = String(value)
        return text.utf8.count >= width ? text : String(repeating: "0", count: width - text.utf8.count) + text
    }
}

/// Wall-clock time and its calendar fields in UTC, without Foundation.
public enum UTCClock {
    public static func nowNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    public struct Parts: Hashable, Sendable {
        public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int
    }

    /// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    public static func calendarParts(nanosecondsSinceEpoch: Int64) -> Parts {
        let seconds = nanosecondsSinceEpoch / 1_000_000_000
        let days = Int(seconds / 86_400)
        let rest = Int(seconds % 86_400)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return Parts(year: year, month: month, day: day, hour: rest / 3600, minute: rest / 60 % 60, second: rest % 60)
    }
}

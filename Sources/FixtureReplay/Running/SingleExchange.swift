import ISO8583
import ISO8583Network
import Logging
import NIOCore

/// One request and its answer on a connection of its own: connect, sign on, send, wait for the next message from the
/// host, sign off. Any message goes, network management included (an 0800 echo gets its 0810 back to the caller,
/// where a switch link would take it as its own traffic). `dcswitch send` uses it.
public enum SingleExchange {
    /// Why there is no answer.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Sends `message` to `host:port` and returns the host's answer.
    ///
    /// - Throws: ``Failure`` when the host cannot be reached or signed on to within `timeout` seconds, does not answer
    ///   within `timeout` seconds, or answers with bytes `spec` cannot decode.
    public static func send(
        _ message: ISO8583Message, spec: MessageSpec, host: String, port: Int, framing: ISO8583Framing.LengthPrefix = .binary2,
        timeout: Double, eventLoopGroup: any EventLoopGroup, logger: Logger
    ) async throws(Failure) -> ISO8583Message {
        let bytes: [UInt8]
        do {
            let buffer = try spec.encode(message)
            bytes = Array(buffer.readableBytesView)
        } catch {
            throw Failure(description: "the message does not encode with \(spec.name): \(error)")
        }
        let session: ReplaySession
        do {
            session = try await ReplaySession.open(
                host: host, port: port, spec: spec, framing: ISO8583Framing(lengthPrefix: framing), signOn: true,
                timeout: timeout, eventLoopGroup: eventLoopGroup, logger: logger
            )
        } catch {
            throw Failure(description: error.message)
        }
        let outcome = await session.exchange(BuiltRequest(message: message, bytes: bytes), timeout: timeout)
        await session.close()
        switch outcome {
        case .response(let frame):
            guard let answer = frame.message else {
                throw Failure(description: "the answer does not decode with \(spec.name): \(frame.strictError.map { "\($0)" } ?? "unreadable")")
            }
            return answer
        case .timeout:
            throw Failure(description: "no answer within \(ReplaySession.seconds(timeout))")
        case .failed(let reason):
            throw Failure(description: reason)
        }
    }
}

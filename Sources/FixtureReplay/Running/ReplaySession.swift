import ISO8583
import ISO8583Network
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// One fixture's connection to the host: an ``ISO8583Link`` with the replay codec, one exchange at a time.
final class ReplaySession: Sendable {
    /// How an exchange ended.
    enum Outcome: Sendable {
        case response(ReplayFrame)
        case timeout
        case failed(String)
    }

    let link: ISO8583Link<ReplayCodec>
    private let inFlight: NIOLockedValueBox<Bool>

    private init(link: ISO8583Link<ReplayCodec>, inFlight: NIOLockedValueBox<Bool>) {
        self.link = link
        self.inFlight = inFlight
    }

    /// Connects (and signs on when `signOn`), waiting at most `timeout` seconds.
    static func open(
        host: String, port: Int, spec: MessageSpec, framing: ISO8583Framing, signOn: Bool, timeout: Double,
        eventLoopGroup: any EventLoopGroup, logger: Logger
    ) async throws(ReplayConnectionError) -> ReplaySession {
        let inFlight = NIOLockedValueBox(false)
        let amount = TimeAmount.nanoseconds(Int64(timeout * 1_000_000_000))
        let link = ISO8583Link(
            configuration: .init(
                host: host, port: port, name: "replay", framing: framing, requestTimeout: amount, connectTimeout: amount,
                stateMachine: .init(
                    requiresSignOn: signOn, networkResponseTimeout: amount, echoInterval: nil,
                    backoff: ReconnectBackoff(initialDelay: .milliseconds(100), maximumDelay: .seconds(1))
                )
            ),
            codec: ReplayCodec(spec: spec, inFlight: inFlight), eventLoopGroup: eventLoopGroup, logger: logger
        )
        link.start()
        let ready: Bool
        do {
            ready = try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask { try await link.waitForSignOn().get(); return true }
                group.addTask { try await Task.sleep(nanoseconds: UInt64(timeout * 1_000_000_000)); return false }
                let first = try await group.next() ?? false
                group.cancelAll()
                if !first {
                    // Fails the sign-on waiter, so that the group can finish.
                    _ = try? await link.shutdown().get()
                }
                return first
            }
        } catch {
            ready = false
        }
        guard ready else {
            let statistics = link.statistics
            _ = try? await link.shutdown().get()
            if statistics.connections == 0 {
                throw ReplayConnectionError(
                    message: "cannot connect to \(host):\(port) within \(Self.seconds(timeout)) (\(statistics.connectFailures) attempts)", unreachable: true
                )
            }
            throw ReplayConnectionError(
                message: "connected to \(host):\(port) but the sign-on (0800, DE 70 = 001) was not approved within \(Self.seconds(timeout))", unreachable: false
            )
        }
        return ReplaySession(link: link, inFlight: inFlight)
    }

    /// Whether the connection is up and signed on (when the session signs on).
    var isUsable: Bool { self.link.state == .signedOn }

    /// Sends `request` and waits for the next response, at most `timeout` seconds.
    func exchange(_ request: BuiltRequest, timeout: Double) async -> Outcome {
        self.inFlight.withLockedValue { $0 = true }
        defer { self.inFlight.withLockedValue { $0 = false } }
        let frame = ReplayFrame(message: request.message, bytes: request.bytes)
        do {
            return .response(try await self.link.send(frame, timeout: .nanoseconds(Int64(timeout * 1_000_000_000))).get())
        } catch let error as ISO8583NetworkError where error.code == .timeout {
            return .timeout
        } catch let error as ISO8583NetworkError {
            switch error.code {
            case .connectionClosed: return .failed("the host closed the connection before answering")
            case .notSignedOn: return .failed("the link is not signed on (the connection was lost)")
            default: return .failed("\(error)")
            }
        } catch {
            return .failed("\(error)")
        }
    }

    /// Signs off and closes.
    func close() async {
        _ = try? await self.link.shutdown().get()
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }
}

/// The session could not start.
struct ReplayConnectionError: Error, CustomStringConvertible {
    var message: String
    /// No TCP connection could be made at all.
    var unreachable: Bool
    var description: String { self.message }
}

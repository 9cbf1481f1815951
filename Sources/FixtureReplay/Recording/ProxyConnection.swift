import ISO8583
import NIOConcurrencyHelpers
import NIOCore

/// One client connection through the ``RecordingProxy`` and its connection to the target: what passed, in order,
/// until both are closed.
final class ProxyConnection: Sendable {
    /// What the handlers saw, in the order they saw it.
    enum Event: Sendable {
        /// One frame's message bytes (no prefix).
        case frame(SessionCapture.Direction, ByteBuffer)
        case framingLost(SessionCapture.Direction, String)
    }

    private struct State {
        var events: [Event] = []
        var openSides = 2
        var client: (any Channel)?
        var target: (any Channel)?
    }

    /// 1, 2, … in the order the proxy accepted the connections.
    let number: Int
    /// The client's address, for the fixture's description and the report.
    let clientAddress: String
    private let state = NIOLockedValueBox(State())
    /// Called once, when both sides are closed, with everything that passed.
    private let finished: @Sendable (ProxyConnection, [Event]) -> Void

    init(number: Int, clientAddress: String, finished: @escaping @Sendable (ProxyConnection, [Event]) -> Void) {
        self.number = number
        self.clientAddress = clientAddress
        self.finished = finished
    }

    func attach(client: any Channel, target: any Channel) {
        self.state.withLockedValue {
            $0.client = client
            $0.target = target
        }
    }

    func append(_ event: Event) {
        self.state.withLockedValue { $0.events.append(event) }
    }

    /// One side closed; the second call hands the events on.
    func sideClosed() {
        let events: [Event]? = self.state.withLockedValue { state in
            state.openSides -= 1
            guard state.openSides == 0 else { return nil }
            defer { state.events = [] }
            return state.events
        }
        if let events { self.finished(self, events) }
    }

    /// Closes both sides (the proxy is stopping).
    func close() {
        let channels = self.state.withLockedValue { [$0.client, $0.target] }
        for channel in channels { channel?.close(promise: nil) }
    }

    /// What passed, paired into exchanges.
    static func capture(_ events: [Event], spec: MessageSpec) -> SessionCapture {
        var capture = SessionCapture(spec: spec)
        for event in events {
            switch event {
            case .frame(let direction, let payload):
                capture.receive(ReplayFrame(decoding: payload, spec: spec), from: direction)
            case .framingLost(let direction, let detail):
                capture.framingLost(direction, detail)
            }
        }
        return capture
    }
}

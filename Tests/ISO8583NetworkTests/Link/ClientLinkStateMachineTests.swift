import NIOCore
import Testing

@testable import ISO8583Network

@Suite("Client link state machine")
struct ClientLinkStateMachineTests {
    typealias Action = ClientLinkStateMachine.Action

    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    func at(_ milliseconds: Int64) -> NIODeadline {
        self.t0 + .milliseconds(milliseconds)
    }

    func configuration(
        requiresSignOn: Bool = true,
        echoInterval: TimeAmount? = .seconds(60),
        maximumMissedEchoes: Int = 3,
        backoff: ReconnectBackoff = ReconnectBackoff(initialDelay: .milliseconds(100), maximumDelay: .seconds(2))
    ) -> ClientLinkStateMachine.Configuration {
        .init(
            requiresSignOn: requiresSignOn,
            networkResponseTimeout: .seconds(10),
            echoInterval: echoInterval,
            maximumMissedEchoes: maximumMissedEchoes,
            backoff: backoff,
            jitterSeed: 42
        )
    }

    /// Drives a fresh machine to `signedOn` at `t0`; the sign-on used STAN 1.
    func signedOnMachine(
        _ configuration: ClientLinkStateMachine.Configuration? = nil
    ) -> ClientLinkStateMachine {
        var machine = ClientLinkStateMachine(configuration: configuration ?? self.configuration())
        #expect(machine.start() == .connect)
        #expect(machine.connected(now: self.t0) == .sendNetworkRequest(.signOn, stan: 1))
        #expect(machine.networkResponseReceived(.signOn, stan: 1, approved: true, now: self.t0) == .signedOn)
        #expect(machine.linkState == .signedOn)
        return machine
    }

    @Test("connect, sign on with 0800/001, carry traffic only once the 0810 approves")
    func signOn() {
        var machine = ClientLinkStateMachine(configuration: self.configuration())
        #expect(machine.linkState == .idle)
        #expect(!machine.canSendTraffic)
        #expect(machine.start() == .connect)
        #expect(machine.start() == .none)
        #expect(machine.linkState == .connecting)
        #expect(!machine.canSendTraffic)
        #expect(machine.connected(now: self.t0) == .sendNetworkRequest(.signOn, stan: 1))
        #expect(machine.linkState == .signingOn)
        #expect(!machine.canSendTraffic)
        #expect(machine.nextDeadline == self.at(10_000))
        // Wrong code or STAN: ignored.
        #expect(machine.networkResponseReceived(.echoTest, stan: 1, approved: true, now: self.at(1)) == .none)
        #expect(machine.networkResponseReceived(.signOn, stan: 99, approved: true, now: self.at(1)) == .none)
        #expect(machine.linkState == .signingOn)
        #expect(machine.networkResponseReceived(.signOn, stan: 1, approved: true, now: self.at(2)) == .signedOn)
        #expect(machine.canSendTraffic)
        #expect(machine.nextDeadline == self.at(2) + .seconds(60))
    }

    @Test("a link without sign-on carries traffic as soon as it is connected")
    func noSignOn() {
        var machine = ClientLinkStateMachine(configuration: self.configuration(requiresSignOn: false))
        #expect(machine.start() == .connect)
        #expect(machine.connected(now: self.t0) == .signedOn)
        #expect(machine.canSendTraffic)
    }

    @Test("a declined sign-on closes and reconnects after the backoff")
    func declined() {
        var machine = ClientLinkStateMachine(configuration: self.configuration())
        _ = machine.start()
        _ = machine.connected(now: self.t0)
        let action = machine.networkResponseReceived(.signOn, stan: 1, approved: false, now: self.at(5))
        guard case .closeConnection(let reason) = action else {
            Issue.record("expected closeConnection, got \(action)")
            return
        }
        #expect(reason.code == .signOnFailed)
        #expect(machine.linkState == .closing)
        #expect(!machine.canSendTraffic)
        #expect(machine.disconnected(now: self.at(6)) == .scheduleReconnect(delay: .milliseconds(100), attempt: 1))
        #expect(machine.linkState == .waitingToReconnect)
        #expect(machine.nextDeadline == self.at(106))
        #expect(machine.timerFired(now: self.at(105)) == .none)
        #expect(machine.timerFired(now: self.at(106)) == .connect)
        #expect(machine.connected(now: self.at(110)) == .sendNetworkRequest(.signOn, stan: 2))
    }

    @Test("an unanswered sign-on times out, closes and backs off")
    func signOnTimeout() {
        var machine = ClientLinkStateMachine(configuration: self.configuration())
        _ = machine.start()
        _ = machine.connected(now: self.t0)
        #expect(machine.timerFired(now: self.at(9_999)) == .none)
        guard case .closeConnection(let reason) = machine.timerFired(now: self.at(10_000)) else {
            Issue.record("expected closeConnection")
            return
        }
        #expect(reason.code == .signOnFailed)
        #expect(machine.disconnected(now: self.at(10_001)) == .scheduleReconnect(delay: .milliseconds(100), attempt: 1))
    }

    @Test("reconnect delays grow exponentially up to the cap")
    func exponentialBackoff() {
        var machine = ClientLinkStateMachine(configuration: self.configuration())
        _ = machine.start()
        var now = self.t0
        var delays: [Int64] = []
        for _ in 0..<8 {
            guard case .scheduleReconnect(let delay, _) = machine.connectFailed(now: now) else {
                Issue.record("expected a reconnect")
                return
            }
            delays.append(delay.nanoseconds / 1_000_000)
            now = now + delay
            #expect(machine.timerFired(now: now) == .connect)
        }
        #expect(delays == [100, 200, 400, 800, 1_600, 2_000, 2_000, 2_000])
    }

    @Test("a successful sign-on resets the backoff")
    func backoffResets() {
        var machine = ClientLinkStateMachine(configuration: self.configuration())
        _ = machine.start()
        #expect(machine.connectFailed(now: self.t0) == .scheduleReconnect(delay: .milliseconds(100), attempt: 1))
        #expect(machine.timerFired(now: self.at(100)) == .connect)
        #expect(machine.connectFailed(now: self.at(100)) == .scheduleReconnect(delay: .milliseconds(200), attempt: 2))
        #expect(machine.timerFired(now: self.at(300)) == .connect)
        #expect(machine.connected(now: self.at(300)) == .sendNetworkRequest(.signOn, stan: 1))
        #expect(machine.networkResponseReceived(.signOn, stan: 1, approved: true, now: self.at(301)) == .signedOn)
        #expect(machine.disconnected(now: self.at(400)) == .scheduleReconnect(delay: .milliseconds(100), attempt: 1))
    }

    @Test("jittered delays stay within the jitter band and replay with the same seed")
    func jitter() {
        let backoff = ReconnectBackoff(initialDelay: .seconds(1), maximumDelay: .seconds(8), jitter: 0.5)
        func delays() -> [TimeAmount] {
            var machine = ClientLinkStateMachine(configuration: self.configuration(backoff: backoff))
            _ = machine.start()
            var now = self.t0
            var result: [TimeAmount] = []
            for _ in 0..<6 {
                guard case .scheduleReconnect(let delay, let attempt) = machine.connectFailed(now: now) else {
                    return result
                }
                let full = backoff.delay(forAttempt: attempt)
                #expect(delay <= full)
                #expect(delay.nanoseconds >= full.nanoseconds / 2)
                result.append(delay)
                now = now + delay
                _ = machine.timerFired(now: now)
            }
            return result
        }
        let first = delays()
        #expect(first.count == 6)
        #expect(first == delays())
        #expect(Set(first).count > 1)
    }

    @Test("an idle link sends an echo test (301) and an answer restarts the idle clock")
    func echoWhenIdle() {
        var machine = self.signedOnMachine()
        #expect(machine.nextDeadline == self.at(60_000))
        #expect(machine.timerFired(now: self.at(59_999)) == .none)
        #expect(machine.timerFired(now: self.at(60_000)) == .sendNetworkRequest(.echoTest, stan: 2))
        #expect(machine.nextDeadline == self.at(70_000))
        #expect(machine.canSendTraffic)
        #expect(machine.networkResponseReceived(.echoTest, stan: 2, approved: true, now: self.at(60_010)) == .none)
        #expect(machine.nextDeadline == self.at(120_010))
        #expect(machine.timerFired(now: self.at(70_000)) == .none)
    }

    @Test("inbound traffic postpones the echo test")
    func trafficPostponesEcho() {
        var machine = self.signedOnMachine()
        machine.inboundTraffic(now: self.at(30_000))
        #expect(machine.nextDeadline == self.at(90_000))
        #expect(machine.timerFired(now: self.at(60_000)) == .none)
        #expect(machine.timerFired(now: self.at(90_000)) == .sendNetworkRequest(.echoTest, stan: 2))
    }

    @Test("echo tests disabled: no timer while signed on")
    func echoDisabled() {
        let machine = self.signedOnMachine(self.configuration(echoInterval: nil))
        #expect(machine.nextDeadline == nil)
    }

    @Test("after the configured number of unanswered echoes the peer is declared dead")
    func missedEchoes() {
        var machine = self.signedOnMachine()
        #expect(machine.timerFired(now: self.at(60_000)) == .sendNetworkRequest(.echoTest, stan: 2))
        #expect(machine.timerFired(now: self.at(70_000)) == .sendNetworkRequest(.echoTest, stan: 3))
        #expect(machine.timerFired(now: self.at(80_000)) == .sendNetworkRequest(.echoTest, stan: 4))
        let action = machine.timerFired(now: self.at(90_000))
        guard case .closeConnection(let reason) = action else {
            Issue.record("expected the peer declared dead, got \(action)")
            return
        }
        #expect(reason.code == .timeout)
        #expect(reason.detail.contains("3"))
        #expect(!machine.canSendTraffic)
        #expect(machine.disconnected(now: self.at(90_001)) == .scheduleReconnect(delay: .milliseconds(100), attempt: 1))
    }

    @Test("traffic arriving while an echo is outstanding means the echo was not missed")
    func trafficDuringEcho() {
        var machine = self.signedOnMachine(self.configuration(maximumMissedEchoes: 1))
        #expect(machine.timerFired(now: self.at(60_000)) == .sendNetworkRequest(.echoTest, stan: 2))
        machine.inboundTraffic(now: self.at(65_000))
        #expect(machine.timerFired(now: self.at(70_000)) == .none)
        #expect(machine.linkState == .signedOn)
        #expect(machine.nextDeadline == self.at(125_000))
    }

    @Test("an answer to an older echo resets the missed count")
    func lateEchoAnswer() {
        var machine = self.signedOnMachine(self.configuration(maximumMissedEchoes: 2))
        #expect(machine.timerFired(now: self.at(60_000)) == .sendNetworkRequest(.echoTest, stan: 2))
        #expect(machine.timerFired(now: self.at(70_000)) == .sendNetworkRequest(.echoTest, stan: 3))
        #expect(machine.networkResponseReceived(.echoTest, stan: 2, approved: true, now: self.at(71_000)) == .none)
        // Echo 3 is still outstanding, but the link is alive.
        #expect(machine.timerFired(now: self.at(80_000)) == .none)
        #expect(machine.linkState == .signedOn)
    }

    @Test("the peer's echo test is answered; its sign-off is answered, then the link closes and reconnects")
    func peerNetworkRequests() {
        var machine = self.signedOnMachine()
        #expect(machine.networkRequestReceived(.echoTest, now: self.at(1)) == .answerNetworkRequest(approved: true, closeAfterwards: false))
        #expect(machine.nextDeadline == self.at(60_001))
        #expect(machine.networkRequestReceived(.signOff, now: self.at(2)) == .answerNetworkRequest(approved: true, closeAfterwards: true))
        #expect(!machine.canSendTraffic)
        #expect(machine.disconnected(now: self.at(3)) == .scheduleReconnect(delay: .milliseconds(100), attempt: 1))
    }

    @Test("stop while signed on: sign off (002), close when answered, no reconnect")
    func stopSignsOff() {
        var machine = self.signedOnMachine()
        #expect(machine.stop(now: self.at(1)) == .sendNetworkRequest(.signOff, stan: 2))
        #expect(machine.linkState == .signingOff)
        #expect(!machine.canSendTraffic)
        #expect(machine.stop(now: self.at(1)) == .none)
        #expect(machine.networkResponseReceived(.signOff, stan: 2, approved: true, now: self.at(2)) == .closeConnection(reason: ISO8583NetworkError(code: .linkShutdown, detail: "the link is shutting down")))
        #expect(machine.disconnected(now: self.at(3)) == .shutdownComplete)
        #expect(machine.linkState == .closed)
        #expect(machine.start() == .none)
        #expect(machine.nextDeadline == nil)
    }

    @Test("an unanswered sign-off closes after the network timeout")
    func signOffTimeout() {
        var machine = self.signedOnMachine()
        _ = machine.stop(now: self.at(0))
        #expect(machine.timerFired(now: self.at(9_999)) == .none)
        guard case .closeConnection = machine.timerFired(now: self.at(10_000)) else {
            Issue.record("expected close")
            return
        }
        #expect(machine.disconnected(now: self.at(10_001)) == .shutdownComplete)
    }

    @Test("the connection dropping during sign-off still ends the link")
    func dropDuringSignOff() {
        var machine = self.signedOnMachine()
        _ = machine.stop(now: self.at(0))
        #expect(machine.disconnected(now: self.at(1)) == .shutdownComplete)
    }

    @Test("stop while connecting: a late connection is closed, a failed one ends the link")
    func stopWhileConnecting() {
        var machine = ClientLinkStateMachine(configuration: self.configuration())
        _ = machine.start()
        #expect(machine.stop(now: self.t0) == .none)
        guard case .closeConnection = machine.connected(now: self.at(1)) else {
            Issue.record("expected close")
            return
        }
        #expect(machine.disconnected(now: self.at(2)) == .shutdownComplete)

        var failing = ClientLinkStateMachine(configuration: self.configuration())
        _ = failing.start()
        _ = failing.stop(now: self.t0)
        #expect(failing.connectFailed(now: self.at(1)) == .shutdownComplete)
        #expect(failing.linkState == .closed)
    }

    @Test("stop while signing on or waiting to reconnect")
    func stopInOtherStates() {
        var signingOn = ClientLinkStateMachine(configuration: self.configuration())
        _ = signingOn.start()
        _ = signingOn.connected(now: self.t0)
        guard case .closeConnection = signingOn.stop(now: self.at(1)) else {
            Issue.record("expected close")
            return
        }
        #expect(signingOn.disconnected(now: self.at(2)) == .shutdownComplete)

        var waiting = ClientLinkStateMachine(configuration: self.configuration())
        _ = waiting.start()
        _ = waiting.connectFailed(now: self.t0)
        #expect(waiting.stop(now: self.at(1)) == .shutdownComplete)
        #expect(waiting.timerFired(now: self.at(1_000)) == .none)

        var idle = ClientLinkStateMachine(configuration: self.configuration())
        #expect(idle.stop(now: self.t0) == .shutdownComplete)
    }

    @Test("network STANs count up and wrap after 999999")
    func stanWrap() {
        var counter = STANCounter(first: 999_998)
        #expect(counter.next() == 999_998)
        #expect(counter.next() == 999_999)
        #expect(counter.next() == 1)
        var machine = ClientLinkStateMachine(
            configuration: .init(requiresSignOn: true, firstSTAN: 999_999)
        )
        _ = machine.start()
        #expect(machine.connected(now: self.t0) == .sendNetworkRequest(.signOn, stan: 999_999))
        #expect(NetworkManagementCode.signOn.description == "001")
        #expect(NetworkManagementCode.echoTest.description == "301")
        #expect(NetworkManagementCode(rawValue: 20).description == "020")
    }

    /// Random walks over every event: the invariants hold in every state reached.
    @Test("random event sequences keep the invariants", arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func randomWalk(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var machine = ClientLinkStateMachine(
            configuration: self.configuration(maximumMissedEchoes: 2)
        )
        var now = self.t0
        var lastSentSTAN: UInt32 = 0
        var visited: Set<LinkState> = []
        for _ in 0..<5_000 {
            now = now + .milliseconds(Int64(random.next() % 20_000))
            let action: Action
            switch random.next() % 11 {
            case 0: action = machine.start()
            case 1: action = machine.connected(now: now)
            case 2: action = machine.connectFailed(now: now)
            case 3: action = machine.disconnected(now: now)
            case 4, 5:
                let code: NetworkManagementCode = [.signOn, .echoTest, .signOff][Int(random.next() % 3)]
                let stan = random.next() % 4 == 0 ? UInt32(random.next() % 10) : lastSentSTAN
                action = machine.networkResponseReceived(code, stan: stan, approved: random.next() % 5 != 0, now: now)
            case 6:
                let code: NetworkManagementCode = [.signOn, .echoTest, .signOff, .cutover][Int(random.next() % 4)]
                action = machine.networkRequestReceived(code, now: now)
            case 7: machine.inboundTraffic(now: now); action = .none
            case 8, 9: action = machine.timerFired(now: machine.nextDeadline ?? now)
            default: action = random.next() % 8 == 0 ? machine.stop(now: now) : .none
            }
            if case .sendNetworkRequest(_, let stan) = action {
                lastSentSTAN = stan
            }
            visited.insert(machine.linkState)
            // Invariants.
            #expect(machine.canSendTraffic == (machine.linkState == .signedOn))
            switch machine.linkState {
            case .signingOn, .signingOff, .waitingToReconnect, .signedOn:
                #expect(machine.nextDeadline != nil)
            case .idle, .connecting, .closing, .closed:
                #expect(machine.nextDeadline == nil)
            }
            if case .shutdownComplete = action {
                #expect(machine.linkState == .closed)
            }
            if machine.linkState == .closed {
                // Start a fresh machine to keep exploring.
                machine = ClientLinkStateMachine(configuration: self.configuration(maximumMissedEchoes: 2))
            }
        }
        #expect(visited.isSuperset(of: [.connecting, .signingOn, .signedOn, .waitingToReconnect, .closing]))
    }
}

import NIOCore
import Testing

@testable import ISO8583Network

@Suite("Host link state machine")
struct HostLinkStateMachineTests {
    let t0 = NIODeadline.uptimeNanoseconds(5_000_000_000)

    func at(_ milliseconds: Int64) -> NIODeadline {
        self.t0 + .milliseconds(milliseconds)
    }

    @Test("traffic is refused before sign-on and after sign-off, delivered in between")
    func signOnGatesTraffic() {
        var machine = HostLinkStateMachine(now: self.t0)
        #expect(!machine.isSignedOn)
        #expect(machine.requestReceived(now: self.at(1)) == .reject(.notSignedOn))
        #expect(machine.networkRequestReceived(.signOn, now: self.at(2)) == .answer(approved: true))
        #expect(machine.isSignedOn)
        #expect(machine.linkState == .signedOn)
        #expect(machine.requestReceived(now: self.at(3)) == .deliver)
        #expect(machine.networkRequestReceived(.signOff, now: self.at(4)) == .answer(approved: true))
        #expect(!machine.isSignedOn)
        #expect(machine.requestReceived(now: self.at(5)) == .reject(.notSignedOn))
    }

    @Test("echo tests are answered whether or not the peer is signed on")
    func echo() {
        var machine = HostLinkStateMachine(now: self.t0)
        #expect(machine.networkRequestReceived(.echoTest, now: self.at(1)) == .answer(approved: true))
        #expect(!machine.isSignedOn)
        _ = machine.networkRequestReceived(.signOn, now: self.at(2))
        #expect(machine.networkRequestReceived(.echoTest, now: self.at(3)) == .answer(approved: true))
        #expect(machine.isSignedOn)
    }

    @Test("codes the link does not handle go to the application")
    func otherCodes() {
        var machine = HostLinkStateMachine(now: self.t0)
        #expect(machine.networkRequestReceived(.cutover, now: self.at(1)) == .deliver)
        #expect(machine.networkRequestReceived(.keyExchange, now: self.at(1)) == .deliver)
    }

    @Test("without required sign-on, traffic is delivered at once")
    func noSignOnRequired() {
        var machine = HostLinkStateMachine(configuration: .init(requiresSignOn: false), now: self.t0)
        #expect(machine.requestReceived(now: self.at(1)) == .deliver)
    }

    @Test("a silent connection is closed after the idle timeout; traffic postpones it")
    func idleTimeout() {
        var machine = HostLinkStateMachine(configuration: .init(idleTimeout: .seconds(30)), now: self.t0)
        #expect(machine.nextDeadline == self.at(30_000))
        _ = machine.networkRequestReceived(.signOn, now: self.at(10_000))
        machine.inboundTraffic(now: self.at(20_000))
        #expect(machine.timerFired(now: self.at(30_000)) == .none)
        #expect(machine.nextDeadline == self.at(50_000))
        guard case .closeConnection(let reason) = machine.timerFired(now: self.at(50_000)) else {
            Issue.record("expected close")
            return
        }
        #expect(reason.code == .timeout)
        #expect(machine.linkState == .closed)
        #expect(machine.nextDeadline == nil)
    }

    @Test("no idle timeout configured: no timer; a closed link refuses everything")
    func closed() {
        var machine = HostLinkStateMachine(now: self.t0)
        #expect(machine.nextDeadline == nil)
        #expect(machine.timerFired(now: self.at(1_000_000)) == .none)
        machine.disconnected()
        #expect(machine.requestReceived(now: self.at(1)) == .reject(.notSignedOn))
        #expect(machine.networkRequestReceived(.signOn, now: self.at(1)) == .answer(approved: false))
    }
}

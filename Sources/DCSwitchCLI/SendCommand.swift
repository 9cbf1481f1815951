import ArgumentParser
import FixtureReplay
import ISO8583
import ISO8583Network
import Logging
import NIOCore
import NIOPosix

struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send one ISO 8583 message and print the answer (JSON, then a dump for people).",
        discussion: "Connects, signs on (0800, DE 70 = 001), sends the message, prints the answer and signs off. Exits 1 when no answer comes within --timeout."
    )

    @Option(help: "The host to send to, HOST:PORT.")
    var target: HostPort

    @OptionGroup var spec: SpecOption

    @Option(help: "The message as JSON: {\"mti\":\"0200\",\"fields\":{…}} (the `iso decode` form).")
    var json: String?

    @Option(help: "The message as hex.")
    var hex: String?

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Double = 10

    @Flag(help: "Print sensitive values in clear. For test data only.")
    var reveal = false

    func validate() throws {
        guard (self.json == nil) != (self.hex == nil) else { throw ValidationError("give the message with exactly one of --json or --hex") }
        guard self.timeout > 0 else { throw ValidationError("--timeout must be above 0") }
    }

    func run() async throws {
        let spec = try self.spec.load()
        let message: ISO8583Message
        do throws(ISO8583Error) {
            if let json { message = try MessageJSON.parse(json, spec: spec) } else { message = try spec.decode(hex: self.hex!.trimmingWhitespace()) }
        } catch {
            writeError("error: the message does not fit \(spec.name): \(error)")
            throw ExitCode(2)
        }
        do {
            _ = try spec.encode(message)
        } catch {
            writeError("error: the message does not encode with \(spec.name): \(error)")
            throw ExitCode(2)
        }
        var logger = Logger(label: "dcswitch.send")
        logger.logLevel = .error
        // A connection of its own with one exchange: the answer is the next message from the host, so an 0800 gets
        // its 0810 (a switch link would take that as its own network-management traffic).
        do {
            let answer = try await SingleExchange.send(
                message, spec: spec, host: self.target.host, port: self.target.port, timeout: self.timeout,
                eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger
            )
            print(MessageJSON.render(answer, spec: spec, subfields: true, reveal: self.reveal).minifiedText)
            print(MessageDump.render(answer, spec: spec, reveal: self.reveal), terminator: "")
        } catch {
            writeError("error: no answer from \(self.target.host):\(self.target.port) within \(self.timeout) s: \(error)")
            throw ExitCode(1)
        }
    }
}

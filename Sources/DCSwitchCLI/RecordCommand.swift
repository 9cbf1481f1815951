import ArgumentParser
import FixtureReplay
import Foundation
import ISO8583
import ISO8583Network
import Logging
import NIOPosix
import ServiceLifecycle

/// `dcswitch record --listen HOST:PORT --target HOST:PORT --output DIR`: a recording proxy between a client (an
/// acquirer, `dcswitch load`, `dcswitch send`) and a host, until SIGINT, SIGTERM or `--duration`.
struct RecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record a live session as fixtures: a proxy that forwards every message to the host and back, unchanged.",
        discussion: """
            Point your client (your acquirer, `dcswitch load`, `dcswitch send`) at --listen instead of the host. Every \
            connection is forwarded to --target byte for byte, and written, when it ends, as one fixture \
            (DIR/connection-0001.json, …): the client's requests in the order sent, each with its response as the \
            expectation, exactly as `dcswitch replay --record` writes them. Network management (sign-on, echo test, \
            sign-off) is forwarded but not recorded: replay signs on by itself.

            Runs until SIGINT (Ctrl-C), SIGTERM or --duration, then closes the open connections, writes their \
            fixtures and prints a summary: connections, exchanges recorded, unanswered requests, undecodable frames. \
            Replay the fixtures with `dcswitch replay DIR --target HOST:PORT`.
            """
    )

    @Option(help: "Where clients connect, HOST:PORT (port 0 picks a free one; the address is printed).")
    var listen: HostPort

    @Option(help: "The host to forward to, HOST:PORT.")
    var target: HostPort

    @Option(name: [.short, .long], help: "The directory for the fixtures (created if missing; existing files are kept).")
    var output: String

    @Option(help: "The spec the messages are decoded with: a built-in spec or a spec file.")
    var spec: String = "dcswitch-1987"

    @Option(help: "The length prefix, on both sides: binary2 (the switch's), binary4, ascii4 or bcd2.")
    var framing: String = "binary2"

    @Option(help: "Stop after this many seconds (default: at SIGINT or SIGTERM).")
    var duration: Double?

    @Option(help: "Seconds connecting to the target may take.")
    var connectTimeout: Double = 5

    @OptionGroup var recording: RecordingOptions

    func validate() throws {
        guard ISO8583Framing.LengthPrefix(name: self.framing) != nil else {
            throw ValidationError("--framing \(self.framing): use \(ISO8583Framing.LengthPrefix.names.joined(separator: ", "))")
        }
        if let duration, duration <= 0 { throw ValidationError("--duration must be above 0") }
        guard self.connectTimeout > 0 else { throw ValidationError("--connect-timeout must be above 0") }
    }

    func run() async throws {
        let spec: MessageSpec
        do {
            spec = try MessageSpec.load(nameOrPath: self.spec)
        } catch {
            throw ValidationError("--spec \(self.spec): \(error.message)")
        }
        let targetText = "\(self.target.host):\(self.target.port)"
        let configuration = RecordingProxy.Configuration(
            listenHost: self.listen.host, listenPort: self.listen.port, targetHost: self.target.host, targetPort: self.target.port,
            spec: spec, specName: self.spec, framing: ISO8583Framing.LengthPrefix(name: self.framing)!, directory: self.output,
            recorder: self.recording.recorder(note: nil), connectTimeout: .nanoseconds(Int64(self.connectTimeout * 1_000_000_000))
        )
        var logger = Logger(label: "dcswitch.record")
        logger.logLevel = .warning
        let proxy: RecordingProxy
        do {
            proxy = try await RecordingProxy.start(configuration: configuration, logger: logger)
        } catch {
            writeError("error: \(error)")
            throw ExitCode(1)
        }
        Console.say(
            "Recording: clients connect to \(self.listen.host):\(proxy.port), forwarded to \(targetText), fixtures to \(self.output). "
                + (self.duration.map { "Stops after \($0) s, or at " } ?? "Stops at ") + "Ctrl-C (SIGINT) or SIGTERM."
        )
        let service = ProxyService(duration: self.duration)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
            )
        )
        try await group.run()
        let summary = await proxy.shutdown()
        for line in summary.lines { Console.say(line) }
        if !summary.notWritten.isEmpty { throw ExitCode(1) }
    }
}

/// Waits for the end of the recording: the duration, or a graceful shutdown (SIGINT, SIGTERM).
private struct ProxyService: Service {
    let duration: Double?

    func run() async throws {
        if let duration {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .nanoseconds(Int64(duration * 1_000_000_000))) }
        } else {
            try? await gracefulShutdown()
        }
    }
}

/// How exchanges become expectations: the options `replay --record` and `record` share.
struct RecordingOptions: ParsableArguments {
    @Flag(help: "When recording: write ${new.stan}, ${new.rrn} and ${now.*} for literal DE 7, 11, 12, 13 and 37.")
    var freshIds = false

    @Option(help: "When recording: the comma-separated paths recorded as `mandatory` rather than exact (default: \(FixtureRecorder.defaultVolatilePaths.sorted { $0.localizedStandardCompare($1) == .orderedAscending }.joined(separator: ",")))")
    var volatile: String?

    /// Whether either option was given.
    var isSet: Bool { self.freshIds || self.volatile != nil }

    func recorder(note: String?) -> FixtureRecorder {
        let volatile = self.volatile.map { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }
        return FixtureRecorder(volatilePaths: volatile ?? FixtureRecorder.defaultVolatilePaths, freshIdentifiers: self.freshIds, note: note)
    }
}

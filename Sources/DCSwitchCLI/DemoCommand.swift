import ArgumentParser
import DigitalCurrency
import Foundation
import Logging
import NIOCore
import NIOPosix
import RegistrationCenter
import TrafficGenerator

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The main job: embedded PostgreSQL, registration center, switch, banks with seeded customers, traffic of all seven flows, a report and invariant checks.",
        discussion: """
        Starts everything in this process (PostgreSQL as its own server processes), runs the traffic generator \
        against the switch at --rate for --duration seconds, then checks that every approval's owner-change records \
        are in the registry exactly once and that value is conserved (live coins == issued), prints the report and \
        shuts everything down. Exits 1 when an invariant does not hold.
        """
    )

    @OptionGroup var options: NetworkOptions

    @Option(help: "Offered transactions per second.")
    var rate: Double = 10_000

    @Option(help: "Seconds of traffic.")
    var duration: Double = 30

    @Option(help: "How many banks of the network file to run (its first N).")
    var banks: Int?

    @Option(help: "Flow weights, FLOW=WEIGHT,… (flows: \(Flow.allCases.map(\.rawValue).joined(separator: ", "))).")
    var mix: String?

    @Option(help: "Acquirer connections to the switch.")
    var connections = 4

    @Option(help: "Write the JSON report here.")
    var report: String?

    @Option(help: "Write the HTML report here.")
    var html: String?

    @Option(help: "Write one JSON line per approval here (default: DATA_DIR/demo-approvals.jsonl).")
    var record: String?

    @Option(help: "Write an HdrHistogram interval log here.")
    var hdrLog: String?

    func validate() throws {
        guard self.rate > 0 else { throw ValidationError("--rate must be above 0") }
        guard self.duration > 0 else { throw ValidationError("--duration must be above 0") }
        if let banks, banks < 1 { throw ValidationError("--banks must be at least 1") }
        if let mix { do { _ = try TrafficMix(parsing: mix) } catch { throw ValidationError(error.description) } }
    }

    func run() async throws {
        var network = try self.options.loadNetwork()
        if let banks {
            do { network = try network.limited(toBanks: banks) } catch { throw ValidationError("\(error)") }
        }
        let logger = self.options.logger("dcswitch.demo")
        let started = Date()
        Console.say("DCSwitch demo: \(network.banks.count) banks, \(Int(self.rate)) TPS for \(Int(self.duration)) s")
        let runtime = try await NetworkRuntime.start(
            network: network,
            options: .init(
                databaseURL: self.options.databaseURL, dataDirectory: self.options.dataDir, startBanks: true, listenHost: nil,
                listenPort: nil, threads: self.options.threads, freshRun: true
            ),
            logger: logger
        ) { Console.say("  " + $0) }

        let recordPath = self.record ?? self.options.dataDir + "/demo-approvals.jsonl"
        let configuration = LoadConfiguration(
            host: "127.0.0.1", port: runtime.switchServer.port, rate: self.rate, duration: self.duration,
            mix: try self.mix.map { try TrafficMix(parsing: $0) } ?? .standard, connections: self.connections,
            recordPath: recordPath, hdrLogPath: self.hdrLog
        )
        let generatorGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let generator = LoadGenerator(configuration: configuration, network: network, eventLoopGroup: generatorGroup, logger: logger)
        var loadReport: LoadReport
        do {
            Console.say("Preparing the workload (payer authorizations for \(Int(self.rate * self.duration)) transactions)")
            try await generator.prepare()
            Console.say("Traffic: \(configuration.mix.weights.sorted { $0.key < $1.key }.map { "\($0.key.rawValue)=\($0.value)" }.joined(separator: " "))")
            var postgresCPU: (@Sendable () -> Double?)?
            if let cluster = runtime.postgres { postgresCPU = { cluster.cpuSeconds() } }
            loadReport = try await generator.run(progress: { Console.say("  " + $0.line) }, postgresCPUSeconds: postgresCPU)
        } catch {
            generator.close()
            await runtime.stop()
            try? await generatorGroup.shutdownGracefully()
            throw error
        }
        generator.close()
        try? await generatorGroup.shutdownGracefully()

        Console.say("Checking the registry: waiting for every record to be committed")
        _ = try? await runtime.switchServer.paymentSwitch.reversals.drain(on: runtime.group.next(), timeout: .seconds(10)).get()
        let completions = runtime.switchServer.paymentSwitch.completions
        let completed: Bool = (try? await completions.drain(deadline: NIODeadline.now() + TimeAmount.seconds(10), on: runtime.group.next()).get()) ?? false
        if !completed { writeError("warning: completion advices still unacknowledged after 10 s; some coins stay pending at their banks") }
        await runtime.registry.waitUntilCommitted()
        let verification = try await runtime.registry.database.verify(recordFile: recordPath)
        loadReport.registry = .init(
            recordsExpected: Int(verification.recordsExpected), recordsFound: Int(verification.recordsFound),
            duplicates: Int(verification.duplicates), missingTransactions: Int(verification.missingTransactions)
        )
        loadReport.conservation = .init(issued: verification.conservation.issued, live: verification.conservation.live, ok: verification.conservation.ok)
        loadReport.durability = runtime.durability()

        Console.say("")
        Console.say(loadReport.table)
        let shed = runtime.switchServer.paymentSwitch.statistics.shed
        if shed > 0 {
            let limit = runtime.switchServer.paymentSwitch.configuration.maxInFlight
            Console.say(
                "the switch shed \(shed) requests (answered 91 at once, no bank touched): \(limit) transactions were already in "
                    + "flight (switch.maxInFlight), so the offered rate was above what the network carries on this machine"
            )
        }
        if let report { try loadReport.write(toPath: report); Console.say("report: \(report)") }
        if let html { try HTMLReport.write(loadReport, toPath: html); Console.say("html: \(html)") }
        Console.say("approvals recorded in \(recordPath); check again any time with: dcswitch registry verify --record \(recordPath)")

        Console.say("Shutting down")
        await runtime.stop()
        Console.say("Done in \(Int(Date().timeIntervalSince(started))) s.")
        if !verification.ok {
            writeError("INVARIANT VIOLATED: \(verification.missingTransactions) transactions missing records, \(verification.duplicates) duplicates, conservation \(verification.conservation.ok ? "ok" : "violated")")
            throw ExitCode(1)
        }
    }
}

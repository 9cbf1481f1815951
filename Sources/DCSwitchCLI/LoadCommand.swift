import ArgumentParser
import DigitalCurrency
import Logging
import NIOCore
import NIOPosix
import TrafficGenerator

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `dcswitch load`: the open-loop traffic generator.
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Send open-loop ISO 8583 traffic of all seven flows to a switch and measure it.",
        discussion: """
            Every transaction has an intended start time (--rate, constant or Poisson --arrivals, optional --ramp) \
            and is sent on time however many are unanswered; latency is measured from the intended start \
            (corrected for coordinated omission, as wrk2 does), service time from the actual send. Cards, wallets \
            and merchants come from the --config network's seed data; the generator tracks balances so it never \
            asks for money that is not there (unless --allow-declines or --double-spend). A progress line goes to \
            standard error every second, the final table to standard output.

            Examples:
              dcswitch load --target 127.0.0.1:8583 --rate 10000 --duration 30 --report report.json --html report.html
              dcswitch load --target 127.0.0.1:8583 --sweep 2000:20000:2000 --slo-p99 10 --duration 20 --html sweep.html
              dcswitch load --stand-in --rate 20000 --duration 10     # the generator's own ceiling
            """
    )

    @Option(help: "The switch's acquirer-facing address, HOST:PORT.")
    var target: String?

    @Option(help: "Transactions per second (after the ramp).")
    var rate: Double?

    @Option(help: "Seconds of sending, the ramp included.")
    var duration: Double = 30

    @Option(help: "Flow weights, FLOW=WEIGHT,... (flows: account-open, transfer-in, redeem, nfc, qr-bsc, qr-csb, in-app). Default: the standard retail mix.")
    var mix: String?

    @Option(help: "TCP connections to the switch, used round-robin.")
    var connections: Int = 4

    @Option(help: "Event-loop threads the generator sends from (at most --connections).")
    var threads: Int = 1

    @Option(help: "The network file whose seed data (cards, wallets, merchants) the traffic uses.")
    var config: String = "Fixtures/network.json"

    @Option(help: "Seconds over which the rate rises linearly from 0.")
    var ramp: Double = 0

    @Option(help: "Arrival process: constant or poisson.")
    var arrivals: ArrivalProcess = .constant

    @Option(help: "Seconds a request may wait for its answer before it counts as an error.")
    var timeout: Double = 5

    @Option(help: "Milliseconds between two sending wake-ups at least (0: one per transaction); what falls due in between goes out together, late by less than this, which the latency includes.")
    var sendTick: Double = 1

    @Option(help: "Payment amounts in major units, MIN:MAX.")
    var amount: String = "1.00:50.00"

    @Flag(help: "Pick payers without checking what they hold: the switch should decline (51) what is not there.")
    var allowDeclines = false

    @Option(help: "Share (0–1) of wallet-paid requests sent a second time with the same authorization: double-spend attempts.")
    var doubleSpend: Double = 0

    @Option(help: "How payers' signatures are made: precomputed (before the run) or inline.")
    var signatures: LoadConfiguration.SignatureMode = .precomputed

    @Option(help: "DE 32, the acquiring institution the generator poses as.")
    var acquirer: String = "30000000001"

    @Option(help: "Seed of the generator's random choices.")
    var seed: UInt64 = 8583

    @Option(help: "Write the JSON report here.")
    var report: String?

    @Option(help: "Write a self-contained HTML report here.")
    var html: String?

    @Option(help: "Write an HdrHistogram interval log (one interval per second) here.")
    var hdrLog: String?

    @Option(help: "Write one JSON line per approved transaction here (for `dcswitch registry verify`).")
    var record: String?

    @Option(help: "Run a series of rates, FROM:TO:STEP, and report the highest whose p99 stays within --slo-p99.")
    var sweep: String?

    @Option(help: "The p99 latency objective of --sweep, milliseconds.")
    var sloP99: Double = 10

    @Option(help: "Runs per rate in --sweep.")
    var sweepRuns: Int = 3

    @Flag(help: "Run against an in-process stand-in switch that approves everything (measures the generator itself).")
    var standIn = false

    @Flag(help: "No progress line.")
    var quiet = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "warning"

    func validate() throws {
        if self.target == nil, !self.standIn { throw ValidationError("--target HOST:PORT is required (or --stand-in)") }
        if let target, Self.parseTarget(target) == nil { throw ValidationError("--target \(target): expected HOST:PORT") }
        if self.rate == nil, self.sweep == nil { throw ValidationError("--rate TPS is required (or --sweep FROM:TO:STEP)") }
        if let mix { _ = try Self.parseMix(mix) }
        _ = try Self.parseAmount(self.amount)
        guard Logger.Level(rawValue: self.logLevel) != nil else {
            throw ValidationError("--log-level \(self.logLevel): use trace, debug, info, notice, warning, error or critical")
        }
        if let sweep { _ = try Self.parseSweep(sweep, slo: self.sloP99, runs: self.sweepRuns) }
        do {
            try self.loadConfiguration(host: "127.0.0.1", port: 0).validate()
        } catch let error as LoadConfiguration.Invalid {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        var logger = Logger(label: "dcswitch.load")
        logger.logLevel = Logger.Level(rawValue: self.logLevel) ?? .warning
        let network: NetworkConfiguration
        do {
            network = try NetworkConfiguration.load(path: self.config)
        } catch {
            throw ValidationError("--config \(self.config): \(error)")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.threads)
        let standInGroup = self.standIn ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        do {
            try await self.run(network: network, group: group, standInGroup: standInGroup, logger: logger)
        } catch {
            try? await group.shutdownGracefully()
            try? await standInGroup?.shutdownGracefully()
            throw error
        }
        try? await group.shutdownGracefully()
        try? await standInGroup?.shutdownGracefully()
    }

    private func run(network: NetworkConfiguration, group: any EventLoopGroup, standInGroup: (any EventLoopGroup)?, logger: Logger) async throws {
        var host = "127.0.0.1"
        var port = network.switchNode.port
        if let target, let parsed = Self.parseTarget(target) {
            (host, port) = parsed
        }
        var standIn: StandInSwitch?
        if let standInGroup {
            let started = try await StandInSwitch.start(host: host, port: self.target == nil ? 0 : port, eventLoopGroup: standInGroup, logger: logger)
            standIn = started
            port = started.port
            Self.stderr("stand-in switch listening on \(host):\(port)")
        }
        do {
            try await self.drive(host: host, port: port, network: network, group: group, logger: logger)
        } catch {
            try? await standIn?.close()
            throw error
        }
        try? await standIn?.close()
    }

    private func drive(host: String, port: Int, network: NetworkConfiguration, group: any EventLoopGroup, logger: Logger) async throws {
        let configuration = try self.loadConfiguration(host: host, port: port)
        let generator = LoadGenerator(configuration: configuration, network: network, eventLoopGroup: group, logger: logger)
        let quiet = self.quiet
        if let sweepText = self.sweep {
            let sweep = try Self.parseSweep(sweepText, slo: self.sloP99, runs: self.sweepRuns)
            if !quiet { Self.stderr("preparing the workload (seed data, signatures)…") }
            let result = try await generator.sweep(sweep) { line in
                if !quiet { Self.stderr(line) }
            }
            generator.close()
            print(result.table)
            if let path = self.report { try result.write(toPath: path) }
            if let path = self.html { try HTMLReport.write(result, toPath: path) }
        } else {
            if !quiet { Self.stderr("preparing the workload (seed data, signatures)…") }
            try await generator.prepare()
            let result = try await generator.run { progress in
                if !quiet { Self.stderr(progress.line) }
            }
            generator.close()
            print(result.table)
            if let path = self.report { try result.write(toPath: path) }
            if let path = self.html { try HTMLReport.write(result, toPath: path) }
        }
    }

    func loadConfiguration(host: String, port: Int) throws -> LoadConfiguration {
        let amounts = try Self.parseAmount(self.amount)
        var workload = WorkloadModel.Options(paymentAmount: amounts)
        workload.allowDeclines = self.allowDeclines
        return LoadConfiguration(
            host: host, port: port, rate: self.rate ?? 1, duration: self.duration,
            mix: try self.mix.map(Self.parseMix) ?? .standard, connections: self.connections, threads: self.threads,
            ramp: self.ramp, arrivals: self.arrivals, timeout: self.timeout, workload: workload,
            doubleSpendFraction: self.doubleSpend, acquirer: self.acquirer, seed: self.seed, signatures: self.signatures,
            recordPath: self.record, hdrLogPath: self.hdrLog, sendTick: self.sendTick / 1000
        )
    }

    static func parseTarget(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else {
            return nil
        }
        let host = text[..<colon]
        return (host.isEmpty ? "127.0.0.1" : String(host), port)
    }

    static func parseMix(_ text: String) throws -> TrafficMix {
        do {
            return try TrafficMix(parsing: text)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// `MIN:MAX` in major units with up to two decimals → minor units.
    static func parseAmount(_ text: String) throws -> ClosedRange<Int64> {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let low = Self.minorUnits(parts[0]), let high = Self.minorUnits(parts[1]), low > 0, low <= high else {
            throw ValidationError("--amount \(text): expected MIN:MAX in major units, for example 1.00:50.00")
        }
        return low...high
    }

    static func minorUnits(_ text: Substring) -> Int64? {
        let pieces = text.split(separator: ".", omittingEmptySubsequences: false)
        guard pieces.count <= 2, let whole = Int64(pieces[0]) else { return nil }
        var cents: Int64 = 0
        if pieces.count == 2 {
            let fraction = pieces[1]
            guard fraction.count <= 2, fraction.allSatisfy(\.isNumber), let value = Int64(fraction) else { return nil }
            cents = fraction.count == 1 ? value * 10 : value
        }
        return whole * 100 + cents
    }

    static func parseSweep(_ text: String, slo: Double, runs: Int) throws -> RateSweep {
        do {
            return try RateSweep(parsing: text, sloP99Ms: slo, runsPerPoint: runs)
        } catch {
            throw ValidationError(error.description)
        }
    }

    static func stderr(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        bytes.withUnsafeBytes { raw in
            _ = write(2, raw.baseAddress, raw.count)
        }
    }
}

extension ArrivalProcess: ExpressibleByArgument {}
extension LoadConfiguration.SignatureMode: ExpressibleByArgument {}

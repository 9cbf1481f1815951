import ArgumentParser
import FixtureReplay
import Foundation
import ISO8583Network

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay fixture files against a host and check every response field by field.",
        discussion: """
            Each fixture runs on a connection of its own: connect, sign on, its steps in order (a request, the response \
            checked with the fixture's matchers, variables captured), sign off. A directory stands for the *.json and \
            *.jsonl files in it, in name order. The fixture format is in Fixtures/README.md.

            Exit status: 0 when every fixture passed, 1 when one failed, 2 when a fixture file is invalid (nothing is \
            sent then).

            With --record, the responses are not checked but written out as fixtures: the requests as given, and as \
            expectations `echo` where the response repeats the request, `mandatory` on volatile fields and the exact \
            value elsewhere. Inputs may be fixtures or bare requests in the `iso decode` form (one per file, or one per \
            line of a .jsonl file). To record what your own client sends, use `dcswitch record` (a recording proxy).
            """
    )

    @Argument(help: "Fixture files, or directories of them.")
    var fixtures: [String]

    @Option(help: "The host to replay against, HOST:PORT.")
    var target: HostPort

    @Option(help: "Write the results as JUnit XML to this file.")
    var junit: String?

    @Option(help: "Record: write the exchanges as fixtures to this file (one input) or directory.")
    var record: String?

    @Option(help: "The spec of fixtures that name none: a built-in spec or a spec file.")
    var spec: String = "dcswitch-1987"

    @Option(help: "Seconds a step waits for its response, unless the fixture says otherwise.")
    var timeout: Double = 10

    @Option(help: "The length prefix unless the fixture says otherwise: binary2 (the switch's), binary4, ascii4 or bcd2.")
    var framing: String = "binary2"

    @Option(name: .customLong("var"), help: "NAME=VALUE: set a variable (overrides the fixtures' own). Repeatable.")
    var variables: [String] = []

    @Flag(help: "Print each step, and the messages, also for fixtures that pass.")
    var verbose = false

    @Flag(help: "Print sensitive values in clear. For test data only.")
    var reveal = false

    @OptionGroup var recording: RecordingOptions

    func validate() throws {
        guard self.timeout > 0 else { throw ValidationError("--timeout must be above 0") }
        guard ISO8583Framing.LengthPrefix(name: self.framing) != nil else {
            throw ValidationError("--framing \(self.framing): use \(ISO8583Framing.LengthPrefix.names.joined(separator: ", "))")
        }
        for variable in self.variables where !variable.contains("=") {
            throw ValidationError("--var \(variable): write NAME=VALUE")
        }
        if self.record == nil, self.recording.isSet {
            throw ValidationError("--fresh-ids and --volatile only apply with --record")
        }
    }

    func run() async throws {
        let files = try self.fixtureFiles()
        var fixtures: [Fixture] = []
        var invalid: [FixtureError] = []
        for file in files {
            do {
                fixtures.append(try Fixture.load(path: file, defaultSpec: self.spec))
            } catch {
                invalid.append(error)
            }
        }
        if !invalid.isEmpty {
            for error in invalid { writeError("error: \(error)") }
            if let junit {
                let results = invalid.map { FixtureResult(name: $0.file.map(Self.name(of:)) ?? "fixture", file: $0.file ?? "", spec: nil, steps: [], problem: $0.description, duration: 0) }
                try? self.write(ReplayReport(results: results, target: self.targetText, duration: 0).junitXML(), to: junit)
            }
            writeError("\(invalid.count) of \(files.count) fixture file\(files.count == 1 ? "" : "s") invalid: nothing sent")
            throw ExitCode(2)
        }

        var variables: [String: String] = [:]
        for variable in self.variables {
            let parts = variable.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            variables[String(parts[0])] = String(parts[1])
        }
        let replayer = FixtureReplayer(configuration: .init(
            host: self.target.host, port: self.target.port, timeout: self.timeout,
            framing: ISO8583Framing.LengthPrefix(name: self.framing)!, variables: variables, checksExpectations: self.record == nil
        ))
        let start = ContinuousClock.now
        var identifiers = IdentifierSource()
        var results: [FixtureResult] = []
        var unreachable: String?
        for fixture in fixtures {
            let result: FixtureResult
            if let unreachable {
                // Waiting for the connect timeout again and again tells nothing new.
                result = FixtureResult(name: fixture.name, file: fixture.file, spec: fixture.spec, steps: [], problem: "not run: \(unreachable)", duration: 0)
            } else {
                result = await replayer.run(fixture, identifiers: &identifiers)
                if result.hostUnreachable { unreachable = result.problem }
            }
            results.append(result)
            if self.record == nil {
                for line in ReplayReport.lines(for: result, reveal: self.reveal, verbose: self.verbose) { Console.say(line) }
            }
        }
        let elapsed = start.duration(to: .now)
        let report = ReplayReport(
            results: results, target: self.targetText,
            duration: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        )
        if let record {
            try self.record(fixtures: fixtures, results: results, to: record)
            return
        }
        Console.say(report.summary)
        if let junit {
            do {
                try self.write(report.junitXML(reveal: self.reveal), to: junit)
            } catch {
                writeError("error: cannot write --junit \(junit): \(error.localizedDescription)")
                throw ExitCode(1)
            }
        }
        if !report.passed { throw ExitCode(1) }
    }

    var targetText: String { "\(self.target.host):\(self.target.port)" }

    /// The fixture files: files as given, directories expanded to their *.json and *.jsonl files in name order.
    func fixtureFiles() throws -> [String] {
        var files: [String] = []
        for path in self.fixtures {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ValidationError("\(path): no such file or directory")
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                let found = names.filter { $0.hasSuffix(".json") || $0.hasSuffix(".jsonl") }.sorted()
                guard !found.isEmpty else { throw ValidationError("\(path): no *.json or *.jsonl fixture in the directory") }
                files += found.map { (path as NSString).appendingPathComponent($0) }
            } else {
                files.append(path)
            }
        }
        return files
    }

    func record(fixtures: [Fixture], results: [FixtureResult], to destination: String) throws {
        let recorder = self.recording.recorder(note: "Recorded against \(self.targetText) by dcswitch replay --record.")
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: destination, isDirectory: &isDirectory)
        let singleFile = fixtures.count == 1 && !(exists && isDirectory.boolValue) && !destination.hasSuffix("/")
        if !singleFile {
            try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        }
        var failed = 0
        var used: Set<String> = []
        for (fixture, result) in zip(fixtures, results) {
            do {
                let document = try recorder.record(fixture, result: result)
                var path = destination
                if !singleFile {
                    var name = Self.name(of: fixture.file)
                    var n = 2
                    while used.contains(name) {
                        name = Self.name(of: fixture.file) + "-\(n)"
                        n += 1
                    }
                    used.insert(name)
                    path = (destination as NSString).appendingPathComponent(name + ".json")
                }
                try self.write(document.prettyText() + "\n", to: path)
                Console.say("recorded \(fixture.name): \(result.steps.count) step\(result.steps.count == 1 ? "" : "s") → \(path)")
            } catch let error as FixtureError {
                failed += 1
                writeError("error: \(error)")
            }
        }
        if failed > 0 {
            writeError("\(failed) of \(fixtures.count) fixtures not recorded")
            throw ExitCode(1)
        }
    }

    func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    static func name(of file: String) -> String {
        var name = (file as NSString).lastPathComponent
        for suffix in [".jsonl", ".json"] where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
        return name
    }
}

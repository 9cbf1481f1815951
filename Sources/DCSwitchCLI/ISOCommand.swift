import ArgumentParser
import FixtureReplay
import ISO8583
import NIOCore

import Foundation

/// `dcswitch iso …`: the codec's tools.
struct ISOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iso",
        abstract: "Decode, encode and describe ISO 8583 messages; list specs; time the codec.",
        subcommands: [Decode.self, Encode.self, Describe.self, Specs.self, Bench.self, Docs.self]
    )
}

/// `--spec NAME_OR_PATH`, shared by the codec commands.
struct SpecOption: ParsableArguments {
    @Option(name: .long, help: "A built-in spec name (see `dcswitch iso specs`) or the path of a spec JSON file.")
    var spec: String

    func load() throws -> MessageSpec {
        do {
            return try MessageSpec.load(nameOrPath: self.spec)
        } catch {
            throw ValidationError("--spec \(self.spec): \(error.message)")
        }
    }
}

extension ISO8583Error {
    /// `{"code":…,"field":…,"offset":…,"message":…}` plus what was expected and found.
    var json: FixtureJSON {
        var members: [(String, FixtureJSON)] = [("code", .string(self.code.description))]
        if let field { members.append(("field", .string(field))) }
        if let offset { members.append(("offset", .number(Int64(offset)))) }
        members.append(("message", .string(self.message)))
        if let expected { members.append(("expected", .string(expected))) }
        if let found { members.append(("found", .string(found))) }
        if let hexWindow { members.append(("window", .string(hexWindow))) }
        if !self.errors.isEmpty { members.append(("errors", .array(self.errors.map(\.json)))) }
        return .object(members)
    }

    /// The JSON line the CLI prints for a failed input line.
    var errorLine: String {
        var error = self
        if error.code == .validationFailed, let first = error.errors.first {
            error.field = first.field
            error.offset = first.offset
        }
        return FixtureJSON.object([("error", error.json)]).minifiedText
    }
}

/// Reads lines from standard input, one at a time.
func readInputLines() -> AnySequence<String> {
    AnySequence { AnyIterator { readLine(strippingNewline: true) } }
}

func writeLine(_ text: String) {
    print(text)
}

func writeError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

extension ISOCommand {
    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode hex messages to JSON lines.",
            discussion: """
            Without --hex, reads one hex message per line from standard input. Prints one JSON object per line: \
            {"mti":"0200","fields":{"2":"…"}}. A line that fails prints {"error":{…}} and the run goes on; the exit \
            status is 1 if any line failed. Decoding is lenient: content-class violations that keep the framing \
            intact are listed under "warnings". Sensitive values (PAN, track data, PIN block, keys, signatures) are \
            masked unless --reveal is given.
            """
        )

        @OptionGroup var spec: SpecOption
        @Option(help: "One message as hex. Without it, hex messages are read from standard input, one per line.")
        var hex: String?
        @Flag(help: "Show composite fields (DE 55, DE 48, DE 124 …) as nested objects of their subfields.")
        var subfields = false
        @Flag(help: "Print sensitive values in clear. For test data only.")
        var reveal = false
        @Flag(help: "Decode strictly, as the switch does: content-class violations are errors.")
        var strict = false

        func run() throws {
            let spec = try self.spec.load()
            let lines: AnySequence<String> = self.hex.map { AnySequence([$0]) } ?? readInputLines()
            var failed = false
            for line in lines {
                let text = line.trimmingWhitespace()
                if text.isEmpty && self.hex == nil { continue }
                do throws(ISO8583Error) {
                    let message = try spec.decode(hex: text, options: self.strict ? .strict : .lenient)
                    writeLine(MessageJSON.render(message, spec: spec, subfields: self.subfields, reveal: self.reveal).minifiedText)
                } catch {
                    failed = true
                    writeLine(error.errorLine)
                }
            }
            if failed { throw ExitCode(1) }
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Encode JSON lines (the decode output form) to hex lines.",
            discussion: """
            Reads one JSON object per line from standard input ({"mti":"0200","fields":{"2":"…"}}; composite fields \
            may be nested objects of their subfields) and prints the message as upper-case hex. A line that fails \
            prints {"error":{…}} with every field that does not fit; the exit status is 1 if any line failed.
            """
        )

        @OptionGroup var spec: SpecOption
        @Option(help: "One message as JSON. Without it, JSON lines are read from standard input.")
        var json: String?

        func run() throws {
            let spec = try self.spec.load()
            let lines: AnySequence<String> = self.json.map { AnySequence([$0]) } ?? readInputLines()
            var failed = false
            for line in lines {
                let text = line.trimmingWhitespace()
                if text.isEmpty && self.json == nil { continue }
                do throws(ISO8583Error) {
                    let message = try MessageJSON.parse(text, spec: spec)
                    writeLine(try spec.encodeHex(message))
                } catch {
                    failed = true
                    writeLine(error.errorLine)
                }
            }
            if failed { throw ExitCode(1) }
        }
    }

    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a message for people: field number, name and masked value.")

        @OptionGroup var spec: SpecOption
        @Option(help: "The message as hex.")
        var hex: String
        @Flag(help: "Print sensitive values in clear. For test data only.")
        var reveal = false

        func run() throws {
            let spec = try self.spec.load()
            do throws(ISO8583Error) {
                let message = try spec.decode(hex: self.hex.trimmingWhitespace(), options: .lenient)
                print(MessageDump.render(message, spec: spec, reveal: self.reveal), terminator: "")
            } catch {
                writeError("error: \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct Specs: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the built-in specs with their descriptions.")

        func run() throws {
            let names = BuiltinSpecs.names
            let width = names.map(\.count).max() ?? 0
            for name in names {
                let spec = MessageSpec.builtin(name)!
                print(name + String(repeating: " ", count: width - name.count) + "  " + spec.description)
            }
        }
    }

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time decode and encode of one message in-process.",
            discussion: "Runs several passes of --iterations each; the last line is JSON with the medians: {\"decode_ns\":…,\"encode_ns\":…}."
        )

        @OptionGroup var spec: SpecOption
        @Option(help: "The message as hex.")
        var hex: String
        @Option(help: "Operations per timed pass.")
        var iterations = 200_000
        @Option(help: "Timed passes; the median is reported.")
        var passes = 7

        func validate() throws {
            guard self.iterations > 0 else { throw ValidationError("--iterations must be at least 1") }
            guard self.passes > 0 else { throw ValidationError("--passes must be at least 1") }
        }

        func run() throws {
            let spec = try self.spec.load()
            let bytes: [UInt8]
            do throws(ISO8583Error) {
                bytes = try spec.encode(spec.decode(hex: self.hex.trimmingWhitespace())).readableBytesView.map { $0 }
            } catch {
                writeError("error: \(error)")
                throw ExitCode(1)
            }
            let result = CodecBenchmark.run(spec: spec, message: bytes, iterations: self.iterations, passes: self.passes)
            print("decode: median \(result.decodeNanos) ns/op over \(self.passes) passes of \(self.iterations)")
            print("encode: median \(result.encodeNanos) ns/op (message built from field values)")
            print("reencode: median \(result.reencodeNanos) ns/op (decoded message, unchanged fields copied)")
            print(FixtureJSON.object([
                ("decode_ns", .number(Int64(result.decodeNanos))),
                ("encode_ns", .number(Int64(result.encodeNanos))),
                ("reencode_ns", .number(Int64(result.reencodeNanos))),
                ("bytes", .number(Int64(bytes.count))),
            ]).minifiedText)
        }
    }

    struct Docs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the interface specification (Specs/README.md) generated from the built-in specs."
        )

        @Option(help: "Write to this file instead of standard output.")
        var output: String?

        func run() throws {
            let text = SpecDocumentation.markdown(specs: BuiltinSpecs.names.compactMap(MessageSpec.builtin))
            if let output {
                do {
                    try text.write(toFile: output, atomically: true, encoding: .utf8)
                } catch {
                    throw ValidationError("--output \(output): \(error.localizedDescription)")
                }
            } else {
                print(text, terminator: "")
            }
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}

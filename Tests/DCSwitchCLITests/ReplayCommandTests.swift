import DCSwitchTestKit
import Foundation
import Testing

/// `dcswitch replay` against `dcswitch serve`: the way CI replays the shipped suite against a demo network.
@Suite("dcswitch replay: the fixture suite against a live network")
struct ReplayCommandTests {
    @Test func theSuitePassesAFailingFixtureFailsAndARecordingReplays() async throws {
        let serve = try await ServeProcess.start()
        defer { serve.terminate() }
        let directory = try TestPostgres.makeTemporaryDirectory("replay-out")

        // 0. `dcswitch send` gets the answer to a network-management request too (it used to time out: its link took
        //    the 0810 for its own traffic).
        let echo = try await CLI.run([
            "send", "--target", serve.target, "--spec", "dcswitch-1987", "--timeout", "5",
            "--json", #"{"mti":"0800","fields":{"7":"1121100000","11":"000021","70":"301"}}"#,
        ])
        #expect(echo.status == 0, "\(echo.stdout)\n\(echo.stderr)")
        #expect(echo.lines.first == #"{"mti":"0810","fields":{"7":"1121100000","11":"000021","39":"00","70":"301"}}"#, "\(echo.stdout)")

        // 1. Every shipped fixture passes.
        let suite = CLI.root.appendingPathComponent("Fixtures/replay").path
        let fixtureCount = try FileManager.default.contentsOfDirectory(atPath: suite).filter { $0.hasSuffix(".json") }.count
        let junit = directory + "/suite.xml"
        let run = try await CLI.run(["replay", suite, "--target", serve.target, "--junit", junit, "--timeout", "5"])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)\n\(serve.outputText)")
        #expect(run.lines.filter { $0.hasPrefix("PASS") }.count == fixtureCount, "\(run.stdout)")
        #expect(run.stdout.contains("Replayed \(fixtureCount) fixtures against \(serve.target)"))
        let suiteXML = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(suiteXML.contains("failures=\"0\" errors=\"0\" skipped=\"0\""), "\(suiteXML)")
        #expect(suiteXML.components(separatedBy: "<testsuite ").count - 1 == fixtureCount)

        // 2. A fixture with wrong expectations fails with a field-level diff, exit status 1 and a JUnit failure.
        let failing = directory + "/wrong.json"
        try Data(Self.wrongFixture.utf8).write(to: URL(fileURLWithPath: failing))
        let failingJUnit = directory + "/wrong.xml"
        let failed = try await CLI.run(["replay", failing, "--target", serve.target, "--junit", failingJUnit])
        #expect(failed.status == 1, "\(failed.stdout)\n\(failed.stderr)")
        let out = failed.stdout
        #expect(out.contains("FAIL  deliberately wrong"), "\(out)")
        #expect(out.contains(#"DE 39"#) && out.contains(#"expected "51""#) && out.contains(#"actual "00""#), "\(out)")
        #expect(out.contains("DE 38") && out.contains("expected absent"), "\(out)")
        #expect(out.contains("DE 4") && out.contains("an integer in [1, 100]") && out.contains(#"actual "000000000180""#), "\(out)")
        // The card number is masked in the diff, and the signature in the request line.
        #expect(out.contains(#"expected "476173******0029""#) && out.contains(#"actual "476173******0011""#), "\(out)")
        #expect(!out.contains("4761730000000011"), "\(out)")
        #expect(out.contains("02=****"), "\(out)")
        #expect(out.contains("skip  step 2"), "\(out)")
        let failingXML = try String(contentsOfFile: failingJUnit, encoding: .utf8)
        #expect(failingXML.contains("failures=\"1\""), "\(failingXML)")
        #expect(failingXML.contains("<failure message="), "\(failingXML)")
        #expect(failingXML.contains("DE 39: expected &quot;51&quot;, actual &quot;00&quot;"), "\(failingXML)")
        #expect(failingXML.contains("<skipped"), "\(failingXML)")

        // 3. --record turns bare requests into a fixture that replays, twice (fresh identifiers each time).
        let session = directory + "/session.jsonl"
        try Data(Self.bareSession.utf8).write(to: URL(fileURLWithPath: session))
        let recorded = directory + "/recorded.json"
        let record = try await CLI.run(["replay", session, "--target", serve.target, "--record", recorded, "--fresh-ids"])
        #expect(record.status == 0, "\(record.stdout)\n\(record.stderr)")
        let recording = try String(contentsOfFile: recorded, encoding: .utf8)
        #expect(recording.contains(#""11": "${new.stan}""#), "\(recording)")
        #expect(recording.contains(#""39": "00""#), "\(recording)")
        #expect(recording.contains(#""124.05": {"mandatory": true}"#), "\(recording)")
        #expect(recording.contains(#""103": {"echo": true}"#), "\(recording)")
        for _ in 0..<2 {
            let replay = try await CLI.run(["replay", recorded, "--target", serve.target])
            #expect(replay.status == 0, "\(replay.stdout)\n\(replay.stderr)\n\(recording)")
        }
    }

    @Test func anUnreachableHostFailsFastWithAClearError() async throws {
        let suite = CLI.root.appendingPathComponent("Fixtures/replay")
        // Port 1: nothing listens there.
        let run = try await CLI.run([
            "replay", suite.appendingPathComponent("01-network-echo.json").path, suite.appendingPathComponent("17-settlement-totals.json").path,
            "--target", "127.0.0.1:1", "--timeout", "1",
        ])
        #expect(run.status == 1)
        #expect(run.stdout.contains("cannot connect to 127.0.0.1:1"), "\(run.stdout)")
        #expect(run.stdout.contains("not run: cannot connect"), "\(run.stdout)")
        #expect(run.elapsed < 10, "a refused connection is not retried until a timeout")
    }

    /// An approved NFC payment checked against the answer of a decline.
    static let wrongFixture = #"""
        {
          "name": "deliberately wrong",
          "steps": [
            {
              "name": "pay",
              "request": {
                "mti": "0200",
                "fields": {
                  "2": "4761730000000011", "3": "009000", "4": "000000000180", "7": "${now.datetime}", "11": "${new.stan}",
                  "12": "${now.time}", "13": "${now.date}", "22": "071", "32": "30000000001", "37": "${new.rrn}",
                  "41": "BAN00000", "42": "BAN000000000000", "49": "156",
                  "102": "DC10000000001BCD5F5E1E3212856F8D4ACA5417E6CEF0A89D697",
                  "103": "DC100000000011F64E785003179B94D5849EA6F1400C42914C840",
                  "124": {"02": "${sign:dcswitch/BANKA/customer/1}", "04": "${new.nonce}", "08": "0000000002", "13": "nfc"}
                }
              },
              "expect": {
                "mti": "0210",
                "fields": {"39": "51", "38": {"absent": true}, "4": {"range": [1, 100]}, "2": "4761730000000029", "11": {"echo": true}}
              }
            },
            {"name": "never sent", "repeat": "pay"}
          ]
        }
        """#

    /// Two bare requests in the `iso decode` form, as a bank team might capture them.
    static let bareSession = """
        {"mti":"0800","fields":{"7":"0101000000","11":"000001","70":"301"}}
        {"mti":"0200","fields":{"2":"4761730000000029","3":"401090","4":"000000000210","7":"0101000000","11":"000002","12":"000000","13":"0101","22":"012","32":"30000000001","37":"000000000002","41":"TERM0001","48":{"03":"0000010000000002"},"49":"156","103":"DC1000000000133691CAE5EA8B35741B7E64F71E56C16C5A19C31","124":{"04":"00000000000000AA","13":"transfer-in"}}}
        """
}

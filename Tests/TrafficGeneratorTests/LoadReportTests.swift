import DigitalCurrency
import Foundation
import Testing

@testable import TrafficGenerator

@Suite("Load report")
struct LoadReportTests {
    /// Measurements with known contents: 1,000 nfc answers at 1…1000 µs, 10 redeem declines (51) at 2 ms, 3 timeouts.
    static func measurements() -> Measurements {
        var m = Measurements()
        let approved = ResponseSummary(responseCode: 0x3030, transactionID: "T", ownerChangeRecords: 3, newWallet: nil)
        let declined = ResponseSummary(responseCode: 0x3531, transactionID: nil, ownerChangeRecords: 0, newWallet: nil)
        for v in 1...1000 as ClosedRange<UInt64> {
            m.recordSent(.nfc)
            m.recordAnswer(.nfc, summary: approved, latency: v, service: v / 2)
        }
        for _ in 0..<10 {
            m.recordSent(.redeem)
            m.recordAnswer(.redeem, summary: declined, latency: 2_000, service: 1_500)
        }
        for _ in 0..<3 {
            m.recordSent(.inApp)
            m.recordError(.inApp, .timeout)
        }
        return m
    }

    static func report() -> LoadReport {
        let configuration = LoadConfiguration(host: "127.0.0.1", port: 8583, rate: 1013, duration: 2)
        return LoadReport(
            settings: .init(configuration, rate: 1013), totals: measurements(), duration: 2, elapsed: 2.5,
            timeline: [], substitutions: [.nfc: 2]
        )
    }

    @Test("a sweep point passes on p99, errors and the share of the offered rate it achieved")
    func sweepPointCriteria() throws {
        func point(p99: Double, achieved: Double) throws -> SweepReport.Point {
            let json = #"{"rate":400,"runs":[],"p99_ms":\#(p99),"p50_ms":1,"p999_ms":\#(p99),"offered_tps":400,"achieved_tps":\#(achieved),"within_slo":false}"#
            return try JSONDecoder().decode(SweepReport.Point.self, from: Data(json.utf8))
        }
        var sweep = RateSweep(from: 400, to: 400, step: 100, sloP99Ms: 10)
        #expect(sweep.passes(try point(p99: 9, achieved: 390)))
        #expect(!sweep.passes(try point(p99: 11, achieved: 400)))
        #expect(!sweep.passes(try point(p99: 9, achieved: 370)))  // below 95 % of 400
        sweep.minimumAchievedFraction = 0.9
        #expect(sweep.passes(try point(p99: 9, achieved: 370)))
    }

    @Test("the JSON has the keys PRODUCT.md promises")
    func keys() throws {
        let object = try jsonObject(try Self.report().jsonData())
        for key in ["offered_tps", "achieved_tps", "duration_s", "latency_ms", "service_time_ms", "flows", "response_codes"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        let latency = try #require(object["latency_ms"] as? [String: Any])
        #expect(Set(latency.keys) == ["p50", "p90", "p99", "p999", "max"])
        let service = try #require(object["service_time_ms"] as? [String: Any])
        #expect(Set(service.keys) == ["p50", "p90", "p99", "p999", "max"])
        let flows = try #require(object["flows"] as? [String: [String: Any]])
        #expect(Set(flows.keys) == ["nfc", "redeem", "in-app"])
        for (_, flow) in flows {
            for key in ["sent", "approved", "declined", "errors", "latency_ms"] { #expect(flow[key] != nil, "flow lacks \(key)") }
            #expect(Set((flow["latency_ms"] as? [String: Any])?.keys ?? [:].keys) == ["p50", "p90", "p99", "p999", "max"])
        }
        let codes = try #require(object["response_codes"] as? [String: Int])
        #expect(codes == ["00": 1000, "51": 10])
        // demo's checks are absent until it fills them in.
        #expect(object["registry"] == nil)
        #expect(object["conservation"] == nil)
    }

    @Test("the numbers: rates, percentiles in milliseconds, counts")
    func values() throws {
        let report = Self.report()
        #expect(report.sent == 1013)
        #expect(report.offeredTPS == 506.5)
        #expect(report.achievedTPS == 1010 / 2.5)
        #expect(report.approved == 1000)
        #expect(report.declined == 10)
        #expect(report.errors == 3)
        #expect(report.errorKinds == ["timeout": 3])
        #expect(report.ownerChangeRecords == 3000)
        let nfc = try #require(report.flows["nfc"])
        #expect(nfc.latencyMs.p50 == 0.5)
        #expect(nfc.latencyMs.p99 == 0.99)
        #expect(nfc.latencyMs.max == 1.0)
        #expect(nfc.serviceTimeMs.max == 0.5)
        #expect(report.flows["redeem"]?.declined == 10)
        #expect(report.flows["in-app"]?.errors == 3)
        #expect(report.latencyMs.max == 2.0)
        #expect(report.substitutions == ["nfc": 2])
        #expect(report.responseCodeLatencyMs["51"]?.p50 == 2.0)
        let all = try #require(report.percentileDistribution["all"])
        #expect(all.first?.percentile ?? 100 < 1)
        #expect(all.map(\.latencyMs) == all.map(\.latencyMs).sorted())
    }

    @Test("demo's registry and conservation checks go into the same report")
    func demoChecks() throws {
        var report = Self.report()
        report.registry = .init(recordsExpected: 3000, recordsFound: 3000, duplicates: 0)
        report.conservation = .init(issued: 100, live: 100, ok: true)
        let object = try jsonObject(try report.jsonData())
        let registry = try #require(object["registry"] as? [String: Any])
        #expect(registry["records_expected"] as? Int == 3000)
        #expect(registry["records_found"] as? Int == 3000)
        #expect(registry["duplicates"] as? Int == 0)
        let conservation = try #require(object["conservation"] as? [String: Any])
        #expect(conservation["issued"] as? Int == 100)
        #expect(conservation["ok"] as? Bool == true)
        let decoded = try JSONDecoder().decode(LoadReport.self, from: try report.jsonData())
        #expect(decoded.registry == report.registry)
        #expect(decoded.flows == report.flows)
        #expect(report.table.contains("registry: expected 3000 records, found 3000"))
    }

    @Test("demo's durability points: milliseconds from nanoseconds, percentiles never above the largest value, in JSON and table")
    func durabilityPoints() throws {
        var appends = LatencyHistogram(numberOfSignificantValueDigits: .two)
        var syncs = LatencyHistogram(numberOfSignificantValueDigits: .two)
        for v in 1...100 as ClosedRange<UInt64> { _ = appends.record(v * 12_345) }  // 12.345 µs … 1.2345 ms
        _ = syncs.record(1_234_567)
        let append = LoadReport.Percentiles(nanoseconds: appends)
        let sync = LoadReport.Percentiles(nanoseconds: syncs)
        #expect(append.max == 1.234)  // 1,234,500 ns, to the microsecond
        #expect(append.p50 >= 0.6 && append.p50 <= 0.63, "\(append)")
        #expect(append.p99 <= append.max && append.p999 <= append.max, "\(append)")
        #expect(sync.p50 == 1.234 && sync.p99 == 1.234 && sync.max == 1.234, "one value: every percentile is it, \(sync)")
        #expect(LoadReport.Percentiles(nanoseconds: LatencyHistogram(numberOfSignificantValueDigits: .two)).max == 0)

        var report = Self.report()
        report.durability = [.init(name: "BANKA journal", appends: 100, syncs: 1, appendMs: append, fsyncMs: sync)]
        let object = try jsonObject(try report.jsonData())
        let point = try #require((object["durability"] as? [[String: Any]])?.first)
        #expect(point["name"] as? String == "BANKA journal" && point["appends"] as? Int == 100 && point["syncs"] as? Int == 1)
        #expect((point["fsync_ms"] as? [String: Double])?["max"] == 1.234)
        let decoded = try JSONDecoder().decode(LoadReport.self, from: try report.jsonData())
        #expect(decoded.durability == report.durability)
        #expect(report.table.contains("BANKA journal  100 appends, 1 syncs (100.0 per sync)"), "\(report.table)")
    }

    @Test("where the CPU went: cores and microseconds a transaction in JSON and the table, nothing for PostgreSQL unmeasured")
    func cpuUsage() throws {
        var report = Self.report()
        // 1.5 cores for 20 s over 10,000 transactions: 3,000 µs each; the generator 0.25 cores, 500 µs; PostgreSQL 0.4, 800 µs.
        report.cpu = .init(
            seconds: 20, cores: 2, machineBusy: 0.975, processCores: 1.5, generatorCores: 0.25, postgresCores: 0.4,
            transactions: 10_000)
        let object = try jsonObject(try report.jsonData())
        let cpu = try #require(object["cpu"] as? [String: Any])
        #expect(cpu["process_cores"] as? Double == 1.5 && cpu["generator_cores"] as? Double == 0.25)
        #expect(cpu["process_us_per_transaction"] as? Double == 3000)
        #expect(cpu["generator_us_per_transaction"] as? Double == 500)
        #expect(cpu["postgres_us_per_transaction"] as? Double == 800)
        #expect(cpu["machine_busy"] as? Double == 0.975 && cpu["cores"] as? Int == 2 && cpu["transactions"] as? Int == 10_000)
        #expect(cpu["other_cores"] as? Double == 0.05, "1.95 cores busy, 1.9 of them this process and PostgreSQL")
        let decoded = try JSONDecoder().decode(LoadReport.self, from: try report.jsonData())
        #expect(decoded.cpu == report.cpu)
        #expect(
            report.table.contains(
                "CPU over 20.0 s of traffic (2 cores, 98 % busy): this process 1.50 cores (3,000 µs a transaction), "
                    + "of which the generator 0.25 (500 µs a transaction); PostgreSQL 0.40 cores (800 µs a transaction); "
                    + "everything else on the machine 0.05 cores"),
            "\(report.table)")

        #expect(HTMLReport.render(report).contains("<p>CPU over 20.0 s of traffic (2 cores, 98 % busy)"))

        report.cpu?.postgresCores = nil
        report.cpu?.machineBusy = nil
        let alone = try #require(try jsonObject(try report.jsonData())["cpu"] as? [String: Any])
        #expect(alone["postgres_cores"] == nil && alone["postgres_us_per_transaction"] == nil && alone["machine_busy"] == nil)
        #expect(alone["other_cores"] == nil, "without the machine's figure there is nothing to subtract from")
        #expect(report.table.contains("(2 cores): this process 1.50 cores"), "\(report.table)")
        #expect(!report.table.contains("PostgreSQL"))
    }

    @Test("the machine's busy share from /proc/stat: idle and iowait are not busy, guest time is not counted twice")
    func machineCPU() throws {
        let before = try #require(MachineCPU(procStat: "cpu  100 10 50 800 40 0 0 0 30 0\ncpu0 50 5 25 400 20 0 0 0 15 0\n"))
        #expect(before.totalTicks == 1000 && before.busyTicks == 160)
        // 200 ticks later: 150 busy (user 100, system 40, softirq 10), 50 idle or waiting.
        let after = try #require(MachineCPU(procStat: "cpu  200 10 90 830 60 0 10 0 90 0\n"))
        #expect(after.busyFraction(since: before) == 0.75)
        #expect(before.busyFraction(since: before) == nil, "no tick passed")
        #expect(MachineCPU(procStat: "intr 1 2 3\n") == nil)
        if let machine = CPUTime.machine() {
            #expect(machine.totalTicks > 0 && machine.busyTicks <= machine.totalTicks)
        }
    }

    @Test("the final table has a row per flow and one for all")
    func table() {
        let lines = Self.report().table.split(separator: "\n")
        #expect(lines[0].hasPrefix("flow"))
        #expect(lines[1].hasPrefix("redeem"))
        #expect(lines[2].hasPrefix("nfc"))
        #expect(lines[3].hasPrefix("in-app"))
        #expect(lines[4].hasPrefix("all"))
        #expect(lines[4].contains("1013"))
    }

    @Test("the HTML page is self-contained and has every chart")
    func html() {
        var report = Self.report()
        report.timeline = (1...3).map {
            .init(t: Double($0), offeredTPS: 500, achievedTPS: 499, approved: 499, declined: 0, errors: 1, inFlight: 2,
                  latencyMs: .init(p50: 0.5, p90: 0.9, p99: 1, p999: 2, max: 3), serviceTimeMs: .init(p50: 0.2, p90: 0.3, p99: 0.5, p999: 1, max: 2))
        }
        let page = HTMLReport.render(report)
        #expect(page.hasPrefix("<!DOCTYPE html>"))
        #expect(!page.contains("<script"))
        #expect(!page.contains("src="))
        #expect(!page.contains("<link"))
        for title in ["Throughput over time", "Latency percentiles over time", "Percentile distribution per flow", "Response codes"] {
            #expect(page.contains(title))
        }
        #expect(page.components(separatedBy: "<svg").count - 1 == 4)
    }

    @Test("formatting without Foundation", arguments: [
        (3.14159, 2, "3.14"), (0.0005, 3, "0.001"), (-2.5, 1, "-2.5"), (12.0, 0, "12"), (0.99, 3, "0.990"), (1e-9, 2, "0.00"),
    ] as [(Double, Int, String)])
    func fixed(value: Double, decimals: Int, expected: String) {
        #expect(TextFormatting.fixed(value, decimals) == expected)
    }
}

import DigitalCurrency

/// `--html FILE`: one self-contained page (inline SVG and CSS, no scripts, nothing fetched) per load report or
/// sweep.
public enum HTMLReport {
    /// The page of a run: summary, throughput over time, latency percentiles over time, percentile distribution
    /// per flow, response codes.
    public static func render(_ report: LoadReport, title: String = "DCSwitch load report") -> String {
        typealias F = TextFormatting
        var body = "<h1>\(HTML.escape(title))</h1>"
        body += "<p>Target \(HTML.escape(report.settings.target)), asked \(F.fixed(report.settings.rate, 0)) tps for \(F.fixed(report.durationS, 1)) s "
        body += "(\(HTML.escape(report.settings.arrivals)) arrivals, ramp \(F.fixed(report.settings.rampS, 1)) s, \(report.settings.connections) connections). "
        body += "Offered <b>\(F.fixed(report.offeredTPS, 1)) tps</b>, achieved <b>\(F.fixed(report.achievedTPS, 1)) tps</b>; "
        body += "p99 <b>\(F.fixed(report.latencyMs.p99, 3)) ms</b>, errors <b>\(report.errors)</b>.</p>"
        body += "<p class=\"note\">Latency is measured from each transaction's intended start (open loop, corrected for coordinated omission, as wrk2 does); service time from the moment it was actually sent.</p>"
        body += self.summaryTable(report)
        body += self.checks(report)

        let timeline = report.timeline
        var throughput = SVGChart(title: "Throughput per second", xLabel: "seconds", yLabel: "transactions per second")
        throughput.series = [
            .init(name: "offered", points: timeline.map { ($0.t, $0.offeredTPS) }),
            .init(name: "achieved", points: timeline.map { ($0.t, $0.achievedTPS) }),
            .init(name: "errors", points: timeline.map { ($0.t, Double($0.errors)) }, dashed: true),
        ]
        body += "<h2>Throughput over time</h2>" + throughput.render()

        var latency = SVGChart(title: "Latency per second (corrected)", xLabel: "seconds", yLabel: "milliseconds")
        latency.series = [
            .init(name: "p50", points: timeline.map { ($0.t, $0.latencyMs.p50) }),
            .init(name: "p90", points: timeline.map { ($0.t, $0.latencyMs.p90) }),
            .init(name: "p99", points: timeline.map { ($0.t, $0.latencyMs.p99) }),
            .init(name: "p99.9", points: timeline.map { ($0.t, $0.latencyMs.p999) }),
            .init(name: "service p99", points: timeline.map { ($0.t, $0.serviceTimeMs.p99) }, dashed: true),
        ]
        body += "<h2>Latency percentiles over time</h2>" + latency.render()

        var distribution = SVGChart(title: "Latency by percentile (corrected)", xLabel: "percentile", yLabel: "milliseconds")
        distribution.xTicks = SVGChart.ninesTicks
        distribution.xRange = 0...6
        let names = ["all"] + Flow.allCases.map(\.rawValue).filter { report.percentileDistribution[$0] != nil }
        distribution.series = names.compactMap { name in
            guard let points = report.percentileDistribution[name], !points.isEmpty else { return nil }
            return .init(name: name, points: points.map { (SVGChart.nines($0.percentile), $0.latencyMs) }, dashed: name == "all")
        }
        body += "<h2>Percentile distribution per flow</h2>" + distribution.render()

        let codes = report.responseCodes.sorted { $0.key < $1.key }.map { ("DE 39 " + $0.key, Double($0.value)) }
        let errors = report.errorKinds.sorted { $0.key < $1.key }.map { ($0.key, Double($0.value)) }
        body += "<h2>Response codes</h2>" + SVGChart.bars(title: "Answers by response code, and requests without an answer", codes + errors, unit: "")
        if !report.responseCodeLatencyMs.isEmpty {
            body += "<table><tr><th>DE 39</th><th>answers</th><th>p50 ms</th><th>p99 ms</th><th>max ms</th></tr>"
            for (code, p) in report.responseCodeLatencyMs.sorted(by: { $0.key < $1.key }) {
                body += "<tr><td>\(HTML.escape(code))</td><td>\(report.responseCodes[code] ?? 0)</td><td>\(F.fixed(p.p50, 3))</td><td>\(F.fixed(p.p99, 3))</td><td>\(F.fixed(p.max, 3))</td></tr>"
            }
            body += "</table>"
        }
        return self.page(title: title, body: body)
    }

    /// The page of a sweep: p99 (and p50, p99.9) against the rate, with the SLO, and a table of the rates.
    public static func render(_ sweep: SweepReport, title: String = "DCSwitch rate sweep") -> String {
        typealias F = TextFormatting
        var body = "<h1>\(HTML.escape(title))</h1>"
        if let rate = sweep.maxRateWithinSLO {
            body += "<p>Highest rate with p99 ≤ \(F.fixed(sweep.sloP99Ms, 3)) ms: <b>\(F.fixed(rate, 0)) tps</b> (achieved \(F.fixed(sweep.achievedTPSWithinSLO ?? 0, 0)) tps), median of \(sweep.runsPerPoint) runs of \(F.fixed(sweep.durationS, 0)) s per rate.</p>"
        } else {
            body += "<p class=\"bad\">No rate kept p99 ≤ \(F.fixed(sweep.sloP99Ms, 3)) ms.</p>"
        }
        var chart = SVGChart(title: "Latency against offered rate (corrected)", xLabel: "rate (tps)", yLabel: "milliseconds")
        chart.markers = true
        chart.series = [
            .init(name: "p50", points: sweep.points.map { ($0.rate, $0.p50Ms) }),
            .init(name: "p99", points: sweep.points.map { ($0.rate, $0.p99Ms) }),
            .init(name: "p99.9", points: sweep.points.map { ($0.rate, $0.p999Ms) }),
        ]
        chart.reference = (sweep.sloP99Ms, "SLO p99 \(F.fixed(sweep.sloP99Ms, 1)) ms")
        body += "<h2>TPS against p99</h2>" + chart.render()
        var throughput = SVGChart(title: "Achieved against offered", xLabel: "rate (tps)", yLabel: "transactions per second")
        throughput.markers = true
        throughput.series = [
            .init(name: "offered", points: sweep.points.map { ($0.rate, $0.offeredTPS) }, dashed: true),
            .init(name: "achieved", points: sweep.points.map { ($0.rate, $0.achievedTPS) }),
        ]
        body += throughput.render()
        body += "<h2>Rates</h2><table><tr><th>rate</th><th>offered</th><th>achieved</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>errors</th><th>within SLO</th></tr>"
        for p in sweep.points {
            let errors = p.runs.reduce(0) { $0 + $1.errors }
            body += "<tr><td>\(F.fixed(p.rate, 0))</td><td>\(F.fixed(p.offeredTPS, 0))</td><td>\(F.fixed(p.achievedTPS, 0))</td><td>\(F.fixed(p.p50Ms, 3))</td><td>\(F.fixed(p.p99Ms, 3))</td><td>\(F.fixed(p.p999Ms, 3))</td><td>\(errors)</td>"
            body += p.withinSLO ? "<td class=\"ok\">yes</td></tr>" : "<td class=\"bad\">no</td></tr>"
        }
        body += "</table>"
        return self.page(title: title, body: body)
    }

    /// Writes the page of `report` to `path`.
    public static func write(_ report: LoadReport, toPath path: String) throws {
        try writeOutput(self.render(report), toPath: path)
    }

    /// Writes the page of `sweep` to `path`.
    public static func write(_ sweep: SweepReport, toPath path: String) throws {
        try writeOutput(self.render(sweep), toPath: path)
    }

    static func summaryTable(_ report: LoadReport) -> String {
        typealias F = TextFormatting
        var html = "<table><tr><th>flow</th><th>sent</th><th>approved</th><th>declined</th><th>errors</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>service p99 ms</th></tr>"
        func row(_ name: String, _ sent: Int, _ approved: Int, _ declined: Int, _ errors: Int, _ p: LoadReport.Percentiles, _ s: LoadReport.Percentiles) -> String {
            "<tr><td>\(HTML.escape(name))</td><td>\(sent)</td><td>\(approved)</td><td>\(declined)</td><td>\(errors)</td><td>\(F.fixed(p.p50, 3))</td><td>\(F.fixed(p.p90, 3))</td><td>\(F.fixed(p.p99, 3))</td><td>\(F.fixed(p.p999, 3))</td><td>\(F.fixed(p.max, 3))</td><td>\(F.fixed(s.p99, 3))</td></tr>"
        }
        for flow in Flow.allCases {
            guard let f = report.flows[flow.rawValue] else { continue }
            html += row(flow.rawValue, f.sent, f.approved, f.declined, f.errors, f.latencyMs, f.serviceTimeMs)
        }
        html += row("all", report.sent, report.approved, report.declined, report.errors, report.latencyMs, report.serviceTimeMs)
        return html + "</table>"
    }

    static func checks(_ report: LoadReport) -> String {
        var html = ""
        if let r = report.registry {
            let ok = r.recordsExpected == r.recordsFound && r.duplicates == 0
            html += "<p>Registry: expected \(r.recordsExpected) owner-change records, found \(r.recordsFound), duplicates \(r.duplicates) — <span class=\"\(ok ? "ok" : "bad")\">\(ok ? "complete" : "INCOMPLETE")</span></p>"
        }
        if let c = report.conservation {
            html += "<p>Conservation: issued \(c.issued), live \(c.live) — <span class=\"\(c.ok ? "ok" : "bad")\">\(c.ok ? "ok" : "VIOLATED")</span></p>"
        }
        if let d = report.doubleSpends {
            html += "<p>Double-spend attempts: \(d.attempts), approved: <span class=\"\(d.approved == 0 ? "ok" : "bad")\">\(d.approved)</span></p>"
        }
        if let cpu = report.cpu {
            html += "<p>\(HTML.escape(LoadReport.cpuLine(cpu)))</p>"
        }
        return html
    }

    static func page(title: String, body: String) -> String {
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>\(HTML.escape(title))</title><style>\(HTML.style)</style></head><body>\(body)</body></html>\n"
    }
}

import DigitalCurrency

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension LoadReport {
    /// The report as pretty-printed JSON with sorted keys.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Writes the JSON report to `path`.
    public func write(toPath path: String) throws {
        try writeOutput(self.jsonData(), toPath: path)
    }

    /// The final table: one row per flow and one for all, then throughput, service time, response codes, errors.
    public var table: String {
        typealias F = TextFormatting
        var lines: [String] = []
        let header = F.left("flow", 13) + F.right("sent", 10) + F.right("approved", 10) + F.right("declined", 10)
            + F.right("errors", 8) + F.right("p50 ms", 9) + F.right("p90 ms", 9) + F.right("p99 ms", 9)
            + F.right("p99.9 ms", 10) + F.right("max ms", 10)
        lines.append(header)
        func row(_ name: String, _ sent: Int, _ approved: Int, _ declined: Int, _ errors: Int, _ p: Percentiles) -> String {
            F.left(name, 13) + F.right(String(sent), 10) + F.right(String(approved), 10) + F.right(String(declined), 10)
                + F.right(String(errors), 8) + F.right(F.fixed(p.p50, 3), 9) + F.right(F.fixed(p.p90, 3), 9)
                + F.right(F.fixed(p.p99, 3), 9) + F.right(F.fixed(p.p999, 3), 10) + F.right(F.fixed(p.max, 3), 10)
        }
        for flow in Flow.allCases {
            guard let f = self.flows[flow.rawValue] else { continue }
            lines.append(row(flow.rawValue, f.sent, f.approved, f.declined, f.errors, f.latencyMs))
        }
        lines.append(row("all", self.sent, self.approved, self.declined, self.errors, self.latencyMs))
        lines.append("")
        lines.append(
            "offered \(F.fixed(self.offeredTPS, 1)) tps (asked \(F.fixed(self.settings.rate, 0))), achieved \(F.fixed(self.achievedTPS, 1)) tps; "
                + "\(F.fixed(self.durationS, 1)) s of sending, last answer at \(F.fixed(self.elapsedS, 2)) s; "
                + "\(self.settings.connections) connections, \(self.settings.arrivals) arrivals"
        )
        lines.append("latency is from each transaction's intended start (corrected for coordinated omission)")
        let s = self.serviceTimeMs
        lines.append("service time ms: p50 \(F.fixed(s.p50, 3))  p90 \(F.fixed(s.p90, 3))  p99 \(F.fixed(s.p99, 3))  p99.9 \(F.fixed(s.p999, 3))  max \(F.fixed(s.max, 3))")
        lines.append("response codes: " + self.responseCodes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "  "))
        if !self.errorKinds.isEmpty {
            lines.append("errors: " + self.errorKinds.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "  "))
        }
        lines.append("owner-change records implied by approvals: \(self.ownerChangeRecords)")
        if !self.substitutions.isEmpty {
            lines.append("unfunded flows replaced: " + self.substitutions.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "  "))
        }
        if let d = self.doubleSpends {
            lines.append("double-spend attempts: \(d.attempts), approved: \(d.approved)")
        }
        if let r = self.registry {
            lines.append("registry: expected \(r.recordsExpected) records, found \(r.recordsFound), duplicates \(r.duplicates)")
        }
        if let c = self.conservation {
            lines.append("conservation: issued \(c.issued), live \(c.live), \(c.ok ? "ok" : "VIOLATED")")
        }
        if let points = self.durability, !points.isEmpty {
            lines += Self.durabilityLines(points)
        }
        if let cpu = self.cpu {
            lines.append(Self.cpuLine(cpu))
        }
        return lines.joined(separator: "\n")
    }
}

extension LoadReport {
    /// The durability points as a small table: a heading, then one line per point.
    public static func durabilityLines(_ points: [DurabilityPoint]) -> [String] {
        typealias F = TextFormatting
        var lines = ["durability (an approval waits for each in turn; ms):"]
        let width = points.map(\.name.count).max() ?? 0
        for point in points {
            let perSync = point.syncs > 0 ? F.fixed(Double(point.appends) / Double(point.syncs), 1) : "-"
            lines.append(
                "  \(F.left(point.name, width))  \(point.appends) appends, \(point.syncs) syncs (\(perSync) per sync);  "
                    + "appended→durable p50 \(F.fixed(point.appendMs.p50, 2)) p99 \(F.fixed(point.appendMs.p99, 2)) "
                    + "max \(F.fixed(point.appendMs.max, 2));  fdatasync p50 \(F.fixed(point.fsyncMs.p50, 2)) "
                    + "p99 \(F.fixed(point.fsyncMs.p99, 2)) max \(F.fixed(point.fsyncMs.max, 2))"
            )
        }
        return lines
    }
}

extension LoadReport {
    /// One line on where the CPU went: the machine, this process, its generator threads, PostgreSQL, everything else.
    public static func cpuLine(_ cpu: CPUUsage) -> String {
        typealias F = TextFormatting
        func share(_ cores: Double, _ unit: String) -> String {
            "\(F.fixed(cores, 2))\(unit) (\(F.grouped(Int(cpu.microsPerTransaction(cores).rounded()))) µs a transaction)"
        }
        var line = "CPU over \(F.fixed(cpu.seconds, 1)) s of traffic (\(cpu.cores) cores"
        if let busy = cpu.machineBusy { line += ", \(F.fixed(busy * 100, 0)) % busy" }
        line += "): this process \(share(cpu.processCores, " cores")), of which the generator \(share(cpu.generatorCores, ""))"
        if let postgres = cpu.postgresCores { line += "; PostgreSQL \(share(postgres, " cores"))" }
        if let other = cpu.otherCores {
            line += "; everything else on the machine \(F.fixed(other, 2)) cores"
        }
        return line
    }
}

/// Writes `data` to `path`, replacing it.
func writeOutput(_ data: Data, toPath path: String) throws {
    let file = try AppendOnlyFile(path: path)
    file.append(Array(data))
    file.close()
}

/// Writes `text` to `path`, replacing it.
func writeOutput(_ text: String, toPath path: String) throws {
    let file = try AppendOnlyFile(path: path)
    file.append(Array(text.utf8))
    file.close()
}

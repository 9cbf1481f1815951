import DigitalCurrency
import NIOCore

/// CPU counters read at one instant, for ``LoadReport/CPUUsage``: the machine, this process, the generator's event-loop
/// threads (each read on its own thread) and optionally a PostgreSQL cluster.
struct CPUReading {
    var uptimeNanoseconds: UInt64
    var machine: MachineCPU?
    var process: Double
    var generatorThreads: Double
    var postgres: Double?

    /// Reads the counters; `loops` are the generator's event loops (each counted once).
    static func take(_ loops: [any EventLoop], postgres: (@Sendable () -> Double?)?) async throws -> CPUReading {
        var seen: Set<ObjectIdentifier> = []
        var threads = 0.0
        for loop in loops where seen.insert(ObjectIdentifier(loop as AnyObject)).inserted {
            threads += try await loop.submit { CPUTime.currentThread() }.get()
        }
        return CPUReading(
            uptimeNanoseconds: NIODeadline.now().uptimeNanoseconds, machine: CPUTime.machine(),
            process: CPUTime.process(), generatorThreads: threads, postgres: postgres?())
    }

    /// What was used between `earlier` and this reading, as cores' worth over the window.
    func usage(since earlier: CPUReading, transactions: Int) -> LoadReport.CPUUsage? {
        guard uptimeNanoseconds > earlier.uptimeNanoseconds else { return nil }
        let seconds = Double(uptimeNanoseconds - earlier.uptimeNanoseconds) / 1e9
        func cores(_ used: Double) -> Double { (max(0, used) / seconds * 1000).rounded() / 1000 }
        var busy: Double?
        if let machine, let before = earlier.machine, let fraction = machine.busyFraction(since: before) {
            busy = (fraction * 1000).rounded() / 1000
        }
        var postgresCores: Double?
        if let postgres, let before = earlier.postgres { postgresCores = cores(postgres - before) }
        return LoadReport.CPUUsage(
            seconds: (seconds * 1000).rounded() / 1000, cores: CPUTime.cores, machineBusy: busy,
            processCores: cores(process - earlier.process), generatorCores: cores(generatorThreads - earlier.generatorThreads),
            postgresCores: postgresCores, transactions: transactions)
    }
}

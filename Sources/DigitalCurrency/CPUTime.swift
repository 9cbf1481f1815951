#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// CPU time as the kernel counts it: this process, the calling thread, a process and its children, the whole machine.
///
/// Reports use it to say where a run's CPU went. On a machine whose cores are all busy, latency is mostly waiting for a
/// core, which no latency figure shows by itself. The per-process and machine figures come from `/proc`, so they are
/// `nil` where there is no `/proc` (macOS).
public enum CPUTime {
    /// Seconds of CPU (user and system) this process has used so far, all threads.
    public static func process() -> Double {
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Seconds of CPU the calling thread has used so far.
    public static func currentThread() -> Double {
        var time = timespec()
        guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time) == 0 else { return 0 }
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// Seconds of CPU used by process `pid` and its children: its own time, what it has collected of children that
    /// have exited, and the time of the children still running. This is how a PostgreSQL cluster is measured (the
    /// postmaster and its backends). `nil` when the process is gone or there is no `/proc`.
    public static func processAndChildren(_ pid: Int32) -> Double? {
        guard let own = statFields(pid) else { return nil }
        let ticks = clockTicksPerSecond
        // stat(5), counting from the field after the command name: state, ppid, ... utime (12th), stime, cutime, cstime.
        var total = own[11...14].compactMap { Double($0) }.reduce(0, +)
        guard let entries = opendir("/proc") else { return total / ticks }
        defer { closedir(entries) }
        while let entry = readdir(entries) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let child = Int32(name), child != pid, let fields = statFields(child), Int32(fields[1]) == pid else {
                continue
            }
            total += fields[11...12].compactMap { Double($0) }.reduce(0, +)
        }
        return total / ticks
    }

    /// The machine's CPU counters so far (the first line of `/proc/stat`), or `nil` without `/proc`.
    public static func machine() -> MachineCPU? {
        readProcFile("/proc/stat").flatMap(MachineCPU.init(procStat:))
    }

    /// Online cores.
    public static var cores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    static var clockTicksPerSecond: Double { Double(sysconf(Int32(_SC_CLK_TCK))) }

    static func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }

    /// The fields of `/proc/PID/stat` after the command name (which may hold spaces and parentheses).
    static func statFields(_ pid: Int32) -> [Substring]? {
        guard let stat = readProcFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 14 ? fields : nil
    }

    /// A small `/proc` file whole (their size reads as 0, so it is read until end of file).
    static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The machine's CPU counters, in clock ticks summed over all cores: how much of the time was busy.
public struct MachineCPU: Sendable, Equatable {
    /// Ticks not idle (user, nice, system, irq, softirq, steal).
    public var busyTicks: UInt64
    /// All ticks, idle and waiting for I/O included.
    public var totalTicks: UInt64

    public init(busyTicks: UInt64, totalTicks: UInt64) {
        self.busyTicks = busyTicks
        self.totalTicks = totalTicks
    }

    /// Parses the `cpu` line of `/proc/stat`: `cpu user nice system idle iowait irq softirq steal guest guest_nice`.
    /// Guest time is already inside user time, so it is not added again. Idle and iowait count as not busy.
    public init?(procStat text: String) {
        guard let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let values = line.split(separator: " ").dropFirst().prefix(8).compactMap { UInt64($0) }
        guard values.count >= 5 else { return nil }
        let total = values.reduce(0, +)
        let idle = values[3] + values[4]
        self.init(busyTicks: total - idle, totalTicks: total)
    }

    /// The share of all cores' time that was busy between `earlier` and this sample (0 to 1), `nil` when no tick
    /// passed.
    public func busyFraction(since earlier: MachineCPU) -> Double? {
        guard totalTicks > earlier.totalTicks, busyTicks >= earlier.busyTicks else { return nil }
        return min(1, Double(busyTicks - earlier.busyTicks) / Double(totalTicks - earlier.totalTicks))
    }
}

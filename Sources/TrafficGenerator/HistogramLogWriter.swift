import DigitalCurrency
import Histogram
import ISO8583Network

/// Writes an HdrHistogram interval log (format version 1.3, as Java's `HistogramLogWriter` does), one line per
/// histogram per interval:
///
/// ```
/// #[Histogram log format version 1.3]
/// #[StartTime: 1763700000.000 (seconds since epoch), 2025-11-21T04:40:00Z]
/// #[Values in microseconds; Interval_Max in milliseconds. Untagged: latency from the intended start (corrected
/// for coordinated omission), all flows; Tag=<flow>: the same per flow; Tag=service: service time, all flows.]
/// "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
/// 0.000,1.000,1.234,HISTFAAAA…
/// Tag=nfc,0.000,1.000,1.234,HISTFAAAA…
/// ```
///
/// Timestamps are seconds relative to `StartTime`. `HistogramLogProcessor` and other readers of the format can
/// read it (use an output value unit ratio of 1000 for milliseconds).
public final class HistogramLogWriter: Sendable {
    private let file: AppendOnlyFile

    /// Creates (or truncates) the log at `path` and writes its header.
    public init(path: String, startNanosecondsSinceEpoch: Int64) throws(OutputFileError) {
        self.file = try AppendOnlyFile(path: path)
        let seconds = Double(startNanosecondsSinceEpoch / 1_000_000) / 1000
        let p = UTCClock.calendarParts(nanosecondsSinceEpoch: startNanosecondsSinceEpoch)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let date = "\(p.year)-\(two(p.month))-\(two(p.day))T\(two(p.hour)):\(two(p.minute)):\(two(p.second))Z"
        let header = """
            #[Histogram log format version 1.3]
            #[StartTime: \(TextFormatting.fixed(seconds, 3)) (seconds since epoch), \(date)]
            #[Values in microseconds; Interval_Max in milliseconds. Untagged: latency from the intended start (corrected \
            for coordinated omission), all flows; Tag=<flow>: the same per flow; Tag=service: service time, all flows.]
            "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"

            """
        self.file.append(Array(header.utf8))
    }

    /// The interval line of one histogram (newline included).
    public static func line(tag: String?, start: Double, length: Double, histogram: Histogram<UInt64>) -> String {
        var text = tag.map { "Tag=\($0)," } ?? ""
        let max = histogram.totalCount == 0 ? 0 : TextFormatting.milliseconds(histogram.max)
        text += TextFormatting.fixed(start, 3) + "," + TextFormatting.fixed(length, 3) + "," + TextFormatting.fixed(max, 3) + ","
        text += HistogramLogEncoding.compressedBase64(histogram)
        text += "\n"
        return text
    }

    /// Appends one interval: the overall latency (untagged), each flow's (tagged by flow name, flows that had
    /// answers only) and the overall service time (`Tag=service`).
    public func append(interval measurements: Measurements, start: Double, length: Double) {
        var text = Self.line(tag: nil, start: start, length: length, histogram: measurements.latency)
        for flow in Flow.allCases where measurements[flow].latency.totalCount > 0 {
            text += Self.line(tag: flow.rawValue, start: start, length: length, histogram: measurements[flow].latency)
        }
        text += Self.line(tag: "service", start: start, length: length, histogram: measurements.service)
        self.file.append(Array(text.utf8))
    }

    /// Closes the log.
    public func close() {
        self.file.close()
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A line chart as inline SVG: numeric axes with round ticks (or given ticks), several series, an optional
/// horizontal reference line (an SLO). No scripts, no external resources.
struct SVGChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
        var dashed = false
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series] = []
    /// Ticks for the x axis as (value, label); round numbers when `nil`.
    var xTicks: [(Double, String)]?
    var xRange: ClosedRange<Double>?
    var reference: (y: Double, label: String)?
    var markers = false
    var width = 880.0
    var height = 300.0

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]

    func render() -> String {
        let left = 64.0, right = 150.0, top = 28.0, bottom = 44.0
        let plotW = self.width - left - right
        let plotH = self.height - top - bottom
        let xs = self.series.flatMap { $0.points.map(\.x) }
        let ys = self.series.flatMap { $0.points.map(\.y) } + (self.reference.map { [$0.y] } ?? [])
        let xMin = self.xRange?.lowerBound ?? (xs.min() ?? 0)
        var xMax = self.xRange?.upperBound ?? (xs.max() ?? 1)
        if xMax <= xMin { xMax = xMin + 1 }
        let yTicks = Self.niceTicks(upTo: max(ys.max() ?? 1, 1e-9))
        let yMax = yTicks.last ?? 1
        func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * plotW }
        func py(_ y: Double) -> Double { top + plotH - (y / yMax) * plotH }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Self.n(self.width)) \(Self.n(self.height))\" width=\"\(Self.n(self.width))\" height=\"\(Self.n(self.height))\" font-family=\"sans-serif\" font-size=\"11\">"
        svg += "<text x=\"\(Self.n(left))\" y=\"16\" font-size=\"13\" font-weight=\"bold\">\(HTML.escape(self.title))</text>"
        // Grid and y ticks.
        for tick in yTicks {
            let y = py(tick)
            svg += "<line x1=\"\(Self.n(left))\" y1=\"\(Self.n(y))\" x2=\"\(Self.n(left + plotW))\" y2=\"\(Self.n(y))\" stroke=\"#e5e5e5\"/>"
            svg += "<text x=\"\(Self.n(left - 6))\" y=\"\(Self.n(y + 4))\" text-anchor=\"end\">\(Self.label(tick))</text>"
        }
        let xTickList = self.xTicks ?? Self.niceTicks(from: xMin, upTo: xMax).map { ($0, Self.label($0)) }
        for (value, text) in xTickList where value >= xMin && value <= xMax {
            let x = px(value)
            svg += "<line x1=\"\(Self.n(x))\" y1=\"\(Self.n(top))\" x2=\"\(Self.n(x))\" y2=\"\(Self.n(top + plotH))\" stroke=\"#f0f0f0\"/>"
            svg += "<text x=\"\(Self.n(x))\" y=\"\(Self.n(top + plotH + 16))\" text-anchor=\"middle\">\(HTML.escape(text))</text>"
        }
        svg += "<rect x=\"\(Self.n(left))\" y=\"\(Self.n(top))\" width=\"\(Self.n(plotW))\" height=\"\(Self.n(plotH))\" fill=\"none\" stroke=\"#999\"/>"
        svg += "<text x=\"\(Self.n(left + plotW / 2))\" y=\"\(Self.n(self.height - 6))\" text-anchor=\"middle\">\(HTML.escape(self.xLabel))</text>"
        svg += "<text transform=\"translate(14 \(Self.n(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">\(HTML.escape(self.yLabel))</text>"
        if let reference = self.reference {
            let y = py(reference.y)
            svg += "<line x1=\"\(Self.n(left))\" y1=\"\(Self.n(y))\" x2=\"\(Self.n(left + plotW))\" y2=\"\(Self.n(y))\" stroke=\"#d62728\" stroke-dasharray=\"6 4\"/>"
            svg += "<text x=\"\(Self.n(left + plotW - 4))\" y=\"\(Self.n(y - 4))\" text-anchor=\"end\" fill=\"#d62728\">\(HTML.escape(reference.label))</text>"
        }
        for (i, series) in self.series.enumerated() {
            let color = Self.palette[i % Self.palette.count]
            let points = series.points.filter { $0.x >= xMin && $0.x <= xMax }
            if !points.isEmpty {
                let path = points.map { "\(Self.n(px($0.x))),\(Self.n(py($0.y)))" }.joined(separator: " ")
                svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.6\"\(series.dashed ? " stroke-dasharray=\"5 3\"" : "") points=\"\(path)\"/>"
                if self.markers {
                    for p in points {
                        svg += "<circle cx=\"\(Self.n(px(p.x)))\" cy=\"\(Self.n(py(p.y)))\" r=\"3\" fill=\"\(color)\"/>"
                    }
                }
            }
            let ly = top + 10 + Double(i) * 16
            svg += "<line x1=\"\(Self.n(left + plotW + 12))\" y1=\"\(Self.n(ly))\" x2=\"\(Self.n(left + plotW + 30))\" y2=\"\(Self.n(ly))\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            svg += "<text x=\"\(Self.n(left + plotW + 34))\" y=\"\(Self.n(ly + 4))\">\(HTML.escape(series.name))</text>"
        }
        svg += "</svg>"
        return svg
    }

    /// Horizontal bars, one per (label, value).
    static func bars(title: String, _ items: [(String, Double)], unit: String) -> String {
        let width = 880.0
        let rowH = 20.0
        let height = 30 + rowH * Double(max(items.count, 1)) + 10
        let maxValue = max(items.map(\.1).max() ?? 1, 1)
        let left = 90.0, plotW = width - left - 140
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(n(width)) \(n(height))\" width=\"\(n(width))\" height=\"\(n(height))\" font-family=\"sans-serif\" font-size=\"11\">"
        svg += "<text x=\"\(n(left))\" y=\"16\" font-size=\"13\" font-weight=\"bold\">\(HTML.escape(title))</text>"
        for (i, (name, value)) in items.enumerated() {
            let y = 28 + Double(i) * rowH
            let w = max(1, value / maxValue * plotW)
            svg += "<text x=\"\(n(left - 6))\" y=\"\(n(y + 13))\" text-anchor=\"end\">\(HTML.escape(name))</text>"
            svg += "<rect x=\"\(n(left))\" y=\"\(n(y + 2))\" width=\"\(n(w))\" height=\"\(n(rowH - 5))\" fill=\"\(palette[i % palette.count])\"/>"
            svg += "<text x=\"\(n(left + w + 6))\" y=\"\(n(y + 13))\">\(HTML.escape(label(value)))\(HTML.escape(unit))</text>"
        }
        svg += "</svg>"
        return svg
    }

    /// About five round ticks from 0 (or `from`) up to at least `max`.
    static func niceTicks(from start: Double = 0, upTo max: Double) -> [Double] {
        let span = Swift.max(max - start, 1e-9)
        let raw = span / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var ticks: [Double] = []
        var t = (start / step).rounded(.down) * step
        while t < max + step * 0.999 {
            if t >= start - step * 1e-9 { ticks.append(t) }
            t += step
            if ticks.count > 20 { break }
        }
        return ticks
    }

    static func label(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        if abs(value) >= 10 { return TextFormatting.fixed(value, 1) }
        if abs(value) >= 0.1 { return TextFormatting.fixed(value, 2) }
        return TextFormatting.fixed(value, 3)
    }

    static func n(_ value: Double) -> String { TextFormatting.fixed(value, 1) }

    /// Percentile p (0–100) on the "nines" axis: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3, …
    static func nines(_ percentile: Double) -> Double {
        let rest = max(1 - percentile / 100, 1e-7)
        return log10(1 / rest)
    }

    static let ninesTicks: [(Double, String)] = [
        (0, "0%"), (1, "90%"), (2, "99%"), (3, "99.9%"), (4, "99.99%"), (5, "99.999%"), (6, "99.9999%"),
    ]
}

/// HTML text escaping.
enum HTML {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }

    static let style = """
        body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:960px}
        h1{font-size:20px}h2{font-size:16px;margin-top:28px}
        table{border-collapse:collapse;font-size:13px}td,th{padding:3px 10px;text-align:right;border-bottom:1px solid #eee}
        th:first-child,td:first-child{text-align:left}.note{color:#666;font-size:12px}
        .bad{color:#b00020;font-weight:bold}.ok{color:#1a7f37;font-weight:bold}
        """
}

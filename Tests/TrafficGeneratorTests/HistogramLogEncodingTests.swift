import Histogram
import Testing

@testable import TrafficGenerator

/// Decodes a compressed V2 histogram the way HdrHistogram's readers do, for checking the encoder.
struct DecodedHistogram {
    var significantDigits: Int
    var lowest: UInt64
    var highest: UInt64
    var countsByIndex: [Int: UInt64]

    init?(base64 text: String) {
        guard let bytes = Base64.decode(text), bytes.count > 8 else { return nil }
        func u32(_ b: [UInt8], _ at: Int) -> UInt32 { b[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        func u64(_ b: [UInt8], _ at: Int) -> UInt64 { b[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        guard u32(bytes, 0) == 0x1C84_9314, Int(u32(bytes, 4)) == bytes.count - 8 else { return nil }
        guard let raw = ZlibStored.unwrapStored(Array(bytes[8...])), raw.count >= 40, u32(raw, 0) == 0x1C84_9313 else { return nil }
        let payloadLength = Int(u32(raw, 4))
        guard raw.count == 40 + payloadLength, u32(raw, 8) == 0, Double(bitPattern: u64(raw, 32)) == 1.0 else { return nil }
        self.significantDigits = Int(u32(raw, 12))
        self.lowest = u64(raw, 16)
        self.highest = u64(raw, 24)
        var counts: [Int: UInt64] = [:]
        var index = 0
        var i = 40
        while i < raw.count {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let b = raw[i]
                i += 1
                if shift == 56 {
                    value |= UInt64(b) << 56
                    break
                }
                value |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { break }
                shift += 7
            }
            let signed = Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
            if signed < 0 {
                index += Int(-signed)
            } else {
                if signed > 0 { counts[index] = UInt64(signed) }
                index += 1
            }
        }
        self.countsByIndex = counts
    }
}

@Suite("HdrHistogram interval log encoding")
struct HistogramLogEncodingTests {
    static func sample() -> Histogram<UInt64> {
        var h = Histogram<UInt64>.microseconds()
        var random = LoadRandom(seed: 42)
        for _ in 0..<5_000 { h.record(UInt64(50 + random.below(3_000))) }
        for v in [1, 2, 2_047, 2_048, 100_000, 2_500_000] as [UInt64] { h.record(v, count: 3) }
        return h
    }

    @Test("the compressed V2 encoding decodes back to the same counts")
    func roundTrip() throws {
        let histogram = Self.sample()
        let text = HistogramLogEncoding.compressedBase64(histogram)
        #expect(text.hasPrefix("HISTF"))
        let decoded = try #require(DecodedHistogram(base64: text))
        #expect(decoded.significantDigits == 3)
        #expect(decoded.lowest == 1)
        #expect(decoded.highest == histogram.highestTrackableValue)
        let layout = HistogramLogEncoding.Layout(histogram)
        var total: UInt64 = 0
        for (index, count) in decoded.countsByIndex {
            let value = layout.value(at: index)
            #expect(histogram.countForValue(value) == count, "value \(value)")
            total += count
        }
        #expect(total == histogram.totalCount)
        var recorded = 0
        for value in histogram.recordedValues() {
            recorded += 1
            #expect(decoded.countsByIndex[layout.index(of: value.value)] == UInt64(value.count))
        }
        #expect(recorded == decoded.countsByIndex.count)
    }

    @Test("the counts index agrees with the histogram's equivalent ranges", arguments: [1, 2, 1_000, 2_047, 2_048, 2_049, 4_095, 4_096, 123_456, 9_999_999] as [UInt64])
    func layout(value: UInt64) {
        let h = Histogram<UInt64>.microseconds()
        let layout = HistogramLogEncoding.Layout(h)
        let i = layout.index(of: value)
        #expect(layout.index(of: h.lowestEquivalentForValue(value)) == i)
        #expect(layout.index(of: h.highestEquivalentForValue(value)) == i)
        #expect(layout.index(of: h.nextNonEquivalentForValue(value)) == i + 1)
        #expect(layout.value(at: i) == h.lowestEquivalentForValue(value))
    }

    @Test("an empty histogram encodes too")
    func empty() throws {
        let decoded = try #require(DecodedHistogram(base64: HistogramLogEncoding.compressedBase64(.microseconds())))
        #expect(decoded.countsByIndex.isEmpty)
    }

    @Test("zlib stored blocks: long data spans blocks and keeps its Adler-32")
    func zlib() throws {
        let data = (0..<150_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let wrapped = ZlibStored.wrap(data)
        #expect(try #require(ZlibStored.unwrapStored(wrapped)) == data)
        var corrupted = wrapped
        corrupted[corrupted.count - 1] ^= 1
        #expect(ZlibStored.unwrapStored(corrupted) == nil)
        #expect(ZlibStored.adler32(Array("Wikipedia".utf8)) == 0x11E6_0398)
        #expect(Base64.encode(Array("any carnal pleasure.".utf8)) == "YW55IGNhcm5hbCBwbGVhc3VyZS4=")
    }

    @Test("the log: header, legend, an untagged line and a line per flow and for service time")
    func logFile() throws {
        let path = temporaryPath("intervals.hlog")
        let log = try HistogramLogWriter(path: path, startNanosecondsSinceEpoch: 1_763_700_000_250_000_000)
        var m = Measurements(keepsResponseCodeLatency: false)
        let approved = ResponseSummary(responseCode: 0x3030, transactionID: "T", ownerChangeRecords: 1, newWallet: nil)
        m.recordAnswer(.nfc, summary: approved, latency: 1_234, service: 800)
        m.recordAnswer(.qrBSC, summary: approved, latency: 567, service: 300)
        log.append(interval: m, start: 1, length: 1)
        log.close()
        let lines = try readLines(path)
        #expect(lines[0] == "#[Histogram log format version 1.3]")
        #expect(lines[1] == "#[StartTime: 1763700000.250 (seconds since epoch), 2025-11-21T04:40:00Z]")
        #expect(lines[3] == "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"")
        let data = Array(lines.dropFirst(4))
        #expect(data.count == 4)
        #expect(data[0].hasPrefix("1.000,1.000,1.234,HISTF"))
        #expect(data[1].hasPrefix("Tag=nfc,1.000,1.000,1.234,HISTF"))
        #expect(data[2].hasPrefix("Tag=qr-bsc,1.000,1.000,0.567,HISTF"))
        #expect(data[3].hasPrefix("Tag=service,1.000,1.000,0.800,HISTF"))
        let overall = try #require(DecodedHistogram(base64: String(data[0].split(separator: ",").last!)))
        #expect(overall.countsByIndex.values.reduce(0, +) == 2)
    }
}

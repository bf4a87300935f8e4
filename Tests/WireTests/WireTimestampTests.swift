import Foundation
import Testing
@testable import Wire

@Suite struct WireTimestampTests {
    @Test func knownInstants() {
        #expect(WireTimestamp.string(from: Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(WireTimestamp.string(from: Date(timeIntervalSince1970: 1_700_000_000.5)) == "2023-11-14T22:13:20.500Z")
        #expect(WireTimestamp.string(from: Date(timeIntervalSince1970: -1)) == "1969-12-31T23:59:59.000Z")
        #expect(WireTimestamp.string(from: Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000Z")
        #expect(WireTimestamp.date(from: "2000-02-29T00:00:00Z") == Date(timeIntervalSince1970: 951_782_400))
        #expect(WireTimestamp.date(from: "1970-01-01T00:00:00.000Z") == Date(timeIntervalSince1970: 0))
    }

    @Test func writingWhatWasReadGivesTheSameText() throws {
        var random = SeededRandom(seed: 11)
        for _ in 0..<5_000 {
            let milliseconds = Int64.random(in: -2_000_000_000_000...4_000_000_000_000, using: &random)
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            let text = WireTimestamp.string(from: date)
            let read = try #require(WireTimestamp.date(from: text), "\(text)")
            #expect(read == date, "\(text)")
            #expect(WireTimestamp.string(from: read) == text)
            // Foundation agrees on the calendar, to the second.
            let seconds = Date(timeIntervalSince1970: (Double(milliseconds) / 1000).rounded(.down))
            #expect(text.prefix(19) == seconds.formatted(Date.ISO8601FormatStyle()).prefix(19), "\(text)")
        }
    }

    @Test func timesAreRoundedToTheNearestMillisecond() {
        #expect(WireTimestamp.string(from: Date(timeIntervalSince1970: 10.0004)) == "1970-01-01T00:00:10.000Z")
        #expect(WireTimestamp.string(from: Date(timeIntervalSince1970: 10.0006)) == "1970-01-01T00:00:10.001Z")
        #expect(WireTimestamp.string(from: Date(timeIntervalSince1970: 59.9996)) == "1970-01-01T00:01:00.000Z")
        #expect(WireTimestamp.date(from: "1970-01-01T00:00:10.0005Z") == Date(timeIntervalSince1970: 10.001))
        #expect(WireTimestamp.date(from: "1970-01-01T00:00:59.9999Z") == Date(timeIntervalSince1970: 60))
        #expect(WireTimestamp.date(from: "1970-01-01T00:00:10.5Z") == Date(timeIntervalSince1970: 10.5))
        #expect(WireTimestamp.date(from: "1970-01-01T00:00:10.123456789Z") == Date(timeIntervalSince1970: 10.123))
    }

    @Test func offsetsAreConvertedToUTC() {
        let utc = WireTimestamp.date(from: "2025-01-02T03:04:05.678Z")
        #expect(WireTimestamp.date(from: "2025-01-02T05:34:05.678+02:30") == utc)
        #expect(WireTimestamp.date(from: "2025-01-01T22:04:05.678-05:00") == utc)
        #expect(WireTimestamp.date(from: "2025-01-02t03:04:05.678z") == utc)
    }

    @Test(arguments: [
        "", "yesterday", "2025-01-02", "2025-01-02T03:04:05", "2025-01-02 03:04:05Z", "2025-1-02T03:04:05Z",
        "2025-13-02T03:04:05Z", "2025-00-02T03:04:05Z", "2025-02-29T03:04:05Z", "2024-04-31T00:00:00Z",
        "2025-01-02T24:00:00Z", "2025-01-02T03:60:05Z", "2025-01-02T03:04:60Z", "2025-01-02T03:04:05.Z",
        "2025-01-02T03:04:05.678ZZ", "2025-01-02T03:04:05+0200", "2025-01-02T03:04:05+25:00", "0000-01-01T00:00:00Z",
        "+2025-01-02T03:04:05Z", "２０２５-01-02T03:04:05Z",
    ])
    func malformedTimesAreRefused(text: String) {
        #expect(WireTimestamp.date(from: text) == nil)
    }

    @Test func leapYears() {
        #expect(WireTimestamp.date(from: "2024-02-29T00:00:00Z") != nil)
        #expect(WireTimestamp.date(from: "2000-02-29T00:00:00Z") != nil)
        #expect(WireTimestamp.date(from: "1900-02-29T00:00:00Z") == nil)
    }

    @Test func extremeDatesAreClampedNotTrapped() {
        #expect(WireTimestamp.string(from: .distantFuture).hasPrefix("4001-"))
        #expect(WireTimestamp.string(from: Date(timeIntervalSince1970: 1e300)) == "9999-12-31T23:59:59.999Z")
        #expect(WireTimestamp.string(from: Date(timeIntervalSince1970: -1e300)) == "0001-01-01T00:00:00.000Z")
        #expect(WireTimestamp.string(from: Date(timeIntervalSince1970: .infinity)) == "9999-12-31T23:59:59.999Z")
        #expect(WireTimestamp.string(from: Date(timeIntervalSince1970: .nan)) == "1970-01-01T00:00:00.000Z")
        #expect(WireTimestamp.date(from: "9999-12-31T23:59:59.999Z") != nil)
        #expect(WireTimestamp.date(from: "0001-01-01T00:00:00Z") != nil)
    }
}

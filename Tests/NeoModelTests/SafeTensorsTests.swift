import Foundation
import NeoModel
import Testing

@Suite struct SafeTensorsTests {
    /// A file with the given header JSON and `dataBytes` zero bytes after it.
    func file(header: String, dataBytes: Int, declaredLength: UInt64? = nil) -> Data {
        var d = Data()
        let h = Data(header.utf8)
        withUnsafeBytes(of: (declaredLength ?? UInt64(h.count)).littleEndian) { d.append(contentsOf: $0) }
        d.append(h)
        d.append(Data(count: dataBytes))
        return d
    }

    func rejects(_ data: Data, mentioning words: String) {
        do {
            _ = try SafeTensorsFile(data: data)
            Issue.record("accepted a bad file; expected an error mentioning '\(words)'")
        } catch {
            #expect(error.message.contains(words), "error '\(error.message)' should mention '\(words)'")
        }
    }

    @Test func roundTripF32() throws {
        let a: [Float] = [1, -2.5, 3e-8, .greatestFiniteMagnitude, 0, -0.0]
        let b: [Float] = (0..<12).map { Float($0) * 0.25 }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("koinon-st-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try a.withUnsafeBufferPointer { pa in
            try b.withUnsafeBufferPointer { pb in
                try SafeTensorsWriter.write([.init(name: "a", shape: [2, 3], values: pa),
                                             .init(name: "b.weight", shape: [12], values: pb)], to: url)
            }
        }
        let f = try SafeTensorsFile(contentsOf: url)
        #expect(try f.floats("a") == a)
        #expect(try f.floats("b.weight") == b)
        #expect(f.entries["a"]?.shape == [2, 3])
        #expect(f.metadata["format"] == "pt")
    }

    @Test func convertsHalfAndBFloat16() throws {
        // 1.5 and -2 in F16 (0x3E00, 0xC000) and BF16 (0x3FC0, 0xC000).
        let header = #"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}}"#
        var d = file(header: header, dataBytes: 0)
        d.append(contentsOf: [0x00, 0x3E, 0x00, 0xC0, 0xC0, 0x3F, 0x00, 0xC0])
        let f = try SafeTensorsFile(data: d)
        #expect(try f.floats("h") == [1.5, -2])
        #expect(try f.floats("b") == [1.5, -2])
    }

    @Test func rejectsHostileHeaders() {
        rejects(Data([1, 2, 3]), mentioning: "too short")
        rejects(file(header: "{}", dataBytes: 0, declaredLength: 1 << 40), mentioning: "limit")
        rejects(file(header: "{}", dataBytes: 0, declaredLength: 50), mentioning: "past the end")
        rejects(file(header: "[1,2]", dataBytes: 0), mentioning: "JSON object")
        rejects(file(header: "{not json", dataBytes: 0), mentioning: "JSON object")
        rejects(file(header: #"{"x":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4), mentioning: "unknown dtype")
        rejects(file(header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, dataBytes: 4), mentioning: "needs 8 bytes")
        rejects(file(header: #"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 8), mentioning: "past the data section")
        rejects(file(header: #"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, dataBytes: 4), mentioning: "non-negative")
        rejects(file(header: #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, dataBytes: 4), mentioning: "begin <= end")
        rejects(file(header: #"{"x":{"dtype":"F32","shape":[4503599627370496,4096],"data_offsets":[0,4]}}"#, dataBytes: 4), mentioning: "too large")
        rejects(file(header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                     dataBytes: 12), mentioning: "overlap")
        rejects(file(header: #"{"__metadata__":{"k":1}}"#, dataBytes: 0), mentioning: "not a string")
    }

    @Test func truncatedFileFailsCleanly() throws {
        let values = [Float](repeating: 1, count: 64)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("koinon-st-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try values.withUnsafeBufferPointer { try SafeTensorsWriter.write([.init(name: "w", shape: [64], values: $0)], to: url) }
        let whole = try Data(contentsOf: url)
        for cut in [whole.count - 1, whole.count - 100, 20, 9, 7, 0] {
            #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(data: whole.prefix(cut)) }
        }
    }

    /// Random mutations of a valid file never crash the reader.
    @Test func mutatedFilesNeverCrash() throws {
        let values = (0..<32).map(Float.init)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("koinon-st-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try values.withUnsafeBufferPointer { try SafeTensorsWriter.write([.init(name: "w", shape: [4, 8], values: $0)], to: url) }
        let whole = try Data(contentsOf: url)
        var rng = RandomSource(seed: 7)
        for _ in 0..<2000 {
            var d = whole
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                d[Int(rng.next() % UInt64(d.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
            if let f = try? SafeTensorsFile(data: d) {
                for name in f.entries.keys { _ = try? f.floats(name) }
            }
        }
    }
}

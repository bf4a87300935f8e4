import Testing
import Wire

/// Durations and FLOPs as people read them: every number from the network
/// formats without trapping.
@Suite struct HumanUnitsTests {
    @Test func durations() {
        #expect(HumanUnits.duration(45) == "45 s")
        #expect(HumanUnits.duration(240) == "4 min")
        #expect(HumanUnits.duration(7_500) == "2 h 5 min")
        #expect(HumanUnits.duration(3 * 86_400 + 4 * 3_600) == "3 d 4 h")
        #expect(HumanUnits.duration(-1) == nil)
        #expect(HumanUnits.duration(.nan) == nil && HumanUnits.duration(.infinity) == nil)
        #expect(HumanUnits.duration(1e21) == "over 10,000 d")
        #expect(HumanUnits.duration(Double.greatestFiniteMagnitude) == "over 10,000 d")
    }

    @Test func flops() {
        #expect(HumanUnits.flops(0) == "0 FLOP")
        #expect(HumanUnits.flops(950) == "950 FLOP")
        #expect(HumanUnits.flops(12_400) == "12.4 kFLOP")
        #expect(HumanUnits.flops(3.1e12) == "3.1 TFLOP")
        #expect(HumanUnits.flops(312e15) == "312 PFLOP")
        #expect(HumanUnits.flops(Double.greatestFiniteMagnitude)?.hasSuffix("YFLOP") == true)
        #expect(HumanUnits.flops(-1) == nil && HumanUnits.flops(.nan) == nil)
    }
}

import Kernels

/// Entry point: before anything touches BLAS, make sure OpenBLAS runs the
/// fastest core this CPU supports (may re-execute the program; see BLASRuntime).
@main
enum WorkerMain {
    static func main() async {
        BLASRuntime.ensureFastCore()
        LargeBuffers.keepFreedBuffers()
        await KoinonWorker.main(nil)
    }
}

import Kernels

/// koinon-coordinator: the operator's binary. Argument parsing only; the work
/// is done by CoordinatorApp, Dataset and Tokenizer.
@main
enum CoordinatorMain {
    static func main() async {
        LargeBuffers.keepFreedBuffers()
        await KoinonCoordinator.main(nil)
    }
}

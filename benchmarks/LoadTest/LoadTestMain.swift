import NIOCore
import NIOPosix

/// Swift Concurrency runs on NIO's event loops here: a thousand simulated
/// workers sleeping between lease and submit are then timers on the loops
/// their connections live on, not dispatch timers that a thread of their own
/// hands to Swift Concurrency's pool, which hands them back to NIO to write
/// (those hand-overs were about a quarter of the generator's CPU time, which
/// it takes from the coordinator it measures: they share the machine).
@main
enum LoadTestMain {
    static func main() async {
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await LoadTest.main()
    }
}

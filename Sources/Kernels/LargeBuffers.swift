import CKernels

/// glibc hands buffers over its mmap threshold straight back to the kernel
/// when they are freed, and returns the top of the heap once it is larger
/// than the trim threshold. A worker or coordinator allocates and frees the
/// same few megabyte-sized buffers at every step (a download, a payload, a
/// decoded tensor), so each step paid again for fresh, zeroed pages: in a
/// small run about a tenth of every process's time went to page faults.
/// Raised thresholds keep freed buffers for reuse (memory then stays at the
/// process's peak, which these processes reach at every step anyway).
public enum LargeBuffers {
    public static func keepFreedBuffers() {
        _ = kn_keep_freed_buffers(32 << 20, 1 << 30)  // 32 MiB: glibc's largest mmap threshold on 64-bit
    }
}

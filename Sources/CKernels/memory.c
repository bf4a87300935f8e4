// Allocator settings for processes that free and allocate the same
// megabyte-sized buffers at every step (see Kernels/LargeBuffers.swift).
#include "ckernels.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int kn_keep_freed_buffers(size_t mmap_threshold, size_t trim_threshold) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold) && mallopt(M_TRIM_THRESHOLD, (int)trim_threshold);
#else
    (void)mmap_threshold;
    (void)trim_threshold;
    return 0;
#endif
}

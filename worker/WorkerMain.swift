import Kernels
import WorkerKit

// Must run before any BLAS work: may re-execute this program with the
// OpenBLAS core set for this CPU (see BLASRuntime).
BLASRuntime.ensureFastCore()
KoinonWorker.main()

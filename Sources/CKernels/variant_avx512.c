// The avx512 variant of every kernel (see kernels_body.h).
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "ckernels.h"

#define KN(name) kn_avx512_##name
#pragma clang attribute push (__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c"))), apply_to = function)
#include "kernels_body.h"
#pragma clang attribute pop

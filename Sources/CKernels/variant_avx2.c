// The avx2 variant of every kernel (see kernels_body.h).
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "ckernels.h"

#define KN(name) kn_avx2_##name
#pragma clang attribute push (__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#include "kernels_body.h"
#pragma clang attribute pop

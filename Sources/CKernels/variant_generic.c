// The generic variant of every kernel (see kernels_body.h).
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "ckernels.h"

#define KN(name) kn_generic_##name
#include "kernels_body.h"

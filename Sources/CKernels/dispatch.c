// Picks the best kernel variant for this CPU once, before main, and forwards
// every public kn_* call through a table of function pointers. The
// environment variable KOINON_KERNELS=generic|avx2|avx512 forces a variant
// (e.g. to measure how far the variants' results differ); a variant this CPU
// cannot run, or an unknown name, is refused with a line on stderr and the
// best variant is kept.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ckernels.h"

// Every dispatched kernel: X(return type, name, (parameters), (arguments)).
#define KN_KERNELS(X) \
    X(void, layernorm_forward, (float *out, float *mean, float *rstd, const float *inp, const float *weight, const float *bias, size_t N, size_t C, float eps), (out, mean, rstd, inp, weight, bias, N, C, eps)) \
    X(void, layernorm_backward, (float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, const float *weight, const float *mean, const float *rstd, size_t N, size_t C), (dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C)) \
    X(void, gelu_forward, (float *out, const float *inp, size_t n), (out, inp, n)) \
    X(void, gelu_backward, (float *dinp, const float *inp, const float *dout, size_t n), (dinp, inp, dout, n)) \
    X(void, add, (float *out, const float *a, const float *b, size_t n), (out, a, b, n)) \
    X(void, fill_rows, (float *out, const float *bias, size_t N, size_t C), (out, bias, N, C)) \
    X(void, column_sum, (float *out, const float *inp, size_t N, size_t C, size_t stride), (out, inp, N, C, stride)) \
    X(void, scale, (float *x, float s, size_t n), (x, s, n)) \
    X(double, sum_squares, (const float *x, size_t n), (x, n)) \
    X(void, embedding_forward, (float *out, const int32_t *tokens, const float *wte, const float *wpe, size_t row0, size_t row1, size_t T, size_t C), (out, tokens, wte, wpe, row0, row1, T, C)) \
    X(void, embedding_backward, (float *dwte, float *dwpe, const float *dout, const int32_t *tokens, size_t N, size_t T, size_t C), (dwte, dwpe, dout, tokens, N, T, C)) \
    X(void, attention_forward, (float *out, float *att, const float *q, const float *k, const float *v, size_t T, size_t qkv_stride, size_t out_stride, size_t hd, size_t window, float *scratch), (out, att, q, k, v, T, qkv_stride, out_stride, hd, window, scratch)) \
    X(void, attention_backward, (float *dq, float *dk, float *dv, const float *dout, const float *att, const float *q, const float *k, const float *v, size_t T, size_t qkv_stride, size_t out_stride, size_t hd, size_t window, float *scratch), (dq, dk, dv, dout, att, q, k, v, T, qkv_stride, out_stride, hd, window, scratch)) \
    X(float, cross_entropy_row, (float *logits, size_t V, int32_t target, float grad_scale), (logits, V, target, grad_scale)) \
    X(void, adamw, (float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1, float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2, float grad_scale), (p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2, grad_scale))

#define DECLARE(ret, name, params, args) \
    ret kn_avx512_##name params; \
    ret kn_avx2_##name params; \
    ret kn_generic_##name params;
KN_KERNELS(DECLARE)

typedef struct {
    const char *name;
#define FIELD(ret, name, params, args) ret(*name) params;
    KN_KERNELS(FIELD)
} kn_table;

#define ENTRY_AVX512(ret, name, params, args) kn_avx512_##name,
#define ENTRY_AVX2(ret, name, params, args) kn_avx2_##name,
#define ENTRY_GENERIC(ret, name, params, args) kn_generic_##name,
static const kn_table table_avx512 = {"avx512", KN_KERNELS(ENTRY_AVX512)};
static const kn_table table_avx2 = {"avx2", KN_KERNELS(ENTRY_AVX2)};
static const kn_table table_generic = {"generic", KN_KERNELS(ENTRY_GENERIC)};

static const kn_table *active = &table_generic;

static int cpu_has(const char *level) {
    __builtin_cpu_init();
    if (strcmp(level, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("fma");
    if (strcmp(level, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return strcmp(level, "generic") == 0;
}

__attribute__((constructor)) static void kn_select(void) {
    if (cpu_has("avx512")) active = &table_avx512;
    else if (cpu_has("avx2")) active = &table_avx2;
    else active = &table_generic;
    const char *wanted = getenv("KOINON_KERNELS");
    if (wanted && *wanted && !kn_force_simd_level(wanted))
        fprintf(stderr, "koinon: KOINON_KERNELS=%s is not a kernel variant this CPU runs "
                        "(avx512, avx2, generic); using %s\n", wanted, active->name);
}

const char *kn_simd_level(void) { return active->name; }

int kn_force_simd_level(const char *level) {
    if (!cpu_has(level)) return 0;
    if (strcmp(level, "avx512") == 0) active = &table_avx512;
    else if (strcmp(level, "avx2") == 0) active = &table_avx2;
    else active = &table_generic;
    return 1;
}

#define FORWARD(ret, name, params, args) \
    ret kn_##name params { return active->name args; }
KN_KERNELS(FORWARD)

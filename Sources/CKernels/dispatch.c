// Picks the best kernel variant for this CPU once, before main, and forwards
// every public kn_* call through a table of function pointers.
#include <string.h>
#include "ckernels.h"

void kn_avx512_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *weight, const float *bias, size_t N, size_t C, float eps);
void kn_avx2_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *weight, const float *bias, size_t N, size_t C, float eps);
void kn_generic_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *weight, const float *bias, size_t N, size_t C, float eps);
void kn_avx512_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, const float *mean,
                           const float *rstd, size_t N, size_t C);
void kn_avx2_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, const float *mean,
                           const float *rstd, size_t N, size_t C);
void kn_generic_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, const float *mean,
                           const float *rstd, size_t N, size_t C);
void kn_avx512_gelu_forward(float *out, const float *inp, size_t n);
void kn_avx2_gelu_forward(float *out, const float *inp, size_t n);
void kn_generic_gelu_forward(float *out, const float *inp, size_t n);
void kn_avx512_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);
void kn_avx2_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);
void kn_generic_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);
void kn_avx512_add(float *out, const float *a, const float *b, size_t n);
void kn_avx2_add(float *out, const float *a, const float *b, size_t n);
void kn_generic_add(float *out, const float *a, const float *b, size_t n);
void kn_avx512_fill_rows(float *out, const float *bias, size_t N, size_t C);
void kn_avx2_fill_rows(float *out, const float *bias, size_t N, size_t C);
void kn_generic_fill_rows(float *out, const float *bias, size_t N, size_t C);
void kn_avx512_column_sum(float *out, const float *inp, size_t N, size_t C, size_t stride);
void kn_avx2_column_sum(float *out, const float *inp, size_t N, size_t C, size_t stride);
void kn_generic_column_sum(float *out, const float *inp, size_t N, size_t C, size_t stride);
void kn_avx512_scale(float *x, float s, size_t n);
void kn_avx2_scale(float *x, float s, size_t n);
void kn_generic_scale(float *x, float s, size_t n);
double kn_avx512_sum_squares(const float *x, size_t n);
double kn_avx2_sum_squares(const float *x, size_t n);
double kn_generic_sum_squares(const float *x, size_t n);
void kn_avx512_embedding_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                          size_t row0, size_t row1, size_t T, size_t C);
void kn_avx2_embedding_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                          size_t row0, size_t row1, size_t T, size_t C);
void kn_generic_embedding_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                          size_t row0, size_t row1, size_t T, size_t C);
void kn_avx512_embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                           size_t N, size_t T, size_t C);
void kn_avx2_embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                           size_t N, size_t T, size_t C);
void kn_generic_embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                           size_t N, size_t T, size_t C);
void kn_avx512_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                          size_t T, size_t qkv_stride, size_t out_stride, size_t hd, size_t window,
                          float *scratch);
void kn_avx2_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                          size_t T, size_t qkv_stride, size_t out_stride, size_t hd, size_t window,
                          float *scratch);
void kn_generic_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                          size_t T, size_t qkv_stride, size_t out_stride, size_t hd, size_t window,
                          float *scratch);
void kn_avx512_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                           const float *q, const float *k, const float *v, size_t T,
                           size_t qkv_stride, size_t out_stride, size_t hd, size_t window,
                           float *scratch);
void kn_avx2_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                           const float *q, const float *k, const float *v, size_t T,
                           size_t qkv_stride, size_t out_stride, size_t hd, size_t window,
                           float *scratch);
void kn_generic_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                           const float *q, const float *k, const float *v, size_t T,
                           size_t qkv_stride, size_t out_stride, size_t hd, size_t window,
                           float *scratch);
float kn_avx512_cross_entropy_row(float *logits, size_t V, int32_t target, float grad_scale);
float kn_avx2_cross_entropy_row(float *logits, size_t V, int32_t target, float grad_scale);
float kn_generic_cross_entropy_row(float *logits, size_t V, int32_t target, float grad_scale);
void kn_avx512_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
              float beta2, float eps, float weight_decay, float bias_correction1,
              float bias_correction2, float grad_scale);
void kn_avx2_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
              float beta2, float eps, float weight_decay, float bias_correction1,
              float bias_correction2, float grad_scale);
void kn_generic_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
              float beta2, float eps, float weight_decay, float bias_correction1,
              float bias_correction2, float grad_scale);

typedef struct {
    const char *name;
    void (*layernorm_forward)(float *out, float *mean, float *rstd, const float *inp,
                          const float *weight, const float *bias, size_t N, size_t C, float eps);
    void (*layernorm_backward)(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, const float *mean,
                           const float *rstd, size_t N, size_t C);
    void (*gelu_forward)(float *out, const float *inp, size_t n);
    void (*gelu_backward)(float *dinp, const float *inp, const float *dout, size_t n);
    void (*add)(float *out, const float *a, const float *b, size_t n);
    void (*fill_rows)(float *out, const float *bias, size_t N, size_t C);
    void (*column_sum)(float *out, const float *inp, size_t N, size_t C, size_t stride);
    void (*scale)(float *x, float s, size_t n);
    double (*sum_squares)(const float *x, size_t n);
    void (*embedding_forward)(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                          size_t row0, size_t row1, size_t T, size_t C);
    void (*embedding_backward)(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                           size_t N, size_t T, size_t C);
    void (*attention_forward)(float *out, float *att, const float *q, const float *k, const float *v,
                          size_t T, size_t qkv_stride, size_t out_stride, size_t hd, size_t window,
                          float *scratch);
    void (*attention_backward)(float *dq, float *dk, float *dv, const float *dout, const float *att,
                           const float *q, const float *k, const float *v, size_t T,
                           size_t qkv_stride, size_t out_stride, size_t hd, size_t window,
                           float *scratch);
    float (*cross_entropy_row)(float *logits, size_t V, int32_t target, float grad_scale);
    void (*adamw)(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
              float beta2, float eps, float weight_decay, float bias_correction1,
              float bias_correction2, float grad_scale);
} kn_table;

static const kn_table table_avx512 = {
    "avx512",
    kn_avx512_layernorm_forward,
    kn_avx512_layernorm_backward,
    kn_avx512_gelu_forward,
    kn_avx512_gelu_backward,
    kn_avx512_add,
    kn_avx512_fill_rows,
    kn_avx512_column_sum,
    kn_avx512_scale,
    kn_avx512_sum_squares,
    kn_avx512_embedding_forward,
    kn_avx512_embedding_backward,
    kn_avx512_attention_forward,
    kn_avx512_attention_backward,
    kn_avx512_cross_entropy_row,
    kn_avx512_adamw,
};
static const kn_table table_avx2 = {
    "avx2",
    kn_avx2_layernorm_forward,
    kn_avx2_layernorm_backward,
    kn_avx2_gelu_forward,
    kn_avx2_gelu_backward,
    kn_avx2_add,
    kn_avx2_fill_rows,
    kn_avx2_column_sum,
    kn_avx2_scale,
    kn_avx2_sum_squares,
    kn_avx2_embedding_forward,
    kn_avx2_embedding_backward,
    kn_avx2_attention_forward,
    kn_avx2_attention_backward,
    kn_avx2_cross_entropy_row,
    kn_avx2_adamw,
};
static const kn_table table_generic = {
    "generic",
    kn_generic_layernorm_forward,
    kn_generic_layernorm_backward,
    kn_generic_gelu_forward,
    kn_generic_gelu_backward,
    kn_generic_add,
    kn_generic_fill_rows,
    kn_generic_column_sum,
    kn_generic_scale,
    kn_generic_sum_squares,
    kn_generic_embedding_forward,
    kn_generic_embedding_backward,
    kn_generic_attention_forward,
    kn_generic_attention_backward,
    kn_generic_cross_entropy_row,
    kn_generic_adamw,
};

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
}

const char *kn_simd_level(void) { return active->name; }

int kn_force_simd_level(const char *level) {
    if (!cpu_has(level)) return 0;
    if (strcmp(level, "avx512") == 0) active = &table_avx512;
    else if (strcmp(level, "avx2") == 0) active = &table_avx2;
    else active = &table_generic;
    return 1;
}

void kn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *weight, const float *bias, size_t N, size_t C, float eps) { active->layernorm_forward(out, mean, rstd, inp, weight, bias, N, C, eps); }
void kn_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, const float *mean,
                           const float *rstd, size_t N, size_t C) { active->layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C); }
void kn_gelu_forward(float *out, const float *inp, size_t n) { active->gelu_forward(out, inp, n); }
void kn_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) { active->gelu_backward(dinp, inp, dout, n); }
void kn_add(float *out, const float *a, const float *b, size_t n) { active->add(out, a, b, n); }
void kn_fill_rows(float *out, const float *bias, size_t N, size_t C) { active->fill_rows(out, bias, N, C); }
void kn_column_sum(float *out, const float *inp, size_t N, size_t C, size_t stride) { active->column_sum(out, inp, N, C, stride); }
void kn_scale(float *x, float s, size_t n) { active->scale(x, s, n); }
double kn_sum_squares(const float *x, size_t n) { return active->sum_squares(x, n); }
void kn_embedding_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                          size_t row0, size_t row1, size_t T, size_t C) { active->embedding_forward(out, tokens, wte, wpe, row0, row1, T, C); }
void kn_embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                           size_t N, size_t T, size_t C) { active->embedding_backward(dwte, dwpe, dout, tokens, N, T, C); }
void kn_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                          size_t T, size_t qkv_stride, size_t out_stride, size_t hd, size_t window,
                          float *scratch) { active->attention_forward(out, att, q, k, v, T, qkv_stride, out_stride, hd, window, scratch); }
void kn_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                           const float *q, const float *k, const float *v, size_t T,
                           size_t qkv_stride, size_t out_stride, size_t hd, size_t window,
                           float *scratch) { active->attention_backward(dq, dk, dv, dout, att, q, k, v, T, qkv_stride, out_stride, hd, window, scratch); }
float kn_cross_entropy_row(float *logits, size_t V, int32_t target, float grad_scale) { return active->cross_entropy_row(logits, V, target, grad_scale); }
void kn_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
              float beta2, float eps, float weight_decay, float bias_correction1,
              float bias_correction2, float grad_scale) { active->adamw(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2, grad_scale); }


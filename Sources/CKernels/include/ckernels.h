// Hand-written CPU kernels for Koinon's GPT-Neo. Each function exists in an
// AVX-512, an AVX2+FMA and a portable variant; the first call picks the best
// one the CPU supports (see dispatch.c). All kernels are single-threaded: the
// Swift side splits work into row or element ranges across cores.
#ifndef KOINON_CKERNELS_H
#define KOINON_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// The SIMD variant in use: "avx512", "avx2" or "generic".
const char *kn_simd_level(void);
/// Forces a variant ("avx512", "avx2", "generic"); returns 0 if the CPU lacks it.
int kn_force_simd_level(const char *level);

// glibc: keep freed buffers up to mmap_threshold bytes in the heap, and
// return the heap's top to the kernel only above trim_threshold bytes.
// 1 if set, 0 where the allocator has no such settings.
int kn_keep_freed_buffers(size_t mmap_threshold, size_t trim_threshold);

// LayerNorm over rows of C: out = (inp - mean) * rstd * weight + bias.
// inp, out [N, C]; mean, rstd [N].
void kn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *weight, const float *bias, size_t N, size_t C, float eps);
// dinp += dL/dinp; dweight += ...; dbias += ... (over these N rows).
void kn_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, const float *mean,
                           const float *rstd, size_t N, size_t C);

// gelu_new (tanh form): out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
void kn_gelu_forward(float *out, const float *inp, size_t n);
// dinp = gelu'(inp) * dout (dinp may alias dout).
void kn_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);

// out = a + b (out may alias a or b).
void kn_add(float *out, const float *a, const float *b, size_t n);
// Every row of out [N, C] set to bias [C].
void kn_fill_rows(float *out, const float *bias, size_t N, size_t C);
// out[c] += sum over rows of inp[r, c] for c < C; rows of inp are stride apart.
void kn_column_sum(float *out, const float *inp, size_t N, size_t C, size_t stride);
// x *= s.
void kn_scale(float *x, float s, size_t n);
// Sum of squares, accumulated in double.
double kn_sum_squares(const float *x, size_t n);

// Token + position embedding for rows [row0, row1) of a [B*T, C] output:
// out[r] = wte[tokens[r]] + wpe[r % T].
void kn_embedding_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                          size_t row0, size_t row1, size_t T, size_t C);
// dwte[tokens[r]] += dout[r]; dwpe[r % T] += dout[r], all rows (single thread: scatter-add).
void kn_embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                           size_t N, size_t T, size_t C);

// Causal self-attention of one (sequence, head) pair, GPT-Neo style: scores are
// NOT scaled by 1/sqrt(hd); query i sees keys j with i - window < j <= i
// (window == 0 means global). qkv rows are [q | k | v] of width 3C, this
// head's slice starts at column h*hd of each part (the caller offsets the
// pointers). att [T, T] receives the probabilities (zeros where masked);
// out rows have stride C. scratch holds hd*T + T floats.
void kn_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                          size_t T, size_t qkv_stride, size_t out_stride, size_t hd, size_t window,
                          float *scratch);
// Backward of the above. dq, dk, dv (stride qkv_stride) are overwritten for
// this head's slice; dout has stride out_stride. scratch holds hd*T + 2*T floats.
void kn_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                           const float *q, const float *k, const float *v, size_t T,
                           size_t qkv_stride, size_t out_stride, size_t hd, size_t window,
                           float *scratch);

// Softmax cross-entropy of one row of logits [V] against target. Returns the
// loss (0 when target < 0, the ignore index). When grad_scale != 0 the row is
// overwritten with grad_scale * (softmax - onehot(target)) (zeros when ignored).
float kn_cross_entropy_row(float *logits, size_t V, int32_t target, float grad_scale);

// AdamW on n elements (torch.optim.AdamW semantics): decoupled decay
// p -= lr*wd*p, then p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), with the
// gradient multiplied by grad_scale first (global-norm clipping).
void kn_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
              float beta2, float eps, float weight_decay, float bias_correction1,
              float bias_correction2, float grad_scale);

// The OpenBLAS core type best suited to this CPU ("Cooperlake", "SkylakeX",
// "Haswell"), or NULL when OpenBLAS's own choice is as good as any.
const char *kn_recommended_openblas_core(void);

#endif

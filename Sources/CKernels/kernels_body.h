// Kernel bodies, compiled once per SIMD variant (variant_*.c include this file
// with KN(name) naming the variant and a target attribute applied to every
// function). Loops are written so the compiler vectorises them; where an
// output may alias an input element for element (in-place updates) or the
// regions are known disjoint, `assume_safety` spares the run-time overlap
// check that would otherwise send those calls down the scalar path.

// exp(x) for x in [-87, 88]: Cephes' polynomial, ~1 ulp, branch-free so loops vectorise.
static inline float KN(expf)(float x) {
    x = fminf(fmaxf(x, -87.0f), 88.0f);
    float z = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - z * 0.693359375f;
    r = r + z * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)z + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float KN(tanhf)(float u) {
    // tanh(u) = 1 - 2 / (exp(2u) + 1); exact at both saturations.
    return 1.0f - 2.0f / (KN(expf)(2.0f * u) + 1.0f);
}

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f

void KN(layernorm_forward)(float *out, float *mean, float *rstd, const float *inp,
                           const float *weight, const float *bias, size_t N, size_t C, float eps) {
    for (size_t r = 0; r < N; r++) {
        const float *x = inp + r * C;
        float *o = out + r * C;
        float s = 0.0f;
        for (size_t i = 0; i < C; i++) s += x[i];
        float m = s / (float)C;
        float v = 0.0f;
        for (size_t i = 0; i < C; i++) { float d = x[i] - m; v += d * d; }
        float rs = 1.0f / sqrtf(v / (float)C + eps);
        for (size_t i = 0; i < C; i++) o[i] = (x[i] - m) * rs * weight[i] + bias[i];
        mean[r] = m;
        rstd[r] = rs;
    }
}

void KN(layernorm_backward)(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, const float *mean,
                            const float *rstd, size_t N, size_t C) {
    for (size_t r = 0; r < N; r++) {
        const float *x = inp + r * C;
        const float *dy = dout + r * C;
        float *dx = dinp + r * C;
        float m = mean[r], rs = rstd[r];
        float a = 0.0f, b = 0.0f;
        for (size_t i = 0; i < C; i++) {
            float n = (x[i] - m) * rs;
            float dn = weight[i] * dy[i];
            a += dn;
            b += dn * n;
        }
        a /= (float)C;
        b /= (float)C;
        for (size_t i = 0; i < C; i++) {
            float n = (x[i] - m) * rs;
            float dn = weight[i] * dy[i];
            dbias[i] += dy[i];
            dweight[i] += n * dy[i];
            dx[i] += (dn - a - n * b) * rs;
        }
    }
}

void KN(gelu_forward)(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float t = KN(tanhf)(GELU_K * (x + GELU_C * x * x * x));
        out[i] = 0.5f * x * (1.0f + t);
    }
}

void KN(gelu_backward)(float *dinp, const float *inp, const float *dout, size_t n) {
    #pragma clang loop vectorize(assume_safety)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float t = KN(tanhf)(GELU_K * (x + GELU_C * x * x * x));
        float sech2 = 1.0f - t * t;
        float d = 0.5f * (1.0f + t) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
        dinp[i] = d * dout[i];
    }
}

void KN(add)(float *out, const float *a, const float *b, size_t n) {
    #pragma clang loop vectorize(assume_safety)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void KN(fill_rows)(float *out, const float *bias, size_t N, size_t C) {
    for (size_t r = 0; r < N; r++) memcpy(out + r * C, bias, C * sizeof(float));
}

void KN(column_sum)(float *out, const float *inp, size_t N, size_t C, size_t stride) {
    for (size_t r = 0; r < N; r++) {
        const float *x = inp + r * stride;
        for (size_t c = 0; c < C; c++) out[c] += x[c];
    }
}

void KN(scale)(float *x, float s, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

double KN(sum_squares)(const float *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}

void KN(embedding_forward)(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                           size_t row0, size_t row1, size_t T, size_t C) {
    for (size_t r = row0; r < row1; r++) {
        const float *e = wte + (size_t)tokens[r] * C;
        const float *p = wpe + (r % T) * C;
        float *o = out + r * C;
        for (size_t i = 0; i < C; i++) o[i] = e[i] + p[i];
    }
}

void KN(embedding_backward)(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                            size_t N, size_t T, size_t C) {
    for (size_t r = 0; r < N; r++) {
        const float *d = dout + r * C;
        float *e = dwte + (size_t)tokens[r] * C;
        float *p = dwpe + (r % T) * C;
        for (size_t i = 0; i < C; i++) { e[i] += d[i]; p[i] += d[i]; }
    }
}

static inline size_t KN(first_key)(size_t i, size_t window) {
    return (window > 0 && i + 1 > window) ? i + 1 - window : 0;
}

// Loops over a head's channels are short (hd = 32..128): one vector per
// iteration, no interleaving, or the compiler's 4x-unrolled body would never
// run and everything would take the scalar remainder loop.
#define KN_SHORT_LOOP _Pragma("clang loop vectorize(assume_safety) interleave_count(1)")

// Score rows are computed over [lo, hi): the visible keys [j0, j1) widened to
// multiples of 16 (within the row), so the vector loops have no ragged ends.
static inline void KN(padded_range)(size_t j0, size_t j1, size_t T, size_t *lo, size_t *hi) {
    *lo = j0 & ~(size_t)15;
    *hi = (j1 + 15) & ~(size_t)15;
    if (*hi > T) *hi = T;
}

void KN(attention_forward)(float *out, float *att, const float *q, const float *k, const float *v,
                           size_t T, size_t qkv_stride, size_t out_stride, size_t hd,
                           size_t window, float *scratch) {
    // Keys transposed to [hd, T] so each score row is a sum of scaled rows (vectorises over j).
    float *kt = scratch;
    for (size_t j = 0; j < T; j++)
        for (size_t d = 0; d < hd; d++) kt[d * T + j] = k[j * qkv_stride + d];
    for (size_t i = 0; i < T; i++) {
        float *a = att + i * T;
        const float *qi = q + i * qkv_stride;
        size_t j0 = KN(first_key)(i, window), j1 = i + 1, lo, hi;
        KN(padded_range)(j0, j1, T, &lo, &hi);
        memset(a, 0, T * sizeof(float));
        for (size_t d = 0; d < hd; d++) {
            float qd = qi[d];
            const float *kd = kt + d * T;
            KN_SHORT_LOOP
            for (size_t j = lo; j < hi; j++) a[j] += qd * kd[j];
        }
        // Scores are not scaled by 1/sqrt(hd): GPT-Neo's quirk.
        float mx = -INFINITY;
        for (size_t j = j0; j < j1; j++) mx = fmaxf(mx, a[j]);
        float sum = 0.0f;
        KN_SHORT_LOOP
        for (size_t j = lo; j < hi; j++) {
            float e = (j >= j0 && j < j1) ? KN(expf)(a[j] - mx) : 0.0f;
            a[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        KN_SHORT_LOOP
        for (size_t j = lo; j < hi; j++) a[j] *= inv;
        float *o = out + i * out_stride;
        for (size_t d = 0; d < hd; d++) o[d] = 0.0f;
        for (size_t j = j0; j < j1; j++) {
            float p = a[j];
            const float *vj = v + j * qkv_stride;
            KN_SHORT_LOOP
            for (size_t d = 0; d < hd; d++) o[d] += p * vj[d];
        }
    }
}

void KN(attention_backward)(float *dq, float *dk, float *dv, const float *dout, const float *att,
                            const float *q, const float *k, const float *v, size_t T,
                            size_t qkv_stride, size_t out_stride, size_t hd, size_t window,
                            float *scratch) {
    float *vt = scratch;              // [hd, T]
    float *ds = scratch + hd * T;     // [T] dL/d(score) of one query row
    for (size_t j = 0; j < T; j++)
        for (size_t d = 0; d < hd; d++) vt[d * T + j] = v[j * qkv_stride + d];
    for (size_t t = 0; t < T; t++)
        for (size_t d = 0; d < hd; d++) {
            dq[t * qkv_stride + d] = 0.0f;
            dk[t * qkv_stride + d] = 0.0f;
            dv[t * qkv_stride + d] = 0.0f;
        }
    for (size_t i = 0; i < T; i++) {
        const float *a = att + i * T;  // zero outside the visible keys
        const float *dy = dout + i * out_stride;
        const float *qi = q + i * qkv_stride;
        float *dqi = dq + i * qkv_stride;
        size_t j0 = KN(first_key)(i, window), j1 = i + 1, lo, hi;
        KN(padded_range)(j0, j1, T, &lo, &hi);
        // dL/dp_j = dy · v_j
        for (size_t j = lo; j < hi; j++) ds[j] = 0.0f;
        for (size_t d = 0; d < hd; d++) {
            float g = dy[d];
            const float *vd = vt + d * T;
            KN_SHORT_LOOP
            for (size_t j = lo; j < hi; j++) ds[j] += g * vd[j];
        }
        // Softmax backward: ds_j = p_j (dp_j - Σ p·dp)
        float dot = 0.0f;
        KN_SHORT_LOOP
        for (size_t j = lo; j < hi; j++) dot += a[j] * ds[j];
        KN_SHORT_LOOP
        for (size_t j = lo; j < hi; j++) ds[j] = a[j] * (ds[j] - dot);
        for (size_t j = j0; j < j1; j++) {
            float p = a[j], s = ds[j];
            float *dvj = dv + j * qkv_stride;
            float *dkj = dk + j * qkv_stride;
            const float *kj = k + j * qkv_stride;
            KN_SHORT_LOOP
            for (size_t d = 0; d < hd; d++) {
                dvj[d] += p * dy[d];
                dkj[d] += s * qi[d];
                dqi[d] += s * kj[d];
            }
        }
    }
}

float KN(cross_entropy_row)(float *logits, size_t V, int32_t target, float grad_scale) {
    if (target < 0) {
        if (grad_scale != 0.0f) memset(logits, 0, V * sizeof(float));
        return 0.0f;
    }
    float mx = -INFINITY;
    for (size_t j = 0; j < V; j++) mx = fmaxf(mx, logits[j]);
    float zt = logits[target] - mx;
    float sum = 0.0f;
    if (grad_scale == 0.0f) {
        for (size_t j = 0; j < V; j++) sum += KN(expf)(logits[j] - mx);
        return logf(sum) - zt;
    }
    for (size_t j = 0; j < V; j++) { float e = KN(expf)(logits[j] - mx); logits[j] = e; sum += e; }
    float s = grad_scale / sum;
    for (size_t j = 0; j < V; j++) logits[j] *= s;
    logits[target] -= grad_scale;
    return logf(sum) - zt;
}

void KN(adamw)(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
               float beta2, float eps, float weight_decay, float bias_correction1,
               float bias_correction2, float grad_scale) {
    float decay = 1.0f - lr * weight_decay;
    float step = lr / bias_correction1;
    float bc2s = sqrtf(bias_correction2);
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * grad_scale;
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step * mi / (sqrtf(vi) / bc2s + eps);
    }
}

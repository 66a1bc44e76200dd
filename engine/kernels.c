// int8 kernels of the serving engine, built twice from this one file: SIMD128
// and relaxed SIMD (where __wasm_relaxed_simd__ is defined). Integer semantics
// are those of ONNX QLinearConv / QGemm as onnxruntime computes them: int32
// accumulation of (a - a_zp) * w, then float(acc + bias) * scale, clamped,
// rounded half to even, plus the output zero point. Activations are NHWC int8;
// weights arrive packed (see pack-format.ts) in panels of 4 output columns,
// each k-block of 16 holding the 4 columns' 16 bytes one after another.
#include <stddef.h>
#include <stdint.h>
#include <wasm_simd128.h>

#define PANEL 4
#define KBLOCK 16

extern unsigned char __heap_base;
static uintptr_t heap_top = (uintptr_t)&__heap_base;

// A bump allocator: the engine allocates its weights and buffers once per load and never frees
// them one by one; eng_reset rewinds to a mark.
__attribute__((export_name("eng_alloc"))) void *eng_alloc(size_t bytes) {
  uintptr_t start = (heap_top + 63) & ~(uintptr_t)63;
  uintptr_t end = start + bytes;
  size_t have = __builtin_wasm_memory_size(0) * 65536;
  if (end > have) {
    size_t pages = (end - have + 65535) / 65536;
    if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return 0;
  }
  heap_top = end;
  return (void *)start;
}

__attribute__((export_name("eng_mark"))) uintptr_t eng_mark(void) { return heap_top; }

__attribute__((export_name("eng_reset"))) void eng_reset(uintptr_t mark) { heap_top = mark; }

__attribute__((export_name("eng_relaxed"))) int eng_relaxed(void) {
#ifdef __wasm_relaxed_simd__
  return 1;
#else
  return 0;
#endif
}

// QuantizeLinear: saturate(round_half_even(x / scale) + zero_point), as onnxruntime's MLAS does it.
__attribute__((export_name("quantize"))) void quantize(const float *x, int8_t *q, int count, float scale,
                                                        int zp) {
  const v128_t vscale = wasm_f32x4_splat(scale);
  const v128_t lo = wasm_f32x4_splat((float)(-128 - zp));
  const v128_t hi = wasm_f32x4_splat((float)(127 - zp));
  const v128_t vzp = wasm_i32x4_splat(zp);
  int i = 0;
  for (; i + 16 <= count; i += 16) {
    v128_t r[4];
    for (int j = 0; j < 4; j++) {
      v128_t v = wasm_f32x4_div(wasm_v128_load(x + i + 4 * j), vscale);
      v = wasm_f32x4_min(wasm_f32x4_max(v, lo), hi);
      r[j] = wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(v)), vzp);
    }
    v128_t h0 = wasm_i16x8_narrow_i32x4(r[0], r[1]);
    v128_t h1 = wasm_i16x8_narrow_i32x4(r[2], r[3]);
    wasm_v128_store(q + i, wasm_i8x16_narrow_i16x8(h0, h1));
  }
  for (; i < count; i++) {
    float v = x[i] / scale;
    v = v < (float)(-128 - zp) ? (float)(-128 - zp) : v > (float)(127 - zp) ? (float)(127 - zp) : v;
    q[i] = (int8_t)((int)__builtin_rintf(v) + zp);
  }
}

// im2col of a 3x3, stride 1, same-padding convolution over NHWC images: one row per output pixel,
// taps in (ky, kx, c) order, padded with the input zero point (a real 0), then zeros up to `row`.
__attribute__((export_name("im2col3x3"))) void im2col3x3(const int8_t *in, int8_t *out, int images, int height,
                                                          int width, int channels, int zp, int row) {
  const int taps = 9 * channels;
  for (int b = 0; b < images; b++) {
    const int8_t *image = in + (size_t)b * height * width * channels;
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        int8_t *dst = out + ((size_t)(b * height + y) * width + x) * row;
        for (int ky = -1; ky <= 1; ky++) {
          for (int kx = -1; kx <= 1; kx++) {
            const int sy = y + ky, sx = x + kx;
            if (sy < 0 || sy >= height || sx < 0 || sx >= width) {
              __builtin_memset(dst, zp, channels);
            } else {
              __builtin_memcpy(dst, image + ((size_t)sy * width + sx) * channels, channels);
            }
            dst += channels;
          }
        }
        __builtin_memset(dst, 0, row - taps);
      }
    }
  }
}

// 2x2 max pool, stride 2, NHWC (even height and width).
__attribute__((export_name("maxpool2x2"))) void maxpool2x2(const int8_t *in, int8_t *out, int images, int height,
                                                            int width, int channels) {
  const int oh = height / 2, ow = width / 2;
  for (int b = 0; b < images; b++) {
    for (int y = 0; y < oh; y++) {
      for (int x = 0; x < ow; x++) {
        const int8_t *p00 = in + (((size_t)b * height + 2 * y) * width + 2 * x) * channels;
        const int8_t *p01 = p00 + channels;
        const int8_t *p10 = p00 + (size_t)width * channels;
        const int8_t *p11 = p10 + channels;
        int8_t *dst = out + (((size_t)b * oh + y) * ow + x) * channels;
        int c = 0;
        for (; c + 16 <= channels; c += 16) {
          v128_t m = wasm_i8x16_max(wasm_v128_load(p00 + c), wasm_v128_load(p01 + c));
          m = wasm_i8x16_max(m, wasm_i8x16_max(wasm_v128_load(p10 + c), wasm_v128_load(p11 + c)));
          wasm_v128_store(dst + c, m);
        }
        for (; c < channels; c++) {
          int m = p00[c] > p01[c] ? p00[c] : p01[c];
          int n = p10[c] > p11[c] ? p10[c] : p11[c];
          dst[c] = (int8_t)(m > n ? m : n);
        }
      }
    }
  }
}

// A 3x3 same-padding convolution that onnxruntime leaves in float (its input's DequantizeLinear
// feeds several nodes, as the image's does in a per-tower graph): DequantizeLinear, products added
// in (c, ky, kx) order starting from zero, bias added last, then QuantizeLinear (clamped at `qmin`
// for a ReLU). `w` is the dequantized float kernel [k][n padded to 4], `taps` scratch of 9 * channels.
__attribute__((export_name("conv3x3_float"))) void conv3x3_float(const int8_t *in, int images, int height,
                                                                  int width, int channels, float in_scale,
                                                                  int in_zp, const float *w, const float *bias,
                                                                  int n, float out_scale, int zp, int qmin,
                                                                  float *taps, int8_t *out) {
  const int npad = (n + 3) & ~3;
  const int k = 9 * channels;
  const v128_t vscale = wasm_f32x4_splat(out_scale);
  const v128_t lo = wasm_f32x4_splat((float)(qmin - zp));
  const v128_t hi = wasm_f32x4_splat((float)(127 - zp));
  const v128_t vzp = wasm_i32x4_splat(zp);
  for (int b = 0; b < images; b++) {
    const int8_t *image = in + (size_t)b * height * width * channels;
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        int t = 0;
        for (int c = 0; c < channels; c++) {
          for (int ky = -1; ky <= 1; ky++) {
            for (int kx = -1; kx <= 1; kx++) {
              const int sy = y + ky, sx = x + kx;
              taps[t++] = (sy < 0 || sy >= height || sx < 0 || sx >= width)
                              ? 0.0f
                              : (float)(image[((size_t)sy * width + sx) * channels + c] - in_zp) * in_scale;
            }
          }
        }
        int8_t *dst = out + ((size_t)(b * height + y) * width + x) * n;
        for (int n0 = 0; n0 < npad; n0 += 4) {
          v128_t acc = wasm_f32x4_splat(0.0f);
          for (int i = 0; i < k; i++)
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_splat(taps[i]), wasm_v128_load(w + (size_t)i * npad + n0)));
          v128_t v = wasm_f32x4_div(wasm_f32x4_add(acc, wasm_v128_load(bias + n0)), vscale);
          v = wasm_f32x4_min(wasm_f32x4_max(v, lo), hi);
          v128_t q = wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(v)), vzp);
          q = wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(q, q), q);
          int8_t lanes[16];
          wasm_v128_store(lanes, q);
          const int count = n - n0 < 4 ? n - n0 : 4;
          for (int j = 0; j < count; j++) dst[n0 + j] = lanes[j];
        }
      }
    }
  }
}

// One term of a cross-stitch unit as onnxruntime runs it in float:
// DequantizeLinear, Mul by the per-channel alpha, then Sum left to right.
__attribute__((export_name("stitch_term"))) void stitch_term(float *sum, const int8_t *in, int positions,
                                                              int channels, float scale, int zp,
                                                              const float *alpha, int first) {
  for (int p = 0; p < positions; p++) {
    const int8_t *src = in + (size_t)p * channels;
    float *dst = sum + (size_t)p * channels;
    for (int c = 0; c < channels; c++) {
      const float term = ((float)(src[c] - zp) * scale) * alpha[c];
      dst[c] = first ? term : dst[c] + term;
    }
  }
}

// Horizontal sums of four i32x4 accumulators: lane j of the result is the sum of a_j's lanes.
static inline v128_t reduce4(v128_t a0, v128_t a1, v128_t a2, v128_t a3) {
  v128_t t01 = wasm_i32x4_add(wasm_i32x4_shuffle(a0, a1, 0, 4, 1, 5), wasm_i32x4_shuffle(a0, a1, 2, 6, 3, 7));
  v128_t t23 = wasm_i32x4_add(wasm_i32x4_shuffle(a2, a3, 0, 4, 1, 5), wasm_i32x4_shuffle(a2, a3, 2, 6, 3, 7));
  return wasm_i32x4_add(wasm_i32x4_shuffle(t01, t23, 0, 1, 4, 5), wasm_i32x4_shuffle(t01, t23, 2, 3, 6, 7));
}

// Sums over k of a[k] * w[k] for MR rows against one 4-column panel, as 4 i32 lanes per row.
// SIMD128: widen to i16 and i32x4.dot_i16x8_s. Relaxed: a + 128 = 2h + l with h in [0, 127] and
// l in {0, 1}, so both halves are valid i7 operands of relaxed_dot (exact on every lowering, VNNI
// or pmaddubsw: no i16 saturation), and the 128 * sum(w) it adds is taken off afterwards.
#define DEFINE_TILE(MR)                                                                                   \
  static inline __attribute__((always_inline)) void tile##MR(const int8_t *a, int lda, const int8_t *panel, \
                                                             int kblocks, v128_t *sums) {                   \
    v128_t acc[MR][PANEL];                                                                                \
    v128_t acc_low[MR][PANEL];                                                                            \
    for (int m = 0; m < MR; m++)                                                                          \
      for (int j = 0; j < PANEL; j++) acc[m][j] = acc_low[m][j] = wasm_i32x4_splat(0);                    \
    for (int b = 0; b < kblocks; b++) {                                                                   \
      const int8_t *w = panel + b * PANEL * KBLOCK;                                                       \
      TILE_BODY(MR)                                                                                       \
    }                                                                                                     \
    for (int m = 0; m < MR; m++) {                                                                        \
      TILE_FINISH(m)                                                                                      \
    }                                                                                                     \
  }

#ifdef __wasm_relaxed_simd__
#define TILE_BODY(MR)                                                                     \
  v128_t high[MR], low[MR];                                                               \
  for (int m = 0; m < MR; m++) {                                                          \
    v128_t u = wasm_v128_xor(wasm_v128_load(a + m * lda + b * KBLOCK), wasm_i8x16_splat(-128)); \
    high[m] = wasm_u8x16_shr(u, 1);                                                       \
    low[m] = wasm_v128_and(u, wasm_i8x16_splat(1));                                       \
  }                                                                                       \
  for (int j = 0; j < PANEL; j++) {                                                       \
    v128_t wj = wasm_v128_load(w + j * KBLOCK);                                           \
    for (int m = 0; m < MR; m++) {                                                        \
      acc[m][j] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wj, high[m], acc[m][j]);         \
      acc_low[m][j] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wj, low[m], acc_low[m][j]);  \
    }                                                                                     \
  }
#define TILE_FINISH(m)                                                                               \
  sums[m] = wasm_i32x4_add(wasm_i32x4_shl(reduce4(acc[m][0], acc[m][1], acc[m][2], acc[m][3]), 1), \
                           reduce4(acc_low[m][0], acc_low[m][1], acc_low[m][2], acc_low[m][3]));
#else
#define TILE_BODY(MR)                                                          \
  v128_t alo[MR], ahi[MR];                                                     \
  for (int m = 0; m < MR; m++) {                                               \
    v128_t v = wasm_v128_load(a + m * lda + b * KBLOCK);                       \
    alo[m] = wasm_i16x8_extend_low_i8x16(v);                                   \
    ahi[m] = wasm_i16x8_extend_high_i8x16(v);                                  \
  }                                                                            \
  for (int j = 0; j < PANEL; j++) {                                            \
    v128_t wj = wasm_v128_load(w + j * KBLOCK);                                \
    v128_t wlo = wasm_i16x8_extend_low_i8x16(wj);                              \
    v128_t whi = wasm_i16x8_extend_high_i8x16(wj);                             \
    for (int m = 0; m < MR; m++) {                                             \
      acc[m][j] = wasm_i32x4_add(acc[m][j], wasm_i32x4_dot_i16x8(alo[m], wlo)); \
      acc[m][j] = wasm_i32x4_add(acc[m][j], wasm_i32x4_dot_i16x8(ahi[m], whi)); \
    }                                                                          \
  }
#define TILE_FINISH(m) \
  (void)acc_low;       \
  sums[m] = reduce4(acc[m][0], acc[m][1], acc[m][2], acc[m][3]);
#endif

DEFINE_TILE(1)
DEFINE_TILE(2)
DEFINE_TILE(4)

// The int32 result of one tile row before scaling: bias (with -a_zp * sum(w) folded in by the
// packer), and, for relaxed SIMD, the -128 * sum(w) of its unsigned activations.
static inline v128_t with_bias(v128_t sums, const int32_t *bias, const int32_t *colsum) {
  v128_t r = wasm_i32x4_add(sums, wasm_v128_load(bias));
#ifdef __wasm_relaxed_simd__
  r = wasm_i32x4_sub(r, wasm_i32x4_shl(wasm_v128_load(colsum), 7));
#else
  (void)colsum;
#endif
  return r;
}

static inline void store_q8(int8_t *dst, int count, v128_t acc, const float *scale, v128_t lo, v128_t hi,
                            v128_t vzp) {
  v128_t v = wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc), wasm_v128_load(scale));
  v = wasm_f32x4_min(wasm_f32x4_max(v, lo), hi);
  v128_t q = wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(v)), vzp);
  q = wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(q, q), q);
  if (count == PANEL) {
    wasm_v128_store32_lane(dst, q, 0);
  } else {
    int8_t lanes[16];
    wasm_v128_store(lanes, q);
    for (int j = 0; j < count; j++) dst[j] = lanes[j];
  }
}

static inline void store_f32(float *dst, int count, v128_t acc, const float *scale) {
  v128_t v = wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc), wasm_v128_load(scale));
  if (count == PANEL) {
    wasm_v128_store(dst, v);
  } else {
    float lanes[4];
    wasm_v128_store(lanes, v);
    for (int j = 0; j < count; j++) dst[j] = lanes[j];
  }
}

// C[m][n] = requantize(sum_k A[m][k] * W[n][k]) for M rows of A (k padded to a multiple of 16, row
// stride `lda`) against the packed W (n padded to a multiple of 4). Each weight panel is read once
// for all M rows, so a batch streams the weights once. `qmin` is the output's lowest int8 (the zero
// point where a ReLU is fused). out_float != 0: C is float (QGemm with float output, no clamp).
static void gemm(const int8_t *a, int rows, int lda, int k, const int8_t *packed, int n, const int32_t *bias,
                 const int32_t *colsum, const float *scale, int zp, int qmin, void *out, int ldc, int out_float) {
  const int kblocks = k / KBLOCK;
  const int panels = (n + PANEL - 1) / PANEL;
  const v128_t lo = wasm_f32x4_splat((float)(qmin - zp));
  const v128_t hi = wasm_f32x4_splat((float)(127 - zp));
  const v128_t vzp = wasm_i32x4_splat(zp);
  for (int p = 0; p < panels; p++) {
    const int8_t *panel = packed + (size_t)p * kblocks * PANEL * KBLOCK;
    const int n0 = p * PANEL;
    const int count = n - n0 < PANEL ? n - n0 : PANEL;
    int m = 0;
    v128_t sums[4];
    for (; m < rows; ) {
      int mr = rows - m >= 4 ? 4 : rows - m >= 2 ? 2 : 1;
      const int8_t *arow = a + (size_t)m * lda;
      if (mr == 4) tile4(arow, lda, panel, kblocks, sums);
      else if (mr == 2) tile2(arow, lda, panel, kblocks, sums);
      else tile1(arow, lda, panel, kblocks, sums);
      for (int r = 0; r < mr; r++) {
        v128_t acc = with_bias(sums[r], bias + n0, colsum + n0);
        if (out_float) store_f32((float *)out + (size_t)(m + r) * ldc + n0, count, acc, scale + n0);
        else store_q8((int8_t *)out + (size_t)(m + r) * ldc + n0, count, acc, scale + n0, lo, hi, vzp);
      }
      m += mr;
    }
  }
}

__attribute__((export_name("gemm_q8"))) void gemm_q8(const int8_t *a, int rows, int lda, int k,
                                                      const int8_t *packed, int n, const int32_t *bias,
                                                      const int32_t *colsum, const float *scale, int zp, int qmin,
                                                      int8_t *out, int ldc) {
  gemm(a, rows, lda, k, packed, n, bias, colsum, scale, zp, qmin, out, ldc, 0);
}

__attribute__((export_name("gemm_f32"))) void gemm_f32(const int8_t *a, int rows, int lda, int k,
                                                        const int8_t *packed, int n, const int32_t *bias,
                                                        const int32_t *colsum, const float *scale, float *out,
                                                        int ldc) {
  gemm(a, rows, lda, k, packed, n, bias, colsum, scale, 0, -128, out, ldc, 1);
}

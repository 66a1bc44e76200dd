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
// for a ReLU). `w` is the dequantized float kernel [k][n padded to 4]; `plane` is scratch for one
// dequantized image with a zero border, (height + 2) x (width + 2) x channels floats.
static inline v128_t quantize4(v128_t v, v128_t scale, v128_t lo, v128_t hi, v128_t zp) {
  v = wasm_f32x4_min(wasm_f32x4_max(wasm_f32x4_div(v, scale), lo), hi);
  return wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(v)), zp);
}

static inline void store_lanes(int8_t *dst, v128_t q, int count) {
  q = wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(q, q), q);
  if (count == 4) {
    wasm_v128_store32_lane(dst, q, 0);
  } else {
    int8_t lanes[16];
    wasm_v128_store(lanes, q);
    for (int j = 0; j < count; j++) dst[j] = lanes[j];
  }
}

__attribute__((export_name("conv3x3_float"))) void conv3x3_float(const int8_t *in, int images, int height,
                                                                  int width, int channels, float in_scale,
                                                                  int in_zp, const float *w, const float *bias,
                                                                  int n, float out_scale, int zp, int qmin,
                                                                  float *plane, int8_t *out) {
  const int npad = (n + 3) & ~3;
  const int pw = width + 2;
  const int k = 9 * channels;
  const v128_t vscale = wasm_f32x4_splat(out_scale);
  const v128_t lo = wasm_f32x4_splat((float)(qmin - zp));
  const v128_t hi = wasm_f32x4_splat((float)(127 - zp));
  const v128_t vzp = wasm_i32x4_splat(zp);
  for (int i = 0; i < (height + 2) * pw * channels; i++) plane[i] = 0.0f;
  for (int b = 0; b < images; b++) {
    const int8_t *image = in + (size_t)b * height * width * channels;
    for (int y = 0; y < height; y++)
      for (int x = 0; x < width; x++)
        for (int c = 0; c < channels; c++)
          plane[((y + 1) * pw + x + 1) * channels + c] =
              (float)(image[((size_t)y * width + x) * channels + c] - in_zp) * in_scale;
    int8_t *dst = out + (size_t)b * height * width * n;
    if (channels == 1) {
      // One input channel: the 9 weight vectors of a column block stay in registers.
      for (int n0 = 0; n0 < npad; n0 += 4) {
        v128_t wk[9];
        for (int i = 0; i < 9; i++) wk[i] = wasm_v128_load(w + (size_t)i * npad + n0);
        const v128_t vb = wasm_v128_load(bias + n0);
        const int count = n - n0 < 4 ? n - n0 : 4;
        for (int y = 0; y < height; y++) {
          for (int x = 0; x < width; x++) {
            const float *p = plane + y * pw + x;
            v128_t acc = wasm_f32x4_mul(wasm_v128_load32_splat(p), wk[0]);
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load32_splat(p + 1), wk[1]));
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load32_splat(p + 2), wk[2]));
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load32_splat(p + pw), wk[3]));
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load32_splat(p + pw + 1), wk[4]));
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load32_splat(p + pw + 2), wk[5]));
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load32_splat(p + 2 * pw), wk[6]));
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load32_splat(p + 2 * pw + 1), wk[7]));
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load32_splat(p + 2 * pw + 2), wk[8]));
            v128_t q = quantize4(wasm_f32x4_add(acc, vb), vscale, lo, hi, vzp);
            store_lanes(dst + ((size_t)y * width + x) * n + n0, q, count);
          }
        }
      }
      continue;
    }
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        for (int n0 = 0; n0 < npad; n0 += 4) {
          // 0 + the first product is that product exactly: start from zero as onnxruntime does.
          v128_t acc = wasm_f32x4_splat(0.0f);
          for (int i = 0; i < k; i++) {
            const int c = i / 9, ky = (i / 3) % 3, kx = i % 3;
            const float tap = plane[((y + ky) * pw + x + kx) * channels + c];
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_splat(tap), wasm_v128_load(w + (size_t)i * npad + n0)));
          }
          v128_t q = quantize4(wasm_f32x4_add(acc, wasm_v128_load(bias + n0)), vscale, lo, hi, vzp);
          store_lanes(dst + ((size_t)y * width + x) * n + n0, q, n - n0 < 4 ? n - n0 : 4);
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
// SIMD128: widen to i16 and i32x4.dot_i16x8_s. Relaxed, on the unsigned a + 128 (the 128 * sum(w)
// it adds is taken off afterwards): one relaxed_dot where the runtime computes u8 x s8 exactly
// (probed, below); elsewhere a + 128 = h + h + l with h in [0, 127] and l in {0, 1}, valid i7
// operands on every lowering, three dots into one accumulator.
#define DEFINE_TILE(NAME, MR, BODY)                                                                       \
  static inline __attribute__((always_inline)) void NAME(const int8_t *a, int lda, const int8_t *panel,    \
                                                         int kblocks, v128_t *sums) {                       \
    v128_t acc[MR][PANEL];                                                                                \
    for (int m = 0; m < MR; m++)                                                                          \
      for (int j = 0; j < PANEL; j++) acc[m][j] = wasm_i32x4_splat(0);                                    \
    for (int b = 0; b < kblocks; b++) {                                                                   \
      const int8_t *w = panel + b * PANEL * KBLOCK;                                                       \
      BODY(MR)                                                                                            \
    }                                                                                                     \
    for (int m = 0; m < MR; m++) sums[m] = reduce4(acc[m][0], acc[m][1], acc[m][2], acc[m][3]);           \
  }

#ifdef __wasm_relaxed_simd__
#define SPLIT_BODY(MR)                                                                               \
  v128_t high[MR], low[MR];                                                                          \
  for (int m = 0; m < MR; m++) {                                                                     \
    v128_t u = wasm_v128_xor(wasm_v128_load(a + m * lda + b * KBLOCK), wasm_i8x16_splat(-128));      \
    high[m] = wasm_u8x16_shr(u, 1);                                                                  \
    low[m] = wasm_v128_and(u, wasm_i8x16_splat(1));                                                  \
  }                                                                                                  \
  for (int j = 0; j < PANEL; j++) {                                                                  \
    v128_t wj = wasm_v128_load(w + j * KBLOCK);                                                      \
    for (int m = 0; m < MR; m++) {                                                                   \
      acc[m][j] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wj, high[m], acc[m][j]);                    \
      acc[m][j] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wj, high[m], acc[m][j]);                    \
      acc[m][j] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wj, low[m], acc[m][j]);                     \
    }                                                                                                \
  }
#define U8_BODY(MR)                                                                                  \
  v128_t u[MR];                                                                                      \
  for (int m = 0; m < MR; m++)                                                                       \
    u[m] = wasm_v128_xor(wasm_v128_load(a + m * lda + b * KBLOCK), wasm_i8x16_splat(-128));          \
  for (int j = 0; j < PANEL; j++) {                                                                  \
    v128_t wj = wasm_v128_load(w + j * KBLOCK);                                                      \
    for (int m = 0; m < MR; m++) acc[m][j] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wj, u[m], acc[m][j]); \
  }
DEFINE_TILE(split1, 1, SPLIT_BODY)
DEFINE_TILE(split2, 2, SPLIT_BODY)
DEFINE_TILE(u8dot1, 1, U8_BODY)
DEFINE_TILE(u8dot2, 2, U8_BODY)

// relaxed_dot with an operand above 127 is implementation-defined: x64 with VNNI computes the exact
// u8 x s8 sum, pmaddubsw saturates pairs at 16 bits, Arm's sdot reads the byte as signed. The
// runtime's choice is fixed for the process, so one probe with values each wrong lowering gets
// wrong tells whether the one-dot kernel is exact here.
static int u8_dot_exact = 0;

static int dot_is_exact(int a, int b) {
  volatile int8_t va = (int8_t)a, vb = (int8_t)b;
  v128_t r = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wasm_i8x16_splat(va), wasm_i8x16_splat(vb),
                                                    wasm_i32x4_splat(0));
  return wasm_i32x4_extract_lane(r, 0) == 4 * a * (b & 255);
}

// `wanted` = 0 keeps the three-dot kernels (tests run both); returns whether the one-dot ones run.
__attribute__((export_name("eng_use_u8_dot"))) int eng_use_u8_dot(int wanted) {
  u8_dot_exact = wanted && dot_is_exact(127, 255) && dot_is_exact(-128, 255) && dot_is_exact(-128, 128) &&
                 dot_is_exact(-77, 201) && dot_is_exact(5, 127);
  return u8_dot_exact;
}

static inline void tile1(const int8_t *a, int lda, const int8_t *panel, int kblocks, v128_t *sums) {
  if (u8_dot_exact) u8dot1(a, lda, panel, kblocks, sums);
  else split1(a, lda, panel, kblocks, sums);
}

static inline void tile2(const int8_t *a, int lda, const int8_t *panel, int kblocks, v128_t *sums) {
  if (u8_dot_exact) u8dot2(a, lda, panel, kblocks, sums);
  else split2(a, lda, panel, kblocks, sums);
}
#else
#define WIDEN_BODY(MR)                                                         \
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
DEFINE_TILE(tile1, 1, WIDEN_BODY)
DEFINE_TILE(tile2, 2, WIDEN_BODY)
#endif

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
    v128_t sums[2];
    for (; m < rows; ) {
      // Two rows at a time: 8 accumulators, the most x64's 16 vector registers hold without spills.
      int mr = rows - m >= 2 ? 2 : 1;
      const int8_t *arow = a + (size_t)m * lda;
      if (mr == 2) tile2(arow, lda, panel, kblocks, sums);
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

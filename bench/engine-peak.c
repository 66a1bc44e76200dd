// The machine's int8 multiply-add peak as wasm sees it: independent chains of
// the instruction each kernel flavour is built on, all operands in registers.
// Built by bench/engine-kernels.ts next to the engine's kernels; the ratio of a
// kernel's GMAC/s to this loop's is its share of the roofline.
#include <stdint.h>
#include <wasm_simd128.h>

#define CHAINS 8

// Returns a value depending on every accumulator, so nothing is optimized away.
__attribute__((export_name("peak"))) int32_t peak(int iterations, int seed) {
  v128_t acc[CHAINS];
  for (int c = 0; c < CHAINS; c++) acc[c] = wasm_i32x4_splat(seed + c);
  v128_t b[CHAINS];
  for (int c = 0; c < CHAINS; c++) b[c] = wasm_i8x16_splat(((seed + c) & 63) | 1);
  v128_t a = wasm_i8x16_splat(seed | 3);
  for (int i = 0; i < iterations; i++) {
    // A new operand each round (one add for 8 chains), so no product is loop-invariant.
    a = wasm_i8x16_add(a, b[0]);
    for (int c = 0; c < CHAINS; c++) {
#ifdef __wasm_relaxed_simd__
      // 16 multiply-adds per instruction.
      acc[c] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(a, b[c], acc[c]);
#else
      // 8 multiply-adds per i32x4.dot_i16x8_s; two per 16 int8 pairs.
      acc[c] = wasm_i32x4_add(acc[c], wasm_i32x4_dot_i16x8(a, b[c]));
      acc[c] = wasm_i32x4_add(acc[c], wasm_i32x4_dot_i16x8(b[c], a));
#endif
    }
  }
  v128_t sum = acc[0];
  for (int c = 1; c < CHAINS; c++) sum = wasm_i32x4_add(sum, acc[c]);
  return wasm_i32x4_extract_lane(sum, 0);
}

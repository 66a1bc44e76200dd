// Every wasm kernel, both builds (and both relaxed-SIMD dot paths), against the
// scalar reference in testing/engine-reference.ts on random odd sizes and on
// values that saturate: equal to the last bit.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { createRng } from "../../data/dataset.ts";
import type { Kernels } from "../../engine/engine.ts";
import { DataWriter, packLinear } from "../../export/pack-engine.ts";
import {
  conv3x3FloatRef,
  conv3x3Ref,
  denseRef,
  type LinearRef,
  logitsRef,
  maxpoolRef,
  quantizeRef,
  stitchRef,
} from "../../testing/engine-reference.ts";

const random = createRng(12);
const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
const int8s = (n: number, lo = -128, hi = 127) => Int8Array.from({ length: n }, () => int(lo, hi));

interface Flavour {
  readonly name: string;
  readonly file: string;
  readonly u8Dot?: boolean;
}

const FLAVOURS: Flavour[] = [
  { name: "simd128", file: "kernels-simd128.wasm" },
  { name: "relaxed, three-dot split", file: "kernels-relaxed.wasm", u8Dot: false },
  { name: "relaxed, one u8 dot where exact", file: "kernels-relaxed.wasm", u8Dot: true },
];

/** One instance with helpers to move typed arrays in and out of its memory. */
async function instantiate(flavour: Flavour) {
  const bytes = await readFile(new URL(`../../engine/build/${flavour.file}`, import.meta.url));
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
  const k = instance.exports as unknown as Kernels;
  if (flavour.u8Dot !== undefined) k.eng_use_u8_dot?.(flavour.u8Dot ? 1 : 0);
  const put = (values: Int8Array | Int32Array | Float32Array | Uint8Array) => {
    const at = k.eng_alloc(Math.max(values.byteLength, 16));
    new Uint8Array(k.memory.buffer, at, values.byteLength).set(
      new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    );
    return at;
  };
  const i8 = (at: number, n: number) => new Int8Array(k.memory.buffer, at, n).slice();
  const f32 = (at: number, n: number) => new Float32Array(k.memory.buffer, at, n).slice();
  const linear = (layer: LinearRef, inZp: number) => {
    const data = new DataWriter();
    const packed = packLinear(
      data,
      (col, i) => layer.weights[col * layer.k + i] as number,
      layer.n,
      layer.k,
      layer.bias,
      inZp,
      layer.scale,
    );
    const base = put(data.finish());
    return {
      packed,
      weights: base + packed.weights.offset,
      bias: base + packed.bias.offset,
      colsum: base + packed.colsum.offset,
      scale: base + packed.scale.offset,
    };
  };
  type Linear = ReturnType<typeof linear>;
  /** The gemm kernels' common operands: `rows` rows at `a` (k padded as packed) by a packed layer of `n` columns. */
  const operands = (a: number, rows: number, layer: Linear, n: number) =>
    [
      a,
      rows,
      layer.packed.kPadded,
      layer.packed.kPadded,
      layer.weights,
      n,
      layer.bias,
      layer.colsum,
      layer.scale,
    ] as const;
  const gemmQ8 = (
    a: number,
    rows: number,
    layer: Linear,
    n: number,
    zp: number,
    floor: number,
    out: number,
  ) => k.gemm_q8(...operands(a, rows, layer, n), zp, floor, out, n);
  const gemmF32 = (a: number, rows: number, layer: Linear, n: number, out: number) =>
    k.gemm_f32(...operands(a, rows, layer, n), out, n);
  return { k, put, i8, f32, linear, gemmQ8, gemmF32 };
}

function randomLayer(n: number, k: number, saturating: boolean): LinearRef {
  return {
    weights: saturating
      ? Int8Array.from({ length: n * k }, () => (random() < 0.5 ? -127 : 127))
      : int8s(n * k, -127, 127),
    n,
    k,
    bias: Int32Array.from({ length: n }, () => int(-5000, 5000)),
    // Large scales push outputs past int8 on both sides: saturation must clamp, not wrap.
    scale: Float32Array.from({ length: n }, () =>
      Math.fround((saturating ? 0.05 : 0.002) * (0.5 + random())),
    ),
  };
}

for (const flavour of FLAVOURS) {
  test(`${flavour.name}: quantize rounds half to even and saturates`, async () => {
    const { k, put, i8 } = await instantiate(flavour);
    const scale = Math.fround(0.0371);
    const values = Float32Array.from({ length: 77 }, (_, i) =>
      i % 3 === 0 ? Math.fround((int(-200, 200) + 0.5) * scale) : (random() - 0.5) * 40,
    );
    values[5] = 1e9;
    values[6] = -1e9;
    for (const zp of [-128, 0, 17]) {
      const out = k.eng_alloc(values.length);
      k.quantize(put(values), out, values.length, scale, zp);
      assert.deepEqual(i8(out, values.length), quantizeRef(values, scale, zp));
    }
  });

  for (const [h, w, c, n, images, saturating] of [
    [5, 7, 3, 5, 2, false],
    [6, 4, 16, 8, 1, true],
    [3, 3, 1, 3, 3, false],
    [4, 6, 7, 13, 1, true],
  ] as const) {
    test(`${flavour.name}: conv3x3 ${h}x${w}x${c} -> ${n}, ${images} images${saturating ? ", saturating" : ""}`, async () => {
      const { k, put, i8, linear, gemmQ8 } = await instantiate(flavour);
      const layer = randomLayer(n, 9 * c, saturating);
      const inZp = int(-128, 127);
      const input = saturating
        ? Int8Array.from({ length: images * h * w * c }, () => (random() < 0.5 ? -128 : 127))
        : int8s(images * h * w * c);
      const packedLayer = linear(layer, inZp);
      const { kPadded } = packedLayer.packed;
      const cols = k.eng_alloc(images * h * w * kPadded);
      const out = k.eng_alloc(images * h * w * n);
      for (const relu of [false, true]) {
        const zp = relu ? -128 : int(-20, 20);
        k.im2col3x3(put(input), cols, images, h, w, c, inZp, kPadded);
        gemmQ8(cols, images * h * w, packedLayer, n, zp, relu ? zp : -128, out);
        assert.deepEqual(
          i8(out, images * h * w * n),
          conv3x3Ref(input, images, h, w, c, inZp, layer, zp, relu),
        );
      }
    });
  }

  for (const rows of [1, 2, 3, 5]) {
    test(`${flavour.name}: dense and float logits, ${rows} rows, k = 37, n = 7`, async () => {
      const { k, put, i8, f32, linear, gemmQ8, gemmF32 } = await instantiate(flavour);
      const layer = randomLayer(7, 37, rows === 3);
      const inZp = int(-128, 127);
      const input = int8s(rows * 37);
      const packedLayer = linear(layer, inZp);
      const { packed } = packedLayer;
      // The kernels read k in blocks of 16: rows padded with zeros, as the engine copies them.
      const padded = new Int8Array(rows * packed.kPadded);
      for (let r = 0; r < rows; r++) padded.set(input.subarray(r * 37, (r + 1) * 37), r * packed.kPadded);
      const a = put(padded);
      const out = k.eng_alloc(rows * 7 * 4);
      const zp = int(-128, 0);
      gemmQ8(a, rows, packedLayer, 7, zp, zp, out);
      assert.deepEqual(i8(out, rows * 7), denseRef(input, rows, inZp, layer, zp, true));
      gemmF32(a, rows, packedLayer, 7, out);
      assert.deepEqual(f32(out, rows * 7), logitsRef(input, rows, inZp, layer));
    });
  }

  test(`${flavour.name}: conv3x3 in float, 1 and 3 input channels`, async () => {
    const { k, put, i8 } = await instantiate(flavour);
    for (const [c, n] of [
      [1, 6],
      [3, 5],
    ] as const) {
      const [h, w, images] = [6, 5, 2];
      const weights = int8s(n * c * 9, -127, 127);
      const wScale = Float32Array.from({ length: n }, () => Math.fround(0.01 * (0.5 + random())));
      const bias = Float32Array.from({ length: n }, () => Math.fround(random() - 0.5));
      const npad = Math.ceil(n / 4) * 4;
      // The packer's layout: dequantized weights [k (c, ky, kx)][n padded to 4].
      const packedW = new Float32Array(9 * c * npad);
      for (let col = 0; col < n; col++)
        for (let i = 0; i < 9 * c; i++)
          packedW[i * npad + col] = Math.fround(
            (weights[col * 9 * c + i] as number) * (wScale[col] as number),
          );
      const paddedBias = new Float32Array(npad);
      paddedBias.set(bias);
      const input = int8s(images * h * w * c);
      const [inScale, inZp, outScale] = [Math.fround(0.02), int(-10, 10), Math.fround(0.013)];
      const plane = k.eng_alloc((h + 2) * (w + 2) * c * 4);
      const out = k.eng_alloc(images * h * w * n);
      for (const relu of [false, true]) {
        const zp = relu ? -128 : 3;
        k.conv3x3_float(
          put(input),
          images,
          h,
          w,
          c,
          inScale,
          inZp,
          put(packedW),
          put(paddedBias),
          n,
          outScale,
          zp,
          relu ? zp : -128,
          plane,
          out,
        );
        assert.deepEqual(
          i8(out, images * h * w * n),
          conv3x3FloatRef(
            input,
            images,
            h,
            w,
            c,
            inScale,
            inZp,
            weights,
            wScale,
            bias,
            n,
            outScale,
            zp,
            relu,
          ),
        );
      }
    }
  });

  test(`${flavour.name}: 2x2 max pool on 19 channels`, async () => {
    const { k, put, i8 } = await instantiate(flavour);
    const input = int8s(2 * 6 * 4 * 19);
    const out = k.eng_alloc(2 * 3 * 2 * 19);
    k.maxpool2x2(put(input), out, 2, 6, 4, 19);
    assert.deepEqual(i8(out, 2 * 3 * 2 * 19), maxpoolRef(input, 2, 6, 4, 19));
  });

  test(`${flavour.name}: cross-stitch of three inputs, 5 channels`, async () => {
    const { k, put, i8 } = await instantiate(flavour);
    const length = 7 * 5;
    const terms = [0, 1, 2].map(() => ({
      input: int8s(length),
      scale: Math.fround(0.01 + random() * 0.05),
      zp: int(-128, 20),
      alpha: Float32Array.from({ length: 5 }, () => Math.fround(random() * 1.4 - 0.2)),
    }));
    const sum = k.eng_alloc(length * 4);
    terms.forEach((t, j) => {
      k.stitch_term(sum, put(t.input), 7, 5, t.scale, t.zp, put(t.alpha), j === 0 ? 1 : 0);
    });
    const out = k.eng_alloc(length);
    const [scale, zp] = [Math.fround(0.021), -7];
    k.quantize(sum, out, length, scale, zp);
    assert.deepEqual(i8(out, length), stitchRef(terms, 5, scale, zp));
  });
}

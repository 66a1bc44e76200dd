// Plain scalar versions of every engine kernel, written from the ONNX operator
// definitions and onnxruntime's float32 arithmetic (Math.fround after each
// operation), not from the C code: the tests hold the wasm kernels to these.
// Activations are NHWC int8; weights here are unpacked, [n][k].

const f = Math.fround;

/** Round half to even, as nearbyint/f32.nearest do. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/** QuantizeLinear: saturate(round(x / scale) + zero point), the division in float32. */
export function quantizeRef(x: Float32Array, scale: number, zp: number): Int8Array {
  return Int8Array.from(x, (v) => Math.max(-128, Math.min(127, roundHalfEven(f(v / scale)) + zp)));
}

/** Requantization of an int32 accumulator (bias included) as QLinearConv does it; `qmin` = zp for a fused ReLU. */
export function requantizeRef(acc: number, scale: number, zp: number, qmin: number): number {
  const v = f(f(acc) * scale);
  return Math.max(qmin, Math.min(127, roundHalfEven(v) + zp));
}

export interface LinearRef {
  /** [n][k], int8 */
  readonly weights: Int8Array;
  readonly n: number;
  readonly k: number;
  readonly bias: Int32Array;
  /** Per output column, float32: s_in * s_w / s_out (or s_in * s_w for float output). */
  readonly scale: Float32Array;
}

function dot(rows: Int8Array, row: number, zp: number, layer: LinearRef, col: number): number {
  let acc = layer.bias[col] as number;
  for (let i = 0; i < layer.k; i++)
    acc += ((rows[row * layer.k + i] as number) - zp) * (layer.weights[col * layer.k + i] as number);
  return acc;
}

/** rows x k int8 inputs -> rows x n int8 outputs. */
export function denseRef(
  input: Int8Array,
  rows: number,
  inZp: number,
  layer: LinearRef,
  zp: number,
  relu: boolean,
) {
  const out = new Int8Array(rows * layer.n);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < layer.n; c++)
      out[r * layer.n + c] = requantizeRef(
        dot(input, r, inZp, layer, c),
        layer.scale[c] as number,
        zp,
        relu ? zp : -128,
      );
  return out;
}

/** Float logits of QGemm without an output scale: float(acc + bias) * s_in * s_w. */
export function logitsRef(input: Int8Array, rows: number, inZp: number, layer: LinearRef): Float32Array {
  const out = new Float32Array(rows * layer.n);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < layer.n; c++)
      out[r * layer.n + c] = f(f(dot(input, r, inZp, layer, c)) * (layer.scale[c] as number));
  return out;
}

/** The 3x3 same-padding taps of one image, (ky, kx, c) order, padded with the input zero point. */
export function im2colRef(image: Int8Array, h: number, w: number, c: number, zp: number): Int8Array {
  const out = new Int8Array(h * w * 9 * c);
  let i = 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ky = -1; ky <= 1; ky++)
        for (let kx = -1; kx <= 1; kx++)
          for (let ch = 0; ch < c; ch++) {
            const sy = y + ky;
            const sx = x + kx;
            out[i++] =
              sy < 0 || sy >= h || sx < 0 || sx >= w ? zp : (image[(sy * w + sx) * c + ch] as number);
          }
  return out;
}

/** Integer 3x3 conv (QLinearConv) over `images` NHWC images; layer.k = 9 * c in (ky, kx, c) order. */
export function conv3x3Ref(
  input: Int8Array,
  images: number,
  h: number,
  w: number,
  c: number,
  inZp: number,
  layer: LinearRef,
  zp: number,
  relu: boolean,
): Int8Array {
  const out = new Int8Array(images * h * w * layer.n);
  for (let b = 0; b < images; b++) {
    const cols = im2colRef(input.subarray(b * h * w * c, (b + 1) * h * w * c), h, w, c, inZp);
    out.set(denseRef(cols, h * w, inZp, layer, zp, relu), b * h * w * layer.n);
  }
  return out;
}

/**
 * The float conv onnxruntime runs when it does not fuse the QDQ group: DequantizeLinear of input
 * and weights, products summed in (c, ky, kx) order from zero, float bias last, ReLU, QuantizeLinear.
 * `weights` [n][c][3][3] int8 with per-column scales `wScale`; `bias` float32.
 */
export function conv3x3FloatRef(
  input: Int8Array,
  images: number,
  h: number,
  w: number,
  c: number,
  inScale: number,
  inZp: number,
  weights: Int8Array,
  wScale: Float32Array,
  bias: Float32Array,
  n: number,
  outScale: number,
  zp: number,
  relu: boolean,
): Int8Array {
  const out = new Int8Array(images * h * w * n);
  for (let b = 0; b < images; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let col = 0; col < n; col++) {
          let acc = 0;
          for (let ch = 0; ch < c; ch++)
            for (let ky = 0; ky < 3; ky++)
              for (let kx = 0; kx < 3; kx++) {
                const sy = y + ky - 1;
                const sx = x + kx - 1;
                const q =
                  sy < 0 || sy >= h || sx < 0 || sx >= w
                    ? inZp
                    : (input[((b * h + sy) * w + sx) * c + ch] as number);
                const xv = f((q - inZp) * inScale);
                const wv = f(
                  (weights[((col * c + ch) * 3 + ky) * 3 + kx] as number) * (wScale[col] as number),
                );
                acc = f(acc + f(xv * wv));
              }
          let v = f(acc + (bias[col] as number));
          if (relu) v = Math.max(v, 0);
          out[((b * h + y) * w + x) * n + col] = Math.max(
            -128,
            Math.min(127, roundHalfEven(f(v / outScale)) + zp),
          );
        }
  return out;
}

export function maxpoolRef(input: Int8Array, images: number, h: number, w: number, c: number): Int8Array {
  const oh = h / 2;
  const ow = w / 2;
  const out = new Int8Array(images * oh * ow * c);
  for (let b = 0; b < images; b++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++)
        for (let ch = 0; ch < c; ch++) {
          const at = (dy: number, dx: number) =>
            input[((b * h + 2 * y + dy) * w + 2 * x + dx) * c + ch] as number;
          out[((b * oh + y) * ow + x) * c + ch] = Math.max(at(0, 0), at(0, 1), at(1, 0), at(1, 1));
        }
  return out;
}

export interface StitchTermRef {
  readonly input: Int8Array;
  readonly scale: number;
  readonly zp: number;
  /** One coefficient per channel. */
  readonly alpha: Float32Array;
}

/** A cross-stitch output: sum over terms of DequantizeLinear(x) * alpha in float32, left to right, then QuantizeLinear. */
export function stitchRef(
  terms: readonly StitchTermRef[],
  channels: number,
  scale: number,
  zp: number,
): Int8Array {
  const length = (terms[0] as StitchTermRef).input.length;
  const sum = new Float32Array(length);
  terms.forEach((t, j) => {
    for (let i = 0; i < length; i++) {
      const term = f(f(((t.input[i] as number) - t.zp) * t.scale) * (t.alpha[i % channels] as number));
      sum[i] = j === 0 ? term : f((sum[i] as number) + term);
    }
  });
  return quantizeRef(sum, scale, zp);
}

// Runs a packed int8 graph (pack-format.ts) on the wasm kernels (kernels.c).
// Loading copies the pack's data section into wasm memory once and allocates
// every activation buffer for `maxBatch` images; run() then only calls kernels.
// No Node APIs: the worker imports this file.
import {
  decodePack,
  type LinearWeights,
  type PackHeader,
  type PackOp,
  type TensorInfo,
} from "../contracts/engine-pack.ts";

export interface Kernels {
  readonly memory: WebAssembly.Memory;
  eng_alloc(bytes: number): number;
  eng_relaxed(): number;
  /** Relaxed build only: 1 where relaxed_dot computes u8 x s8 exactly here (the one-dot kernels). */
  eng_use_u8_dot?: (wanted: number) => number;
  quantize(x: number, q: number, count: number, scale: number, zp: number): void;
  im2col3x3(
    input: number,
    out: number,
    images: number,
    h: number,
    w: number,
    c: number,
    zp: number,
    row: number,
  ): void;
  conv3x3_float(
    input: number,
    images: number,
    h: number,
    w: number,
    c: number,
    inScale: number,
    inZp: number,
    weights: number,
    bias: number,
    n: number,
    outScale: number,
    zp: number,
    qmin: number,
    taps: number,
    out: number,
  ): void;
  maxpool2x2(input: number, out: number, images: number, h: number, w: number, c: number): void;
  stitch_term(
    sum: number,
    input: number,
    positions: number,
    channels: number,
    scale: number,
    zp: number,
    alpha: number,
    first: number,
  ): void;
  gemm_q8(
    a: number,
    rows: number,
    lda: number,
    k: number,
    packed: number,
    n: number,
    bias: number,
    colsum: number,
    scale: number,
    zp: number,
    qmin: number,
    out: number,
    ldc: number,
  ): void;
  gemm_f32(
    a: number,
    rows: number,
    lda: number,
    k: number,
    packed: number,
    n: number,
    bias: number,
    colsum: number,
    scale: number,
    out: number,
    ldc: number,
  ): void;
}

/** The smallest module using i32x4.relaxed_dot_i8x16_i7x16_add_s: valid only where relaxed SIMD is. */
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00, 0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x93, 0x02,
  0x0b,
]);

/** Whether this runtime runs relaxed SIMD (validation compiles nothing). */
export function relaxedSimdSupported(): boolean {
  try {
    return WebAssembly.validate(RELAXED_PROBE);
  } catch {
    return false;
  }
}

export interface EngineOptions {
  /** Images per kernel call; larger batches run in chunks of this size. Sets the buffers' size. */
  readonly maxBatch?: number;
}

export interface EngineTask {
  readonly name: string;
  readonly output: string;
  readonly classes: number;
}

const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export class Engine {
  readonly tasks: readonly EngineTask[];
  readonly maxBatch: number;
  /** Kernel flavour this instance runs: SIMD128, or relaxed SIMD with one or three dots per 16 pairs. */
  readonly kernels: "simd128" | "relaxed-u8-dot" | "relaxed-split-dot";
  private readonly k: Kernels;
  private readonly header: PackHeader;
  private readonly base: number;
  private readonly tensorPtr: number[];
  private readonly imagePtr: number;
  private readonly im2colPtr: number;
  private readonly sumPtr: number;
  private readonly padPtr: number;
  private readonly planePtr: number;
  private readonly logitsPtr: number[];

  private constructor(kernels: Kernels, header: PackHeader, data: Uint8Array, maxBatch: number) {
    this.k = kernels;
    this.header = header;
    this.tasks = header.tasks;
    this.maxBatch = maxBatch;
    this.kernels =
      kernels.eng_relaxed() !== 1
        ? "simd128"
        : kernels.eng_use_u8_dot?.(1) === 1
          ? "relaxed-u8-dot"
          : "relaxed-split-dot";
    const alloc = (bytes: number) => {
      const at = kernels.eng_alloc(Math.max(bytes, 16));
      if (at === 0) throw new Error(`wasm memory exhausted allocating ${bytes} bytes`);
      return at;
    };
    this.base = alloc(data.length);
    this.tensorPtr = header.tensors.map((t) => alloc(maxBatch * elements(t.shape)));
    const pixels = header.input.height * header.input.width;
    this.imagePtr = alloc(maxBatch * pixels * 4);
    let im2col = 0;
    let sum = 0;
    let pad = 0;
    let plane = 0;
    for (const op of header.ops) {
      if (op.op === "conv3x3Float") {
        const [h, w, c] = (header.tensors[op.input] as TensorInfo).shape;
        plane = Math.max(plane, (h + 2) * (w + 2) * c * 4);
      } else if (op.op === "conv3x3") {
        const [h, w] = (header.tensors[op.input] as TensorInfo).shape;
        im2col = Math.max(im2col, maxBatch * h * w * op.kPadded);
      } else if (op.op === "stitch") {
        sum = Math.max(sum, maxBatch * elements(header.tensors[op.output]?.shape ?? []) * 4);
      } else if ((op.op === "dense" || op.op === "logits") && op.kPadded !== op.k) {
        pad = Math.max(pad, maxBatch * op.kPadded);
      }
    }
    this.im2colPtr = alloc(im2col);
    this.sumPtr = alloc(sum);
    this.padPtr = alloc(pad);
    this.planePtr = alloc(plane);
    this.logitsPtr = header.tasks.map((t) => alloc(maxBatch * t.classes * 4));
    // Allocation may grow memory (detaching views): copy the weights after the last one.
    new Uint8Array(kernels.memory.buffer, this.base, data.length).set(data);
    new Uint8Array(kernels.memory.buffer, this.padPtr, pad).fill(0);
  }

  /** Instantiates the kernels and copies the pack in. `kernels`: the relaxed or SIMD128 module. */
  static async load(
    kernels: WebAssembly.Module,
    packed: ArrayBuffer,
    options: EngineOptions = {},
  ): Promise<Engine> {
    const { header, dataOffset } = decodePack(packed);
    const instance = await WebAssembly.instantiate(kernels, {});
    const maxBatch = options.maxBatch ?? 32;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`maxBatch must be a positive integer`);
    return new Engine(
      instance.exports as unknown as Kernels,
      header,
      new Uint8Array(packed, dataOffset, header.dataBytes),
      maxBatch,
    );
  }

  /** Bytes of wasm linear memory this instance holds. */
  get heapBytes(): number {
    return this.k.memory.buffer.byteLength;
  }

  get pixels(): number {
    return this.header.input.height * this.header.input.width;
  }

  /**
   * Logits for `images` (normalized, NHWC, `pixels` floats each): one Float32Array per task,
   * images x classes. `onOp`, when given, is called after each op with its index (for timing).
   */
  run(images: Float32Array, onOp?: (index: number) => void): Float32Array[] {
    const pixels = this.pixels;
    if (images.length === 0 || images.length % pixels !== 0)
      throw new Error(`expected a multiple of ${pixels} floats, got ${images.length}`);
    const count = images.length / pixels;
    const results = this.tasks.map((t) => new Float32Array(count * t.classes));
    for (let start = 0; start < count; start += this.maxBatch) {
      const batch = Math.min(this.maxBatch, count - start);
      new Float32Array(this.k.memory.buffer, this.imagePtr, batch * pixels).set(
        images.subarray(start * pixels, (start + batch) * pixels),
      );
      this.header.ops.forEach((op, index) => {
        this.runOp(op, batch);
        onOp?.(index);
      });
      this.tasks.forEach((t, i) => {
        (results[i] as Float32Array).set(
          new Float32Array(this.k.memory.buffer, this.logitsPtr[i] as number, batch * t.classes),
          start * t.classes,
        );
      });
    }
    return results;
  }

  /** The op list and its tensors, for per-layer breakdowns. */
  get ops(): readonly PackOp[] {
    return this.header.ops;
  }

  get tensors(): readonly TensorInfo[] {
    return this.header.tensors;
  }

  private denseInput(input: number, op: LinearWeights, batch: number): number {
    const from = this.tensorPtr[input] as number;
    if (op.kPadded === op.k) return from;
    const memory = new Uint8Array(this.k.memory.buffer);
    for (let b = 0; b < batch; b++)
      memory.copyWithin(this.padPtr + b * op.kPadded, from + b * op.k, from + (b + 1) * op.k);
    return this.padPtr;
  }

  /**
   * One packed int8 GEMM of `rows` input rows (each op.kPadded bytes) into op's output, requantized
   * to the output's scale; a fused ReLU clamps at the output zero point.
   */
  private gemm(op: Extract<PackOp, { op: "conv3x3" | "dense" }>, input: number, rows: number): void {
    const out = this.header.tensors[op.output] as TensorInfo;
    const at = (blob: { offset: number }) => this.base + blob.offset;
    this.k.gemm_q8(
      input,
      rows,
      op.kPadded,
      op.kPadded,
      at(op.weights),
      op.n,
      at(op.bias),
      at(op.colsum),
      at(op.scale),
      out.zeroPoint,
      op.relu ? out.zeroPoint : -128,
      this.tensorPtr[op.output] as number,
      op.n,
    );
  }

  private runOp(op: PackOp, batch: number): void {
    const k = this.k;
    const t = this.header.tensors;
    const ptr = this.tensorPtr;
    const at = (blob: { offset: number }) => this.base + blob.offset;
    switch (op.op) {
      case "quantize": {
        const out = t[op.output] as TensorInfo;
        k.quantize(this.imagePtr, ptr[op.output] as number, batch * this.pixels, out.scale, out.zeroPoint);
        return;
      }
      case "conv3x3": {
        const input = t[op.input] as TensorInfo;
        const [h, w, c] = input.shape;
        k.im2col3x3(ptr[op.input] as number, this.im2colPtr, batch, h, w, c, input.zeroPoint, op.kPadded);
        this.gemm(op, this.im2colPtr, batch * h * w);
        return;
      }
      case "dense": {
        this.gemm(op, this.denseInput(op.input, op, batch), batch);
        return;
      }
      case "conv3x3Float": {
        const input = t[op.input] as TensorInfo;
        const out = t[op.output] as TensorInfo;
        const [h, w, c] = input.shape;
        k.conv3x3_float(
          ptr[op.input] as number,
          batch,
          h,
          w,
          c,
          input.scale,
          input.zeroPoint,
          at(op.weights),
          at(op.bias),
          op.n,
          out.scale,
          out.zeroPoint,
          op.relu ? out.zeroPoint : -128,
          this.planePtr,
          ptr[op.output] as number,
        );
        return;
      }
      case "maxpool": {
        const [h, w, c] = (t[op.input] as TensorInfo).shape;
        k.maxpool2x2(ptr[op.input] as number, ptr[op.output] as number, batch, h, w, c);
        return;
      }
      case "stitch": {
        const out = t[op.output] as TensorInfo;
        const [h, w, c] = out.shape;
        op.inputs.forEach((input, j) => {
          const from = t[input] as TensorInfo;
          k.stitch_term(
            this.sumPtr,
            ptr[input] as number,
            batch * h * w,
            c,
            from.scale,
            from.zeroPoint,
            at(op.alphas[j] as { offset: number }),
            j === 0 ? 1 : 0,
          );
        });
        k.quantize(this.sumPtr, ptr[op.output] as number, batch * h * w * c, out.scale, out.zeroPoint);
        return;
      }
      case "logits": {
        k.gemm_f32(
          this.denseInput(op.input, op, batch),
          batch,
          op.kPadded === op.k ? op.k : op.kPadded,
          op.kPadded,
          at(op.weights),
          op.n,
          at(op.bias),
          at(op.colsum),
          at(op.scale),
          this.logitsPtr[op.task] as number,
          op.n,
        );
        return;
      }
    }
  }
}

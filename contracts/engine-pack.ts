// The engine's serving artifact (ENGINE_FILE, `model.engine.bin`): the int8
// graph's quantized integers and scales, already in the layout the wasm kernels
// read, plus the program that runs them. The export writes it
// (export/pack-engine.ts), the engine (engine/engine.ts) copies it into wasm
// memory as is: the contract between the two. Pure TypeScript, no Node APIs.
//
// Layout, little-endian:
//   bytes 0-3    magic "STEN"
//   bytes 4-7    u32 format version (PACK_VERSION)
//   bytes 8-11   u32 header length H (UTF-8 JSON, PackHeader)
//   bytes 12..   header JSON, then zero padding to a multiple of 64
//   data         blobs at 64-byte aligned offsets relative to the data start
//                (header.dataBytes in all); int8 weights, int32 biases and
//                column sums, float32 scales and alphas.
//
// Weights of a linear layer (3x3 conv via im2col, or dense): K padded to a
// multiple of 16 (zeros), N padded to a multiple of 4 (zero columns); panels of
// 4 output columns, each k-block of 16 holding the 4 columns' 16 bytes in turn.
// bias[n] = int32 bias - input zero point * sum_k w[n][k]; colsum[n] = sum_k w[n][k];
// scale[n] = float32(float32(s_in * s_w[n]) / s_out) (float32(s_in * s_w[n]) for
// float logits), as onnxruntime computes them. Conv taps are ordered (ky, kx, c)
// and dense inputs (h, w, c): activations are NHWC.
//
// onnxruntime (1.30, wasm) fuses a DQ -> Conv -> Q group into an integer
// QLinearConv except where the input's DequantizeLinear feeds several nodes (the
// image, read by every tower): that conv runs in float, and so does the engine
// (op conv3x3Float), to give the same int8 result.

export const PACK_MAGIC = "STEN";
export const PACK_VERSION = 1;
export const PACK_ALIGN = 64;
export const PACK_PANEL = 4;
export const PACK_KBLOCK = 16;

/** A byte range of the data section. */
export interface Blob {
  readonly offset: number;
  readonly bytes: number;
}

/** A quantized activation, one image: NHWC shape and int8 parameters. */
export interface TensorInfo {
  readonly shape: readonly [number, number, number];
  readonly scale: number;
  readonly zeroPoint: number;
}

export interface LinearWeights {
  /** Input length per output (taps x channels for a conv), before padding. */
  readonly k: number;
  readonly kPadded: number;
  readonly n: number;
  readonly weights: Blob;
  readonly bias: Blob;
  readonly colsum: Blob;
  readonly scale: Blob;
}

export type PackOp =
  | { readonly op: "quantize"; readonly output: number }
  | ({
      readonly op: "conv3x3";
      readonly input: number;
      readonly output: number;
      readonly relu: boolean;
    } & LinearWeights)
  | ({
      readonly op: "dense";
      readonly input: number;
      readonly output: number;
      readonly relu: boolean;
    } & LinearWeights)
  | {
      /** A 3x3 conv onnxruntime runs in float (see kernels.c): float kernel [k (c, ky, kx)][n padded to 4], float bias. */
      readonly op: "conv3x3Float";
      readonly input: number;
      readonly output: number;
      readonly relu: boolean;
      readonly n: number;
      readonly weights: Blob;
      readonly bias: Blob;
    }
  | { readonly op: "maxpool"; readonly input: number; readonly output: number }
  | {
      readonly op: "stitch";
      readonly inputs: readonly number[];
      /** One float32 vector per input, one coefficient per channel. */
      readonly alphas: readonly Blob[];
      readonly output: number;
    }
  | ({ readonly op: "logits"; readonly input: number; readonly task: number } & LinearWeights);

export interface PackHeader {
  readonly tasks: readonly { readonly name: string; readonly output: string; readonly classes: number }[];
  /** Pixels per image (NHWC, one channel). */
  readonly input: { readonly height: number; readonly width: number };
  readonly tensors: readonly TensorInfo[];
  readonly ops: readonly PackOp[];
  readonly dataBytes: number;
  /** The ONNX graph it was packed from. */
  readonly source: { readonly sha256: string; readonly bytes: number };
}

export interface Pack {
  readonly header: PackHeader;
  /** Where the data section starts in the file. */
  readonly dataOffset: number;
}

export const alignUp = (value: number, to: number) => Math.ceil(value / to) * to;

export function encodePack(header: PackHeader, data: Uint8Array): Uint8Array {
  if (data.length !== header.dataBytes) throw new Error("pack data length differs from its header");
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataOffset = alignUp(12 + json.length, PACK_ALIGN);
  const out = new Uint8Array(dataOffset + data.length);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(PACK_MAGIC), 0);
  view.setUint32(4, PACK_VERSION, true);
  view.setUint32(8, json.length, true);
  out.set(json, 12);
  out.set(data, dataOffset);
  return out;
}

/** Reads and checks the header; the data section stays where it is. */
export function decodePack(file: ArrayBuffer): Pack {
  const fail = (why: string): never => {
    throw new Error(`not a stitch-edge engine pack: ${why}`);
  };
  if (file.byteLength < 12) fail("file too short");
  const view = new DataView(file);
  const magic = new TextDecoder().decode(new Uint8Array(file, 0, 4));
  if (magic !== PACK_MAGIC) fail("bad magic");
  const version = view.getUint32(4, true);
  if (version !== PACK_VERSION) fail(`format version ${version}, this engine reads ${PACK_VERSION}`);
  const length = view.getUint32(8, true);
  if (12 + length > file.byteLength) fail("header runs past the end");
  let header: PackHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(new Uint8Array(file, 12, length))) as PackHeader;
  } catch {
    return fail("header is not JSON");
  }
  const dataOffset = alignUp(12 + length, PACK_ALIGN);
  if (!Number.isInteger(header.dataBytes) || dataOffset + header.dataBytes !== file.byteLength)
    fail("data section length differs from the header");
  return { header, dataOffset };
}

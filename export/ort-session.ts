// Runs an exported graph over many images in onnxruntime: the native CPU build
// for calibration (fast), the wasm build the worker ships for parity checks.
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { IMAGE_CHANNELS, IMAGE_SIZE, PIXELS_PER_IMAGE } from "../contracts/image.ts";

export type Runtime = "native" | "wasm";

interface Session {
  readonly outputNames: readonly string[];
  run(
    feeds: Record<string, ortNode.Tensor>,
  ): Promise<Record<string, { data: unknown; dims: readonly number[] }>>;
  release(): Promise<void>;
}

async function createSession(model: Uint8Array, runtime: Runtime): Promise<Session> {
  if (runtime === "wasm") {
    ortWeb.env.wasm.numThreads = 1;
    const session = await ortWeb.InferenceSession.create(model, { graphOptimizationLevel: "all" });
    return {
      outputNames: session.outputNames,
      run: (feeds) =>
        session.run(
          Object.fromEntries(
            Object.entries(feeds).map(([k, t]) => [
              k,
              new ortWeb.Tensor("float32", t.data as Float32Array, t.dims),
            ]),
          ),
        ),
      release: () => session.release(),
    };
  }
  const session = await ortNode.InferenceSession.create(model, {
    graphOptimizationLevel: "all",
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  return {
    outputNames: session.outputNames,
    run: (feeds) => session.run(feeds),
    release: () => session.release(),
  };
}

/**
 * Feeds `count` normalized images (NHWC, 784 floats each) through the model in
 * batches and hands every batch's outputs to `onBatch` (tensor name -> values).
 */
export async function runBatches(
  model: Uint8Array,
  runtime: Runtime,
  inputName: string,
  images: Float32Array,
  onBatch: (outputs: ReadonlyMap<string, Float32Array>, start: number, size: number) => void,
  batchSize = 256,
): Promise<void> {
  const session = await createSession(model, runtime);
  const count = images.length / PIXELS_PER_IMAGE;
  try {
    for (let start = 0; start < count; start += batchSize) {
      const size = Math.min(batchSize, count - start);
      const data = images.subarray(start * PIXELS_PER_IMAGE, (start + size) * PIXELS_PER_IMAGE);
      const feed = new ortNode.Tensor("float32", data, [size, IMAGE_SIZE, IMAGE_SIZE, IMAGE_CHANNELS]);
      const result = await session.run({ [inputName]: feed });
      const outputs = new Map(session.outputNames.map((name) => [name, result[name]?.data as Float32Array]));
      onBatch(outputs, start, size);
    }
  } finally {
    await session.release();
  }
}

/** Each named output over all images, concatenated in image order. */
export async function runAll(
  model: Uint8Array,
  runtime: Runtime,
  inputName: string,
  images: Float32Array,
  outputs: readonly string[],
): Promise<Map<string, Float32Array>> {
  const parts = new Map<string, Float32Array[]>(outputs.map((o) => [o, []]));
  await runBatches(model, runtime, inputName, images, (batch) => {
    for (const name of outputs) parts.get(name)?.push((batch.get(name) as Float32Array).slice());
  });
  return new Map([...parts].map(([name, chunks]) => [name, concatenate(chunks)]));
}

export function concatenate(chunks: readonly Float32Array[]): Float32Array {
  const total = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    total.set(c, offset);
    offset += c.length;
  }
  return total;
}

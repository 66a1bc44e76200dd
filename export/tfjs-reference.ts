// The trained tfjs model's logits: the reference every exported graph is held to.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs-node";
import { IMAGE_SIZE } from "./import-model.ts";

const BATCH = 500;

/** Per output (task order), count * classes logits for NHWC normalized images. */
export async function tfjsLogits(runDir: string, images: Float32Array): Promise<Float32Array[]> {
  const model = await tf.loadLayersModel(pathToFileURL(join(runDir, "model", "model.json")).href);
  const count = images.length / (IMAGE_SIZE * IMAGE_SIZE);
  const parts: Float32Array[][] = model.outputs.map(() => []);
  for (let start = 0; start < count; start += BATCH) {
    const size = Math.min(BATCH, count - start);
    const batch = images.subarray(start * IMAGE_SIZE * IMAGE_SIZE, (start + size) * IMAGE_SIZE * IMAGE_SIZE);
    const outputs = tf.tidy(() => {
      const predicted = model.predict(tf.tensor4d(batch, [size, IMAGE_SIZE, IMAGE_SIZE, 1]));
      return Array.isArray(predicted) ? predicted : [predicted];
    });
    outputs.forEach((t, i) => {
      parts[i]?.push(t.dataSync() as Float32Array);
    });
    tf.dispose(outputs);
  }
  model.dispose();
  return parts.map((chunks) => {
    const all = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((offset, c) => (all.set(c, offset), offset + c.length), 0);
    return all;
  });
}

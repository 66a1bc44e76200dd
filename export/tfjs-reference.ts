// The trained tfjs model's logits: the reference every exported graph is held to.
import { loadRunModel } from "../train/model.ts";
import * as tf from "../train/tf.ts";
import { IMAGE_SIZE } from "./import-model.ts";
import { concatenate } from "./ort-session.ts";
import { ExportError } from "./run-folder.ts";

const BATCH = 500;

/** Per output (task order), count * classes logits for NHWC normalized images, of `<runDir>/<folder>`. */
export async function tfjsLogits(
  runDir: string,
  folder: string,
  images: Float32Array,
): Promise<Float32Array[]> {
  let model: tf.LayersModel;
  try {
    model = await loadRunModel(runDir, folder);
  } catch (error) {
    throw new ExportError(`tfjs cannot load the trained model: ${(error as Error).message}`);
  }
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
  return parts.map(concatenate);
}

// The trained tfjs model's logits: the reference every exported graph is held to. Only the
// export's CLI passes it in (export.ts takes it as a parameter), so the rest of the export never
// loads TensorFlow.

import { IMAGE_CHANNELS, IMAGE_SIZE, PIXELS_PER_IMAGE } from "../contracts/image.ts";
import { loadRunModel } from "../train/model.ts";
import * as tf from "../train/tf.ts";
import type { ReferenceLogits } from "./export.ts";
import { concatenate } from "./ort-session.ts";
import { ExportError } from "./run-folder.ts";

const BATCH = 500;

/** Per output (task order), count * classes logits for NHWC normalized images, of `<runDir>/<modelFolder>`. */
export const tfjsLogits: ReferenceLogits = async (runDir, modelFolder, images) => {
  let model: tf.LayersModel;
  try {
    model = await loadRunModel(runDir, modelFolder);
  } catch (error) {
    throw new ExportError(`tfjs cannot load the trained model: ${(error as Error).message}`);
  }
  const count = images.length / PIXELS_PER_IMAGE;
  const parts: Float32Array[][] = model.outputs.map(() => []);
  for (let start = 0; start < count; start += BATCH) {
    const size = Math.min(BATCH, count - start);
    const batch = images.subarray(start * PIXELS_PER_IMAGE, (start + size) * PIXELS_PER_IMAGE);
    const outputs = tf.tidy(() => {
      const predicted = model.predict(tf.tensor4d(batch, [size, IMAGE_SIZE, IMAGE_SIZE, IMAGE_CHANNELS]));
      return Array.isArray(predicted) ? predicted : [predicted];
    });
    outputs.forEach((t, i) => {
      parts[i]?.push(t.dataSync() as Float32Array);
    });
    tf.dispose(outputs);
  }
  model.dispose();
  return parts.map(concatenate);
};

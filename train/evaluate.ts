/** Test-set accuracy per task of the inference model (moving BN statistics, no dropout). */
import * as tf from "./tf.ts";

const EVAL_BATCH = 1000;

/**
 * `images` is [count, 28, 28, 1] (z-scored) on the device; `labels[t]` holds task t's class per
 * image. Counts stay on the device until the end: one read for the whole set.
 */
export async function evaluate(
  model: tf.LayersModel,
  images: tf.Tensor4D,
  labels: tf.Tensor1D[],
): Promise<number[]> {
  const count = images.shape[0];
  let correct = tf.zeros([labels.length], "int32");
  for (let start = 0; start < count; start += EVAL_BATCH) {
    const size = Math.min(EVAL_BATCH, count - start);
    const next = tf.tidy(() => {
      const predicted = model.predict(images.slice(start, size), { batchSize: size }) as
        | tf.Tensor
        | tf.Tensor[];
      const outputs = Array.isArray(predicted) ? predicted : [predicted];
      const hits = outputs.map((logits, t) =>
        logits
          .argMax(1)
          .equal((labels[t] as tf.Tensor1D).slice(start, size))
          .cast("int32")
          .sum(),
      );
      return correct.add(tf.stack(hits));
    });
    correct.dispose();
    correct = next;
  }
  const totals = Array.from(await correct.data());
  correct.dispose();
  return totals.map((hits) => hits / count);
}

/** Accuracy per task of the inference model (moving BN statistics, no dropout) on a labelled set. */
import type { Derivation } from "../contracts/tasks.ts";
import * as tf from "./tf.ts";

const EVAL_BATCH = 1000;

export interface Accuracies {
  perTask: number[];
  /** One per derivation, in order. */
  derived: number[];
}

/**
 * `images` is [count, 28, 28, 1] (z-scored) on the device; `labels[t]` holds task t's class per
 * image. Counts stay on the device until the end: one read for the whole set.
 */
export async function evaluateAll(
  model: tf.LayersModel,
  images: tf.Tensor4D,
  labels: tf.Tensor1D[],
  derivations: readonly Derivation[] = [],
): Promise<Accuracies> {
  const count = images.shape[0];
  const maps = derivations.map((d) => tf.tensor1d(d.classMap, "int32"));
  let correct = tf.zeros([labels.length + derivations.length], "int32");
  for (let start = 0; start < count; start += EVAL_BATCH) {
    const size = Math.min(EVAL_BATCH, count - start);
    const next = tf.tidy(() => {
      const predicted = model.predict(images.slice(start, size), { batchSize: size }) as
        | tf.Tensor
        | tf.Tensor[];
      const outputs = Array.isArray(predicted) ? predicted : [predicted];
      const answers = outputs.map((logits) => logits.argMax(1));
      const truth = (t: number) => (labels[t] as tf.Tensor1D).slice(start, size);
      const hits = answers.map((answer, t) => answer.equal(truth(t)).cast("int32").sum());
      const derivedHits = derivations.map((d, i) =>
        tf
          .gather(maps[i] as tf.Tensor1D, answers[d.from] as tf.Tensor1D)
          .equal(truth(d.to))
          .cast("int32")
          .sum(),
      );
      return correct.add(tf.stack([...hits, ...derivedHits]));
    });
    correct.dispose();
    correct = next;
  }
  const totals = Array.from(await correct.data());
  tf.dispose([correct, ...maps]);
  const rates = totals.map((hits) => hits / count);
  return { perTask: rates.slice(0, labels.length), derived: rates.slice(labels.length) };
}

export async function evaluate(
  model: tf.LayersModel,
  images: tf.Tensor4D,
  labels: tf.Tensor1D[],
): Promise<number[]> {
  return (await evaluateAll(model, images, labels)).perTask;
}

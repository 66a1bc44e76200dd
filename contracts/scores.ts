/**
 * How a task's logits become the scores a user sees: softmax(logits / temperature). The
 * temperature is fitted by the export on the run's validation split (temperature scaling, Guo et
 * al. 2017) and travels in the manifest, so the worker, the calibration report and anyone running
 * the ONNX graph themselves compute the same scores.
 */

/** Scores of one image's logits; a temperature of 1 is the plain softmax. */
export function scoresFromLogits(logits: ArrayLike<number>, temperature = 1): Float64Array {
  if (!(temperature > 0)) throw new Error(`temperature must be positive, got ${temperature}`);
  let max = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < logits.length; k++) max = Math.max(max, logits[k] as number);
  const scores = new Float64Array(logits.length);
  let total = 0;
  for (let k = 0; k < logits.length; k++) {
    const e = Math.exp(((logits[k] as number) - max) / temperature);
    scores[k] = e;
    total += e;
  }
  for (let k = 0; k < scores.length; k++) scores[k] = (scores[k] as number) / total;
  return scores;
}

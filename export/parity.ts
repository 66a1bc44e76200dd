// Numbers that decide whether an exported graph may replace the trained model:
// logit deltas, argmax agreement and accuracy, per task, over the same images.
import type { TaskComparison } from "../contracts/export-report.ts";

export interface TaskLogits {
  readonly classes: number;
  /** count * classes values, image-major. */
  readonly values: Float32Array;
}

function argmaxes({ classes, values }: TaskLogits): Int32Array {
  const out = new Int32Array(values.length / classes);
  for (let i = 0; i < out.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++)
      if ((values[i * classes + c] as number) > (values[i * classes + best] as number)) best = c;
    out[i] = best;
  }
  return out;
}

function maxAbsDelta(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`logit counts differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

/** Share of positions where the two label arrays are equal. */
function agreement(a: Int32Array, b: Int32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

export function compareTask(
  task: string,
  reference: TaskLogits,
  candidate: TaskLogits,
  labels: Int32Array,
): TaskComparison {
  const predicted = argmaxes(candidate);
  const expected = argmaxes(reference);
  return {
    task,
    maxAbsLogitDelta: maxAbsDelta(reference.values, candidate.values),
    agreement: agreement(expected, predicted),
    accuracy: agreement(predicted, labels),
    referenceAccuracy: agreement(expected, labels),
  };
}

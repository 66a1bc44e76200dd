/**
 * Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", 2017): one scalar
 * per task that divides the logits before the softmax, fitted to minimise the negative
 * log-likelihood on held-out images. On a task's own logits it changes no answer (the argmax
 * stays), only how sure the scores say the model is: label smoothing leaves the beyond preset's
 * scores under-confident, and an overfit model's over-confident. Grouped scores (a coarse task
 * answered through finer logits) can change answer with it, so the export scores those at the
 * fitted temperature.
 */

import type { ClassGrouping } from "../contracts/scores.ts";

/** The range searched, wide enough for any model this project trains; a fit at an edge is reported as such. */
export const TEMPERATURE_RANGE = { min: 0.05, max: 20 } as const;

/**
 * Mean negative log-likelihood of `labels` under softmax(logits / temperature), or, with a
 * grouping, under the grouped scores a coarse task answered through finer logits serves (labels
 * are then coarse classes): -log of the label's group total, a log-sum-exp over the group.
 */
export function meanNll(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
  temperature: number,
  grouping?: ClassGrouping,
): number {
  const count = labels.length;
  if (count === 0 || logits.length !== count * classes)
    throw new Error(`need ${classes} logits per label, got ${logits.length} for ${count} labels`);
  if (grouping && grouping.classMap.length !== classes)
    throw new Error(`a grouping of ${grouping.classMap.length} classes cannot take ${classes} logits`);
  const inLabel = (k: number, label: number) => (grouping ? grouping.classMap[k] === label : k === label);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const label = labels[i] as number;
    let max = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < classes; k++) max = Math.max(max, (logits[i * classes + k] as number) / temperature);
    let sum = 0;
    let labelSum = 0;
    for (let k = 0; k < classes; k++) {
      const e = Math.exp((logits[i * classes + k] as number) / temperature - max);
      sum += e;
      if (inLabel(k, label)) labelSum += e;
    }
    // A group whose every score underflows would make the NLL infinite and stall the search.
    total += Math.log(sum) - Math.log(Math.max(labelSum, Number.MIN_VALUE));
  }
  return total / count;
}

export interface TemperatureFit {
  temperature: number;
  /** Mean NLL on the fitting images at temperature 1 and at the fitted temperature. */
  nllBefore: number;
  nllAfter: number;
}

/**
 * The NLL is convex in 1/temperature, so it has one minimum along log(temperature): a
 * golden-section search over log(temperature) finds it to well under 0.1 %. Grouped scores lose
 * that guarantee (a sum of softmax terms); in practice their NLL is as smooth and single-dipped,
 * and the search returns a local minimum at worst, which the report's NLL before and after shows.
 */
export function fitTemperature(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
  grouping?: ClassGrouping,
): TemperatureFit {
  const nll = (logT: number) => meanNll(logits, labels, classes, Math.exp(logT), grouping);
  const ratio = (Math.sqrt(5) - 1) / 2;
  let low = Math.log(TEMPERATURE_RANGE.min);
  let high = Math.log(TEMPERATURE_RANGE.max);
  let a = high - ratio * (high - low);
  let b = low + ratio * (high - low);
  let fa = nll(a);
  let fb = nll(b);
  while (high - low > 1e-4) {
    if (fa <= fb) {
      high = b;
      b = a;
      fb = fa;
      a = high - ratio * (high - low);
      fa = nll(a);
    } else {
      low = a;
      a = b;
      fa = fb;
      b = low + ratio * (high - low);
      fb = nll(b);
    }
  }
  const temperature = Math.exp((low + high) / 2);
  return { temperature, nllBefore: nll(0), nllAfter: nll(Math.log(temperature)) };
}

/**
 * Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", 2017): one scalar
 * per task that divides the logits before the softmax, fitted to minimise the negative
 * log-likelihood on held-out images. It changes no answer (the argmax stays), only how sure the
 * scores say the model is: label smoothing leaves the beyond preset's scores under-confident,
 * and an overfit model's over-confident.
 */

/** The range searched, wide enough for any model this project trains; a fit at an edge is reported as such. */
export const TEMPERATURE_RANGE = { min: 0.05, max: 20 } as const;

/** Mean negative log-likelihood of `labels` under softmax(logits / temperature). */
export function meanNll(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
  temperature: number,
): number {
  const count = labels.length;
  if (count === 0 || logits.length !== count * classes)
    throw new Error(`need ${classes} logits per label, got ${logits.length} for ${count} labels`);
  let total = 0;
  for (let i = 0; i < count; i++) {
    let max = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < classes; k++) max = Math.max(max, (logits[i * classes + k] as number) / temperature);
    let sum = 0;
    for (let k = 0; k < classes; k++)
      sum += Math.exp((logits[i * classes + k] as number) / temperature - max);
    const label = labels[i] as number;
    total += max + Math.log(sum) - (logits[i * classes + label] as number) / temperature;
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
 * golden-section search over log(temperature) finds it to well under 0.1 %.
 */
export function fitTemperature(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
): TemperatureFit {
  const nll = (logT: number) => meanNll(logits, labels, classes, Math.exp(logT));
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
  return { temperature, nllBefore: nll(0), nllAfter: meanNll(logits, labels, classes, temperature) };
}

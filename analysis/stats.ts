/** Small-sample statistics for comparisons over seeds. */

/** Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom. */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export interface MeanInterval {
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1); null for one value. */
  sd: number | null;
  /** 95 % confidence interval of the mean (t distribution); null for one value. */
  low: number | null;
  high: number | null;
}

export function meanInterval(values: readonly number[]): MeanInterval {
  const n = values.length;
  if (n === 0) throw new Error("meanInterval: no values");
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { n, mean, sd: null, low: null, high: null };
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  const t = T95[Math.min(n - 1, T95.length) - 1] as number;
  const half = (t * sd) / Math.sqrt(n);
  return { n, mean, sd, low: mean - half, high: mean + half };
}

/** What an interval says about a difference: above zero, below zero, or not distinguishable from it. */
export function verdict(
  interval: MeanInterval,
): "helps" | "hurts" | "no detectable difference" | "one seed: no interval" {
  if (interval.low === null || interval.high === null) return "one seed: no interval";
  if (interval.low > 0) return "helps";
  if (interval.high < 0) return "hurts";
  return "no detectable difference";
}

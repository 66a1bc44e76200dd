/**
 * Calibration of a classifier's confidence: reliability bins (equal-width over the top-class
 * probability) and the expected calibration error, ECE = sum_b (n_b / N) |accuracy_b - confidence_b|
 * (Guo et al., "On Calibration of Modern Neural Networks", 2017), plus the share of answers at
 * or above a confidence and how often those are right.
 */
import { type AnswerRule, answerScores } from "./scores.ts";

export interface ReliabilityBin {
  /** [low, high) of the top-class probability; the last bin includes 1. */
  low: number;
  high: number;
  count: number;
  /** Mean top-class probability in the bin (NaN when empty). */
  confidence: number;
  /** Fraction right in the bin (NaN when empty). */
  accuracy: number;
}

export interface Calibration {
  count: number;
  accuracy: number;
  meanConfidence: number;
  ece: number;
  /** The largest |accuracy - confidence| over non-empty bins. */
  mce: number;
  bins: ReliabilityBin[];
}

/**
 * Served scores of each row of `logits` (count x classes, row-major) under `rule`
 * (contracts/scores.ts; the plain softmax by default): top-class score and argmax.
 */
export function topClass(
  logits: Float32Array | number[],
  classes: number,
  rule: AnswerRule = { temperature: 1 },
): { confidence: Float64Array; predicted: Int32Array } {
  const count = logits.length / classes;
  if (!Number.isInteger(count))
    throw new Error(`logits hold ${logits.length} values, not a multiple of ${classes}`);
  const confidence = new Float64Array(count);
  const predicted = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const scores = answerScores(logits.slice(i * classes, (i + 1) * classes), rule);
    let arg = 0;
    for (let k = 1; k < scores.length; k++) if ((scores[k] as number) > (scores[arg] as number)) arg = k;
    confidence[i] = scores[arg] as number;
    predicted[i] = arg;
  }
  return { confidence, predicted };
}

export function calibration(
  confidence: ArrayLike<number>,
  correct: ArrayLike<boolean>,
  binCount = 15,
): Calibration {
  const count = confidence.length;
  if (count === 0 || correct.length !== count)
    throw new Error("calibration: need one correctness flag per confidence, and at least one");
  const sums = Array.from({ length: binCount }, () => ({ count: 0, confidence: 0, correct: 0 }));
  let right = 0;
  let confidenceSum = 0;
  for (let i = 0; i < count; i++) {
    const p = confidence[i] as number;
    if (!(p >= 0 && p <= 1)) throw new Error(`calibration: confidence ${p} is not a probability`);
    const bin = sums[Math.min(binCount - 1, Math.floor(p * binCount))] as {
      count: number;
      confidence: number;
      correct: number;
    };
    bin.count++;
    bin.confidence += p;
    if (correct[i]) {
      bin.correct++;
      right++;
    }
    confidenceSum += p;
  }
  const bins = sums.map((s, b) => ({
    low: b / binCount,
    high: (b + 1) / binCount,
    count: s.count,
    confidence: s.count ? s.confidence / s.count : Number.NaN,
    accuracy: s.count ? s.correct / s.count : Number.NaN,
  }));
  const gaps = bins
    .filter((b) => b.count > 0)
    .map((b) => ({ weight: b.count / count, gap: Math.abs(b.accuracy - b.confidence) }));
  return {
    count,
    accuracy: right / count,
    meanConfidence: confidenceSum / count,
    ece: gaps.reduce((a, g) => a + g.weight * g.gap, 0),
    mce: Math.max(0, ...gaps.map((g) => g.gap)),
    bins,
  };
}

/** Of the answers given at >= `threshold` confidence: what share of all answers they are, and how many are right. */
export function confidentAnswers(
  confidence: ArrayLike<number>,
  correct: ArrayLike<boolean>,
  threshold: number,
) {
  let count = 0;
  let right = 0;
  for (let i = 0; i < confidence.length; i++) {
    if ((confidence[i] as number) >= threshold) {
      count++;
      if (correct[i]) right++;
    }
  }
  return { threshold, share: count / confidence.length, count, accuracy: count ? right / count : Number.NaN };
}

export interface Mistake {
  /** The class the image belongs to, in the grouping counted by (see mistakes). */
  truth: number;
  answered: number;
  count: number;
  /** count over all wrong answers. */
  shareOfErrors: number;
}

/**
 * The wrong answers counted per (true class, answered class), most frequent first. `groupBy[i]`,
 * when given, replaces image i's true class as the row: a coarse task's errors counted by each
 * image's finer class, to see which fine classes its mistakes come from.
 */
export function mistakes(
  predicted: ArrayLike<number>,
  truth: ArrayLike<number>,
  groupBy: ArrayLike<number> = truth,
): Mistake[] {
  if (truth.length !== predicted.length || groupBy.length !== predicted.length)
    throw new Error("mistakes: one true class and one group per answer");
  const counts = new Map<string, Mistake>();
  let errors = 0;
  for (let i = 0; i < predicted.length; i++) {
    if (predicted[i] === truth[i]) continue;
    errors++;
    const key = `${groupBy[i]}>${predicted[i]}`;
    const found = counts.get(key);
    if (found) found.count++;
    else
      counts.set(key, {
        truth: groupBy[i] as number,
        answered: predicted[i] as number,
        count: 1,
        shareOfErrors: 0,
      });
  }
  return [...counts.values()]
    .map((m) => ({ ...m, shareOfErrors: m.count / errors }))
    .sort((a, b) => b.count - a.count || a.truth - b.truth || a.answered - b.answered);
}

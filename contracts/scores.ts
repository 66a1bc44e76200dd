/**
 * How a task's logits become the scores a user sees: softmax(logits / temperature). The
 * temperature is fitted by the export on the run's validation split (temperature scaling, Guo et
 * al. 2017) and travels in the manifest, so the worker, the calibration report and anyone running
 * the ONNX graph themselves compute the same scores.
 *
 * A coarse task may be answered through a finer task's logits instead of its own (the export
 * chooses that on the validation split): each coarse class then scores the sum of the finer
 * scores of the classes it groups, e.g. "Shoes" = Sandal + Sneaker + Ankle boot.
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

/** A finer task's classes grouped into this task's: classMap[finer class] = this task's class. */
export interface ClassGrouping {
  classMap: readonly number[];
  classes: number;
}

/** The served scores of a task from the logits it reads: its own, or a finer task's grouped. */
export interface AnswerRule {
  temperature: number;
  /** Present when the task is answered through a finer task's logits. */
  grouping?: ClassGrouping;
}

/** Sums finer scores into the coarse classes they fall in. */
export function groupScores(
  fineScores: ArrayLike<number>,
  { classMap, classes }: ClassGrouping,
): Float64Array {
  if (classMap.length !== fineScores.length)
    throw new Error(`a grouping of ${classMap.length} classes cannot take ${fineScores.length} scores`);
  const grouped = new Float64Array(classes);
  for (let k = 0; k < classMap.length; k++) {
    const target = classMap[k] as number;
    if (!(Number.isInteger(target) && target >= 0 && target < classes))
      throw new Error(`classMap[${k}] = ${target} is not one of ${classes} classes`);
    grouped[target] = (grouped[target] as number) + (fineScores[k] as number);
  }
  return grouped;
}

/** One image's served scores from the logits `rule` reads. */
export function answerScores(logits: ArrayLike<number>, rule: AnswerRule): Float64Array {
  const scores = scoresFromLogits(logits, rule.temperature);
  return rule.grouping ? groupScores(scores, rule.grouping) : scores;
}

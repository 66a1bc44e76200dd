import assert from "node:assert/strict";
import { test } from "node:test";
import { calibration, confidentAnswers, mistakes, topClass } from "../../contracts/calibration.ts";

test("a perfectly calibrated set has ECE 0; an overconfident one has ECE = confidence - accuracy", () => {
  // 10 answers at 0.8 confidence, 8 right: calibrated.
  const confidence = new Array(10).fill(0.8);
  const right = [true, true, true, true, true, true, true, true, false, false];
  assert.ok(calibration(confidence, right, 10).ece < 1e-12);
  // The same answers at 0.99 confidence: ECE 0.19.
  const over = calibration(new Array(10).fill(0.99), right, 10);
  assert.ok(Math.abs(over.ece - 0.19) < 1e-12);
  assert.ok(Math.abs(over.mce - 0.19) < 1e-12);
  assert.equal(over.bins[9]?.count, 10);
  assert.ok(Number.isNaN(over.bins[0]?.accuracy as number));
});

test("ECE weighs each bin by its share of answers", () => {
  // Bin [0.5, 0.6): 2 answers at 0.55, 1 right (gap 0.05); bin [0.9, 1]: 2 answers at 1.0, 1 right (gap 0.5).
  const result = calibration([0.55, 0.55, 1, 1], [true, false, true, false], 10);
  assert.ok(Math.abs(result.ece - (0.5 * 0.05 + 0.5 * 0.5)) < 1e-12);
  assert.equal(result.accuracy, 0.5);
  assert.throws(() => calibration([1.2], [true]), /not a probability/);
  assert.throws(() => calibration([0.5], []), /one correctness flag/);
});

test("top-class probability is the softmax maximum; confident answers are counted at the threshold", () => {
  const { confidence, predicted } = topClass([0, Math.log(3), 5, 5], 2);
  assert.deepEqual([...predicted], [1, 0]);
  assert.ok(Math.abs((confidence[0] as number) - 0.75) < 1e-12);
  assert.ok(Math.abs((confidence[1] as number) - 0.5) < 1e-12);
  const high = confidentAnswers([0.99, 0.995, 0.5, 0.999], [true, false, true, true], 0.99);
  assert.deepEqual({ share: high.share, count: high.count }, { share: 0.75, count: 3 });
  assert.ok(Math.abs(high.accuracy - 2 / 3) < 1e-12);
});

test("mistakes count wrong answers per (true, answered) pair, most frequent first, optionally by a finer class", () => {
  const predicted = [0, 1, 1, 2, 2, 2, 0];
  const truth = [0, 0, 0, 1, 1, 2, 2];
  assert.deepEqual(mistakes(predicted, truth), [
    { truth: 0, answered: 1, count: 2, shareOfErrors: 0.4 },
    { truth: 1, answered: 2, count: 2, shareOfErrors: 0.4 },
    { truth: 2, answered: 0, count: 1, shareOfErrors: 0.2 },
  ]);
  const finer = [5, 6, 6, 7, 8, 9, 9];
  assert.deepEqual(
    mistakes(predicted, truth, finer).map((m) => [m.truth, m.answered, m.count]),
    [
      [6, 1, 2],
      [7, 2, 1],
      [8, 2, 1],
      [9, 0, 1],
    ],
  );
  assert.deepEqual(mistakes([1, 2], [1, 2]), []);
  assert.throws(() => mistakes([1], [1, 2]), /one true class/);
});

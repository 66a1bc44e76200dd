// Temperature scaling: the fit finds the temperature that makes scores honest, and the scores the
// worker serves follow the formula the manifest names.
import assert from "node:assert/strict";
import { test } from "node:test";
import { answerScores, groupScores, scoresFromLogits } from "../../contracts/scores.ts";
import { createRng } from "../../data/dataset.ts";
import { fitTemperature, meanNll } from "../../export/score-temperature.ts";

/** Logits whose softmax is the true label distribution (calibrated at T = 1), then scaled by `sharpen`. */
function syntheticLogits(count: number, classes: number, sharpen: number, seed: number) {
  const rng = createRng(seed);
  const logits = new Float32Array(count * classes);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const row = Array.from({ length: classes }, () => 3 * (rng() - 0.5));
    const truth = scoresFromLogits(row);
    let u = rng();
    let label = classes - 1;
    for (let k = 0; k < classes; k++) {
      u -= truth[k] as number;
      if (u < 0) {
        label = k;
        break;
      }
    }
    labels[i] = label;
    row.forEach((z, k) => {
      logits[i * classes + k] = sharpen * z;
    });
  }
  return { logits, labels };
}

test("the fit undoes a known over- or under-confidence", () => {
  for (const sharpen of [0.4, 1, 3]) {
    const { logits, labels } = syntheticLogits(6000, 5, sharpen, 11);
    const fit = fitTemperature(logits, labels, 5);
    assert.ok(
      Math.abs(fit.temperature / sharpen - 1) < 0.12,
      `scaled by ${sharpen}, fitted temperature ${fit.temperature}`,
    );
    assert.ok(fit.nllAfter <= fit.nllBefore + 1e-12);
    assert.ok(fit.nllAfter <= meanNll(logits, labels, 5, fit.temperature * 1.2));
    assert.ok(fit.nllAfter <= meanNll(logits, labels, 5, fit.temperature / 1.2));
  }
});

test("scores are softmax(logits / temperature), sum to one and survive huge logits", () => {
  const scores = scoresFromLogits([2, 0, -1], 2);
  const expected = [1, 0, -0.5].map(Math.exp);
  const total = expected.reduce((a, b) => a + b, 0);
  scores.forEach((s, k) => {
    assert.ok(Math.abs(s - (expected[k] as number) / total) < 1e-12);
  });
  const huge = scoresFromLogits([1e4, 0, -1e4]);
  assert.equal(huge[0], 1);
  assert.ok(huge.every(Number.isFinite));
  // A temperature changes how sure the scores are, never which class wins.
  const sharp = scoresFromLogits([0.3, 0.1, 0.2], 0.1);
  const flat = scoresFromLogits([0.3, 0.1, 0.2], 10);
  assert.ok((sharp[0] as number) > (flat[0] as number));
  assert.ok((flat[0] as number) > (flat[2] as number) && (flat[2] as number) > (flat[1] as number));
  assert.throws(() => scoresFromLogits([1, 2], 0), /temperature must be positive/);
});

test("logits and labels that do not fit together are refused", () => {
  assert.throws(() => meanNll(new Float32Array(7), new Int32Array(2), 3, 1), /need 3 logits per label/);
  assert.throws(() => meanNll(new Float32Array(0), new Int32Array(0), 3, 1), /need 3 logits per label/);
});

test("grouped scores sum a finer task's scores per coarse class, and their NLL is -log of the group total", () => {
  const grouping = { classMap: [2, 0, 2, 1], classes: 3 };
  const logits = [1.5, -0.5, 0.25, 2];
  const fine = scoresFromLogits(logits, 0.7);
  const grouped = answerScores(logits, { temperature: 0.7, grouping });
  assert.deepEqual(Array.from(grouped), [fine[1], fine[3], (fine[0] as number) + (fine[2] as number)]);
  assert.ok(Math.abs(grouped.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  for (const label of [0, 1, 2]) {
    const nll = meanNll(logits, [label], 4, 0.7, grouping);
    assert.ok(Math.abs(nll + Math.log(grouped[label] as number)) < 1e-12, `label ${label}: ${nll}`);
  }
  // A group whose scores all underflow still has a finite NLL, so the search can move away from it.
  assert.ok(Number.isFinite(meanNll([1e4, -1e4, 0, 0], [0], 4, 1, grouping)));
  assert.throws(() => groupScores([0.5, 0.5], grouping), /grouping of 4 classes cannot take 2 scores/);
  assert.throws(
    () => groupScores([0.25, 0.25, 0.25, 0.25], { classMap: [0, 1, 2, 3], classes: 3 }),
    /classMap\[3\] = 3 is not one of 3 classes/,
  );
});

test("the fit recovers the temperature of grouped scores too", () => {
  // Fine logits calibrated at T = 1, then scaled: a coarse task answered through them is
  // calibrated again only after dividing by the same factor.
  const grouping = { classMap: [0, 0, 1, 1, 2], classes: 3 };
  for (const sharpen of [0.5, 2.5]) {
    const { logits, labels } = syntheticLogits(6000, 5, sharpen, 12);
    const coarse = Int32Array.from(labels, (l) => grouping.classMap[l] as number);
    const fit = fitTemperature(logits, coarse, 5, grouping);
    assert.ok(
      Math.abs(fit.temperature / sharpen - 1) < 0.2,
      `scaled by ${sharpen}, fitted temperature ${fit.temperature}`,
    );
    assert.ok(fit.nllAfter <= fit.nllBefore + 1e-12);
  }
});

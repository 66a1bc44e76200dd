import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { learningRateScale } from "../../train/schedule.ts";

describe("learning-rate schedule", () => {
  const spec = { schedule: "cosine" as const, totalSteps: 110, warmupSteps: 10, finalFraction: 0 };

  test("constant is 1 everywhere", () => {
    assert.equal(learningRateScale({ ...spec, schedule: "constant" }, 57), 1);
  });

  test("cosine warms up linearly, peaks at 1, is 0.5 halfway through the decay and ends at 0", () => {
    assert.ok(Math.abs(learningRateScale(spec, 0) - 0.1) < 1e-12);
    assert.ok(Math.abs(learningRateScale(spec, 9) - 1) < 1e-12);
    assert.ok(Math.abs(learningRateScale(spec, 10) - 1) < 1e-12);
    assert.ok(Math.abs(learningRateScale(spec, 60) - 0.5) < 1e-12);
    assert.ok(learningRateScale(spec, 109) < 0.001);
    assert.equal(learningRateScale(spec, 110), 0);
    for (let s = 11; s < 110; s++) assert.ok(learningRateScale(spec, s) <= learningRateScale(spec, s - 1));
  });
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { compareTask } from "../../export/parity.ts";

test("compares logits per image: largest delta, argmax agreement and accuracy against labels", () => {
  // Three images, two classes.
  const reference = { classes: 2, values: Float32Array.of(1, 0, 0, 1, 2, 1) }; // argmax 0, 1, 0
  const candidate = { classes: 2, values: Float32Array.of(0.9, 0, 0, 1.2, 0.5, 1) }; // argmax 0, 1, 1
  const labels = Int32Array.of(0, 0, 1);
  const result = compareTask("t", reference, candidate, labels);
  assert.equal(result.task, "t");
  assert.ok(Math.abs(result.maxAbsLogitDelta - 1.5) < 1e-6);
  assert.equal(result.agreement, 2 / 3);
  assert.equal(result.referenceAccuracy, 1 / 3);
  assert.equal(result.accuracy, 2 / 3);
});

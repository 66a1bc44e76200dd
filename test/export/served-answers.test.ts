// Which answer each task serves, chosen on validation images: a coarse task's own head or a finer
// head's scores grouped, whichever is right more often (its own head on a tie); and the manifest
// refuses an answer source it cannot resolve.
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { answerSources, parseManifest } from "../../contracts/manifest.ts";
import { BUILTIN_TASKS, DEFAULT_TASKS, derivations, type TaskSpec } from "../../contracts/tasks.ts";
import { createRng } from "../../data/dataset.ts";
import type { TaskLogits } from "../../export/parity.ts";
import { answerAccuracy, chooseAnswers, type TaskAnswer } from "../../export/served-answers.ts";
import { writeFixtureArtifacts } from "../../testing/onnx-model.ts";

const CATEGORY_OF = derivations(DEFAULT_TASKS)[0]?.classMap ?? [];

/** Logits that score the right class highest with probability `rightRate`, else a random other one. */
function logitsRightAt(labels: Int32Array, classes: number, rightRate: number, seed: number): TaskLogits {
  const rng = createRng(seed);
  const values = new Float32Array(labels.length * classes);
  labels.forEach((label, i) => {
    for (let k = 0; k < classes; k++) values[i * classes + k] = rng();
    const winner = rng() < rightRate ? label : (label + 1 + Math.floor(rng() * (classes - 1))) % classes;
    values[i * classes + winner] = 4;
  });
  return { classes, values };
}

function labelsOf(count: number, seed: number) {
  const rng = createRng(seed);
  const source = Int32Array.from({ length: count }, () => Math.floor(rng() * 10));
  return { fine: source, coarse: Int32Array.from(source, (l) => CATEGORY_OF[l] as number) };
}

test("category is served through the fashion head when that answers more validation images right", () => {
  const { fine, coarse } = labelsOf(2000, 1);
  const logits = [logitsRightAt(fine, 10, 0.95, 2), logitsRightAt(coarse, 3, 0.8, 3)];
  const answers = chooseAnswers(DEFAULT_TASKS, logits, [fine, coarse]);
  assert.equal(answers[0]?.answeredThrough, null, "fashion has no finer task");
  assert.deepEqual(answers[0]?.candidates.length, 1);
  const categoryAnswer = answers[1];
  assert.deepEqual(categoryAnswer?.answeredThrough, { task: "fashion", classMap: CATEGORY_OF });
  const [own, throughFashion] = categoryAnswer?.candidates ?? [];
  assert.equal(own?.answeredThrough, null);
  assert.equal(throughFashion?.answeredThrough, "fashion");
  assert.ok((throughFashion?.validationAccuracy ?? 0) > (own?.validationAccuracy ?? 1));
  assert.ok(Math.abs((own?.validationAccuracy ?? 0) - 0.8) < 0.03, `own head ${own?.validationAccuracy}`);
  // Its temperature is the grouped scores' own fit, and the served accuracy is theirs.
  assert.equal(categoryAnswer?.temperature, throughFashion?.temperature);
  const served = DEFAULT_TASKS.map((task, t) => ({ ...task, ...(answers[t] as TaskAnswer) }));
  const [fashionServed, categoryServed] = answerAccuracy(answerSources({ tasks: served }), logits, [
    fine,
    coarse,
  ]);
  assert.equal(categoryServed, throughFashion?.validationAccuracy);
  assert.equal(fashionServed, answers[0]?.candidates[0]?.validationAccuracy);
});

test("category keeps its own head when that is better, and on a tie", () => {
  const { fine, coarse } = labelsOf(2000, 4);
  const better = chooseAnswers(
    DEFAULT_TASKS,
    [logitsRightAt(fine, 10, 0.6, 5), logitsRightAt(coarse, 3, 0.97, 6)],
    [fine, coarse],
  );
  assert.equal(better[1]?.answeredThrough, null);
  // The fashion head grouped is exactly as right as a category head that copies its answers.
  const fashionLogits = logitsRightAt(fine, 10, 0.9, 7);
  const copied = new Float32Array(fine.length * 3);
  fine.forEach((_, i) => {
    const row = Array.from(fashionLogits.values.subarray(i * 10, (i + 1) * 10));
    copied[i * 3 + (CATEGORY_OF[row.indexOf(Math.max(...row))] as number)] = 4;
  });
  const tie = chooseAnswers(DEFAULT_TASKS, [fashionLogits, { classes: 3, values: copied }], [fine, coarse]);
  const [own, through] = tie[1]?.candidates ?? [];
  assert.equal(own?.validationAccuracy, through?.validationAccuracy);
  assert.equal(tie[1]?.answeredThrough, null);
  // A task list with no finer task offers one candidate per task.
  const alone = chooseAnswers(
    [BUILTIN_TASKS.category as TaskSpec],
    [logitsRightAt(coarse, 3, 0.9, 8)],
    [coarse],
  );
  assert.equal(alone[0]?.candidates.length, 1);
});

test("the manifest resolves answeredThrough and refuses one it cannot", async () => {
  const manifest = await writeFixtureArtifacts(await mkdtemp(join(tmpdir(), "stitch-answers-")));
  const names = manifest.tasks.map((t) => t.name);
  assert.deepEqual(names, ["fashion", "category"]);
  const through = (answeredThrough: unknown, at = 1) => ({
    ...manifest,
    tasks: manifest.tasks.map((t, i) => (i === at ? { ...t, answeredThrough } : t)),
  });
  const served = parseManifest(through({ task: "fashion", classMap: CATEGORY_OF }));
  assert.deepEqual(
    answerSources(served).map(({ source, sourceClasses, rule }) => ({
      source,
      sourceClasses,
      grouped: !!rule.grouping,
    })),
    [
      { source: 0, sourceClasses: 10, grouped: false },
      { source: 0, sourceClasses: 10, grouped: true },
    ],
  );
  const refused: [unknown, RegExp][] = [
    [
      { task: "shoes", classMap: CATEGORY_OF },
      /tasks\[1\]\.answeredThrough\.task: "shoes" is not another task/,
    ],
    [{ task: "category", classMap: CATEGORY_OF }, /"category" is not another task/],
    [{ task: "fashion", classMap: [0, 1, 2] }, /classMap: needs one entry per class of "fashion" \(10\)/],
    [
      { task: "fashion", classMap: [0, 0, 0, 0, 0, 0, 0, 0, 0, 3] },
      /classMap\[9\]: not one of this task's 3 classes/,
    ],
  ];
  for (const [value, message] of refused) assert.throws(() => parseManifest(through(value)), message);
  const chained = {
    ...manifest,
    tasks: manifest.tasks.map((t, i) => ({
      ...t,
      answeredThrough:
        i === 0 ? { task: "category", classMap: [0, 1, 2] } : { task: "fashion", classMap: CATEGORY_OF },
    })),
  };
  assert.throws(() => parseManifest(chained), /is itself answered through another task/);
});

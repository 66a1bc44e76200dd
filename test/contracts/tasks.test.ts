import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import {
  BUILTIN_TASKS,
  DEFAULT_TASKS,
  parseTaskFile,
  SOURCE_CLASSES,
  TaskFileError,
  taskLabels,
} from "../../contracts/tasks.ts";
import { loadTaskFile } from "../../stage-files/run-folder.ts";

const fixture = new URL("../fixtures/tasks-four-groups.json", import.meta.url).pathname;
const group = {
  name: "group",
  classes: ["tops", "bottoms", "footwear", "accessories"],
  labelMap: [0, 1, 0, 0, 0, 2, 0, 2, 3, 2],
};
const withThird = (third: object) => parseTaskFile({ tasks: ["fashion", third] }, "t.json");

describe("built-in tasks", () => {
  test("fashion is the identity over the 10 source classes, category groups them as SPEC.md", () => {
    assert.deepEqual(
      DEFAULT_TASKS.map((t) => t.name),
      ["fashion", "category"],
    );
    const labels = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual([...taskLabels(BUILTIN_TASKS.fashion!, labels)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const category = taskLabels(BUILTIN_TASKS.category!, labels);
    const members = (c: number) => [...labels].filter((l) => category[l] === c);
    assert.deepEqual(members(0), [5, 7, 9]);
    assert.deepEqual(members(1), [3, 6, 8]);
    assert.deepEqual(members(2), [0, 1, 2, 4]);
    assert.equal(SOURCE_CLASSES[7], "Sneaker");
  });
});

describe("task files", () => {
  test("a file can add a third task beside the built-ins", () => {
    const tasks = loadTaskFile(fixture);
    assert.deepEqual(
      tasks.map((t) => [t.name, t.classes.length]),
      [
        ["fashion", 10],
        ["category", 3],
        ["group", 4],
      ],
    );
    assert.deepEqual([...taskLabels(tasks[2]!, Uint8Array.from([8, 1, 9]))], [3, 1, 2]);
  });

  const bad: Array<[string, object, RegExp]> = [
    [
      "an unmapped source label",
      { ...group, labelMap: group.labelMap.slice(0, 9) },
      /tasks\[1\]: labelMap must map each of the 10/,
    ],
    [
      "an index out of range",
      { ...group, labelMap: [0, 1, 0, 0, 0, 2, 0, 2, 4, 2] },
      /tasks\[1\]: labelMap\[8\] \(Bag\) must be a class index 0-3, got 4/,
    ],
    [
      "a class nobody maps to",
      { ...group, labelMap: [0, 1, 0, 0, 0, 2, 0, 2, 2, 2] },
      /tasks\[1\]: class 3 "accessories" receives no source label/,
    ],
    [
      "a duplicate class name",
      { ...group, classes: ["tops", "bottoms", "tops", "x"] },
      /tasks\[1\]: classes\[2\] "tops" is listed twice/,
    ],
    ["a bad task name", { ...group, name: "Group!" }, /tasks\[1\]: name must be lower_snake_case/],
    ["an unknown key", { ...group, labels: [] }, /tasks\[1\]: unknown key "labels"/],
    ["a reused task name", { ...group, name: "fashion" }, /tasks\[1\]: task name "fashion" is used twice/],
  ];
  for (const [what, task, message] of bad) {
    test(`rejects ${what}, pointing at the entry`, () => {
      assert.throws(
        () => withThird(task),
        (error: Error) => error instanceof TaskFileError && message.test(error.message),
      );
    });
  }

  test("rejects an unknown built-in, an empty list and unreadable or invalid files", () => {
    assert.throws(
      () => parseTaskFile({ tasks: ["colour"] }, "t.json"),
      /tasks\[0\]: unknown built-in task "colour"/,
    );
    assert.throws(() => parseTaskFile({ tasks: [] }, "t.json"), /expected \{"tasks": \[...\]\}/);
    assert.throws(() => loadTaskFile("/nonexistent/tasks.json"), /cannot read task file \(ENOENT\)/);
    const broken = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tasks-")), "broken.json");
    fs.writeFileSync(broken, "{ tasks: ");
    assert.throws(() => loadTaskFile(broken), /broken\.json: not valid JSON/);
  });
});

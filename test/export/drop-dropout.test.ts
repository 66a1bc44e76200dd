import assert from "node:assert/strict";
import { test } from "node:test";
import type { Graph } from "../../export/graph.ts";
import { dropDropout } from "../../export/passes/drop-dropout.ts";
import { maxAbsDiff, randomTensor, runGraph, seededRandom } from "./graph-helpers.ts";

const random = seededRandom(2);

// x -> Relu -> Dropout -> Mul(w) -> y, twice in a row
const graph: Graph = {
  name: "dropout",
  inputs: [{ name: "x", dims: [-1, 6] }],
  outputs: [{ name: "y", dims: [-1, 6] }],
  nodes: [
    { name: "relu", op: "Relu", inputs: ["x"], outputs: ["r"], attrs: {} },
    { name: "drop1", op: "Dropout", inputs: ["r"], outputs: ["d1"], attrs: {} },
    { name: "mul", op: "Mul", inputs: ["d1", "w"], outputs: ["m"], attrs: {} },
    { name: "drop2", op: "Dropout", inputs: ["m"], outputs: ["d2"], attrs: {} },
    { name: "neg", op: "Neg", inputs: ["d2"], outputs: ["y"], attrs: {} },
  ],
  initializers: new Map([["w", randomTensor([6], random)]]),
};

test("removes every dropout and computes the same", async () => {
  const dropped = dropDropout(graph);
  assert.deepEqual(
    dropped.nodes.map((n) => n.op),
    ["Relu", "Mul", "Neg"],
  );
  const x = randomTensor([3, 6], random);
  const diff = maxAbsDiff(
    (await runGraph(graph, { x })).get("y") as Float32Array,
    (await runGraph(dropped, { x })).get("y") as Float32Array,
  );
  assert.equal(diff, 0);
});

test("keeps a dropout that is itself the graph output", () => {
  const last: Graph = {
    ...graph,
    nodes: [{ name: "drop", op: "Dropout", inputs: ["x"], outputs: ["y"], attrs: {} }],
  };
  assert.equal(dropDropout(last), last);
});

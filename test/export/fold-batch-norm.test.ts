import assert from "node:assert/strict";
import { test } from "node:test";
import { float, type Graph, ints } from "../../export/graph.ts";
import { foldBatchNorm } from "../../export/passes/fold-batch-norm.ts";
import { maxAbs, maxAbsDiff, randomTensor, runGraph, seededRandom } from "./graph-helpers.ts";

const random = seededRandom(1);

function bnInputs(prefix: string, channels: number) {
  return new Map([
    [`${prefix}/gamma`, randomTensor([channels], random, 0.5, 2)],
    [`${prefix}/beta`, randomTensor([channels], random, -0.5, 0.5)],
    [`${prefix}/mean`, randomTensor([channels], random, -1, 1)],
    [`${prefix}/var`, randomTensor([channels], random, 0.2, 3)],
  ]);
}
const bnNames = (p: string) => [`${p}/gamma`, `${p}/beta`, `${p}/mean`, `${p}/var`];

// x [-1,2,5,5] -> Conv(3, 3x3) -> BN -> Relu -> Flatten -> Gemm(75 -> 4) -> BN -> y
const tiny: Graph = {
  name: "tiny",
  inputs: [{ name: "x", dims: [-1, 2, 5, 5] }],
  outputs: [{ name: "y", dims: [-1, 4] }],
  nodes: [
    {
      name: "conv",
      op: "Conv",
      inputs: ["x", "conv/w", "conv/b"],
      outputs: ["c"],
      attrs: { pads: ints([1, 1, 1, 1]) },
    },
    {
      name: "bn1",
      op: "BatchNormalization",
      inputs: ["c", ...bnNames("bn1")],
      outputs: ["n1"],
      attrs: { epsilon: float(1e-3) },
    },
    { name: "relu", op: "Relu", inputs: ["n1"], outputs: ["r"], attrs: {} },
    { name: "flat", op: "Flatten", inputs: ["r"], outputs: ["f"], attrs: {} },
    { name: "fc", op: "Gemm", inputs: ["f", "fc/w", "fc/b"], outputs: ["g"], attrs: {} },
    {
      name: "bn2",
      op: "BatchNormalization",
      inputs: ["g", ...bnNames("bn2")],
      outputs: ["y"],
      attrs: { epsilon: float(1e-3) },
    },
  ],
  initializers: new Map([
    ["conv/w", randomTensor([3, 2, 3, 3], random)],
    ["conv/b", randomTensor([3], random)],
    ["fc/w", randomTensor([75, 4], random)],
    ["fc/b", randomTensor([4], random)],
    ...bnInputs("bn1", 3),
    ...bnInputs("bn2", 4),
  ]),
};

test("folding batch-norm into conv and dense matches the unfolded graph", async () => {
  const folded = foldBatchNorm(tiny);
  assert.deepEqual(
    folded.nodes.map((n) => n.op),
    ["Conv", "Relu", "Flatten", "Gemm"],
  );
  assert.ok(
    ![...folded.initializers.keys()].some((k) => k.startsWith("bn")),
    "batch-norm parameters are gone",
  );
  const x = randomTensor([4, 2, 5, 5], random, -2, 2);
  const expected = (await runGraph(tiny, { x })).get("y") as Float32Array;
  const actual = (await runGraph(folded, { x })).get("y") as Float32Array;
  assert.ok(maxAbs(expected) > 1, "the reference is not trivially small");
  assert.ok(maxAbsDiff(expected, actual) < 1e-4, `max |Δ| ${maxAbsDiff(expected, actual)}`);
});

test("a conv without bias gets one from the fold", async () => {
  const noBias: Graph = {
    ...tiny,
    nodes: tiny.nodes.map((n) => (n.name === "conv" ? { ...n, inputs: ["x", "conv/w"] } : n)),
  };
  const folded = foldBatchNorm(noBias);
  assert.equal(folded.nodes[0]?.inputs.length, 3);
  const x = randomTensor([2, 2, 5, 5], random, -2, 2);
  const diff = maxAbsDiff(
    (await runGraph(noBias, { x })).get("y") as Float32Array,
    (await runGraph(folded, { x })).get("y") as Float32Array,
  );
  assert.ok(diff < 1e-4, `max |Δ| ${diff}`);
});

test("leaves the graph unchanged when the batch-norm input has another reader or no layer", () => {
  const shared: Graph = {
    ...tiny,
    outputs: [...tiny.outputs, { name: "c", dims: [-1, 3, 5, 5] }],
    nodes: tiny.nodes
      .filter((n) => n.name !== "bn2")
      .map((n) => (n.name === "fc" ? { ...n, outputs: ["y"] } : n)),
  };
  const readerTwice: Graph = {
    ...shared,
    nodes: [...shared.nodes, { name: "other", op: "Relu", inputs: ["c"], outputs: ["o"], attrs: {} }],
  };
  assert.equal(foldBatchNorm(readerTwice), readerTwice);
  const bnOnInput: Graph = {
    ...tiny,
    nodes: [
      { name: "bn", op: "BatchNormalization", inputs: ["x", ...bnNames("bn1")], outputs: ["y"], attrs: {} },
    ],
  };
  assert.equal(foldBatchNorm(bnOnInput), bnOnInput);
});

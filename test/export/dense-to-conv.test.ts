import assert from "node:assert/strict";
import { test } from "node:test";
import type { Graph } from "../../export/graph.ts";
import { denseToConv } from "../../export/passes/dense-to-conv.ts";
import { maxAbs, maxAbsDiff, randomTensor, runGraph, seededRandom } from "./graph-helpers.ts";

const random = seededRandom(6);

// x [-1,3,2,4] -> Flatten -> Gemm(24 -> 5) [-> Relu] -> Gemm(5 -> 2) -> y
function dense(withRelu: boolean): Graph {
  const relu = withRelu ? [{ name: "relu", op: "Relu", inputs: ["h"], outputs: ["r"], attrs: {} }] : [];
  return {
    name: "dense",
    inputs: [{ name: "x", dims: [-1, 3, 2, 4] }],
    outputs: [{ name: "y", dims: [-1, 2] }],
    nodes: [
      { name: "flat", op: "Flatten", inputs: ["x"], outputs: ["f"], attrs: {} },
      { name: "fc", op: "Gemm", inputs: ["f", "fc/w", "fc/b"], outputs: ["h"], attrs: {} },
      ...relu,
      {
        name: "head",
        op: "Gemm",
        inputs: [withRelu ? "r" : "h", "head/w", "head/b"],
        outputs: ["y"],
        attrs: {},
      },
    ],
    initializers: new Map([
      ["fc/w", randomTensor([24, 5], random)],
      ["fc/b", randomTensor([5], random)],
      ["head/w", randomTensor([5, 2], random)],
      ["head/b", randomTensor([2], random)],
    ]),
  };
}

for (const withRelu of [true, false]) {
  test(`a dense layer on a feature map becomes a full-size conv${withRelu ? ", its ReLU before the Flatten" : ""}`, async () => {
    const graph = dense(withRelu);
    const converted = denseToConv(graph);
    assert.deepEqual(
      converted.nodes.map((n) => n.op),
      withRelu ? ["Conv", "Relu", "Flatten", "Gemm"] : ["Conv", "Flatten", "Gemm"],
    );
    assert.deepEqual(converted.initializers.get("fc/conv_kernel")?.dims, [5, 3, 2, 4]);
    const x = randomTensor([3, 3, 2, 4], random, -2, 2);
    const expected = (await runGraph(graph, { x })).get("y") as Float32Array;
    const actual = (await runGraph(converted, { x })).get("y") as Float32Array;
    assert.ok(maxAbs(expected) > 0.5);
    assert.ok(maxAbsDiff(expected, actual) < 1e-5, `max |Δ| ${maxAbsDiff(expected, actual)}`);
  });
}

test("a dense layer on a flat input is left alone", () => {
  const flat: Graph = { ...dense(false), inputs: [{ name: "x", dims: [-1, 24] }] };
  assert.equal(denseToConv(flat), flat);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { CROSS_STITCH_DOMAIN, type Graph, type GraphNode, intAttr, ints } from "../../export/graph.ts";
import { crossStitchToElementwise } from "../../export/passes/cross-stitch-to-elementwise.ts";
import { fuseTowers } from "../../export/passes/fuse-towers.ts";
import { maxAbs, maxAbsDiff, randomTensor, runGraph, seededRandom } from "./graph-helpers.ts";

const random = seededRandom(5);
const HEADS = [5, 3, 4];

/** N towers shaped like the real one, scaled down: conv-relu-pool, stitch, conv-relu-pool, stitch, dense-relu, stitch, heads. */
function towersGraph(towers: number): Graph {
  const t = [...Array(towers).keys()];
  const init = new Map<string, ReturnType<typeof randomTensor>>();
  const nodes: GraphNode[] = [];
  const stitch = (unit: string, inputs: string[], rows: number) => {
    if (towers < 2) return inputs;
    init.set(`${unit}/alpha`, randomTensor([rows, towers, towers], random, -0.5, 1));
    const outputs = inputs.map((_, i) => `${unit}_${i}`);
    nodes.push({
      name: unit,
      op: "CrossStitch",
      domain: CROSS_STITCH_DOMAIN,
      inputs: [...inputs, `${unit}/alpha`],
      outputs,
      attrs: {},
    });
    return outputs;
  };
  const stage = (k: number, inputs: string[], cin: number, cout: number) =>
    inputs.map((input, i) => {
      init.set(`c${k}_${i}/w`, randomTensor([cout, cin, 3, 3], random, -0.5, 0.5));
      init.set(`c${k}_${i}/b`, randomTensor([cout], random));
      const pool = { kernel_shape: ints([2, 2]), strides: ints([2, 2]) };
      nodes.push(
        {
          name: `c${k}_${i}`,
          op: "Conv",
          inputs: [input, `c${k}_${i}/w`, `c${k}_${i}/b`],
          outputs: [`c${k}_${i}`],
          attrs: { pads: ints([1, 1, 1, 1]) },
        },
        { name: `r${k}_${i}`, op: "Relu", inputs: [`c${k}_${i}`], outputs: [`r${k}_${i}`], attrs: {} },
        { name: `p${k}_${i}`, op: "MaxPool", inputs: [`r${k}_${i}`], outputs: [`p${k}_${i}`], attrs: pool },
      );
      return `p${k}_${i}`;
    });
  let acts = stitch(
    "cs1",
    stage(
      1,
      t.map(() => "x"),
      1,
      4,
    ),
    4,
  );
  acts = stitch("cs2", stage(2, acts, 4, 6), 1);
  acts = acts.map((input, i) => {
    init.set(`fc_${i}/w`, randomTensor([24, 5], random, -0.5, 0.5));
    init.set(`fc_${i}/b`, randomTensor([5], random));
    nodes.push(
      { name: `f_${i}`, op: "Flatten", inputs: [input], outputs: [`f_${i}`], attrs: {} },
      {
        name: `fc_${i}`,
        op: "Gemm",
        inputs: [`f_${i}`, `fc_${i}/w`, `fc_${i}/b`],
        outputs: [`fc_${i}`],
        attrs: {},
      },
      { name: `rf_${i}`, op: "Relu", inputs: [`fc_${i}`], outputs: [`rf_${i}`], attrs: {} },
    );
    return `rf_${i}`;
  });
  stitch("cs3", acts, 5).forEach((input, i) => {
    init.set(`head_${i}/w`, randomTensor([5, HEADS[i] as number], random));
    init.set(`head_${i}/b`, randomTensor([HEADS[i] as number], random));
    nodes.push({
      name: `head_${i}`,
      op: "Gemm",
      inputs: [input, `head_${i}/w`, `head_${i}/b`],
      outputs: [`y${i}`],
      attrs: {},
    });
  });
  return {
    name: "towers",
    inputs: [{ name: "x", dims: [-1, 1, 8, 8] }],
    outputs: t.map((i) => ({ name: `y${i}`, dims: [-1, HEADS[i] as number] })),
    nodes,
    initializers: init,
  };
}

for (const towers of [2, 3]) {
  test(`${towers} towers fuse into wide, grouped and channel-mixed ops with the same logits`, async () => {
    const graph = towersGraph(towers);
    const fused = crossStitchToElementwise(fuseTowers(graph));
    const convs = fused.nodes.filter((n) => n.op === "Conv");
    assert.equal(convs.length, 3, "conv1, conv2 and the dense layer, each once for all towers");
    assert.deepEqual(
      convs.map((c) => intAttr(c, "group", 1)),
      [1, towers, towers],
    );
    assert.equal(fused.nodes.filter((n) => n.op === "Split").length, 1);
    assert.equal(fused.nodes.filter((n) => n.op === "Gemm").length, towers, "the heads stay per task");
    const x = randomTensor([3, 1, 8, 8], random, -2, 2);
    const expected = await runGraph(crossStitchToElementwise(graph), { x });
    const actual = await runGraph(fused, { x });
    for (const { name } of graph.outputs) {
      const e = expected.get(name) as Float32Array;
      assert.ok(maxAbs(e) > 0.1, `${name} is not trivially small`);
      assert.ok(
        maxAbsDiff(e, actual.get(name) as Float32Array) < 1e-5,
        `${name}: ${maxAbsDiff(e, actual.get(name) as Float32Array)}`,
      );
    }
  });
}

test("a single tower, with nothing to fuse, is left unchanged", () => {
  const graph = towersGraph(1);
  assert.equal(fuseTowers(graph), graph);
});

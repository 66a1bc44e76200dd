import assert from "node:assert/strict";
import { test } from "node:test";
import { CROSS_STITCH_DOMAIN, floatTensor, type Graph, type Tensor } from "../../export/graph.ts";
import { crossStitchToElementwise } from "../../export/passes/cross-stitch-to-elementwise.ts";
import { maxAbsDiff, randomTensor, runGraph, seededRandom } from "./graph-helpers.ts";

const random = seededRandom(3);
const [C, H, W] = [3, 2, 2];

/** Three towers [-1, C, H, W] through one unit, each output then through Relu. */
function stitched(alpha: Tensor): Graph {
  const towers = [0, 1, 2];
  return {
    name: "stitch",
    inputs: towers.map((t) => ({ name: `x${t}`, dims: [-1, C, H, W] })),
    outputs: towers.map((t) => ({ name: `y${t}`, dims: [-1, C, H, W] })),
    nodes: [
      {
        name: "unit",
        op: "CrossStitch",
        domain: CROSS_STITCH_DOMAIN,
        inputs: [...towers.map((t) => `x${t}`), "alpha"],
        outputs: towers.map((t) => `s${t}`),
        attrs: {},
      },
      ...towers.map((t) => ({
        name: `relu${t}`,
        op: "Relu",
        inputs: [`s${t}`],
        outputs: [`y${t}`],
        attrs: {},
      })),
    ],
    initializers: new Map([["alpha", alpha]]),
  };
}

/** out_i[b, c, h, w] = relu(Σ_j alpha[c or 0, i, j] · x_j[b, c, h, w]), straight from the definition. */
function reference(alpha: Tensor, xs: Tensor[], batch: number): Float32Array[] {
  const a = alpha.data as Float32Array;
  const rows = alpha.dims[0] as number;
  return xs.map((_, i) =>
    Float32Array.from({ length: batch * C * H * W }, (_, k) => {
      const c = Math.floor(k / (H * W)) % C;
      const row = rows === 1 ? 0 : c;
      const sum = xs.reduce(
        (s, x, j) => s + (a[(row * 3 + i) * 3 + j] as number) * ((x.data as Float32Array)[k] as number),
        0,
      );
      return Math.max(0, sum);
    }),
  );
}

async function check(alpha: Tensor) {
  const graph = stitched(alpha);
  const lowered = crossStitchToElementwise(graph);
  assert.ok(
    lowered.nodes.every((n) => n.domain === undefined),
    "no custom op left",
  );
  const xs = [0, 1, 2].map(() => randomTensor([2, C, H, W], random, -2, 2));
  const out = await runGraph(lowered, { x0: xs[0] as Tensor, x1: xs[1] as Tensor, x2: xs[2] as Tensor });
  reference(alpha, xs, 2).forEach((expected, i) => {
    assert.ok(maxAbsDiff(expected, out.get(`y${i}`) as Float32Array) < 1e-5, `tower ${i}`);
  });
  return lowered;
}

test("channel-wise unit becomes Mul and Sum with the same result", async () => {
  const lowered = await check(randomTensor([C, 3, 3], random, -1, 1));
  assert.equal(lowered.nodes.filter((n) => n.op === "Mul").length, 9);
  assert.equal(lowered.nodes.filter((n) => n.op === "Sum").length, 3);
});

test("layer-wise unit broadcasts one matrix over all channels", async () => {
  await check(randomTensor([1, 3, 3], random, -1, 1));
});

test("identity alpha needs no op at all, zero coefficients are skipped", async () => {
  const identity = floatTensor([1, 3, 3], Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1));
  const lowered = await check(identity);
  assert.deepEqual(
    lowered.nodes.map((n) => n.op),
    ["Relu", "Relu", "Relu"],
  );
});

test("leaves a graph without cross-stitch unit unchanged", () => {
  const plain: Graph = { ...stitched(randomTensor([1, 3, 3], random)), nodes: [] };
  assert.equal(crossStitchToElementwise(plain), plain);
});

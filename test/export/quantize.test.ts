import assert from "node:assert/strict";
import { test } from "node:test";
import { calibratedRange } from "../../export/calibrate.ts";
import { type Graph, ints } from "../../export/graph.ts";
import {
  activationParams,
  quantizedActivations,
  quantizeGraph,
  quantizeWeight,
} from "../../export/quantize.ts";
import { inferShapes } from "../../export/shapes.ts";
import { maxAbs, maxAbsDiff, randomTensor, runGraph, seededRandom } from "./graph-helpers.ts";

const random = seededRandom(4);

test("per-channel weights round-trip within half a step of their own channel's scale", () => {
  // Channels with very different magnitudes: a per-tensor scale would crush the small one.
  const weight = randomTensor([3, 2, 3, 3], random);
  const data = weight.data as Float32Array;
  for (let i = 0; i < 18; i++) data[i] = (data[i] as number) * 0.001;
  const { values, scales } = quantizeWeight(weight, 0);
  assert.equal(scales.length, 3);
  data.forEach((w, i) => {
    const scale = scales[Math.floor(i / 18)] as number;
    assert.ok(Math.abs(w - (values[i] as number) * scale) <= scale / 2 + 1e-12, `element ${i}`);
    assert.ok(Math.abs(values[i] as number) <= 127);
  });
  assert.ok((scales[0] as number) < (scales[1] as number) / 100, "the small channel keeps its own scale");
});

test("weights of a dense kernel [K, N] are quantized per output column", () => {
  const weight = randomTensor([4, 2], random);
  const data = weight.data as Float32Array;
  data[1] = 10; // column 1 holds the outlier
  const { scales } = quantizeWeight(weight, 1);
  assert.ok(Math.abs((scales[1] as number) - 10 / 127) < 1e-7);
  assert.ok((scales[0] as number) <= 1 / 127);
});

test("activation parameters represent zero exactly and cover the range", () => {
  for (const range of [
    { min: 0, max: 6 },
    { min: -3, max: 5 },
    { min: -2, max: -1 },
  ]) {
    const { scale, zeroPoint } = activationParams(range);
    assert.ok(Number.isInteger(zeroPoint) && zeroPoint >= -128 && zeroPoint <= 127);
    const q = (x: number) => Math.round(x / scale) + zeroPoint;
    assert.ok(q(Math.min(0, range.min)) >= -128.5 && q(Math.max(0, range.max)) <= 127.5);
  }
  assert.equal(activationParams({ min: 0, max: 6 }).zeroPoint, -128, "ReLU outputs use the whole int8 range");
});

test("percentile calibration clips rare outliers, min/max keeps them", () => {
  const counts = new Float64Array(2048);
  counts[0] = 1_000_000; // ReLU zeros
  for (let b = 1; b < 100; b++) counts[b] = 1000;
  counts[2047] = 1; // one outlier at the top of the range
  const h = { min: 0, max: 100, counts };
  assert.equal(calibratedRange(h, { kind: "minmax" }).max, 100);
  const clipped = calibratedRange(h, { kind: "percentile", percentile: 99.99 });
  assert.equal(clipped.min, 0);
  assert.ok(clipped.max < 5 && clipped.max > 4.5, `max ${clipped.max}`);
});

// x [-1,2,6,6] -> Conv(4, 3x3) -> Relu -> MaxPool 2x2 -> Flatten -> Gemm(36 -> 3) -> y
const tiny: Graph = {
  name: "tiny",
  inputs: [{ name: "x", dims: [-1, 2, 6, 6] }],
  outputs: [{ name: "y", dims: [-1, 3] }],
  nodes: [
    {
      name: "conv",
      op: "Conv",
      inputs: ["x", "conv/w", "conv/b"],
      outputs: ["c"],
      attrs: { pads: ints([1, 1, 1, 1]) },
    },
    { name: "relu", op: "Relu", inputs: ["c"], outputs: ["r"], attrs: {} },
    {
      name: "pool",
      op: "MaxPool",
      inputs: ["r"],
      outputs: ["p"],
      attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) },
    },
    { name: "flat", op: "Flatten", inputs: ["p"], outputs: ["f"], attrs: {} },
    { name: "fc", op: "Gemm", inputs: ["f", "fc/w", "fc/b"], outputs: ["y"], attrs: {} },
  ],
  initializers: new Map([
    ["conv/w", randomTensor([4, 2, 3, 3], random)],
    ["conv/b", randomTensor([4], random)],
    ["fc/w", randomTensor([36, 3], random)],
    ["fc/b", randomTensor([3], random)],
  ]),
};

test("QDQ placement: linear inputs, post-ReLU outputs and pass-through ops; never graph outputs", () => {
  assert.deepEqual(quantizedActivations(tiny), ["x", "r", "p", "f"]);
});

test("the int8 graph stays within its rounding-error budget of the float graph", async () => {
  const x = randomTensor([8, 2, 6, 6], random, -1, 1);
  // Calibrate on the same images: expose the activations as outputs to read their ranges.
  const exposed: Graph = {
    ...tiny,
    outputs: [
      ...tiny.outputs,
      ...["r", "p", "f"].map((name) => ({ name, dims: inferShapes(tiny).get(name) ?? [] })),
    ],
  };
  const float = await runGraph(exposed, { x });
  const rangeOf = (name: string) => {
    const v = float.get(name) as Float32Array;
    return { min: Math.min(...v), max: Math.max(...v) };
  };
  const ranges = { x: { min: -1, max: 1 }, r: rangeOf("r"), p: rangeOf("p"), f: rangeOf("f") };
  const params = new Map(Object.entries(ranges).map(([k, r]) => [k, activationParams(r)]));
  const int8 = quantizeGraph(tiny, params);
  assert.ok(int8.initializers.get("conv/weight_int8")?.dtype === "int8");
  assert.ok(int8.initializers.get("fc/bias_int32")?.dtype === "int32");
  const quantized = await runGraph(int8, { x }, "wasm");
  const expected = float.get("y") as Float32Array;
  const error = maxAbsDiff(expected, quantized.get("y") as Float32Array);
  // Budget from the rounding steps: input (step 2/255) and conv weights (≤ 1/254 each, 18 taps
  // over |x| ≤ 1) into the conv output, plus its own step; then 36 dense taps of |w| ≤ 1 over that
  // error, and the dense weights' rounding (≤ 1/254) over |f| ≤ R.
  const R = ranges.r.max;
  const convError = 18 * (1 / 255) + 18 / 254 + R / 510;
  const bound = 36 * convError + (36 * R) / 254;
  assert.ok(error < bound, `max |Δ| ${error} vs bound ${bound}`);
  assert.ok(error > 0, "the int8 graph really is quantized");
  assert.ok(error < maxAbs(expected) / 10, `error ${error} is small next to the outputs ${maxAbs(expected)}`);
});

test("entropy calibration clips a long sparse tail but keeps the bulk", () => {
  const counts = new Float64Array(2048);
  // A decaying bulk over the first 400 bins, then a thin tail out to the end.
  for (let b = 0; b < 400; b++) counts[b] = Math.round(10000 * Math.exp(-b / 80));
  for (let b = 400; b < 2048; b += 50) counts[b] = 1;
  const { min, max } = calibratedRange({ min: 0, max: 2048, counts }, { kind: "entropy" });
  assert.equal(min, 0);
  assert.ok(max > 255 && max < 1200, `max ${max}`);
});

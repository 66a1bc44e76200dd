// Turns the trained weights of a run folder into the export graph, layer for
// layer as trained (batch-norm, dropout and cross-stitch units included), in
// ONNX's NCHW layout: the passes then simplify it, and the parity check holds
// the result to the tfjs model.
import {
  CROSS_STITCH_DOMAIN,
  float,
  floatTensor,
  type Graph,
  type GraphNode,
  int,
  int64Tensor,
  ints,
  type Tensor,
} from "./graph.ts";
import { MODEL_INPUT } from "./manifest.ts";
import { ExportError, type NamedWeight, type RunFolder } from "./run-folder.ts";

export const INPUT_NAME = MODEL_INPUT.name;
export const IMAGE_SIZE = 28;
const CONV_CHANNELS = [32, 64] as const;
const FC_UNITS = 1024;
const POOLED = IMAGE_SIZE / 4;

export const logitsName = (task: string): string => `${task}_logits`;

const CROSS_STITCH_KEYS = ["crossStitch", "cross_stitch_enabled", "crossStitchEnabled", "cross_stitch"];

function weight(run: RunFolder, name: string, shape: readonly number[]): NamedWeight {
  const found = run.weights.get(name);
  if (!found) throw new ExportError(`model is not a stitch-edge cross-stitch network: no weight ${name}`);
  if (found.shape.length !== shape.length || found.shape.some((d, i) => d !== shape[i])) {
    throw new ExportError(`weight ${name} has shape [${found.shape}], expected [${shape}]`);
  }
  return found;
}

/** Keras conv kernel [kh, kw, in, out] -> ONNX [out, in, kh, kw]. */
function convKernel(w: NamedWeight): Tensor {
  const [kh, kw, cin, cout] = w.shape as [number, number, number, number];
  const out = new Float32Array(w.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++)
          out[((o * cin + i) * kh + y) * kw + x] = w.data[((y * kw + x) * cin + i) * cout + o] as number;
  return floatTensor([cout, cin, kh, kw], out);
}

/** Dense kernel whose rows follow tfjs's NHWC flatten -> rows in ONNX's NCHW flatten order. */
function nchwFlattenRows(w: NamedWeight, channels: number): Tensor {
  const [rows, cols] = w.shape as [number, number];
  const positions = rows / channels;
  const out = new Float32Array(w.data.length);
  for (let p = 0; p < positions; p++)
    for (let c = 0; c < channels; c++) {
      const from = (p * channels + c) * cols;
      out.set(w.data.subarray(from, from + cols), (c * positions + p) * cols);
    }
  return floatTensor([rows, cols], out);
}

const vector = (w: NamedWeight): Tensor => floatTensor(w.shape, w.data);

function epsilonOf(run: RunFolder, layer: string): number {
  const epsilon = run.layerConfigs.get(layer)?.epsilon;
  if (typeof epsilon !== "number" || !(epsilon > 0)) {
    throw new ExportError(`batch-norm layer ${layer} has no positive epsilon in model.json`);
  }
  return epsilon;
}

function declaredCrossStitch(run: RunFolder): boolean | undefined {
  for (const key of CROSS_STITCH_KEYS)
    if (typeof run.config[key] === "boolean") return run.config[key] as boolean;
  return undefined;
}

/** Whether the run holds cross-stitch units, checked against its config when the config says. */
export function hasCrossStitch(run: RunFolder): boolean {
  const units = [1, 2, 3].filter((k) => run.weights.has(`cross_stitch_${k}/alpha`)).length;
  if (units !== 0 && units !== 3) throw new ExportError(`model has ${units} of the 3 cross-stitch units`);
  const declared = declaredCrossStitch(run);
  if (declared !== undefined && declared !== (units === 3)) {
    throw new ExportError(
      `config.json says cross-stitch ${declared ? "enabled" : "disabled"} but the weights ${units ? "hold" : "lack"} cross-stitch units`,
    );
  }
  return units === 3;
}

export function importModel(run: RunFolder): Graph {
  const towers = run.tasks.length;
  const crossStitch = hasCrossStitch(run);
  const initializers = new Map<string, Tensor>();
  const nodes: GraphNode[] = [];
  const add = (node: Omit<GraphNode, "attrs"> & { attrs?: GraphNode["attrs"] }) => {
    nodes.push({ attrs: {}, ...node });
  };
  initializers.set("nchw_shape", int64Tensor([-1, 1, IMAGE_SIZE, IMAGE_SIZE]));
  add({ name: "to_nchw", op: "Reshape", inputs: [INPUT_NAME, "nchw_shape"], outputs: ["x"] });

  const linear = (layer: string, op: "Conv" | "Gemm", kernel: Tensor, bias: Tensor, input: string) => {
    initializers.set(`${layer}/kernel`, kernel);
    initializers.set(`${layer}/bias`, bias);
    const attrs: GraphNode["attrs"] =
      op === "Conv" ? { pads: ints([1, 1, 1, 1]), strides: ints([1, 1]) } : {};
    add({ name: layer, op, inputs: [input, `${layer}/kernel`, `${layer}/bias`], outputs: [layer], attrs });
    return layer;
  };
  const batchNorm = (task: string, index: number, size: number, input: string) => {
    const layer = `${task}_bn${index}`;
    const names = ["gamma", "beta", "moving_mean", "moving_variance"].map((p) => `${layer}/${p}`);
    for (const name of names) initializers.set(name, vector(weight(run, name, [size])));
    const attrs = { epsilon: float(epsilonOf(run, layer)) };
    add({ name: layer, op: "BatchNormalization", inputs: [input, ...names], outputs: [layer], attrs });
    add({ name: `${task}_relu${index}`, op: "Relu", inputs: [layer], outputs: [`${task}_relu${index}`] });
    return `${task}_relu${index}`;
  };
  const pool = (task: string, index: number, input: string) => {
    const attrs = { kernel_shape: ints([2, 2]), strides: ints([2, 2]) };
    add({
      name: `${task}_pool${index}`,
      op: "MaxPool",
      inputs: [input],
      outputs: [`${task}_pool${index}`],
      attrs,
    });
    return `${task}_pool${index}`;
  };
  const stitch = (index: number, channels: number, inputs: string[]) => {
    if (!crossStitch) return inputs;
    const name = `cross_stitch_${index}`;
    const alpha = run.weights.get(`${name}/alpha`) as NamedWeight;
    const [c, a, b] = alpha.shape;
    if (alpha.shape.length !== 3 || (c !== 1 && c !== channels) || a !== towers || b !== towers) {
      throw new ExportError(
        `${name}/alpha has shape [${alpha.shape}], expected [${channels} or 1, ${towers}, ${towers}]`,
      );
    }
    initializers.set(`${name}/alpha`, vector(alpha));
    const outputs = inputs.map((_, i) => `${name}_out${i}`);
    nodes.push({
      name,
      op: "CrossStitch",
      domain: CROSS_STITCH_DOMAIN,
      inputs: [...inputs, `${name}/alpha`],
      outputs,
      attrs: {},
    });
    return outputs;
  };

  let acts = run.tasks.map((t) => {
    const k = weight(run, `${t.name}_conv1/kernel`, [3, 3, 1, CONV_CHANNELS[0]]);
    const b = weight(run, `${t.name}_conv1/bias`, [CONV_CHANNELS[0]]);
    const conv = linear(`${t.name}_conv1`, "Conv", convKernel(k), vector(b), "x");
    return pool(t.name, 1, batchNorm(t.name, 1, CONV_CHANNELS[0], conv));
  });
  acts = stitch(1, CONV_CHANNELS[0], acts).map((input, i) => {
    const t = (run.tasks[i] as (typeof run.tasks)[number]).name;
    const k = weight(run, `${t}_conv2/kernel`, [3, 3, CONV_CHANNELS[0], CONV_CHANNELS[1]]);
    const b = weight(run, `${t}_conv2/bias`, [CONV_CHANNELS[1]]);
    return pool(
      t,
      2,
      batchNorm(t, 2, CONV_CHANNELS[1], linear(`${t}_conv2`, "Conv", convKernel(k), vector(b), input)),
    );
  });
  acts = stitch(2, CONV_CHANNELS[1], acts).map((input, i) => {
    const t = (run.tasks[i] as (typeof run.tasks)[number]).name;
    add({
      name: `${t}_flatten`,
      op: "Flatten",
      inputs: [input],
      outputs: [`${t}_flatten`],
      attrs: { axis: int(1) },
    });
    const k = weight(run, `${t}_fc3/kernel`, [POOLED * POOLED * CONV_CHANNELS[1], FC_UNITS]);
    const b = weight(run, `${t}_fc3/bias`, [FC_UNITS]);
    const fc = linear(`${t}_fc3`, "Gemm", nchwFlattenRows(k, CONV_CHANNELS[1]), vector(b), `${t}_flatten`);
    const relu = batchNorm(t, 3, FC_UNITS, fc);
    add({ name: `${t}_dropout`, op: "Dropout", inputs: [relu], outputs: [`${t}_dropout`] });
    return `${t}_dropout`;
  });
  stitch(3, FC_UNITS, acts).forEach((input, i) => {
    const task = run.tasks[i] as (typeof run.tasks)[number];
    const k = weight(run, `${task.name}_logits/kernel`, [FC_UNITS, task.classes.length]);
    const b = weight(run, `${task.name}_logits/bias`, [task.classes.length]);
    initializers.set(`${task.name}_logits/kernel`, vector(k));
    initializers.set(`${task.name}_logits/bias`, vector(b));
    const inputs = [input, `${task.name}_logits/kernel`, `${task.name}_logits/bias`];
    add({ name: `${task.name}_logits`, op: "Gemm", inputs, outputs: [logitsName(task.name)] });
  });

  const used = new Set([...initializers.keys()]);
  const unknown = [...run.weights.keys()].filter((name) => !used.has(name));
  if (unknown.length > 0) {
    throw new ExportError(
      `model holds weights that tasks.json and config.json do not account for: ${unknown.slice(0, 3).join(", ")}`,
    );
  }
  return {
    name: run.name,
    inputs: [{ name: INPUT_NAME, dims: [-1, IMAGE_SIZE, IMAGE_SIZE, 1] }],
    outputs: run.tasks.map((t) => ({ name: logitsName(t.name), dims: [-1, t.classes.length] })),
    nodes,
    initializers,
  };
}

// Turns the trained weights of a run folder into the export graph, layer for
// layer as trained (batch-norm, dropout and cross-stitch units included), in
// ONNX's NCHW layout: the passes then simplify it, and the parity check holds
// the result to the tfjs model.

import {
  CONV_CHANNELS,
  CONV_KERNEL,
  CROSS_STITCH_UNITS,
  convChannels,
  FC_UNITS,
  layerName,
  POOL_SIZE,
} from "../contracts/architecture.ts";
import { IMAGE_SIZE, MODEL_INPUT } from "../contracts/image.ts";
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
import { ExportError, type NamedWeight, type RunFolder } from "./run-folder.ts";

export const INPUT_NAME = MODEL_INPUT.name;
/** Side of the feature map after the two pools. */
const POOLED = IMAGE_SIZE / POOL_SIZE ** 2;

export const logitsName = layerName.logits;

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

/** Whether the run holds cross-stitch units, checked against its config. */
export function hasCrossStitch(run: RunFolder): boolean {
  const all = CROSS_STITCH_UNITS.length;
  const units = CROSS_STITCH_UNITS.filter((k) => run.weights.has(`${layerName.crossStitch(k)}/alpha`)).length;
  if (units !== 0 && units !== all)
    throw new ExportError(`model has ${units} of the ${all} cross-stitch units`);
  const declared = run.architecture.cross_stitch_enabled;
  if (declared !== (units === all)) {
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
  initializers.set("nchw_shape", int64Tensor([-1, MODEL_INPUT.channels, IMAGE_SIZE, IMAGE_SIZE]));
  add({ name: "to_nchw", op: "Reshape", inputs: [INPUT_NAME, "nchw_shape"], outputs: ["x"] });

  const linear = (layer: string, op: "Conv" | "Gemm", kernel: Tensor, bias: Tensor, input: string) => {
    initializers.set(`${layer}/kernel`, kernel);
    initializers.set(`${layer}/bias`, bias);
    const attrs: GraphNode["attrs"] =
      op === "Conv" ? { pads: ints([1, 1, 1, 1]), strides: ints([1, 1]) } : {};
    add({ name: layer, op, inputs: [input, `${layer}/kernel`, `${layer}/bias`], outputs: [layer], attrs });
    return layer;
  };
  const batchNorm = (task: string, stage: 1 | 2 | 3, size: number, input: string) => {
    const layer = layerName.batchNorm(task, stage);
    const names = ["gamma", "beta", "moving_mean", "moving_variance"].map((p) => `${layer}/${p}`);
    for (const name of names) initializers.set(name, vector(weight(run, name, [size])));
    const attrs = { epsilon: float(epsilonOf(run, layer)) };
    add({ name: layer, op: "BatchNormalization", inputs: [input, ...names], outputs: [layer], attrs });
    const relu = layerName.relu(task, stage);
    add({ name: relu, op: "Relu", inputs: [layer], outputs: [relu] });
    return relu;
  };
  const pool = (task: string, stage: 1 | 2, input: string) => {
    const attrs = { kernel_shape: ints([POOL_SIZE, POOL_SIZE]), strides: ints([POOL_SIZE, POOL_SIZE]) };
    const name = layerName.pool(task, stage);
    add({ name, op: "MaxPool", inputs: [input], outputs: [name], attrs });
    return name;
  };
  const stitch = (index: number, channels: number, inputs: string[]) => {
    if (!crossStitch) return inputs;
    const name = layerName.crossStitch(index);
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

  const convBlock = (task: string, stage: 1 | 2, input: string) => {
    const layer = layerName.conv(task, stage);
    const channels = convChannels(stage);
    const inChannels = stage === 1 ? MODEL_INPUT.channels : convChannels(1);
    const k = weight(run, `${layer}/kernel`, [CONV_KERNEL, CONV_KERNEL, inChannels, channels]);
    const b = weight(run, `${layer}/bias`, [channels]);
    const conv = linear(layer, "Conv", convKernel(k), vector(b), input);
    return pool(task, stage, batchNorm(task, stage, channels, conv));
  };
  const names = run.tasks.map((t) => t.name);
  let acts = names.map((t) => convBlock(t, 1, "x"));
  acts = stitch(1, CONV_CHANNELS[0], acts).map((input, i) => convBlock(names[i] as string, 2, input));
  acts = stitch(2, CONV_CHANNELS[1], acts).map((input, i) => {
    const t = names[i] as string;
    const flatten = layerName.flatten(t);
    add({ name: flatten, op: "Flatten", inputs: [input], outputs: [flatten], attrs: { axis: int(1) } });
    const layer = layerName.fc(t);
    const k = weight(run, `${layer}/kernel`, [POOLED * POOLED * CONV_CHANNELS[1], FC_UNITS]);
    const b = weight(run, `${layer}/bias`, [FC_UNITS]);
    const fc = linear(layer, "Gemm", nchwFlattenRows(k, CONV_CHANNELS[1]), vector(b), flatten);
    const relu = batchNorm(t, 3, FC_UNITS, fc);
    const dropout = layerName.dropout(t);
    add({ name: dropout, op: "Dropout", inputs: [relu], outputs: [dropout] });
    return dropout;
  });
  stitch(3, FC_UNITS, acts).forEach((input, i) => {
    const task = run.tasks[i] as (typeof run.tasks)[number];
    const layer = layerName.logits(task.name);
    const k = weight(run, `${layer}/kernel`, [FC_UNITS, task.classes.length]);
    const b = weight(run, `${layer}/bias`, [task.classes.length]);
    initializers.set(`${layer}/kernel`, vector(k));
    initializers.set(`${layer}/bias`, vector(b));
    add({ name: layer, op: "Gemm", inputs: [input, `${layer}/kernel`, `${layer}/bias`], outputs: [layer] });
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
    inputs: [{ name: INPUT_NAME, dims: MODEL_INPUT.shape }],
    outputs: run.tasks.map((t) => ({ name: logitsName(t.name), dims: [-1, t.classes.length] })),
    nodes,
    initializers,
  };
}

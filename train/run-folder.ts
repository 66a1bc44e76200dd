/**
 * Checkpoints and the saved model of a run folder (docs/run-folder.md): whole folders written to a
 * temporary name and renamed, so a killed run never leaves a partial one; the latest is named by
 * `checkpoints/latest.json`. The run's JSON files are read and written by stage-files/run-folder.ts.
 */
import fs from "node:fs";
import path from "node:path";
import { readJsonFile, writeJsonAtomic } from "../stage-files/files.ts";
import * as tf from "./tf.ts";

interface TensorEntry {
  name: string;
  shape: number[];
  offset: number;
}

/** Named float32 tensors as one binary file plus a JSON index, both inside `dir`. */
async function writeTensors(dir: string, tensors: { name: string; tensor: tf.Tensor }[]): Promise<void> {
  const entries: TensorEntry[] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const { name, tensor } of tensors) {
    const values = (await tensor.data()) as Float32Array;
    entries.push({ name, shape: tensor.shape, offset });
    chunks.push(values);
    offset += values.length;
  }
  const all = new Float32Array(offset);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  fs.writeFileSync(path.join(dir, "tensors.bin"), new Uint8Array(all.buffer));
  fs.writeFileSync(path.join(dir, "tensors.json"), JSON.stringify(entries));
}

function readArrays(dir: string): Map<string, { shape: number[]; values: Float32Array }> {
  const entries = readJsonFile(path.join(dir, "tensors.json")) as TensorEntry[];
  const bytes = fs.readFileSync(path.join(dir, "tensors.bin"));
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const arrays = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const { name, shape, offset } of entries) {
    const size = shape.reduce((a, b) => a * b, 1);
    arrays.set(name, { shape, values: all.slice(offset, offset + size) });
  }
  return arrays;
}

function readTensors(dir: string): Map<string, tf.Tensor> {
  const tensors = new Map<string, tf.Tensor>();
  for (const [name, { shape, values }] of readArrays(dir))
    tensors.set(name, tf.tensor(values, shape, "float32"));
  return tensors;
}

export interface CheckpointState {
  /** Epochs completed. */
  epoch: number;
  /** The shuffling RNG's state after that epoch. */
  rngState: number;
  /** Adam updates applied. */
  adamStep: number;
}

export interface Checkpoint extends CheckpointState {
  /** Model weights by their saved name ("<layer>/<weight>"), BN moving statistics included. */
  weights: Map<string, tf.Tensor>;
  adamM: tf.Tensor[];
  adamV: tf.Tensor[];
  /** The weights' moving average by saved name; empty when the run keeps none. */
  ema: Map<string, tf.Tensor>;
}

const LATEST = "latest.json";

export async function saveCheckpoint(
  runDir: string,
  state: CheckpointState,
  model: tf.LayersModel,
  adam: { m: tf.Tensor[]; v: tf.Tensor[] },
  ema: { name: string; tensor: tf.Tensor }[] = [],
): Promise<void> {
  const root = path.join(runDir, "checkpoints");
  const name = `epoch-${String(state.epoch).padStart(4, "0")}`;
  const temp = path.join(root, `${name}.${process.pid}.tmp`);
  fs.rmSync(temp, { recursive: true, force: true });
  fs.mkdirSync(temp, { recursive: true });
  await writeTensors(temp, [
    ...model.weights.map((w) => ({ name: `weight:${w.originalName}`, tensor: w.read() })),
    ...adam.m.map((tensor, i) => ({ name: `adam_m:${i}`, tensor })),
    ...adam.v.map((tensor, i) => ({ name: `adam_v:${i}`, tensor })),
    ...ema.map(({ name, tensor }) => ({ name: `ema:${name}`, tensor })),
  ]);
  fs.writeFileSync(path.join(temp, "state.json"), JSON.stringify(state));
  const final = path.join(root, name);
  fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(temp, final);
  writeJsonAtomic(path.join(root, LATEST), { checkpoint: name, ...state });
  for (const entry of fs.readdirSync(root)) {
    if (entry !== name && entry !== LATEST)
      fs.rmSync(path.join(root, entry), { recursive: true, force: true });
  }
}

export function latestCheckpointEpoch(runDir: string): number | null {
  const file = path.join(runDir, "checkpoints", LATEST);
  return fs.existsSync(file) ? (readJsonFile(file) as CheckpointState).epoch : null;
}

function latestCheckpointDir(runDir: string): string {
  const root = path.join(runDir, "checkpoints");
  return path.join(root, (readJsonFile(path.join(root, LATEST)) as { checkpoint: string }).checkpoint);
}

/** The model weights of the latest checkpoint as plain arrays, by saved name (no TensorFlow needed). */
export function checkpointWeightArrays(
  runDir: string,
): Map<string, { shape: number[]; values: Float32Array }> {
  const weights = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [name, array] of readArrays(latestCheckpointDir(runDir))) {
    if (name.startsWith("weight:")) weights.set(name.slice("weight:".length), array);
  }
  return weights;
}

export function loadCheckpoint(runDir: string): Checkpoint {
  const dir = latestCheckpointDir(runDir);
  const state = readJsonFile(path.join(dir, "state.json")) as CheckpointState;
  const tensors = readTensors(dir);
  const pick = (prefix: string) =>
    [...tensors.entries()]
      .filter(([name]) => name.startsWith(prefix))
      .map(([name, t]) => [name.slice(prefix.length), t] as const);
  return {
    ...state,
    weights: new Map(pick("weight:")),
    adamM: pick("adam_m:").map(([, t]) => t),
    adamV: pick("adam_v:").map(([, t]) => t),
    ema: new Map(pick("ema:")),
  };
}

/** Loads checkpointed weights into the model's variables, checking every weight is there with its shape. */
export function restoreWeights(model: tf.LayersModel, weights: Map<string, tf.Tensor>): void {
  for (const w of model.weights) {
    const value = weights.get(w.originalName);
    if (value === undefined) throw new Error(`checkpoint lacks weight ${w.originalName}`);
    if (value.shape.join(",") !== w.shape.join(",")) {
      throw new Error(
        `checkpoint weight ${w.originalName} has shape [${value.shape}], the model [${w.shape}]`,
      );
    }
    w.write(value);
  }
}

/** Saves the model in tfjs LayersModel format to `<runDir>/<folder>`, through a temporary folder. */
export async function saveModel(runDir: string, model: tf.LayersModel, folder = "model"): Promise<void> {
  const final = path.join(runDir, folder);
  const temp = `${final}.${process.pid}.tmp`;
  fs.rmSync(temp, { recursive: true, force: true });
  await model.save(`file://${path.resolve(temp)}`);
  fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(temp, final);
}

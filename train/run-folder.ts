/**
 * Checkpoints and the saved model of a run folder (docs/run-folder.md) as tfjs tensors. The
 * checkpoint files are read and written by stage-files/checkpoint.ts (schemas in
 * contracts/checkpoint.ts); the model folders are written whole under a temporary name and renamed,
 * so a stopped run never leaves a partial one.
 */
import fs from "node:fs";
import path from "node:path";
import { CHECKPOINT_TENSORS, type CheckpointState } from "../contracts/checkpoint.ts";
import { RunFileError } from "../contracts/run-folder.ts";
import {
  type NamedArray,
  readCheckpoint,
  readLatestCheckpoint,
  writeCheckpoint,
} from "../stage-files/checkpoint.ts";
import * as tf from "./tf.ts";

export interface Checkpoint extends CheckpointState {
  /** The checkpoint folder it was read from (errors name it). */
  dir: string;
  /** Model weights by their saved name ("<layer>/<weight>"), BN moving statistics included. */
  weights: Map<string, tf.Tensor>;
  adamM: tf.Tensor[];
  adamV: tf.Tensor[];
  /** The weights' moving average by saved name; empty when the run keeps none. */
  ema: Map<string, tf.Tensor>;
}

export async function saveCheckpoint(
  runDir: string,
  state: CheckpointState,
  model: tf.LayersModel,
  adam: { m: tf.Tensor[]; v: tf.Tensor[] },
  ema: { name: string; tensor: tf.Tensor }[] = [],
): Promise<void> {
  const named = [
    ...model.weights.map((w) => ({
      name: `${CHECKPOINT_TENSORS.weight}${w.originalName}`,
      tensor: w.read(),
    })),
    ...adam.m.map((tensor, i) => ({ name: `${CHECKPOINT_TENSORS.adamM}${i}`, tensor })),
    ...adam.v.map((tensor, i) => ({ name: `${CHECKPOINT_TENSORS.adamV}${i}`, tensor })),
    ...ema.map(({ name, tensor }) => ({ name: `${CHECKPOINT_TENSORS.ema}${name}`, tensor })),
  ];
  const arrays: NamedArray[] = [];
  for (const { name, tensor } of named)
    arrays.push({ name, shape: tensor.shape, values: (await tensor.data()) as Float32Array });
  writeCheckpoint(runDir, state, arrays);
}

export function latestCheckpointEpoch(runDir: string): number | null {
  return readLatestCheckpoint(runDir)?.epoch ?? null;
}

/** The model weights of the latest checkpoint as plain arrays, by saved name (no TensorFlow needed). */
export function checkpointWeightArrays(
  runDir: string,
): Map<string, { shape: number[]; values: Float32Array }> {
  const weights = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [name, array] of readCheckpoint(runDir, CHECKPOINT_TENSORS.weight).arrays)
    weights.set(name.slice(CHECKPOINT_TENSORS.weight.length), array);
  return weights;
}

export function loadCheckpoint(runDir: string): Checkpoint {
  const { dir, state, arrays } = readCheckpoint(runDir);
  const pick = (prefix: string) =>
    [...arrays.entries()]
      .filter(([name]) => name.startsWith(prefix))
      .map(
        ([name, { shape, values }]) =>
          [name.slice(prefix.length), tf.tensor(values, shape, "float32")] as const,
      );
  // Adam's moments pair with the optimiser's variables by position: order them by index, not by file order.
  const byIndex = (prefix: string) =>
    pick(prefix)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([, tensor]) => tensor);
  return {
    ...state,
    dir,
    weights: new Map(pick(CHECKPOINT_TENSORS.weight)),
    adamM: byIndex(CHECKPOINT_TENSORS.adamM),
    adamV: byIndex(CHECKPOINT_TENSORS.adamV),
    ema: new Map(pick(CHECKPOINT_TENSORS.ema)),
  };
}

/**
 * Loads checkpointed weights into `model`'s variables, checking every weight is there with its
 * shape; `what` names the weights in an error ("weight", "EMA weight").
 */
export function restoreWeights(
  model: tf.LayersModel,
  weights: ReadonlyMap<string, tf.Tensor>,
  source: string,
  what = "weight",
): void {
  for (const w of model.weights) {
    const value = weights.get(w.originalName);
    if (value === undefined) throw new RunFileError(`${source} lacks the ${what} ${w.originalName}`);
    if (value.shape.join(",") !== w.shape.join(",")) {
      throw new RunFileError(
        `${source}: the ${what} ${w.originalName} has shape [${value.shape}], the model [${w.shape}]`,
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

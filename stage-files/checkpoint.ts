/**
 * Node's reading and writing of a run's checkpoints/ (names and schemas in contracts/checkpoint.ts),
 * tensors as plain float32 arrays (train/ turns them into tfjs tensors). A checkpoint is written
 * whole to a temporary folder and renamed, then latest.json is replaced atomically: a run stopped
 * at any moment keeps its last complete checkpoint. Every read is checked; a corrupt or mismatched
 * checkpoint is a RunFileError naming the file.
 */
import fs from "node:fs";
import path from "node:path";
import {
  CHECKPOINT_FILES,
  type CheckpointState,
  checkpointName,
  checkpointStateSchema,
  type LatestCheckpoint,
  latestCheckpointSchema,
  type TensorIndex,
  tensorIndexSchema,
} from "../contracts/checkpoint.ts";
import { parseRunFile, RunFileError } from "../contracts/run-folder.ts";
import { readJsonFile, writeJsonAtomic } from "./files.ts";

export interface NamedArray {
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface CheckpointArrays {
  /** The checkpoint folder read. */
  dir: string;
  state: CheckpointState;
  /** Every tensor by its saved name (contracts/checkpoint.ts' CHECKPOINT_TENSORS prefixes included). */
  arrays: Map<string, { shape: number[]; values: Float32Array }>;
}

const checkpointsDir = (runDir: string) => path.join(runDir, CHECKPOINT_FILES.dir);

/** Writes the checkpoint after `state.epoch` and makes it the latest; older ones are removed. */
export function writeCheckpoint(
  runDir: string,
  state: CheckpointState,
  tensors: readonly NamedArray[],
): void {
  const root = checkpointsDir(runDir);
  const name = checkpointName(state.epoch);
  const temp = path.join(root, `${name}.${process.pid}.tmp`);
  fs.rmSync(temp, { recursive: true, force: true });
  fs.mkdirSync(temp, { recursive: true });
  const index: TensorIndex = [];
  let offset = 0;
  for (const { name: tensorName, shape, values } of tensors) {
    index.push({ name: tensorName, shape, offset });
    offset += values.length;
  }
  const all = new Float32Array(offset);
  for (const [i, { values }] of tensors.entries()) all.set(values, (index[i] as TensorIndex[number]).offset);
  fs.writeFileSync(path.join(temp, CHECKPOINT_FILES.tensors), new Uint8Array(all.buffer));
  fs.writeFileSync(path.join(temp, CHECKPOINT_FILES.tensorIndex), JSON.stringify(index));
  fs.writeFileSync(
    path.join(temp, CHECKPOINT_FILES.state),
    JSON.stringify(checkpointStateSchema.parse(state)),
  );
  const final = path.join(root, name);
  fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(temp, final);
  const latest: LatestCheckpoint = { checkpoint: name, ...state };
  writeJsonAtomic(path.join(root, CHECKPOINT_FILES.latest), latest);
  for (const entry of fs.readdirSync(root)) {
    if (entry !== name && entry !== CHECKPOINT_FILES.latest)
      fs.rmSync(path.join(root, entry), { recursive: true, force: true });
  }
}

/** latest.json, or null when the run has no checkpoint yet. */
export function readLatestCheckpoint(runDir: string): LatestCheckpoint | null {
  const file = path.join(checkpointsDir(runDir), CHECKPOINT_FILES.latest);
  if (!fs.existsSync(file)) return null;
  return parseRunFile(latestCheckpointSchema, readJsonFile(file, CHECKPOINT_FILES.latest), file);
}

/**
 * The latest checkpoint's state and tensors, checked: latest.json names a folder whose state.json
 * agrees with it, and tensors.bin holds exactly the values tensors.json describes.
 * `only`: keep the tensors whose name starts with this prefix (the report needs the weights only).
 */
export function readCheckpoint(runDir: string, only?: string): CheckpointArrays {
  const latest = readLatestCheckpoint(runDir);
  if (latest === null)
    throw new RunFileError(`no checkpoint: ${path.join(checkpointsDir(runDir), CHECKPOINT_FILES.latest)}`);
  const dir = path.join(checkpointsDir(runDir), latest.checkpoint);
  const stateFile = path.join(dir, CHECKPOINT_FILES.state);
  const state = parseRunFile(
    checkpointStateSchema,
    readJsonFile(stateFile, CHECKPOINT_FILES.state),
    stateFile,
  );
  const { checkpoint: _, ...latestState } = latest;
  if (JSON.stringify(state) !== JSON.stringify(checkpointStateSchema.parse(latestState))) {
    throw new RunFileError(
      `${stateFile} (epoch ${state.epoch}, step ${state.adamStep}) does not match ${CHECKPOINT_FILES.latest} (epoch ${latest.epoch}, step ${latest.adamStep})`,
    );
  }
  const indexFile = path.join(dir, CHECKPOINT_FILES.tensorIndex);
  const index = parseRunFile(
    tensorIndexSchema,
    readJsonFile(indexFile, CHECKPOINT_FILES.tensorIndex),
    indexFile,
  );
  const binFile = path.join(dir, CHECKPOINT_FILES.tensors);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(binFile);
  } catch (error) {
    throw new RunFileError(
      `${CHECKPOINT_FILES.tensors} cannot be read: ${binFile} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
  const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const described = index.reduce((end, e) => Math.max(end, e.offset + sizeOf(e.shape)), 0);
  if (bytes.byteLength !== described * 4) {
    throw new RunFileError(
      `${binFile} holds ${bytes.byteLength} bytes; ${CHECKPOINT_FILES.tensorIndex} describes ${described * 4}`,
    );
  }
  // Float32Array needs a 4-byte aligned start; a pooled Buffer may not give one.
  const all =
    bytes.byteOffset % 4 === 0
      ? new Float32Array(bytes.buffer, bytes.byteOffset, described)
      : new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const arrays = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const { name, shape, offset } of index) {
    if (only !== undefined && !name.startsWith(only)) continue;
    if (arrays.has(name)) throw new RunFileError(`${indexFile} names ${name} twice`);
    arrays.set(name, { shape, values: all.subarray(offset, offset + sizeOf(shape)) });
  }
  return { dir, state, arrays };
}

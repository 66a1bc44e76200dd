// A run's checkpoints/ folder (docs/run-folder.md): what train/ writes beside the weights so
// --resume continues a stopped run exactly, and what the report reads for a run still going.
// One folder per kept epoch, written whole under a temporary name and renamed; latest.json names it.
import { z } from "zod";

export const CHECKPOINT_FILES = {
  /** The folder in the run folder. */
  dir: "checkpoints",
  /** Names the complete checkpoint to resume from (written after that folder is renamed into place). */
  latest: "latest.json",
  /** In each checkpoint folder: the training state beside the tensors. */
  state: "state.json",
  /** In each checkpoint folder: name, shape and offset of every tensor in tensors.bin. */
  tensorIndex: "tensors.json",
  /** In each checkpoint folder: every tensor's float32 values, little-endian, back to back. */
  tensors: "tensors.bin",
} as const;

/** The folder of the checkpoint after `epoch`: epoch-0012. */
export const checkpointName = (epoch: number): string => `epoch-${String(epoch).padStart(4, "0")}`;

/**
 * The tensors a checkpoint holds, by the prefix of their name: the model's weights by saved name
 * ("<layer>/<weight>", batch-norm moving statistics included), Adam's first and second moments
 * in the optimiser's variable order, and the weights' moving average (runs with --ema_decay > 0).
 */
export const CHECKPOINT_TENSORS = {
  weight: "weight:",
  adamM: "adam_m:",
  adamV: "adam_v:",
  ema: "ema:",
} as const;

/** state.json: where training stands after the checkpoint's epoch. */
export const checkpointStateSchema = z.object({
  /** Epochs completed. */
  epoch: z.number().int().min(1),
  /** The shuffling RNG's state (mulberry32, one uint32) after that epoch. */
  rngState: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1),
  /** Adam updates applied. */
  adamStep: z.number().int().min(0),
});

export type CheckpointState = z.infer<typeof checkpointStateSchema>;

/** latest.json: the checkpoint folder to resume from, and its state again (readable without opening it). */
export const latestCheckpointSchema = checkpointStateSchema.extend({
  checkpoint: z.string().regex(/^epoch-\d{4,}$/, "expected a checkpoint folder name like epoch-0012"),
});

export type LatestCheckpoint = z.infer<typeof latestCheckpointSchema>;

/** tensors.json: one entry per tensor, `offset` counted in float32 values from the start of tensors.bin. */
export const tensorIndexSchema = z.array(
  z.object({
    name: z.string().min(1),
    shape: z.array(z.number().int().min(0)),
    offset: z.number().int().min(0),
  }),
);

export type TensorIndex = z.infer<typeof tensorIndexSchema>;

// The network every stage builds, reads or rebuilds (SPEC.md): one tower per task, each
// conv-BN-ReLU-pool twice, dense-BN-ReLU-dropout, logits, and for cross-stitch runs a unit after
// pool1, pool2 and fc3. Its choices are saved at the top level of the run's config.json.
import { z } from "zod";

export const CONV_CHANNELS = [32, 64] as const;
export const convChannels = (stage: 1 | 2): number => CONV_CHANNELS[stage - 1] as number;
export const CONV_KERNEL = 3;
export const POOL_SIZE = 2;
export const FC_UNITS = 1024;
/** Units sit after pool1, pool2 and fc3. */
export const CROSS_STITCH_UNITS = [1, 2, 3] as const;
/** Keras' BatchNormalization defaults, which the reference used. */
export const BATCH_NORM_EPSILON = 1e-3;
export const BATCH_NORM_MOMENTUM = 0.99;

export const ALPHA_MODES = ["channel", "layer"] as const;
export const ALPHA_INITS = ["identity", "convex"] as const;
export type AlphaMode = (typeof ALPHA_MODES)[number];
export type AlphaInit = (typeof ALPHA_INITS)[number];

/** The architecture's keys in config.json (other keys there are the training's). */
export const architectureSchema = z.object({
  cross_stitch_enabled: z.boolean(),
  alpha_mode: z.enum(ALPHA_MODES),
  alpha_init: z.enum(ALPHA_INITS),
  /** Diagonal of the convex alpha init. */
  alpha_same: z.number().min(0).max(1),
  keep_prob: z.number().gt(0).max(1),
});

export type Architecture = z.infer<typeof architectureSchema>;

/** Layer names, as the tfjs model, its weights and the exported graph spell them. */
export const layerName = {
  conv: (task: string, stage: 1 | 2) => `${task}_conv${stage}`,
  batchNorm: (task: string, stage: 1 | 2 | 3) => `${task}_bn${stage}`,
  relu: (task: string, stage: 1 | 2 | 3) => `${task}_relu${stage}`,
  pool: (task: string, stage: 1 | 2) => `${task}_pool${stage}`,
  flatten: (task: string) => `${task}_flatten`,
  fc: (task: string) => `${task}_fc3`,
  dropout: (task: string) => `${task}_dropout`,
  logits: (task: string) => `${task}_logits`,
  crossStitch: (unit: number) => `cross_stitch_${unit}`,
};

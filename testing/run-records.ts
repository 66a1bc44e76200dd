// Complete run-folder records (contracts/run-folder.ts) for tests that care about a few fields:
// everything else gets a neutral value, so the records pass the same checked readers as a real run's.
import { type EpochMetrics, RUN_FILES, type RunConfig, type Selection } from "../contracts/run-folder.ts";

export function runConfig(fields: Partial<RunConfig> & { cross_stitch_enabled: boolean }): RunConfig {
  return {
    alpha_mode: "channel",
    alpha_init: "convex",
    alpha_same: 0.9,
    keep_prob: 0.8,
    n_epoch: 30,
    seed: 1,
    normalization: "global",
    val_size: 0,
    ...fields,
  };
}

export function epochRecord(
  fields: Partial<EpochMetrics> & Pick<EpochMetrics, "epoch" | "test_accuracy" | "test_accuracy_mean">,
): EpochMetrics {
  return {
    loss: Object.fromEntries(Object.keys(fields.test_accuracy).map((task) => [task, 0.5])),
    loss_total: 1,
    seconds: 1,
    images_per_second: 100,
    alpha_self: [],
    ...fields,
  };
}

/** selection.json for a run whose validation chose `fields`' weights, saved as model-best/. */
export function selectionRecord(fields: Omit<Selection, "criterion" | "model">): Selection {
  return { criterion: "highest mean validation accuracy", model: RUN_FILES.selectedModelDir, ...fields };
}

// Small run folders per docs/run-folder.md, built with the train stage's own
// model factory and random weights, including non-trivial batch-norm
// statistics and cross-stitch alphas so that every pass is exercised.
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AlphaMode, Architecture } from "../contracts/architecture.ts";
import { RUN_FILES } from "../contracts/run-folder.ts";
import { buildModel } from "../train/model.ts";
import * as tf from "../train/tf.ts";

export const FIXTURE_TASKS = [
  {
    name: "fashion",
    classes: ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
    labelMap: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  },
  { name: "category", classes: ["shoes", "women", "other"], labelMap: [2, 2, 2, 1, 2, 0, 1, 0, 1, 0] },
];

/** The architecture part of a run's config.json, as train writes it. */
export function fixtureArchitecture(crossStitch: boolean, alphaMode: AlphaMode = "channel"): Architecture {
  return {
    cross_stitch_enabled: crossStitch,
    alpha_mode: alphaMode,
    alpha_init: "convex",
    alpha_same: 0.9,
    keep_prob: 0.8,
  };
}

export function buildFixtureModel(
  seed: number,
  crossStitch: boolean,
  alphaMode: AlphaMode = "channel",
): tf.LayersModel {
  const model = buildModel({ ...fixtureArchitecture(crossStitch, alphaMode), seed }, FIXTURE_TASKS);
  // Batch-norm statistics far from (0, 1) and alphas that differ per channel, so that an
  // unfolded, wrongly folded or wrongly mixed graph shows in the logits.
  let k = seed * 100;
  for (const layer of model.layers) {
    if (layer.name.includes("_bn")) {
      const [gamma, beta, mean, variance] = layer.getWeights() as [
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
      ];
      layer.setWeights([
        tf.randomUniform(gamma.shape, 0.5, 1.5, "float32", k++),
        tf.randomUniform(beta.shape, -0.2, 0.2, "float32", k++),
        tf.randomUniform(mean.shape, -0.3, 0.3, "float32", k++),
        tf.randomUniform(variance.shape, 0.5, 2, "float32", k++),
      ]);
    }
    if (layer.name.startsWith("cross_stitch")) {
      const [alpha] = layer.getWeights() as [tf.Tensor];
      layer.setWeights([tf.randomUniform(alpha.shape, -0.2, 1, "float32", k++)]);
    }
  }
  return model;
}

/**
 * Writes a run folder holding `model` and returns its path; `valSize` > 0 records a validation
 * split of that many training images, as `--val_size` does.
 */
export async function writeRunFolder(
  model: tf.LayersModel,
  crossStitch: boolean,
  valSize = 0,
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "stitch-run-"));
  await mkdir(join(dir, "model"));
  await model.save(`file://${join(dir, "model")}`);
  const config = {
    ...fixtureArchitecture(crossStitch),
    n_epoch: 1,
    seed: 1,
    normalization: "global",
    val_size: valSize,
  };
  await writeFile(join(dir, RUN_FILES.config), JSON.stringify(config));
  await writeFile(
    join(dir, RUN_FILES.normalization),
    JSON.stringify({ kind: "global", mean: [72.94], std: [90.02] }),
  );
  await writeFile(join(dir, RUN_FILES.tasks), JSON.stringify(FIXTURE_TASKS));
  return dir;
}

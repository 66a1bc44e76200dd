// A small run folder per docs/run-folder.md, built with standard tfjs layers
// (no cross-stitch: that layer belongs to the train stage) and random weights,
// including non-trivial batch-norm statistics so that folding is exercised.
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-node";

export const FIXTURE_TASKS = [
  {
    name: "fashion",
    classes: ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
    labelMap: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  },
  { name: "category", classes: ["shoes", "women", "other"], labelMap: [2, 2, 2, 1, 2, 0, 1, 0, 1, 0] },
];

export function buildBaselineModel(seed: number): tf.LayersModel {
  let s = seed;
  const init = () => tf.initializers.heNormal({ seed: s++ });
  const image = tf.input({ shape: [28, 28, 1], name: "image" });
  const logits = FIXTURE_TASKS.map((task) => {
    let x: tf.SymbolicTensor = image;
    for (const [stage, filters] of [
      [1, 32],
      [2, 64],
    ] as const) {
      x = tf.layers
        .conv2d({
          name: `${task.name}_conv${stage}`,
          filters,
          kernelSize: 3,
          padding: "same",
          kernelInitializer: init(),
        })
        .apply(x) as tf.SymbolicTensor;
      x = tf.layers
        .batchNormalization({ name: `${task.name}_bn${stage}`, epsilon: 1e-3 })
        .apply(x) as tf.SymbolicTensor;
      x = tf.layers
        .activation({ activation: "relu", name: `${task.name}_relu${stage}` })
        .apply(x) as tf.SymbolicTensor;
      x = tf.layers
        .maxPooling2d({ poolSize: 2, strides: 2, name: `${task.name}_pool${stage}` })
        .apply(x) as tf.SymbolicTensor;
    }
    x = tf.layers.flatten({ name: `${task.name}_flatten` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .dense({ name: `${task.name}_fc3`, units: 1024, kernelInitializer: init() })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .batchNormalization({ name: `${task.name}_bn3`, epsilon: 1e-3 })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .activation({ activation: "relu", name: `${task.name}_relu3` })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.dropout({ rate: 0.2, name: `${task.name}_dropout` }).apply(x) as tf.SymbolicTensor;
    return tf.layers
      .dense({ name: `${task.name}_logits`, units: task.classes.length, kernelInitializer: init() })
      .apply(x) as tf.SymbolicTensor;
  });
  const model = tf.model({ inputs: image, outputs: logits });
  // Batch-norm statistics far from (0, 1), so an unfolded or wrongly folded graph shows.
  let k = seed;
  for (const layer of model.layers.filter((l) => l.name.includes("_bn"))) {
    const [gamma, beta, mean, variance] = layer.getWeights() as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    layer.setWeights([
      tf.randomUniform(gamma.shape, 0.5, 1.5, "float32", k++),
      tf.randomUniform(beta.shape, -0.2, 0.2, "float32", k++),
      tf.randomUniform(mean.shape, -0.3, 0.3, "float32", k++),
      tf.randomUniform(variance.shape, 0.5, 2, "float32", k++),
    ]);
  }
  return model;
}

/** Writes a run folder holding `model` and returns its path. */
export async function writeRunFolder(
  model: tf.LayersModel,
  config: Record<string, unknown> = {},
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "stitch-run-"));
  await mkdir(join(dir, "model"));
  await model.save(`file://${join(dir, "model")}`);
  await writeFile(join(dir, "config.json"), JSON.stringify({ cross_stitch_enabled: false, ...config }));
  await writeFile(
    join(dir, "normalization.json"),
    JSON.stringify({ kind: "global", mean: [72.94], std: [90.02] }),
  );
  await writeFile(join(dir, "tasks.json"), JSON.stringify(FIXTURE_TASKS));
  return dir;
}

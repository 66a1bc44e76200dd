/**
 * The network of SPEC.md as a tfjs functional LayersModel, named as docs/run-folder.md fixes:
 * one tower per task (conv-BN-ReLU-pool twice, dense 1024-BN-ReLU-dropout, logits) and, for
 * cross-stitch runs, a CrossStitch unit after pool1, pool2 and fc3.
 */
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import type { VarianceScaling } from "@tensorflow/tfjs-layers/dist/initializers.js";
import {
  type Architecture,
  BATCH_NORM_EPSILON,
  BATCH_NORM_MOMENTUM,
  CONV_KERNEL,
  convChannels,
  FC_UNITS,
  layerName,
  POOL_SIZE,
} from "../contracts/architecture.ts";
import { MODEL_INPUT } from "../contracts/image.ts";
import { RUN_FILES } from "../contracts/run-folder.ts";
import { crossStitch } from "./cross-stitch.ts";
import { statelessTruncatedNormal } from "./native-ops.ts";
import * as tf from "./tf.ts";

/** Keras' correction so that a normal truncated at 2 standard deviations keeps the asked std. */
const TRUNCATED_NORMAL_STD = 0.8796256610342398;

const HeNormalBase = Object.getPrototypeOf(tf.initializers.heNormal({})).constructor as new (args: {
  seed?: number;
}) => VarianceScaling;

/**
 * He normal init (truncated normal, std sqrt(2 / fan_in), as Keras' he_normal) drawn by
 * TensorFlow from the seed rather than by tfjs in JavaScript (seconds per fc3 kernel). It
 * serialises exactly as tfjs' heNormal, so model.json names the standard initializer.
 */
class NativeHeNormal extends HeNormalBase {
  private readonly drawSeed: number;

  constructor(seed: number) {
    super({ seed });
    this.drawSeed = seed;
  }

  override apply(shape: tf.Shape): tf.Tensor {
    const dims = shape as number[];
    const fanIn = dims.slice(0, -1).reduce((a, b) => a * b, 1);
    const stddev = Math.sqrt(2 / fanIn) / TRUNCATED_NORMAL_STD;
    return tf.tidy(() => statelessTruncatedNormal(dims, [this.drawSeed, 0]).mul(stddev));
  }
}

export interface ModelConfig extends Architecture {
  seed: number;
}

export interface TowerTask {
  name: string;
  classes: string[];
}

export function buildModel(config: ModelConfig, tasks: readonly TowerTask[]): tf.LayersModel {
  if (tasks.length < 1) throw new Error("buildModel: at least one task is needed");
  if (config.cross_stitch_enabled && tasks.length < 2) {
    throw new Error("buildModel: cross-stitch units need at least two tasks");
  }
  let seedCounter = config.seed * 1000;
  const heNormal = () => new NativeHeNormal(seedCounter++);
  const image = tf.input({
    shape: [MODEL_INPUT.height, MODEL_INPUT.width, MODEL_INPUT.channels],
    name: MODEL_INPUT.name,
    dtype: MODEL_INPUT.dtype,
  });

  const convBlock = (inputs: tf.SymbolicTensor[], stage: 1 | 2) =>
    tasks.map((task, t) => {
      const input = inputs[t] as tf.SymbolicTensor;
      const conv = tf.layers.conv2d({
        name: layerName.conv(task.name, stage),
        filters: convChannels(stage),
        kernelSize: CONV_KERNEL,
        strides: 1,
        padding: "same",
        useBias: true,
        kernelInitializer: heNormal(),
      });
      const bn = batchNorm(layerName.batchNorm(task.name, stage));
      const relu = tf.layers.activation({ activation: "relu", name: layerName.relu(task.name, stage) });
      const pool = tf.layers.maxPooling2d({
        poolSize: POOL_SIZE,
        strides: POOL_SIZE,
        name: layerName.pool(task.name, stage),
      });
      return pool.apply(relu.apply(bn.apply(conv.apply(input)))) as tf.SymbolicTensor;
    });

  const stitch = (inputs: tf.SymbolicTensor[], unit: number) =>
    config.cross_stitch_enabled
      ? (crossStitch({
          name: layerName.crossStitch(unit),
          alphaMode: config.alpha_mode,
          alphaInit: config.alpha_init,
          alphaSame: config.alpha_same,
        }).apply(inputs) as tf.SymbolicTensor[])
      : inputs;

  let towers = tasks.map(() => image);
  towers = stitch(convBlock(towers, 1), 1);
  towers = stitch(convBlock(towers, 2), 2);
  towers = tasks.map((task, t) => {
    const flat = tf.layers
      .flatten({ name: layerName.flatten(task.name) })
      .apply(towers[t] as tf.SymbolicTensor);
    const fc = tf.layers.dense({
      name: layerName.fc(task.name),
      units: FC_UNITS,
      kernelInitializer: heNormal(),
    });
    const bn = batchNorm(layerName.batchNorm(task.name, 3));
    const relu = tf.layers.activation({ activation: "relu", name: layerName.relu(task.name, 3) });
    const dropout = tf.layers.dropout({ rate: 1 - config.keep_prob, name: layerName.dropout(task.name) });
    return dropout.apply(relu.apply(bn.apply(fc.apply(flat)))) as tf.SymbolicTensor;
  });
  towers = stitch(towers, 3);
  const logits = tasks.map(
    (task, t) =>
      tf.layers
        .dense({
          name: layerName.logits(task.name),
          units: task.classes.length,
          kernelInitializer: heNormal(),
        })
        .apply(towers[t] as tf.SymbolicTensor) as tf.SymbolicTensor,
  );
  return tf.model({
    inputs: image,
    outputs: logits,
    name: config.cross_stitch_enabled ? "cross_stitch" : "baseline",
  });
}

function batchNorm(name: string) {
  return tf.layers.batchNormalization({
    name,
    axis: -1,
    epsilon: BATCH_NORM_EPSILON,
    momentum: BATCH_NORM_MOMENTUM,
  });
}

/**
 * Loads `<runDir>/<folder>/model.json` (model/ = the last epoch, model-best/ = the validation
 * choice) with the CrossStitch class registered (importing this module does it).
 */
export async function loadRunModel(
  runDir: string,
  folder = dirname(RUN_FILES.model),
): Promise<tf.LayersModel> {
  return tf.loadLayersModel(pathToFileURL(join(runDir, folder, "model.json")).href);
}

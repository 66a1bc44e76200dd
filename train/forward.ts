/**
 * The training-mode forward pass, written directly over the model's own variables with the
 * fused kernels of native-ops.ts, so one step costs a few dozen TensorFlow ops per tower
 * instead of the hundreds tfjs-layers' generic training path dispatches.
 *
 * The biases of conv1, conv2 and fc3 are left out here on purpose: each feeds a batch norm,
 * which in training mode subtracts the batch mean, so their gradient is exactly zero and they
 * stay at their zero init; the inference model (model.ts) still adds them, as zeros.
 */

import {
  BATCH_NORM_EPSILON,
  BATCH_NORM_MOMENTUM,
  CROSS_STITCH_UNITS,
  layerName,
} from "../contracts/architecture.ts";
import { crossStitchMix } from "./cross-stitch.ts";
import type { TowerTask } from "./model.ts";
import {
  batchNormTraining,
  matMul,
  relu,
  seededDropout,
  sparseSoftmaxCrossEntropy,
  sumOfSquares,
} from "./native-ops.ts";
import * as tf from "./tf.ts";

interface BatchNormVariables {
  gamma: tf.Variable;
  beta: tf.Variable;
  movingMean: tf.Variable;
  movingVariance: tf.Variable;
}

interface TowerVariables {
  conv1: tf.Variable;
  bn1: BatchNormVariables;
  conv2: tf.Variable;
  bn2: BatchNormVariables;
  fc3: tf.Variable;
  bn3: BatchNormVariables;
  logitsKernel: tf.Variable;
  logitsBias: tf.Variable;
}

export interface ModelVariables {
  towers: TowerVariables[];
  /** alpha of cross_stitch_1..3; empty for the baseline. */
  alphas: tf.Variable[];
  /** Every weight the optimiser updates except the alphas (they get their own learning rate). */
  trainable: tf.Variable[];
  /** Conv and dense kernels: the weights the L2 term covers. */
  kernels: tf.Variable[];
}

function weight(model: tf.LayersModel, layer: string, weightName: string): tf.Variable {
  const found = model.getLayer(layer).weights.find((w) => w.originalName === `${layer}/${weightName}`);
  if (found === undefined) throw new Error(`model has no weight ${layer}/${weightName}`);
  return found.read() as tf.Variable;
}

function batchNormVariables(model: tf.LayersModel, layer: string): BatchNormVariables {
  return {
    gamma: weight(model, layer, "gamma"),
    beta: weight(model, layer, "beta"),
    movingMean: weight(model, layer, "moving_mean"),
    movingVariance: weight(model, layer, "moving_variance"),
  };
}

export function modelVariables(model: tf.LayersModel, tasks: readonly TowerTask[]): ModelVariables {
  const towers = tasks.map(({ name }) => ({
    conv1: weight(model, layerName.conv(name, 1), "kernel"),
    bn1: batchNormVariables(model, layerName.batchNorm(name, 1)),
    conv2: weight(model, layerName.conv(name, 2), "kernel"),
    bn2: batchNormVariables(model, layerName.batchNorm(name, 2)),
    fc3: weight(model, layerName.fc(name), "kernel"),
    bn3: batchNormVariables(model, layerName.batchNorm(name, 3)),
    logitsKernel: weight(model, layerName.logits(name), "kernel"),
    logitsBias: weight(model, layerName.logits(name), "bias"),
  }));
  const hasUnits = model.layers.some((layer) => layer.name === layerName.crossStitch(1));
  const alphas = hasUnits
    ? CROSS_STITCH_UNITS.map((unit) => weight(model, layerName.crossStitch(unit), "alpha"))
    : [];
  const trainable = towers.flatMap((t) => [
    t.conv1,
    t.bn1.gamma,
    t.bn1.beta,
    t.conv2,
    t.bn2.gamma,
    t.bn2.beta,
    t.fc3,
    t.bn3.gamma,
    t.bn3.beta,
    t.logitsKernel,
    t.logitsBias,
  ]);
  const kernels = towers.flatMap((t) => [t.conv1, t.conv2, t.fc3, t.logitsKernel]);
  return { towers, alphas, trainable, kernels };
}

/** Batch norm in training mode that also moves the running statistics, as Keras does. */
function batchNormUpdating(x: tf.Tensor, bn: BatchNormVariables, w: WeightLookup): tf.Tensor {
  const gamma = w(bn.gamma) as tf.Tensor1D;
  const beta = w(bn.beta) as tf.Tensor1D;
  return batchNormTraining(x, gamma, beta, BATCH_NORM_EPSILON, (mean, variance) => {
    bn.movingMean.assign(bn.movingMean.mul(BATCH_NORM_MOMENTUM).add(mean.mul(1 - BATCH_NORM_MOMENTUM)));
    bn.movingVariance.assign(
      bn.movingVariance.mul(BATCH_NORM_MOMENTUM).add(variance.mul(1 - BATCH_NORM_MOMENTUM)),
    );
  });
}

/** The current value of a trainable variable (the optimiser may hold it outside the tfjs variable). */
export type WeightLookup = (variable: tf.Variable) => tf.Tensor;

function convStage(x: tf.Tensor4D, kernel: tf.Tensor, bn: BatchNormVariables, w: WeightLookup): tf.Tensor4D {
  const conv = tf.conv2d(x, kernel as tf.Tensor4D, 1, "same");
  // Max pooling and ReLU commute (both monotone), so pooling first runs ReLU on a quarter of the values.
  return relu(tf.maxPool(batchNormUpdating(conv, bn, w) as tf.Tensor4D, 2, 2, "valid")) as tf.Tensor4D;
}

export interface TrainingBatch {
  /** [batch, 28, 28, 1], z-scored. */
  images: tf.Tensor4D;
  /** One int32 label vector [batch] per task, in tower order. */
  labels: tf.Tensor1D[];
  /** One dropout seed pair per tower. */
  dropoutSeeds: [number, number][];
}

export interface TrainingLoss {
  /** Sum of the task losses plus the L2 term: what the optimiser minimises. */
  total: tf.Scalar;
  /** Mean cross-entropy per task, [tasks]. */
  perTask: tf.Tensor1D;
}

/**
 * Mean cross-entropy against targets (1 - e) one-hot + e / K: (1 - e) CE + e * mean_k(-log p_k),
 * where mean_k(-log p_k) = logsumexp(logits) - mean_k(logits). e = 0 is the plain fused kernel.
 */
export function smoothedCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, smoothing: number): tf.Scalar {
  const crossEntropy = sparseSoftmaxCrossEntropy(logits, labels);
  if (smoothing === 0) return crossEntropy;
  const uniform = tf.logSumExp(logits, 1).sub(tf.mean(logits, 1)).mean();
  return crossEntropy.mul(1 - smoothing).add(uniform.mul(smoothing)) as tf.Scalar;
}

export function trainingLoss(
  vars: ModelVariables,
  w: WeightLookup,
  batch: TrainingBatch,
  keepProb: number,
  regLambda: number,
  labelSmoothing = 0,
): TrainingLoss {
  const mix = (towers: tf.Tensor[], unit: number) => {
    const alpha = vars.alphas[unit];
    return alpha === undefined ? towers : crossStitchMix(towers, w(alpha));
  };
  let h: tf.Tensor[] = vars.towers.map((t) => convStage(batch.images, w(t.conv1), t.bn1, w));
  h = mix(h, 0);
  h = vars.towers.map((t, i) => convStage(h[i] as tf.Tensor4D, w(t.conv2), t.bn2, w));
  h = mix(h, 1);
  h = vars.towers.map((t, i) => {
    const input = h[i] as tf.Tensor4D;
    const flat = input.reshape([input.shape[0], -1]) as tf.Tensor2D;
    const dense = relu(batchNormUpdating(matMul(flat, w(t.fc3) as tf.Tensor2D), t.bn3, w));
    return seededDropout(dense, keepProb, batch.dropoutSeeds[i] ?? [0, 0]);
  });
  h = mix(h, 2);
  const losses = vars.towers.map((t, i) => {
    const logits = matMul(h[i] as tf.Tensor2D, w(t.logitsKernel) as tf.Tensor2D).add(
      w(t.logitsBias),
    ) as tf.Tensor2D;
    return smoothedCrossEntropy(logits, batch.labels[i] as tf.Tensor1D, labelSmoothing);
  });
  const l2 = sumOfSquares(vars.kernels.map(w));
  const total = tf.addN(losses).add(l2.mul(regLambda)) as tf.Scalar;
  return { total, perTask: tf.stack(losses) as tf.Tensor1D };
}

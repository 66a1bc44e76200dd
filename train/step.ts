/**
 * One optimisation step: forward and backward inside one tf.tidy, then TensorFlow's fused Adam,
 * with the loss accumulated on the device so nothing is read back to JavaScript until the
 * caller asks (once per epoch).
 */

import { type ModelVariables, modelVariables, type TrainingBatch, trainingLoss } from "./forward.ts";
import type { TowerTask } from "./model.ts";
import { type AdamState, NativeAdam } from "./native-adam.ts";
import * as tf from "./tf.ts";

export interface StepConfig {
  lr: number;
  keep_prob: number;
  reg_lambda: number;
  /** Alpha's learning rate is lr * alpha_lr_mult (Adam ignores the scale of a gradient, so the rate is what scales). */
  alpha_lr_mult: number;
  /** Weight e of the uniform target, (1 - e) one-hot + e / classes (0 = plain cross-entropy). */
  label_smoothing?: number;
}

export interface EpochLosses {
  /** Mean cross-entropy per task over the batches since the last read. */
  perTask: number[];
  /** Mean of the minimised objective (task losses + L2). */
  total: number;
  batches: number;
}

export class Trainer {
  readonly vars: ModelVariables;
  private readonly optimised: tf.Variable[];
  private readonly adam: NativeAdam;
  private readonly config: StepConfig;
  /** [per-task loss sums..., total loss sum], accumulated on the device. */
  private readonly lossSums: tf.Variable;
  private batches = 0;

  constructor(model: tf.LayersModel, tasks: readonly TowerTask[], config: StepConfig) {
    this.config = config;
    this.vars = modelVariables(model, tasks);
    this.optimised = [...this.vars.trainable, ...this.vars.alphas];
    const rates = [
      ...this.vars.trainable.map(() => config.lr),
      ...this.vars.alphas.map(() => config.lr * config.alpha_lr_mult),
    ];
    this.adam = new NativeAdam(this.optimised, rates);
    this.lossSums = tf.variable(tf.zeros([tasks.length + 1]), false);
  }

  /** One update; `lrScale` multiplies every learning rate (the schedule's value for this step). */
  step(batch: TrainingBatch, lrScale = 1): void {
    const index = new Map(this.optimised.map((v, i) => [v, i]));
    // The weight reads die with this tidy, before Adam updates the weights in place.
    const grads = tf.tidy(() => {
      const lossAndGrads = tf.valueAndGrads((...weights: tf.Tensor[]) => {
        const lookup = (v: tf.Variable) => weights[index.get(v) ?? -1] as tf.Tensor;
        const loss = trainingLoss(
          this.vars,
          lookup,
          batch,
          this.config.keep_prob,
          this.config.reg_lambda,
          this.config.label_smoothing ?? 0,
        );
        this.lossSums.assign(this.lossSums.add(tf.concat([loss.perTask, loss.total.reshape([1])])));
        return loss.total;
      });
      return lossAndGrads(this.adam.read()).grads;
    });
    this.adam.apply(grads, lrScale);
    tf.dispose(grads);
    this.batches++;
  }

  /** Optimiser steps taken so far (also after a restore). */
  get steps(): number {
    return this.adam.iterations;
  }

  /**
   * The live value of every optimised variable (the optimiser holds them outside the tfjs
   * variables). Dispose the reads before the next step: a live read forces Adam to copy.
   */
  readOptimised(): Map<tf.Variable, tf.Tensor> {
    const values = this.adam.read();
    return new Map(this.optimised.map((v, i) => [v, values[i] as tf.Tensor]));
  }

  /** Writes the trained weights into the model's variables (before evaluating or saving it). */
  syncModel(): void {
    this.adam.copyToVariables();
  }

  /** After the model's variables were loaded from a checkpoint: continue from them and this optimiser state. */
  restore(state: AdamState): void {
    this.adam.copyFromVariables();
    this.adam.setState(state);
  }

  optimizerState(): AdamState {
    return this.adam.getState();
  }

  /** Reads the accumulated losses once (one device-to-JS transfer) and starts a new accumulation. */
  async takeLosses(): Promise<EpochLosses> {
    const sums = Array.from(await this.lossSums.data());
    tf.tidy(() => this.lossSums.assign(tf.zerosLike(this.lossSums)));
    const batches = this.batches;
    this.batches = 0;
    const mean = (x: number) => (batches === 0 ? Number.NaN : x / batches);
    return {
      perTask: sums.slice(0, -1).map(mean),
      total: mean(sums[sums.length - 1] ?? Number.NaN),
      batches,
    };
  }

  dispose(): void {
    this.adam.dispose();
    this.lossSums.dispose();
  }
}

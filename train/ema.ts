/**
 * An exponential moving average of every model weight (batch-norm statistics included, as timm's
 * ModelEma), held in a second copy of the model so it is evaluated, checkpointed and saved exactly
 * as the trained model is. The decay warms up as TensorFlow's ExponentialMovingAverage with
 * num_updates does, min(decay, (1 + t) / (10 + t)), so early averages are not dominated by the
 * random init; t is the optimiser step, so a resumed run continues the same average.
 *
 * The average moves every UPDATE_EVERY steps, by the decay raised to that power: over a horizon
 * of about 1 / (1 - decay) = 1000 steps that is the same average, at a quarter of the cost (a
 * full pass over 6.5M weights each step measured about 8 % of the step's CPU time).
 */
import * as tf from "./tf.ts";

export const UPDATE_EVERY = 4;

export function emaDecayAt(decay: number, step: number): number {
  return Math.min(decay, (1 + step) / (10 + step));
}

export class WeightAverage {
  /** Same architecture as the trained model; its variables hold the averages. */
  readonly model: tf.LayersModel;
  private readonly pairs: { source: tf.Variable; average: tf.Variable }[];
  private readonly decay: number;

  /** `shadow` is a freshly built model of the same architecture; it starts as a copy of `trained`. */
  constructor(trained: tf.LayersModel, shadow: tf.LayersModel, decay: number) {
    if (!(decay > 0 && decay < 1)) throw new Error(`EMA decay must be in (0, 1), got ${decay}`);
    this.model = shadow;
    this.decay = decay;
    const byName = new Map(shadow.weights.map((w) => [w.originalName, w]));
    this.pairs = trained.weights.map((w) => {
      const twin = byName.get(w.originalName);
      if (twin === undefined) throw new Error(`EMA model lacks weight ${w.originalName}`);
      twin.write(w.read());
      return { source: w.read() as tf.Variable, average: twin.read() as tf.Variable };
    });
  }

  /** Whether `update` after optimiser step `step` moves the average (callers skip reading weights otherwise). */
  due(step: number): boolean {
    return step % UPDATE_EVERY === 0;
  }

  /**
   * The averaging after optimiser step `step` (1-based), when `due(step)`. `current` gives the live
   * value of a variable whose latest value is held elsewhere (the optimiser's copy); others are
   * read as they are.
   */
  update(step: number, current: ReadonlyMap<tf.Variable, tf.Tensor>): void {
    if (!this.due(step)) return;
    const keep = emaDecayAt(this.decay, step) ** UPDATE_EVERY;
    tf.tidy(() => {
      const rate = tf.scalar(1 - keep);
      for (const { source, average } of this.pairs) {
        const value = current.get(source) ?? source;
        average.assign(average.sub(average.sub(value).mul(rate)));
      }
    });
  }

  /** The averages by saved weight name (for checkpoints). */
  named(): { name: string; tensor: tf.Tensor }[] {
    return this.model.weights.map((w) => ({ name: w.originalName, tensor: w.read() }));
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** summary.json: final, best-epoch and last-5-epoch test accuracy per task, and the learned alphas. */
import type { Selection } from "./selection.ts";
import type { TaskSpec } from "./tasks.ts";

export interface EpochMetrics {
  epoch: number;
  /** Mean training cross-entropy per task over the epoch. */
  loss: Record<string, number>;
  /** Mean training objective: task losses + L2. */
  loss_total: number;
  test_accuracy: Record<string, number>;
  test_accuracy_mean: number;
  /** Wall seconds for the epoch, evaluation and checkpoint included. */
  seconds: number;
  /** Training images per second (the optimisation steps only). */
  images_per_second: number;
  /** Mean diagonal of each cross-stitch unit's alpha (1 = no sharing); empty for the baseline. */
  alpha_self: number[];
  /** Coarse tasks answered through a finer head (e.g. category_from_fashion), on the test set. */
  derived_test_accuracy?: Record<string, number>;
  /** On the held-out validation split (runs with --val_size > 0). */
  validation_accuracy?: Record<string, number>;
  validation_accuracy_mean?: number;
  /** The same figures for the moving average of the weights (runs with --ema_decay > 0). */
  ema?: WeightsAccuracy;
  /** The learning rate of the epoch's last step. */
  lr?: number;
}

export interface WeightsAccuracy {
  test_accuracy: Record<string, number>;
  test_accuracy_mean: number;
  derived_test_accuracy?: Record<string, number>;
  validation_accuracy?: Record<string, number>;
  validation_accuracy_mean?: number;
}

export interface AccuracyRow {
  per_task: Record<string, number>;
  mean: number;
}

export interface RunSummary {
  variant: string;
  tasks: string[];
  epochs: number;
  final: AccuracyRow & { epoch: number };
  /** The epoch with the highest mean test accuracy. */
  best: AccuracyRow & { epoch: number };
  /** Accuracy averaged over the last 5 epochs (fewer if the run is shorter). */
  last5: AccuracyRow & { epochs: number[] };
  alphas: {
    unit: string;
    shape: number[];
    /** alpha averaged over channels: row i = how tower i mixes the towers. */
    mean: number[][];
    values: number[][][];
  }[];
  seconds_total: number;
  images_per_second_mean: number;
  /** The weights validation chose (runs with --val_size > 0); see selection.ts. */
  selected?: Selection;
}

function row(records: EpochMetrics[], tasks: readonly TaskSpec[]): AccuracyRow {
  const average = (pick: (r: EpochMetrics) => number) =>
    records.reduce((a, r) => a + pick(r), 0) / records.length;
  return {
    per_task: Object.fromEntries(
      tasks.map((t) => [t.name, average((r) => r.test_accuracy[t.name] as number)]),
    ),
    mean: average((r) => r.test_accuracy_mean),
  };
}

export function summarize(
  variant: string,
  tasks: readonly TaskSpec[],
  metrics: EpochMetrics[],
  alphas: number[][][][],
): RunSummary {
  const last = metrics[metrics.length - 1];
  if (last === undefined) throw new Error("summarize: no epochs recorded");
  const best = metrics.reduce((a, b) => (b.test_accuracy_mean > a.test_accuracy_mean ? b : a));
  const tail = metrics.slice(-5);
  return {
    variant,
    tasks: tasks.map((t) => t.name),
    epochs: metrics.length,
    final: { epoch: last.epoch, ...row([last], tasks) },
    best: { epoch: best.epoch, ...row([best], tasks) },
    last5: { epochs: tail.map((r) => r.epoch), ...row(tail, tasks) },
    alphas: alphas.map((values, u) => {
      const n = values[0]?.length ?? 0;
      const mean = Array.from({ length: n }, (_, i) =>
        Array.from(
          { length: n },
          (_, j) => values.reduce((a, m) => a + (m[i]?.[j] as number), 0) / values.length,
        ),
      );
      return { unit: `cross_stitch_${u + 1}`, shape: [values.length, n, n], mean, values };
    }),
    seconds_total: metrics.reduce((a, r) => a + r.seconds, 0),
    images_per_second_mean: metrics.reduce((a, r) => a + r.images_per_second, 0) / metrics.length,
  };
}

/** summary.json (schema in contracts/run-folder.ts) made from the epochs' metrics and the learned alphas. */
import type { AccuracyRow, EpochMetrics, RunSummary } from "../contracts/run-folder.ts";
import type { TaskSpec } from "../contracts/tasks.ts";

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

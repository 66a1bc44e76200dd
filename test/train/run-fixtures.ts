// Hand-written run folders (config, tasks, metrics, optionally summary) for the report and study tests.
import fs from "node:fs";
import path from "node:path";
import { type StudyRunKey, studyRunSegments } from "../../contracts/study.ts";
import { DEFAULT_TASKS } from "../../contracts/tasks.ts";
import { DEFAULT_CONFIG } from "../../train/config.ts";
import { summarize } from "../../train/summary.ts";

export interface FixtureRun {
  crossStitch: boolean;
  /** Test accuracy [fashion, category] per epoch. */
  accuracies: [number, number][];
  finished: boolean;
  seed?: number;
  /** Extra config.json fields (alpha settings). */
  config?: Record<string, unknown>;
  /** Mean alpha diagonal per unit, written as each epoch's alpha_self. */
  alphaSelf?: number[];
}

export function writeRunFolder(root: string, name: string, run: FixtureRun): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, "config.json"),
    JSON.stringify({
      ...DEFAULT_CONFIG,
      n_epoch: 4,
      seed: run.seed ?? 1,
      cross_stitch_enabled: run.crossStitch,
      ...run.config,
    }),
  );
  fs.writeFileSync(path.join(dir, "tasks.json"), JSON.stringify(DEFAULT_TASKS));
  const metrics = run.accuracies.map(([fashion, category], i) => ({
    epoch: i + 1,
    loss: { fashion: 1 / (i + 1), category: 0.5 / (i + 1) },
    loss_total: 1.5 / (i + 1),
    test_accuracy: { fashion, category },
    test_accuracy_mean: (fashion + category) / 2,
    seconds: 10,
    images_per_second: 600,
    alpha_self: run.crossStitch ? (run.alphaSelf ?? [0.9, 0.8, 0.7]) : [],
  }));
  fs.writeFileSync(path.join(dir, "metrics.jsonl"), metrics.map((m) => `${JSON.stringify(m)}\n`).join(""));
  if (run.finished) {
    const alphas = run.crossStitch
      ? [32, 64, 1024].map((c) =>
          Array.from({ length: c }, () => [
            [0.8, 0.2],
            [0.3, 0.7],
          ]),
        )
      : [];
    const summary = summarize(run.crossStitch ? "cross_stitch" : "baseline", DEFAULT_TASKS, metrics, alphas);
    fs.writeFileSync(path.join(dir, "summary.json"), JSON.stringify(summary));
  }
  return dir;
}

/** The same run folder where the sharing study puts run `key` under `root`. */
export function writeStudyRunFolder(
  root: string,
  key: StudyRunKey,
  run: Pick<FixtureRun, "accuracies" | "finished">,
): string {
  return writeRunFolder(root, path.join(...studyRunSegments(key)), {
    ...run,
    crossStitch: key.variant === "cross-stitch",
    seed: key.seed,
  });
}

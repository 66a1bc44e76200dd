/** Reading run folders (docs/run-folder.md) for analysis, without TensorFlow: JSON files only. */
import fs from "node:fs";
import path from "node:path";
import type { EpochMetrics, Selection } from "../contracts/run-folder.ts";
import type { TaskSpec } from "../contracts/tasks.ts";

export class AnalysisError extends Error {
  override name = "AnalysisError";
}

export interface RunFiles {
  dir: string;
  config: Record<string, unknown> & { n_epoch: number; seed: number; cross_stitch_enabled: boolean };
  tasks: TaskSpec[];
  metrics: EpochMetrics[];
  /** summary.json exists: the run reached its last epoch. */
  finished: boolean;
  selection: Selection | null;
}

function readJson<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch (error) {
    throw new AnalysisError(
      `${file}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "missing" : (error as Error).message}`,
    );
  }
}

/** A run folder's records; null when it has no finished epoch yet. */
export function readRunFiles(dir: string): RunFiles | null {
  const metricsFile = path.join(dir, "metrics.jsonl");
  if (!fs.existsSync(metricsFile)) return null;
  const metrics = fs
    .readFileSync(metricsFile, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as EpochMetrics);
  if (metrics.length === 0) return null;
  const selectionFile = path.join(dir, "selection.json");
  return {
    dir,
    config: readJson(path.join(dir, "config.json")),
    tasks: readJson(path.join(dir, "tasks.json")),
    metrics,
    finished: fs.existsSync(path.join(dir, "summary.json")),
    selection: fs.existsSync(selectionFile) ? readJson<Selection>(selectionFile) : null,
  };
}

/** Mean of `pick` over the last `count` records (fewer when the run is shorter). */
export function lastMean(
  metrics: readonly EpochMetrics[],
  count: number,
  pick: (r: EpochMetrics) => number,
): number {
  const tail = metrics.slice(-count);
  return tail.reduce((a, r) => a + pick(r), 0) / tail.length;
}

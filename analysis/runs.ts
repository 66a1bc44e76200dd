/** Reading run folders (docs/run-folder.md) for analysis, without TensorFlow, through their one checked reader each. */
import fs from "node:fs";
import path from "node:path";
import {
  type EpochMetrics,
  RUN_FILES,
  type RunConfig,
  RunFileError,
  type Selection,
} from "../contracts/run-folder.ts";
import { TaskFileError, type TaskSpec } from "../contracts/tasks.ts";
import { readMetrics, readRunConfig, readRunTasks, readSelection } from "../stage-files/run-folder.ts";

export class AnalysisError extends Error {
  override name = "AnalysisError";
}

export interface RunFiles {
  dir: string;
  config: RunConfig;
  tasks: TaskSpec[];
  metrics: EpochMetrics[];
  /** summary.json exists: the run reached its last epoch. */
  finished: boolean;
  selection: Selection | null;
}

/** A run folder's records; null when it has no finished epoch yet. */
export function readRunFiles(dir: string): RunFiles | null {
  if (!fs.existsSync(path.join(dir, RUN_FILES.metrics))) return null;
  try {
    const metrics = readMetrics(dir);
    if (metrics.length === 0) return null;
    return {
      dir,
      config: readRunConfig(dir),
      tasks: readRunTasks(dir),
      metrics,
      finished: fs.existsSync(path.join(dir, RUN_FILES.summary)),
      selection: readSelection(dir),
    };
  } catch (error) {
    if (error instanceof RunFileError || error instanceof TaskFileError)
      throw new AnalysisError(error.message);
    throw error;
  }
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

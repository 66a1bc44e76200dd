// The sharing study's folder layout: one run folder per training-set size, variant and seed at
// <root>/n<size>/<variant>-s<seed>, written by train/study.ts and read by analysis/sharing.ts.
// Each finished run's record (its small files, same names, same layout) is kept under
// STUDY_RECORDS_DIR.
import { RUN_FILES } from "./run-folder.ts";

/**
 * Git-tracked home of the finished runs' records: machines are wiped between sessions and a run
 * folder, checkpoints included, is too big to commit, so only its record survives.
 */
export const STUDY_RECORDS_DIR = "reports/sharing/runs";

/** Where the study trains its run folders unless told otherwise: big, untracked, wiped with the machine. */
export const STUDY_RUNS_DIR = "runs/sharing";

/** What the analysis reads of a finished run; checkpoints, models and logs stay behind. */
export const STUDY_RECORD_FILES = [
  RUN_FILES.config,
  RUN_FILES.tasks,
  RUN_FILES.metrics,
  RUN_FILES.summary,
] as const;

export type StudyRecordFile = (typeof STUDY_RECORD_FILES)[number];

export const STUDY_VARIANTS = ["baseline", "cross-stitch"] as const;
export type StudyVariant = (typeof STUDY_VARIANTS)[number];

export interface StudyRunKey {
  size: number;
  variant: StudyVariant;
  seed: number;
}

const SIZE_FOLDER = /^n(\d+)$/;
const RUN_FOLDER = /^(baseline|cross-stitch)-s(\d+)$/;

/** The run's folder below the study's root, as two path segments: ["n1000", "baseline-s1"]. */
export function studyRunSegments({ size, variant, seed }: StudyRunKey): [string, string] {
  return [`n${size}`, `${variant}-s${seed}`];
}

/** Which run two folder names hold, or null for folders the study did not write. */
export function parseStudyRunSegments(sizeFolder: string, runFolder: string): StudyRunKey | null {
  const size = SIZE_FOLDER.exec(sizeFolder);
  const run = RUN_FOLDER.exec(runFolder);
  if (!size || !run) return null;
  return { size: Number(size[1]), variant: run[1] as StudyVariant, seed: Number(run[2]) };
}

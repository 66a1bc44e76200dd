// The sharing study's folder layout: one run folder per training-set size, variant and seed at
// <root>/n<size>/<variant>-s<seed>, written by train/study.ts and read by analysis/sharing.ts.
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

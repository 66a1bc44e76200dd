/** The run folders of a sharing study and their published records on disk (layout in contracts/study.ts). */
import fs from "node:fs";
import path from "node:path";
import { RUN_FILES } from "../contracts/run-folder.ts";
import {
  parseStudyRunSegments,
  STUDY_RECORD_FILES,
  type StudyRecordFile,
  type StudyRunKey,
  studyRunSegments,
} from "../contracts/study.ts";
import { readMetrics, readRunConfig, readRunTasks, readSummary } from "./run-folder.ts";

export function studyRunDir(root: string, run: StudyRunKey): string {
  return path.join(root, ...studyRunSegments(run));
}

/** Every run folder under `root` laid out as the study writes them, by size, variant and seed. */
export function listStudyRuns(root: string): (StudyRunKey & { dir: string })[] {
  const found: (StudyRunKey & { dir: string })[] = [];
  for (const sizeFolder of fs.readdirSync(root)) {
    const sizeDir = path.join(root, sizeFolder);
    if (!fs.statSync(sizeDir).isDirectory()) continue;
    for (const runFolder of fs.readdirSync(sizeDir)) {
      const key = parseStudyRunSegments(sizeFolder, runFolder);
      if (key !== null) found.push({ ...key, dir: path.join(sizeDir, runFolder) });
    }
  }
  // Folder names sort n10000 before n3000, and s10 before s2.
  return found.sort((a, b) => a.size - b.size || a.variant.localeCompare(b.variant) || a.seed - b.seed);
}

/** The checked reader of each record file: a record is published only if all of them accept it. */
const RECORD_READERS: Record<StudyRecordFile, (dir: string) => unknown> = {
  [RUN_FILES.config]: readRunConfig,
  [RUN_FILES.tasks]: readRunTasks,
  [RUN_FILES.metrics]: readMetrics,
  [RUN_FILES.summary]: readSummary,
};

/** A record is only ever renamed into place whole, but a hand-edited checkout may lack a file. */
export function hasStudyRecord(recordsRoot: string, key: StudyRunKey): boolean {
  const dir = studyRunDir(recordsRoot, key);
  return STUDY_RECORD_FILES.every((file) => fs.existsSync(path.join(dir, file)));
}

/**
 * Copies the record files of the finished run in `runDir` to `<recordsRoot>/n<size>/<variant>-s<seed>`
 * and returns that folder. The copy is assembled and checked in a sibling folder the study's layout
 * ignores, then renamed into place, so a failure or a kill never leaves a partial record there.
 */
export function publishStudyRecord(runDir: string, recordsRoot: string, key: StudyRunKey): string {
  const missing = STUDY_RECORD_FILES.filter((file) => !fs.existsSync(path.join(runDir, file)));
  if (missing.length > 0) {
    throw new Error(
      `${runDir}: cannot publish its study record, ${missing.join(", ")} missing (is the run finished?)`,
    );
  }
  const recordDir = studyRunDir(recordsRoot, key);
  const staging = `${recordDir}.${process.pid}.tmp`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    for (const file of STUDY_RECORD_FILES) {
      fs.copyFileSync(path.join(runDir, file), path.join(staging, file));
      RECORD_READERS[file](staging);
    }
  } catch (error) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new Error(`${runDir}: study record not published: ${(error as Error).message}`);
  }
  // rename() cannot replace a non-empty folder: the old record steps aside first and is removed
  // last, so a kill in between leaves it beside the layout rather than losing both.
  const replaced = `${recordDir}.${process.pid}.old.tmp`;
  const hadRecord = fs.existsSync(recordDir);
  if (hadRecord) fs.renameSync(recordDir, replaced);
  fs.renameSync(staging, recordDir);
  if (hadRecord) fs.rmSync(replaced, { recursive: true, force: true });
  return recordDir;
}

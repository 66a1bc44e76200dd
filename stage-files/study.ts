/** The run folders of a sharing study on disk (layout in contracts/study.ts). */
import fs from "node:fs";
import path from "node:path";
import { parseStudyRunSegments, type StudyRunKey, studyRunSegments } from "../contracts/study.ts";

export function studyRunDir(root: string, run: StudyRunKey): string {
  return path.join(root, ...studyRunSegments(run));
}

/** Every run folder under `root` laid out as the study writes them, by size, then folder name. */
export function listStudyRuns(root: string): (StudyRunKey & { dir: string })[] {
  const found: (StudyRunKey & { dir: string })[] = [];
  for (const sizeFolder of fs.readdirSync(root).sort()) {
    const sizeDir = path.join(root, sizeFolder);
    if (!fs.statSync(sizeDir).isDirectory()) continue;
    for (const runFolder of fs.readdirSync(sizeDir).sort()) {
      const key = parseStudyRunSegments(sizeFolder, runFolder);
      if (key !== null) found.push({ ...key, dir: path.join(sizeDir, runFolder) });
    }
  }
  return found;
}

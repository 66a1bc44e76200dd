/**
 * Files the stages talk through, written to a temporary name and renamed so a killed process never
 * leaves a partial file, and read with errors that name the file (RunFileError: one sentence).
 */
import fs from "node:fs";
import path from "node:path";
import { RunFileError } from "../contracts/run-folder.ts";

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, data);
  fs.renameSync(temp, file);
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

export function readText(file: string, what: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new RunFileError(
      code === "ENOENT" ? `${what} not found: ${file}` : `${what} cannot be read: ${file} (${code})`,
    );
  }
}

/** A JSON file's value; a missing or malformed file is a RunFileError naming it. */
export function readJsonFile(file: string, what = path.basename(file)): unknown {
  const text = readText(file, what);
  try {
    return JSON.parse(text);
  } catch {
    throw new RunFileError(`${what} is not valid JSON: ${file}`);
  }
}

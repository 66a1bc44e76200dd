// All-or-nothing output: files are written into a staging folder next to the
// output folder and moved in by rename only once every one of them exists.
import { chmod, mkdir, mkdtemp, readdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { ExportError } from "./run-folder.ts";

const REASONS: Readonly<Record<string, string>> = {
  EEXIST: "a file is in the way",
  ENOTDIR: "a file is in the way",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EROFS: "read-only file system",
  ENOSPC: "no space left",
};

function cannotWrite(target: string, error: unknown): ExportError {
  const code = (error as NodeJS.ErrnoException).code ?? "";
  return new ExportError(
    `cannot write to output folder ${target}: ${REASONS[code] ?? "error"} (${code || String(error)})`,
  );
}

export interface StagedOutput {
  write(file: string, contents: Uint8Array | string): Promise<void>;
  /** Moves every staged file into the output folder. */
  commit(): Promise<void>;
  /** Removes the staging folder and whatever it holds. */
  discard(): Promise<void>;
}

/** Fails early, before any work, when the output folder cannot be written. */
export async function stageOutput(outDir: string): Promise<StagedOutput> {
  const target = resolve(outDir);
  let stage: string;
  try {
    await mkdir(dirname(target), { recursive: true });
    stage = await mkdtemp(join(dirname(target), `.${basename(target)}.staging-`));
  } catch (error) {
    throw cannotWrite(target, error);
  }
  return {
    write: (file, contents) => writeFile(join(stage, file), contents),
    async commit() {
      try {
        // mkdtemp creates the folder private (0700); the output is meant to be shared.
        await chmod(stage, 0o755);
        await rename(stage, target);
        return;
      } catch {
        // The output folder exists already: move the files one by one, each rename atomic.
      }
      try {
        await mkdir(target, { recursive: true });
        for (const file of await readdir(stage)) await rename(join(stage, file), join(target, file));
        await rm(stage, { recursive: true, force: true });
      } catch (error) {
        throw cannotWrite(target, error);
      }
    },
    discard: () => rm(stage, { recursive: true, force: true }),
  };
}

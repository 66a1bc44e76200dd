// Builds the worker's static-assets folder from an artifacts folder: the
// manifest and only the files it serves (models.int8.file, and the engine pack
// models.engine.file where the export wrote one), hash-checked here
// so a stale or partial export fails before wrangler starts. The fp32 graph
// stays behind: it is not served, and at ~26 MB it is over the 25 MiB asset limit.
//
//   npm run assets -- [--artifacts DIR] [--out DIR]
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import { type Command, flagValue, parseCommand, runCommand } from "../../cli/args.ts";
import { MANIFEST_FILE } from "../../contracts/artifacts.ts";
import { type Manifest, parseManifest } from "../../contracts/manifest.ts";

export const DEFAULT_ASSETS_DIR = ".cache/worker-assets";

export async function stageAssets(artifactsDir: string, assetsDir: string): Promise<Manifest> {
  const manifestText = await readFile(join(artifactsDir, MANIFEST_FILE), "utf8").catch((error: Error) => {
    throw new Error(`no ${MANIFEST_FILE} in ${artifactsDir} (run the export stage first): ${error.message}`);
  });
  const manifest = parseManifest(JSON.parse(manifestText));
  const served = [manifest.models.int8, ...(manifest.models.engine ? [manifest.models.engine] : [])];
  const files = await Promise.all(
    served.map(async (entry) => {
      const bytes = await readFile(join(artifactsDir, entry.file));
      const digest = createHash("sha256").update(bytes).digest("hex");
      if (digest !== entry.sha256) {
        throw new Error(`${entry.file} has SHA-256 ${digest}, the manifest says ${entry.sha256}`);
      }
      return { file: entry.file, bytes };
    }),
  );
  await rm(assetsDir, { recursive: true, force: true });
  await mkdir(assetsDir, { recursive: true });
  await writeFile(join(assetsDir, MANIFEST_FILE), manifestText);
  for (const { file, bytes } of files) await writeFile(join(assetsDir, file), bytes);
  return manifest;
}

/** The artifacts folder a command serves when not told: $STITCH_ARTIFACTS, else artifacts/. */
export const defaultArtifactsDir = () => process.env.STITCH_ARTIFACTS ?? "artifacts";

const command = {
  name: "npm run assets --",
  summary: "Copies the manifest and the int8 graph it names, hash-checked, into the worker's assets folder.",
  flags: {
    artifacts: { value: "DIR", help: "export folder with manifest.json ($STITCH_ARTIFACTS or artifacts)" },
    out: { value: "DIR", help: "assets folder wrangler serves" },
  },
  schema: z.object({
    artifacts: flagValue.path().optional(),
    out: flagValue.path().default(DEFAULT_ASSETS_DIR),
  }),
} satisfies Command<z.ZodType>;

if (import.meta.url === `file://${process.argv[1]}`) {
  runCommand(command, async () => {
    const flags = parseCommand(command, process.argv.slice(2));
    if (flags === null) return;
    const artifactsDir = resolve(flags.artifacts ?? defaultArtifactsDir());
    const assetsDir = resolve(flags.out);
    const manifest = await stageAssets(artifactsDir, assetsDir);
    console.log(
      `staged ${manifest.modelId} (${[manifest.models.int8, manifest.models.engine].flatMap((e) => (e ? [e.file] : [])).join(", ")}) from ${artifactsDir} into ${assetsDir}`,
    );
  });
}

// Builds the worker's static-assets folder from an artifacts folder: the
// manifest and only the files it serves (models.int8.file, and the engine pack
// models.engine.file where the export wrote one), hash-checked here
// so a stale or partial export fails before wrangler starts. The fp32 graph
// stays behind: it is not served, and at ~26 MB it is over the 25 MiB asset limit.
//
//   tsx worker/dev/stage-assets.ts [artifacts-dir] [assets-dir]
//   (defaults: $STITCH_ARTIFACTS or artifacts/, and .cache/worker-assets/)
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
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

if (import.meta.url === `file://${process.argv[1]}`) {
  const artifactsDir = resolve(process.argv[2] ?? process.env.STITCH_ARTIFACTS ?? "artifacts");
  const assetsDir = resolve(process.argv[3] ?? DEFAULT_ASSETS_DIR);
  try {
    const manifest = await stageAssets(artifactsDir, assetsDir);
    console.log(
      `staged ${manifest.modelId} (${[manifest.models.int8, manifest.models.engine].flatMap((e) => (e ? [e.file] : [])).join(", ")}) from ${artifactsDir} into ${assetsDir}`,
    );
  } catch (error) {
    console.error(`stage-assets: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}

// Builds the worker's static-assets folder from an artifacts folder: the
// manifest and only the graph it serves (models.int8.file), hash-checked here
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
  const served = manifest.models.int8;
  const model = await readFile(join(artifactsDir, served.file));
  const digest = createHash("sha256").update(model).digest("hex");
  if (digest !== served.sha256) {
    throw new Error(`${served.file} has SHA-256 ${digest}, the manifest says ${served.sha256}`);
  }
  await rm(assetsDir, { recursive: true, force: true });
  await mkdir(assetsDir, { recursive: true });
  await writeFile(join(assetsDir, MANIFEST_FILE), manifestText);
  await writeFile(join(assetsDir, served.file), model);
  return manifest;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const artifactsDir = resolve(process.argv[2] ?? process.env.STITCH_ARTIFACTS ?? "artifacts");
  const assetsDir = resolve(process.argv[3] ?? DEFAULT_ASSETS_DIR);
  try {
    const manifest = await stageAssets(artifactsDir, assetsDir);
    console.log(
      `staged ${manifest.modelId} (${manifest.models.int8.file}) from ${artifactsDir} into ${assetsDir}`,
    );
  } catch (error) {
    console.error(`stage-assets: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}

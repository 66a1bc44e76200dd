// `wrangler deploy --dry-run --outdir`: the upload wrangler reports (raw and
// gzip) and each file of the bundle, raw and gzip, against the 3.7 MiB goal and
// the Workers limits (3 MB free, 10 MB paid, after gzip).
//
//   tsx bench/worker-bundle.ts
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { GOALS, stageBenchAssets, writeResult } from "./worker-common.ts";

const { assetsDir, manifest } = await stageBenchAssets();
const outdir = await mkdtemp(join(tmpdir(), "stitch-edge-dry-run-"));
try {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      "node_modules/wrangler/bin/wrangler.js",
      "deploy",
      "--dry-run",
      "--outdir",
      outdir,
      "--assets",
      assetsDir,
    ],
    { env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" }, maxBuffer: 1 << 24 },
  );
  const reported = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(stdout);
  const files = [];
  for (const name of await readdir(outdir)) {
    if (name.endsWith(".map") || name === "README.md") continue;
    const bytes = await readFile(join(outdir, name));
    files.push({ name, bytes: bytes.byteLength, gzipBytes: gzipSync(bytes).byteLength });
  }
  const gzipBytes = Number(reported?.[2] ?? Number.NaN) * 1024;
  // SPEC.md's bundle figures ("14.0 MB upload, 3.64 MB gzip") are wrangler's KiB over 1024, so MiB.
  const gzipMiB = gzipBytes / 1024 / 1024;
  const result = {
    command: "wrangler deploy --dry-run --outdir <tmp> (minify = true)",
    modelId: manifest.modelId,
    modelInStaticAssets: `${manifest.models.int8.file}, ${manifest.models.int8.bytes} bytes (not in the bundle)`,
    wranglerReported: { uploadKiB: Number(reported?.[1]), gzipKiB: Number(reported?.[2]) },
    files,
    gzipBytes,
    gzipMiB: Math.round(gzipMiB * 1000) / 1000,
    goal: { gzipMiB: GOALS.gzipBundleMB, met: gzipMiB <= GOALS.gzipBundleMB },
    limits: { freeGzipMB: 3, paidGzipMB: 10, fitsFree: gzipBytes <= 3 * 1024 * 1024 },
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`wrote ${await writeResult("bundle", result)}`);
} finally {
  await rm(outdir, { recursive: true, force: true });
  await rm(assetsDir, { recursive: true, force: true });
}

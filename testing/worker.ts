// Shared by the worker tests: fixture artifacts, a directory standing in for
// the ASSETS binding under Node, real Fashion-MNIST test images, and a real
// workerd started through `wrangler dev` (one per test file). Only tests and
// benchmarks use the training loader; the worker itself imports nothing from train/.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, normalize as normalizePath } from "node:path";
import type { Manifest } from "../contracts/manifest.ts";
import { loadFashionMnist } from "../data/fashion-mnist.ts";
import { stageAssets } from "../worker/dev/stage-assets.ts";
import type { AssetFetcher } from "../worker/inference.ts";
import { writeEngineFixtureArtifacts } from "./engine-fixture.ts";

export const REPO_ROOT = new URL("../", import.meta.url).pathname;
export { freePort, type RunningWorker, startWorkerd } from "../worker/dev/workerd.ts";

export interface Fixture {
  /** Artifacts as the export stage writes them (int8 + fp32 + engine pack + manifest), full-size, random weights. */
  artifactsDir: string;
  /** What the worker is given: the manifest, the int8 graph and the engine pack. */
  assetsDir: string;
  manifest: Manifest;
  remove(): Promise<void>;
}

export async function makeFixture(): Promise<Fixture> {
  const root = await mkdtemp(join(tmpdir(), "stitch-edge-worker-"));
  const artifactsDir = join(root, "artifacts");
  const assetsDir = join(root, "assets");
  await writeEngineFixtureArtifacts(artifactsDir);
  const manifest = await stageAssets(artifactsDir, assetsDir);
  return { artifactsDir, assetsDir, manifest, remove: () => rm(root, { recursive: true, force: true }) };
}

/** Serves files from a folder the way the ASSETS binding serves the assets directory. */
export function directoryAssets(dir: string): AssetFetcher {
  return {
    async fetch(request: Request) {
      const path = normalizePath(decodeURIComponent(new URL(request.url).pathname)).replace(/^\/+/, "");
      if (path.startsWith("..")) return new Response("not found", { status: 404 });
      try {
        return new Response(await readFile(join(dir, path)));
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  };
}

/** The first `count` Fashion-MNIST test images (784 bytes each) and labels, from the project's loader. */
export async function loadTestImages(count: number): Promise<{ images: Uint8Array[]; labels: number[] }> {
  const { test } = await loadFashionMnist({ log: () => {} });
  if (count > test.count) throw new Error(`asked for ${count} images, the test split has ${test.count}`);
  return {
    images: Array.from({ length: count }, (_, i) => test.images.subarray(i * 784, (i + 1) * 784)),
    labels: Array.from(test.labels.subarray(0, count)),
  };
}

/** A JSON body of pixels in the shape POST /v1/predict takes. */
export const pixelsBody = (pixels: ArrayLike<number>) => JSON.stringify({ pixels: Array.from(pixels) });

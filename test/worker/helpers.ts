// Shared by the worker tests: fixture artifacts, a directory standing in for
// the ASSETS binding under Node, real Fashion-MNIST test images, and a real
// workerd started through `wrangler dev` (one per test file). Only tests and
// benchmarks use the training loader; the worker itself imports nothing from train/.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, normalize as normalizePath } from "node:path";
import type { Manifest } from "../../export/manifest.ts";
import { loadFashionMnist } from "../../train/data.ts";
import type { AssetFetcher } from "../../worker/inference.ts";
import { stageAssets } from "../../worker/stage-assets.ts";
import { writeFixtureArtifacts } from "../fixtures/make-model.ts";

export const REPO_ROOT = new URL("../../", import.meta.url).pathname;

export interface Fixture {
  /** Artifacts as the export stage writes them (int8 + fp32 + manifest). */
  artifactsDir: string;
  /** What the worker is given: the manifest and the int8 graph. */
  assetsDir: string;
  manifest: Manifest;
  remove(): Promise<void>;
}

export async function makeFixture(): Promise<Fixture> {
  const root = await mkdtemp(join(tmpdir(), "stitch-edge-worker-"));
  const artifactsDir = join(root, "artifacts");
  const assetsDir = join(root, "assets");
  await writeFixtureArtifacts(artifactsDir);
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

/** A port nothing listens on (at the moment of asking). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject()));
    });
  });
}

export interface RunningWorker {
  url: string;
  /** The wrangler process; workerd runs as its descendant. */
  pid: number;
  /** Everything wrangler and the worker printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** Starts `wrangler dev` (workerd) with the repo's wrangler.toml and the given assets and vars. */
export async function startWorkerd(
  assetsDir: string,
  vars: Record<string, string> = {},
): Promise<RunningWorker> {
  const port = await freePort();
  const inspectorPort = await freePort();
  const args = [
    join(REPO_ROOT, "node_modules/wrangler/bin/wrangler.js"),
    "dev",
    "--config",
    join(REPO_ROOT, "wrangler.toml"),
    "--assets",
    assetsDir,
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspectorPort),
    "--log-level",
    "log",
    ...Object.entries(vars).flatMap(([key, value]) => ["--var", `${key}:${value}`]),
  ];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
  });
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const stop = async () => {
    if (child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    process.kill(-child.pid, "SIGTERM");
    const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  while (!output.includes("Ready on")) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, pid: child.pid ?? -1, output: () => output, stop };
}

/** A JSON body of pixels in the shape POST /v1/predict takes. */
export const pixelsBody = (pixels: ArrayLike<number>) => JSON.stringify({ pixels: Array.from(pixels) });

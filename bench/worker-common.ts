// Shared by the worker benchmarks: which graph to measure, staging it for
// workerd, percentiles, workerd's memory, and writing bench/results/*.json.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ENGINE_FILE } from "../contracts/artifacts.ts";
import type { Manifest } from "../contracts/manifest.ts";
import { writeEngineFixtureArtifacts } from "../testing/engine-fixture.ts";
import { stageAssets } from "../worker/dev/stage-assets.ts";
import { workerdRuntime } from "../worker/dev/workerd.ts";
import { machineContext } from "./machine.ts";

/** Where the benchmarks' own random-weight export goes when there is no real one (testing/engine-fixture.ts). */
export const BENCH_ARTIFACTS_DIR = ".cache/bench-artifacts";

/** The goals, next to which every figure is reported. */
export const GOALS = {
  singleP50Ms: 1.5,
  batch32P50Ms: 20,
  coldStartMs: 250,
  wasmHeapMiB: 32,
  gzipBundleMB: 3.7,
};

/**
 * The graph to measure: $STITCH_ARTIFACTS, else artifacts/ when the export
 * stage has written it, else a random-weight export of the same architecture made by the
 * export's own passes and quantization, with the engine pack the default build serves.
 */
export async function benchArtifacts(): Promise<string> {
  const chosen =
    process.env.STITCH_ARTIFACTS ?? (existsSync("artifacts/manifest.json") ? "artifacts" : undefined);
  if (chosen) return resolve(chosen);
  const dir = resolve(BENCH_ARTIFACTS_DIR);
  if (!existsSync(join(dir, ENGINE_FILE))) await writeEngineFixtureArtifacts(dir);
  return dir;
}

/** Stages the graph into a fresh assets folder for workerd; returns it with the manifest. */
export async function stageBenchAssets(): Promise<{
  assetsDir: string;
  artifactsDir: string;
  manifest: Manifest;
}> {
  const artifactsDir = await benchArtifacts();
  const assetsDir = await mkdtemp(join(tmpdir(), "stitch-edge-bench-"));
  return { assetsDir, artifactsDir, manifest: await stageAssets(artifactsDir, assetsDir) };
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  max: number;
}

export function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return {
    n: sorted.length,
    p50: round(at(0.5)),
    p95: round(at(0.95)),
    p99: round(at(0.99)),
    mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
    max: round(sorted[sorted.length - 1] ?? Number.NaN),
  };
}

/**
 * Resident memory (bytes) of the workerd process `pid` (startWorkerd's own child): now (VmRSS) or
 * its peak so far (VmHWM); NaN (null in the JSON) once the process is gone.
 */
export async function workerdRssBytes(pid: number, when: "now" | "peak" = "now"): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const field = when === "now" ? "VmRSS" : "VmHWM";
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN) * 1024;
}

/** What ran the worker: versions differ in how V8 compiles and tiers up wasm, so every result names them. */
function runtimeVersions() {
  const require = createRequire(import.meta.url);
  return {
    node: process.version,
    nodeV8: process.versions.v8,
    wrangler: (require("wrangler/package.json") as { version: string }).version,
    workerd: workerdRuntime().version,
    workerdServing: "plain workerd (worker/dev/workerd.ts): deploy bundle, no inspector, no proxy",
    v8Flags: "workerd defaults (none set), unless a run lists its own v8Flags",
  };
}

/** Writes bench/results/worker-<name>.json with the machine's context. */
export async function writeResult(name: string, figures: Record<string, unknown>): Promise<string> {
  const dir = resolve("bench/results");
  await mkdir(dir, { recursive: true });
  const path = join(dir, `worker-${name}.json`);
  const context = { ...machineContext(), ...runtimeVersions() };
  await writeFile(path, `${JSON.stringify({ context, ...figures }, null, 2)}\n`);
  return path;
}

const MiB = 1024 * 1024;
export const toMiB = (bytes: number) => Math.round((bytes / MiB) * 100) / 100;

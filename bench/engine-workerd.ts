// Both engines in plain workerd (worker/dev/workerd.ts, no inspector), in the same
// run on the same export: the default build (ENGINE = stitch) and the `ort`
// environment. Per build: fresh processes (start to ready, the first request's
// wall time, Server-Timing and workerd CPU time), the first 100 requests of an
// isolate, then steady state (single image and batch 32: end to end over
// loopback, inference from Server-Timing, workerd CPU time per request), the
// wasm heap. CPU time comes from /proc (utime + stime of the workerd processes).
// `npm run bench:engine-workerd` ($STITCH_ARTIFACTS: an export with an engine
// pack; else a random-weight one). MAX_BATCH is lifted to 32 for the measurement.
// Writes bench/results/engine-workerd.json.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { acceptNoFlagsOrExit } from "../cli/args.ts";
import { writeEngineFixtureArtifacts } from "../testing/engine-fixture.ts";
import { loadTestImages } from "../testing/worker.ts";
import { stageAssets } from "../worker/dev/stage-assets.ts";
import { startWorkerd } from "../worker/dev/workerd.ts";
import { machineContext } from "./machine.ts";

acceptNoFlagsOrExit(
  "npm run bench:engine-workerd",
  "both engines in plain workerd on the same export ($STITCH_ARTIFACTS, else random weights); writes bench/results/engine-workerd.json.",
  process.argv.slice(2),
);

const RESULTS = "bench/results/engine-workerd.json";
const COLD_RUNS = 3;
const FIRST = 100;
const STEADY_SINGLE = 300;
const STEADY_BATCH = 30;
const TICKS_PER_MS = 100 / 1000;

const artifacts = process.env.STITCH_ARTIFACTS
  ? resolve(process.env.STITCH_ARTIFACTS)
  : await (async () => {
      const dir = await mkdtemp(join(tmpdir(), "stitch-engine-artifacts-"));
      await writeEngineFixtureArtifacts(dir);
      return dir;
    })();
const assetsDir = await mkdtemp(join(tmpdir(), "stitch-engine-assets-"));
const manifest = await stageAssets(artifacts, assetsDir);
const { images } = await loadTestImages(100);
const single = images.map((pixels) => JSON.stringify({ pixels: [...pixels] }));
const batchOf = (size: number) =>
  JSON.stringify({ images: images.slice(0, size).map((pixels) => ({ pixels: [...pixels] })) });
const batch = batchOf(32);
/** Batch sizes whose workerd CPU time per request is measured, to find the largest within 10 ms. */
const CPU_SWEEP = [1, 2, 4, 6, 8, 12, 16, 24, 32];
const CPU_SWEEP_REQUESTS = 40;

/** CPU milliseconds (user + system) of every workerd process under `root`. */
async function workerdCpuMs(root: number): Promise<number> {
  const parent = new Map<number, number>();
  const stats = new Map<number, string[]>();
  for (const entry of await readdir("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    const match = /^\d+ \((.*)\) (.*)$/.exec(stat.trim());
    if (!match) continue;
    const fields = (match[2] ?? "").split(" ");
    parent.set(pid, Number(fields[1]));
    if (match[1] === "workerd") stats.set(pid, fields);
  }
  let ticks = 0;
  for (const [pid, fields] of stats) {
    let p = pid;
    for (let hops = 0; p > 1 && p !== root && hops < 50; hops++) p = parent.get(p) ?? 1;
    if (p === root) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS_PER_MS;
}

function timing(header: string | null): Record<string, number> {
  return Object.fromEntries(
    (header ?? "").split(",").flatMap((part) => {
      const match = /^\s*([\w-]+);dur=([\d.]+)/.exec(part);
      return match ? [[match[1] as string, Number(match[2])]] : [];
    }),
  );
}

async function post(url: string, body: string): Promise<Record<string, number>> {
  const start = performance.now();
  const response = await fetch(`${url}/v1/predict`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json" },
  });
  if (response.status !== 200)
    throw new Error(`predict answered ${response.status}: ${await response.text()}`);
  await response.arrayBuffer();
  return { wallMs: performance.now() - start, ...timing(response.headers.get("server-timing")) };
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return (
    Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number) * 1000) / 1000
  );
};
const describe = (values: number[]) => ({
  p50: quantile(values, 0.5),
  p90: quantile(values, 0.9),
  min: quantile(values, 0),
});

async function measure(environment: string | undefined) {
  const cold = [];
  for (let run = 0; run < COLD_RUNS; run++) {
    const spawned = performance.now();
    const worker = await startWorkerd(assetsDir, { MAX_BATCH: "32" }, { environment });
    const ready = performance.now();
    try {
      const cpuBefore = await workerdCpuMs(worker.pid);
      const first = await post(worker.url, single[0] as string);
      const cpuFirst = (await workerdCpuMs(worker.pid)) - cpuBefore;
      cold.push({
        startToReadyMs: Math.round(ready - spawned),
        firstRequest: first,
        firstRequestCpuMs: cpuFirst,
      });
    } finally {
      await worker.stop();
    }
  }
  const worker = await startWorkerd(assetsDir, { MAX_BATCH: "32" }, { environment });
  try {
    const first = [];
    for (let i = 0; i < FIRST; i++) first.push(await post(worker.url, single[i % 100] as string));
    const steady = [];
    const cpuSingleStart = await workerdCpuMs(worker.pid);
    for (let i = 0; i < STEADY_SINGLE; i++) steady.push(await post(worker.url, single[i % 100] as string));
    const cpuSingle = ((await workerdCpuMs(worker.pid)) - cpuSingleStart) / STEADY_SINGLE;
    const batches = [];
    for (let i = 0; i < 5; i++) await post(worker.url, batch);
    const cpuBatchStart = await workerdCpuMs(worker.pid);
    for (let i = 0; i < STEADY_BATCH; i++) batches.push(await post(worker.url, batch));
    const cpuBatch = ((await workerdCpuMs(worker.pid)) - cpuBatchStart) / STEADY_BATCH;
    const cpuByBatch: Record<number, number> = {};
    for (const size of CPU_SWEEP) {
      const body = batchOf(size);
      for (let i = 0; i < 3; i++) await post(worker.url, body);
      const start = await workerdCpuMs(worker.pid);
      for (let i = 0; i < CPU_SWEEP_REQUESTS; i++) await post(worker.url, body);
      cpuByBatch[size] =
        Math.round((((await workerdCpuMs(worker.pid)) - start) / CPU_SWEEP_REQUESTS) * 100) / 100;
    }
    const health = (await (await fetch(`${worker.url}/health`)).json()) as { wasmHeapBytes?: number };
    const model = (await (await fetch(`${worker.url}/v1/model`)).json()) as { engine?: string };
    return {
      engine: model.engine,
      cold,
      first100: {
        inferenceMs: first.map((r) => r.inference ?? Number.NaN),
        inference: describe(first.map((r) => r.inference ?? Number.NaN)),
        wall: describe(first.map((r) => r.wallMs ?? Number.NaN)),
      },
      steadySingle: {
        inference: describe(steady.map((r) => r.inference ?? Number.NaN)),
        wall: describe(steady.map((r) => r.wallMs ?? Number.NaN)),
        cpuMsPerRequest: Math.round(cpuSingle * 1000) / 1000,
      },
      steadyBatch32: {
        inference: describe(batches.map((r) => r.inference ?? Number.NaN)),
        wall: describe(batches.map((r) => r.wallMs ?? Number.NaN)),
        cpuMsPerRequest: Math.round(cpuBatch * 1000) / 1000,
      },
      cpuMsPerRequestByBatch: cpuByBatch,
      largestBatchWithin10msCpu: Math.max(
        0,
        ...CPU_SWEEP.filter((size) => (cpuByBatch[size] ?? Infinity) <= 10),
      ),
      wasmHeapMiB: health.wasmHeapBytes
        ? Math.round((health.wasmHeapBytes / 2 ** 20) * 100) / 100
        : undefined,
    };
  } finally {
    await worker.stop();
  }
}

const results = { stitch: await measure(undefined), ort: await measure("ort") };
const report = {
  context: {
    ...machineContext(),
    cpuTimeSource: "/proc utime+stime of the workerd processes (10 ms ticks), averaged over the requests",
  },
  modelId: manifest.modelId,
  artifacts:
    existsSync(join(artifacts, "manifest.json")) && process.env.STITCH_ARTIFACTS
      ? "STITCH_ARTIFACTS"
      : "random-weight engine fixture",
  results,
};
await mkdir("bench/results", { recursive: true });
await writeFile(RESULTS, `${JSON.stringify(report, null, 2)}\n`);
for (const [name, r] of Object.entries(results)) {
  const { first100, ...rest } = r;
  console.log(
    name,
    JSON.stringify({ ...rest, first100: { inference: first100.inference, wall: first100.wall } }),
  );
}
console.log(`wrote ${RESULTS}`);

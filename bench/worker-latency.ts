// The worker in plain workerd (the deploy bundle, no inspector, no proxy: as
// `npm run serve` runs it) over loopback against native onnxruntime-node on the
// same graph, in the same run: cold start, the first 100 requests of a fresh
// isolate (V8 still runs the wasm on its baseline compiler), steady state after
// tier-up, batch-32 latency, the cost of a 1-megapixel JPEG, and the wasm heap.
// Clients are sequential.
//
//   tsx bench/worker-latency.ts   ($STITCH_ARTIFACTS picks the graph; see worker-common.ts)
import { execFile } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import * as ort from "onnxruntime-node";
import sharp from "sharp";
import { loadTestImages } from "../testing/worker.ts";
import { startWorkerd } from "../worker/dev/workerd.ts";
import { GOALS, stageBenchAssets, summarize, toMiB, workerdRssBytes, writeResult } from "./worker-common.ts";

/** Batch-32 is measured on purpose, above the default build's free-plan MAX_BATCH. */
const BENCH_VARS = { MAX_BATCH: "32" };
const COLD_RUNS = 3;
/** Requests measured right after start, before V8 tiers the wasm up. */
const FIRST_REQUESTS = 100;
/** V8 tiered this worker's wasm up after roughly 100-600 runs here; steady state is measured after this many. */
const WARM_UP_REQUESTS = 1500;
const SINGLE_REQUESTS = 300;
const BATCH_REQUESTS = 40;
const BATCH = 32;
const JPEG_REQUESTS = 15;

const { assetsDir, artifactsDir, manifest } = await stageBenchAssets();
const { images } = await loadTestImages(100);
const pixelsOf = (i: number) => Array.from(images[i % images.length] ?? []);
const singleBodies = images.map((_, i) => JSON.stringify({ pixels: pixelsOf(i) }));
const batchBody = JSON.stringify({
  images: Array.from({ length: BATCH }, (_, i) => ({ pixels: pixelsOf(i) })),
});
// A 1000x1000 photo-like JPEG: a real test image enlarged, with sensor-like noise.
const jpeg = await sharp(
  await sharp(new Uint8Array(images[0] ?? []), { raw: { width: 28, height: 28, channels: 1 } })
    .resize(1000, 1000, { kernel: "cubic" })
    .toColourspace("srgb")
    .raw()
    .toBuffer(),
  { raw: { width: 1000, height: 1000, channels: 3 } },
)
  .composite([
    {
      input: {
        create: {
          width: 1000,
          height: 1000,
          channels: 3,
          background: "#000",
          noise: { type: "gaussian", mean: 0, sigma: 8 },
        },
      },
      blend: "add",
    },
  ])
  .jpeg({ quality: 90 })
  .toBuffer();

const timed = async (run: () => Promise<unknown>) => {
  const start = performance.now();
  await run();
  return performance.now() - start;
};

function serverTiming(header: string | null): Record<string, number> {
  return Object.fromEntries(
    (header ?? "").split(",").map((part) => {
      const [name, duration] = part.trim().split(";dur=");
      return [name ?? "", Number(duration)];
    }),
  );
}

async function post(url: string, body: BodyInit, type: string): Promise<Response> {
  const response = await fetch(`${url}/v1/predict`, {
    method: "POST",
    body,
    headers: { "content-type": type },
  });
  if (response.status !== 200)
    throw new Error(`predict answered ${response.status}: ${await response.text()}`);
  await response.arrayBuffer();
  return response;
}

// --- workerd -----------------------------------------------------------------
const cold = [];
for (let run = 0; run < COLD_RUNS; run++) {
  const spawned = performance.now();
  const worker = await startWorkerd(assetsDir, BENCH_VARS);
  const ready = performance.now();
  try {
    const response = await post(worker.url, singleBodies[0] ?? "", "application/json");
    const answered = performance.now();
    cold.push({
      spawnToReadyMs: ready - spawned,
      firstRequestMs: answered - ready,
      processStartToFirstAnswerMs: answered - spawned,
      serverTiming: serverTiming(response.headers.get("server-timing")),
    });
  } finally {
    await worker.stop();
  }
}

const worker = await startWorkerd(assetsDir, BENCH_VARS);
let workerd: Record<string, unknown>;
try {
  const firstSingle = [];
  const firstSingleInference = [];
  for (let i = 0; i < FIRST_REQUESTS; i++) {
    let response: Response | undefined;
    firstSingle.push(
      await timed(
        async () => (response = await post(worker.url, singleBodies[i % 100] ?? "", "application/json")),
      ),
    );
    firstSingleInference.push(
      serverTiming(response?.headers.get("server-timing") ?? null).inference ?? Number.NaN,
    );
  }
  for (let i = FIRST_REQUESTS; i < WARM_UP_REQUESTS; i++)
    await post(worker.url, singleBodies[i % 100] ?? "", "application/json");
  const single = [];
  const singleInference = [];
  for (let i = 0; i < SINGLE_REQUESTS; i++) {
    let response: Response | undefined;
    single.push(
      await timed(
        async () => (response = await post(worker.url, singleBodies[i % 100] ?? "", "application/json")),
      ),
    );
    singleInference.push(
      serverTiming(response?.headers.get("server-timing") ?? null).inference ?? Number.NaN,
    );
  }
  const batch = [];
  const batchInference = [];
  for (let i = 0; i < BATCH_REQUESTS; i++) {
    let response: Response | undefined;
    batch.push(await timed(async () => (response = await post(worker.url, batchBody, "application/json"))));
    batchInference.push(serverTiming(response?.headers.get("server-timing") ?? null).inference ?? Number.NaN);
  }
  const jpegTotal = [];
  const jpegDecode = [];
  const jpegPreprocess = [];
  for (let i = 0; i < JPEG_REQUESTS; i++) {
    let response: Response | undefined;
    jpegTotal.push(
      await timed(async () => (response = await post(worker.url, new Uint8Array(jpeg), "image/jpeg"))),
    );
    const timing = serverTiming(response?.headers.get("server-timing") ?? null);
    jpegDecode.push(timing.decode ?? Number.NaN);
    jpegPreprocess.push(timing.preprocess ?? Number.NaN);
  }
  const health = (await (await fetch(`${worker.url}/health`)).json()) as { wasmHeapBytes?: number };
  workerd = {
    coldStart: cold,
    firstRequests: {
      note: `the first ${FIRST_REQUESTS} single-image requests after start, before V8 tiers the wasm up`,
      singleMs: summarize(firstSingle),
      singleServerInferenceMs: summarize(firstSingleInference),
    },
    steadyStateAfterRequests: WARM_UP_REQUESTS,
    singleMs: summarize(single),
    singleServerInferenceMs: summarize(singleInference),
    batch32Ms: summarize(batch),
    batch32ServerInferenceMs: summarize(batchInference),
    jpeg1MP: {
      bytes: jpeg.byteLength,
      totalMs: summarize(jpegTotal),
      decodeMs: summarize(jpegDecode),
      preprocessMs: summarize(jpegPreprocess),
    },
    wasmHeapMiB: toMiB(health.wasmHeapBytes ?? Number.NaN),
    workerdRssMiB: toMiB(await workerdRssBytes(worker.pid)),
  };
} finally {
  await worker.stop();
  await rm(assetsDir, { recursive: true, force: true });
}

// --- native onnxruntime-node, one thread, same graph --------------------------
const modelPath = join(artifactsDir, manifest.models.int8.file);
const nativeCold = [];
const coldScript = `
  const start = Number(process.argv[1]);
  const ort = await import("onnxruntime-node");
  const { readFile } = await import("node:fs/promises");
  const session = await ort.InferenceSession.create(await readFile(process.argv[2]), { intraOpNumThreads: 1 });
  const dims = JSON.parse(process.argv[3]);
  await session.run({ [process.argv[4]]: new ort.Tensor("float32", new Float32Array(784), dims) });
  console.log(Date.now() - start);`;
for (let run = 0; run < COLD_RUNS; run++) {
  const dims = JSON.stringify(manifest.input.shape.map((d, i) => (i === 0 ? 1 : d)));
  const { stdout } = await promisify(execFile)(process.execPath, [
    "--input-type=module",
    "-e",
    coldScript,
    String(Date.now()),
    modelPath,
    dims,
    manifest.input.name,
  ]);
  nativeCold.push({ processStartToFirstAnswerMs: Number(stdout.trim()) });
}
const session = await ort.InferenceSession.create(await readFile(modelPath), { intraOpNumThreads: 1 });
const { mean, std, kind } = manifest.normalization;
const normalized = (count: number) => {
  const data = new Float32Array(count * 784);
  for (let n = 0; n < count; n++) {
    pixelsOf(n).forEach((v, i) => {
      const k = kind === "per_pixel" ? i : 0;
      data[n * 784 + i] = (v - (mean[k] ?? 0)) / (std[k] ?? 1);
    });
  }
  return new ort.Tensor(
    "float32",
    data,
    manifest.input.shape.map((d, i) => (i === 0 ? count : d)),
  );
};
const one = normalized(1);
const many = normalized(BATCH);
for (let i = 0; i < 30; i++) await session.run({ [manifest.input.name]: one });
const nativeSingle = [];
for (let i = 0; i < SINGLE_REQUESTS; i++)
  nativeSingle.push(await timed(() => session.run({ [manifest.input.name]: one })));
const nativeBatch = [];
for (let i = 0; i < BATCH_REQUESTS; i++)
  nativeBatch.push(await timed(() => session.run({ [manifest.input.name]: many })));
const sharpJpeg = [];
for (let i = 0; i < JPEG_REQUESTS; i++) {
  sharpJpeg.push(
    await timed(() => sharp(jpeg).greyscale().resize(28, 28, { fit: "contain" }).raw().toBuffer()),
  );
}

const singleP50 = (workerd.singleMs as { p50: number }).p50;
const batchP50 = (workerd.batch32Ms as { p50: number }).p50;
const coldMedian = summarize(cold.map((c) => c.firstRequestMs)).p50;
const result = {
  modelId: manifest.modelId,
  // Where the graph came from, without this machine's paths: the model id names it exactly.
  graph: process.env.STITCH_ARTIFACTS ? "$STITCH_ARTIFACTS" : relative(process.cwd(), artifactsDir),
  note: "latencies are client-side over loopback (HTTP + JSON + preprocessing + inference); Server-Timing in workerd has 1 ms resolution",
  workerd,
  native: {
    runtime: "onnxruntime-node 1.30.0, intraOpNumThreads 1, in-process (no HTTP)",
    coldStart: nativeCold,
    singleMs: summarize(nativeSingle),
    batch32Ms: summarize(nativeBatch),
    sharpJpeg1MPTo28Ms: summarize(sharpJpeg),
  },
  goals: {
    singleP50Ms: { goal: GOALS.singleP50Ms, reached: singleP50, met: singleP50 <= GOALS.singleP50Ms },
    batch32P50Ms: { goal: GOALS.batch32P50Ms, reached: batchP50, met: batchP50 <= GOALS.batch32P50Ms },
    coldStartFirstRequestMs: {
      goal: GOALS.coldStartMs,
      reached: coldMedian,
      met: coldMedian <= GOALS.coldStartMs,
    },
    wasmHeapMiB: {
      goal: GOALS.wasmHeapMiB,
      reached: workerd.wasmHeapMiB,
      met: (workerd.wasmHeapMiB as number) <= GOALS.wasmHeapMiB,
    },
  },
};
console.log(JSON.stringify(result, null, 2));
console.log(`wrote ${await writeResult("latency", result)}`);

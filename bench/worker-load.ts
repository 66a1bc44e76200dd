// A bounded load run against the worker in workerd over loopback: a few
// thousand requests (JSON pixels and 28x28 PNGs, one in eight a batch of 8, or
// --route health: GET /health only) from 8 concurrent clients, stopped early at
// a time limit; errors counted, latency summarized, and workerd's resident
// memory and the wasm heap sampled against the request count (the curve shows
// whether memory levels off). With --v8_flags the same run is made twice, on
// workerd's default V8 heap (the reference) and with the flags (e.g. a capped
// old space): memory that stays under a cap without errors is V8 heap sizing,
// not a leak; a leak grows through the cap and kills the isolate.
//
//   tsx bench/worker-load.ts [--requests N] [--seconds S] [--result NAME] [--route predict|health]
//                            [--v8_flags="--max-old-space-size=16 ..."] [--samples N]
//   the soak: --requests 30000 --seconds 1800 --result soak   (bench/results/worker-soak.json)
import { rm } from "node:fs/promises";
import sharp from "sharp";
import { z } from "zod";
import { flagValue, parseCommandOrExit } from "../cli/args.ts";
import { loadTestImages } from "../testing/worker.ts";
import { startWorkerd } from "../worker/dev/workerd.ts";
import { stageBenchAssets, summarize, toMiB, workerdRssBytes, writeResult } from "./worker-common.ts";

const {
  requests: REQUESTS,
  seconds: TIME_LIMIT_S,
  result: RESULT_NAME,
  route: ROUTE,
  v8_flags: V8_FLAGS,
  samples: SAMPLES,
} = parseCommandOrExit(
  {
    name: "tsx bench/worker-load.ts",
    summary:
      "A bounded load run against the worker in plain workerd; writes bench/results/worker-<result>.json.",
    flags: {
      requests: { value: "N", help: "requests to send" },
      seconds: { value: "S", help: "stop early after this long, per run" },
      result: { value: "NAME", help: "writes bench/results/worker-NAME.json" },
      route: { value: "predict|health", help: "POST /v1/predict with the mix, or GET /health only" },
      v8_flags: {
        value: "FLAGS",
        help: 'also run with these V8 flags (--v8_flags="--a=1 --b=2"), after a reference run on workerd\'s defaults',
      },
      samples: { value: "N", help: "memory samples along each run" },
    },
    schema: z.object({
      requests: flagValue.integer(1).default(3000),
      seconds: flagValue.integer(1).default(240),
      result: z
        .string()
        .regex(/^[a-z0-9-]+$/, "expected lower-case letters, digits and dashes")
        .default("load"),
      route: z.enum(["predict", "health"]).default("predict"),
      v8_flags: z
        .string()
        .transform((flags) => flags.split(/\s+/).filter(Boolean))
        .pipe(
          z.array(z.string().regex(/^--[a-z0-9-]+(=\S+)?$/, "expected V8 flags like --name=value")).min(1),
        )
        .optional(),
      samples: flagValue.integer(2).default(60),
    }),
  },
  process.argv.slice(2),
);
const CONCURRENCY = 8;
const TIME_LIMIT_MS = TIME_LIMIT_S * 1000;
const SAMPLE_EVERY = Math.max(1, Math.floor(REQUESTS / SAMPLES));

const { assetsDir, manifest } = await stageBenchAssets();
const { images } = await loadTestImages(100);
const bodies: { body: BodyInit; type: string }[] = [];
for (const [i, image] of images.entries()) {
  if (i % 8 === 7) {
    const batch = images.slice(i - 7, i + 1).map((p) => ({ pixels: Array.from(p) }));
    bodies.push({ body: JSON.stringify({ images: batch }), type: "application/json" });
  } else if (i % 2 === 0) {
    bodies.push({ body: JSON.stringify({ pixels: Array.from(image) }), type: "application/json" });
  } else {
    const png = await sharp(image, { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toBuffer();
    bodies.push({ body: new Uint8Array(png), type: "image/png" });
  }
}

interface MemorySample {
  /** Requests sent when the sample was taken. */
  requests: number;
  workerdRssMiB: number;
  wasmHeapMiB: number;
  /** V8's JS heap after its latest collection, used and committed (from --trace-gc), in MB as V8 prints them. */
  v8HeapAfterGcMB?: number;
  v8HeapCommittedMB?: number;
}

/**
 * V8 prints one line per collection under --trace-gc, e.g.
 * "Scavenge 4.5 (8.2) -> 2.9 (8.2) MB": used (committed) before -> after.
 */
const TRACE_GC_LINE =
  /(?:Scavenge|Mark-Compact|Mark-Sweep|Minor Mark-Sweep)[^\n]*? -> ([\d.]+) \(([\d.]+)\) MB/g;

/**
 * One soak on a fresh workerd started with `v8Flags` and --trace-gc, which only prints, so that
 * every sample also says how much of workerd's memory is V8's JS heap.
 */
async function soak(v8Flags: string[]) {
  // One in eight requests is a batch of 8, over the default build's free-plan MAX_BATCH.
  const worker = await startWorkerd(assetsDir, { MAX_BATCH: "32" }, { v8Flags: ["--trace-gc", ...v8Flags] });
  let gcReadUpTo = 0;
  let lastGc: { v8HeapAfterGcMB?: number; v8HeapCommittedMB?: number } = {};
  let v8HeapCommittedPeakMB = 0;
  try {
    const sample = async (requests: number): Promise<MemorySample> => {
      const health = await fetch(`${worker.url}/health`).catch(() => undefined);
      const wasmHeapBytes = (
        (await health?.json().catch(() => ({}))) as { wasmHeapBytes?: number } | undefined
      )?.wasmHeapBytes;
      const output = worker.output();
      for (const [, used, committed] of output.slice(gcReadUpTo).matchAll(TRACE_GC_LINE)) {
        lastGc = { v8HeapAfterGcMB: Number(used), v8HeapCommittedMB: Number(committed) };
        v8HeapCommittedPeakMB = Math.max(v8HeapCommittedPeakMB, Number(committed));
      }
      gcReadUpTo = output.lastIndexOf("\n") + 1;
      return {
        requests,
        workerdRssMiB: toMiB(await workerdRssBytes(worker.pid)),
        wasmHeapMiB: toMiB(wasmHeapBytes ?? Number.NaN),
        ...lastGc,
      };
    };
    const predict = (index: number) => {
      const { body, type } = bodies[index % bodies.length] ?? { body: "", type: "" };
      return fetch(`${worker.url}/v1/predict`, { method: "POST", body, headers: { "content-type": type } });
    };
    const send = ROUTE === "health" ? () => fetch(`${worker.url}/health`) : predict;
    // Load the model first (/health answers 503 until then) so the first sample is the steady state.
    await (await predict(0)).arrayBuffer();
    const curve = [await sample(0)];
    const latencies: number[] = [];
    const errors = new Map<string, number>();
    let next = 0;
    const began = performance.now();
    const client = async () => {
      while (next < REQUESTS && performance.now() - began < TIME_LIMIT_MS) {
        const index = next++;
        const sent = performance.now();
        try {
          const response = await send(index);
          await response.arrayBuffer();
          if (response.status !== 200)
            errors.set(String(response.status), (errors.get(String(response.status)) ?? 0) + 1);
        } catch (error) {
          const key = error instanceof Error ? error.message : String(error);
          errors.set(key, (errors.get(key) ?? 0) + 1);
        }
        latencies.push(performance.now() - sent);
        if ((index + 1) % SAMPLE_EVERY === 0) curve.push(await sample(index + 1));
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, client));
    const elapsedMs = performance.now() - began;
    curve.sort((a, b) => a.requests - b.requests);
    const end = await sample(latencies.length);
    const health = await fetch(`${worker.url}/health`).catch(() => undefined);
    await health?.body?.cancel();
    const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
    const rssAt = (fraction: number) =>
      curve[Math.floor(fraction * (curve.length - 1))]?.workerdRssMiB ?? Number.NaN;
    const run = {
      v8Flags: ["--trace-gc", ...v8Flags],
      completed: latencies.length,
      stoppedByTimeLimit: latencies.length < REQUESTS,
      elapsedS: Math.round(elapsedMs) / 1000,
      requestsPerS: Math.round((latencies.length / elapsedMs) * 1000 * 10) / 10,
      errorCount,
      errors: Object.fromEntries(errors),
      latencyMs: summarize(latencies),
      memory: {
        start: curve[0],
        end,
        peakRssMiB: Math.max(...curve.map((point) => point.workerdRssMiB), end.workerdRssMiB),
        v8HeapCommittedPeakMB,
        // Flat memory: growth over each half of the run; a leak grows as much in the second as in the first.
        rssGrowthFirstHalfMiB: Math.round((rssAt(0.5) - rssAt(0)) * 100) / 100,
        rssGrowthSecondHalfMiB: Math.round((rssAt(1) - rssAt(0.5)) * 100) / 100,
        curve,
      },
      workerdAliveAtEnd: end.workerdRssMiB > 0,
      healthAfter: health?.status ?? "no answer",
      workerdOutputTail: errorCount
        ? worker
            .output()
            .replaceAll(/^.*ms: (Scavenge|Mark|Minor).*\n/gm, "")
            .slice(-1500)
        : undefined,
    };
    const { curve: _, ...memory } = run.memory;
    console.log(JSON.stringify({ ...run, memory }, null, 2));
    return run;
  } finally {
    await worker.stop();
  }
}

try {
  const runs = [];
  for (const flags of V8_FLAGS ? [[], V8_FLAGS] : [[]]) runs.push(await soak(flags));
  const result = {
    modelId: manifest.modelId,
    route: ROUTE,
    requested: REQUESTS,
    concurrency: CONCURRENCY,
    mix:
      ROUTE === "health"
        ? "GET /health only"
        : "per 8 requests: 4 JSON single, 3 PNG single, 1 JSON batch of 8",
    sampleEveryRequests: SAMPLE_EVERY,
    note: [
      "workerdRssMiB: workerd's resident memory (/proc VmRSS); wasmHeapMiB: the engine's linear memory (/health);",
      "v8Heap*: V8's JS heap after its latest collection (--trace-gc, on every run). Growth per half of the run:",
      "flat memory grows in the first half (warm-up, allocator pools) and not in the second.",
    ].join(" "),
    runs,
  };
  console.log(`wrote ${await writeResult(RESULT_NAME, result)}`);
} finally {
  await rm(assetsDir, { recursive: true, force: true });
}

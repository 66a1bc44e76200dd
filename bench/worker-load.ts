// A bounded load run against the worker in workerd over loopback: a few
// thousand requests (JSON pixels and 28x28 PNGs, one in eight a batch of 8)
// from 8 concurrent clients, stopped early at a time limit; errors counted,
// latency summarized, workerd's memory and the wasm heap at start and end.
//
//   tsx bench/worker-load.ts [--requests N] [--seconds S] [--result NAME]   (defaults 3000, 240, load)
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
} = parseCommandOrExit(
  {
    name: "tsx bench/worker-load.ts",
    summary:
      "A bounded load run against the worker in plain workerd; writes bench/results/worker-<result>.json.",
    flags: {
      requests: { value: "N", help: "requests to send (3000)" },
      seconds: { value: "S", help: "stop early after this long (240)" },
      result: { value: "NAME", help: "writes bench/results/worker-NAME.json (load)" },
    },
    schema: z.object({
      requests: flagValue.integer(1).default(3000),
      seconds: flagValue.integer(1).default(240),
      result: z.enum(["load", "soak"]).default("load"),
    }),
  },
  process.argv.slice(2),
);
const CONCURRENCY = 8;
const TIME_LIMIT_MS = TIME_LIMIT_S * 1000;

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

// One in eight requests is a batch of 8, over the default build's free-plan MAX_BATCH.
const worker = await startWorkerd(assetsDir, { MAX_BATCH: "32" });
try {
  const heap = async () =>
    toMiB(
      ((await (await fetch(`${worker.url}/health`)).json()) as { wasmHeapBytes?: number }).wasmHeapBytes ??
        NaN,
    );
  // Load the model first so "start" is the steady state, not the empty isolate.
  await fetch(`${worker.url}/v1/predict`, {
    method: "POST",
    body: bodies[0]?.body ?? "",
    headers: { "content-type": "application/json" },
  });
  const start = { workerdRssMiB: toMiB(await workerdRssBytes(worker.pid)), wasmHeapMiB: await heap() };
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  const rssSamples: number[] = [];
  let next = 0;
  const began = performance.now();
  const client = async () => {
    while (next < REQUESTS && performance.now() - began < TIME_LIMIT_MS) {
      const index = next++;
      const { body, type } = bodies[index % bodies.length] ?? { body: "", type: "" };
      const sent = performance.now();
      try {
        const response = await fetch(`${worker.url}/v1/predict`, {
          method: "POST",
          body,
          headers: { "content-type": type },
        });
        await response.arrayBuffer();
        if (response.status !== 200)
          errors.set(String(response.status), (errors.get(String(response.status)) ?? 0) + 1);
      } catch (error) {
        const key = error instanceof Error ? error.message : String(error);
        errors.set(key, (errors.get(key) ?? 0) + 1);
      }
      latencies.push(performance.now() - sent);
      if (index % 500 === 0) rssSamples.push(toMiB(await workerdRssBytes(worker.pid)));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  const elapsedMs = performance.now() - began;
  const end = { workerdRssMiB: toMiB(await workerdRssBytes(worker.pid)), wasmHeapMiB: await heap() };
  const health = await fetch(`${worker.url}/health`);
  const result = {
    modelId: manifest.modelId,
    requested: REQUESTS,
    completed: latencies.length,
    stoppedByTimeLimit: latencies.length < REQUESTS,
    concurrency: CONCURRENCY,
    mix: "per 8 requests: 4 JSON single, 3 PNG single, 1 JSON batch of 8",
    elapsedS: Math.round(elapsedMs) / 1000,
    requestsPerS: Math.round((latencies.length / elapsedMs) * 1000 * 10) / 10,
    errorCount: [...errors.values()].reduce((a, b) => a + b, 0),
    errors: Object.fromEntries(errors),
    latencyMs: summarize(latencies),
    memory: { start, end, workerdRssSamplesMiB: rssSamples },
    healthAfter: health.status,
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`wrote ${await writeResult(RESULT_NAME, result)}`);
} finally {
  await worker.stop();
  await rm(assetsDir, { recursive: true, force: true });
}

// Fashion and category accuracy of one export on the catalog-style photo set
// (bench/catalog-photos.ts) through the worker's own code path (createApp:
// decoders, budgets, Fashion-MNIST-style preprocessing, int8 graph on
// onnxruntime-web), next to the same test images' original 28x28 pixels (JSON,
// used as given) and those pixels sent as 28x28 PNGs (the image path on images
// that need no preprocessing). Writes bench/results/catalog-accuracy.json.
//
//   tsx bench/catalog-accuracy.ts [--artifacts DIR] [--photos .cache/catalog-photos]
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import sharp from "sharp";
import { z } from "zod";
import { flagValue, parseCommandOrExit } from "../cli/args.ts";
import { BUILTIN_TASKS } from "../contracts/tasks.ts";
import { loadFashionMnist } from "../data/fashion-mnist.ts";
import { directoryAssets } from "../testing/worker.ts";
import { nodeCodecModules } from "../worker/dev/codecs.ts";
import { stageAssets } from "../worker/dev/stage-assets.ts";
import { ortEngine } from "../worker/engine-ort.ts";
import { ImageDecoder, MAX_REQUEST_PIXELS } from "../worker/image-decode.ts";
import { createApp, MAX_BATCH, MAX_BODY_BYTES } from "../worker/index.ts";
import { type ImagePrediction, ModelHolder } from "../worker/inference.ts";
import { CATALOG_DEFAULT_DIR, CATALOG_INDEX, type CatalogPhoto } from "./catalog-photos.ts";
import { machineContext } from "./machine.ts";

const values = parseCommandOrExit(
  {
    name: "npm run catalog:accuracy --",
    summary:
      "fashion and category accuracy of an export on the catalog-style photos through the worker's code path; writes bench/results/catalog-accuracy.json.",
    flags: {
      artifacts: { value: "DIR", help: "the export; $STITCH_ARTIFACTS replaces the default" },
      photos: { value: "DIR", help: "the photo set of npm run catalog:build" },
    },
    schema: z.object({
      artifacts: flagValue.path().default(process.env.STITCH_ARTIFACTS ?? "artifacts"),
      photos: flagValue.path().default(CATALOG_DEFAULT_DIR),
    }),
  },
  process.argv.slice(2),
);
for (const [what, path] of [
  ["export (--artifacts)", join(values.artifacts, "manifest.json")],
  ["photo set (--photos; build it with tsx bench/catalog-photos.ts)", join(values.photos, CATALOG_INDEX)],
] as const) {
  if (!existsSync(path)) {
    console.error(`no ${what}: ${path} is missing`);
    process.exit(2);
  }
}

const { photos } = JSON.parse(await readFile(join(values.photos, CATALOG_INDEX), "utf8")) as {
  photos: CatalogPhoto[];
};
const { test } = await loadFashionMnist({ log: () => {} });
const assetsDir = await mkdtemp(join(tmpdir(), "stitch-edge-catalog-"));
const manifest = await stageAssets(resolve(values.artifacts), assetsDir);
const app = createApp(new ModelHolder(ortEngine()), undefined, new ImageDecoder(nodeCodecModules));
const env = { ASSETS: directoryAssets(assetsDir) };

/** The worker's 422 when a request's images took over its decode-time budget, as on a busy machine. */
class OverDecodeBudget extends Error {}

async function predict(body: BodyInit, contentType?: string): Promise<ImagePrediction[]> {
  const headers: Record<string, string> = contentType ? { "content-type": contentType } : {};
  const response = await app.request("/v1/predict", { method: "POST", body, headers }, env);
  const text = await response.text();
  if (response.status === 422 && text.includes('"decode_time_exceeded"')) throw new OverDecodeBudget(text);
  if (response.status !== 200) throw new Error(`predict answered ${response.status}: ${text}`);
  return (JSON.parse(text) as { predictions: ImagePrediction[] }).predictions;
}

/**
 * Requests of at most MAX_BATCH images within the body budget and a quarter of
 * the pixel budget, in order: on a busy shared machine a full pixel budget of
 * photos can pass the decode-time budget, which would answer 422.
 */
function batches<T>(items: T[], pixels: (item: T) => number, bytes: (item: T) => number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let [pixelSum, byteSum] = [0, 0];
  for (const item of items) {
    const full =
      current.length === MAX_BATCH ||
      pixelSum + pixels(item) > MAX_REQUEST_PIXELS / 4 ||
      byteSum + bytes(item) > MAX_BODY_BYTES - 64 * 1024;
    if (full && current.length > 0) {
      out.push(current);
      current = [];
      [pixelSum, byteSum] = [0, 0];
    }
    current.push(item);
    pixelSum += pixels(item);
    byteSum += bytes(item);
  }
  if (current.length > 0) out.push(current);
  return out;
}

const pixelsOf = (testIndex: number) => test.images.subarray(testIndex * 784, (testIndex + 1) * 784);

interface Scored {
  photo: CatalogPhoto;
  prediction: ImagePrediction;
}

async function run(
  condition: string,
  send: (group: CatalogPhoto[]) => Promise<ImagePrediction[]>,
  groups: CatalogPhoto[][],
) {
  const scored: Scored[] = [];
  const start = performance.now();
  const pending = [...groups];
  let resent = 0;
  for (let group = pending.shift(); group; group = pending.shift()) {
    let predictions: ImagePrediction[];
    try {
      predictions = await send(group);
    } catch (error) {
      // The worker's advice: fewer images per request. One image alone is never over the budget.
      if (!(error instanceof OverDecodeBudget) || group.length < 2) throw error;
      const half = Math.ceil(group.length / 2);
      pending.unshift(group.slice(0, half), group.slice(half));
      resent++;
      continue;
    }
    group.forEach((photo, i) => {
      const prediction = predictions[i];
      if (prediction) scored.push({ photo, prediction });
    });
  }
  console.log(
    `${condition}: ${scored.length} images in ${((performance.now() - start) / 1000).toFixed(1)} s` +
      (resent ? `, ${resent} requests over the decode-time budget resent in halves` : ""),
  );
  return scored;
}

function accuracy(scored: Scored[]): Record<string, number> {
  const result: Record<string, number> = {};
  for (const task of manifest.tasks) {
    const labelMap = BUILTIN_TASKS[task.name]?.labelMap;
    if (!labelMap) throw new Error(`task ${task.name} has no label map in contracts/tasks.ts`);
    const right = scored.filter(
      ({ photo, prediction }) => prediction[task.name]?.index === labelMap[photo.label],
    );
    result[task.name] = Math.round((right.length / Math.max(1, scored.length)) * 10000) / 10000;
  }
  return result;
}

const files = new Map<string, Uint8Array>();
for (const photo of photos)
  files.set(photo.file, new Uint8Array(await readFile(join(values.photos, photo.file))));

const plain = await run(
  "plain 28x28 pixels (JSON)",
  (group) =>
    predict(
      JSON.stringify({ images: group.map((p) => ({ pixels: Array.from(pixelsOf(p.testIndex)) })) }),
      "application/json",
    ),
  batches(
    photos,
    () => 0,
    () => 4000,
  ),
);
const plainPng = await run(
  "plain 28x28 pixels as PNG (image path)",
  async (group) => {
    const form = new FormData();
    for (const photo of group) {
      const png = await sharp(pixelsOf(photo.testIndex), { raw: { width: 28, height: 28, channels: 1 } })
        .png()
        .toBuffer();
      form.append("image", new Blob([new Uint8Array(png)], { type: "image/png" }), `${photo.testIndex}.png`);
    }
    return predict(form);
  },
  batches(
    photos,
    () => 784,
    () => 1000,
  ),
);
const catalog = await run(
  "catalog photos (image path)",
  (group) => {
    const form = new FormData();
    for (const photo of group) {
      const bytes = files.get(photo.file) ?? new Uint8Array();
      form.append("image", new Blob([bytes.slice()], { type: `image/${photo.format}` }), photo.file);
    }
    return predict(form);
  },
  batches(
    photos,
    (p) => p.width * p.height,
    (p) => files.get(p.file)?.byteLength ?? 0,
  ),
);

const by = (key: (p: CatalogPhoto) => string) => {
  const groups = new Map<string, Scored[]>();
  for (const item of catalog) groups.set(key(item.photo), [...(groups.get(key(item.photo)) ?? []), item]);
  return Object.fromEntries(
    [...groups].map(([name, items]) => [name, { n: items.length, accuracy: accuracy(items) }]),
  );
};

const plainAccuracy = accuracy(plain);
const catalogAccuracy = accuracy(catalog);
const result = {
  context: machineContext(),
  modelId: manifest.modelId,
  source: manifest.source,
  images: photos.length,
  note: "the same test images three ways, all through createApp under Node (the worker's code path)",
  accuracy: {
    plainPixels: plainAccuracy,
    plainAsPng: accuracy(plainPng),
    catalogPhotos: catalogAccuracy,
  },
  catalogMinusPlainPoints: Object.fromEntries(
    Object.entries(catalogAccuracy).map(([task, value]) => [
      task,
      Math.round((value - (plainAccuracy[task] ?? 0)) * 1000) / 10,
    ]),
  ),
  catalogBy: { background: by((p) => p.background), format: by((p) => p.format) },
};
await mkdir("bench/results", { recursive: true });
await writeFile("bench/results/catalog-accuracy.json", `${JSON.stringify(result, null, 2)}\n`);
await rm(assetsDir, { recursive: true, force: true });
console.log(JSON.stringify(result.accuracy), JSON.stringify(result.catalogMinusPlainPoints));
console.log("wrote bench/results/catalog-accuracy.json");

// Both engines behind the same Hono app under Node, on a full-size export with
// an engine pack: the same answers for the same images, /v1/model naming the
// engine, and the ENGINE variable refusing a build that bundles the other one.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { loadKernels } from "../../export/engine-run.ts";
import { writeEngineFixtureArtifacts } from "../../testing/engine-fixture.ts";
import { directoryAssets, loadTestImages } from "../../testing/worker.ts";
import { nodeCodecModules } from "../../worker/dev/codecs.ts";
import { stageAssets } from "../../worker/dev/stage-assets.ts";
import { ortEngine } from "../../worker/engine-ort.ts";
import { stitchEngine } from "../../worker/engine-stitch.ts";
import { ImageDecoder } from "../../worker/image-decode.ts";
import { type Bindings, createApp } from "../../worker/index.ts";
import { ModelHolder } from "../../worker/inference.ts";

let root: string;
let assets: Bindings["ASSETS"];
/** The variables each build's wrangler.toml section sets. */
const envOf = (engine: string, files = assets): Bindings => ({
  ASSETS: files,
  ENGINE: engine,
  CORS_ORIGINS: "",
  MAX_BATCH: "32",
});
let body: string;
const decoder = new ImageDecoder(nodeCodecModules);
const stitch = createApp(
  new ModelHolder(
    stitchEngine({ relaxed: await loadKernels("relaxed"), simd128: await loadKernels("simd128") }),
  ),
  undefined,
  decoder,
);
const ort = createApp(new ModelHolder(ortEngine()), undefined, decoder);

before(async () => {
  root = await mkdtemp(join(tmpdir(), "stitch-edge-engine-"));
  await writeEngineFixtureArtifacts(join(root, "artifacts"));
  await stageAssets(join(root, "artifacts"), join(root, "assets"));
  assets = directoryAssets(join(root, "assets"));
  const { images } = await loadTestImages(8);
  body = JSON.stringify({ images: images.map((pixels) => ({ pixels: [...pixels] })) });
});
after(() => rm(root, { recursive: true, force: true }));

const predict = (app: typeof stitch, bindings: Bindings) =>
  app.request(
    "/v1/predict",
    { method: "POST", body, headers: { "content-type": "application/json" } },
    bindings,
  );

test("the stitch and ort engines give the same predictions", async () => {
  const [a, b] = await Promise.all([predict(stitch, envOf("stitch")), predict(ort, envOf("ort"))]);
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  assert.deepEqual(await a.json(), await b.json());
});

test("/v1/model names the engine; /health reports its wasm heap", async () => {
  const model = (await (await stitch.request("/v1/model", {}, envOf("stitch"))).json()) as { engine: string };
  assert.equal(model.engine, "stitch");
  assert.equal(
    ((await (await ort.request("/v1/model", {}, envOf("ort"))).json()) as { engine: string }).engine,
    "ort",
  );
  const health = (await (await stitch.request("/health", {}, envOf("stitch"))).json()) as {
    wasmHeapBytes: number;
  };
  assert.ok(
    health.wasmHeapBytes > 6_000_000 && health.wasmHeapBytes <= 16 * 2 ** 20,
    `${health.wasmHeapBytes}`,
  );
});

test("ENGINE naming the engine this build lacks is a 503 that says so", async () => {
  const response = await predict(stitch, envOf("ort"));
  assert.equal(response.status, 503);
  assert.match(
    ((await response.json()) as { error: { message: string } }).error.message,
    /bundles the stitch engine/,
  );
  assert.equal((await predict(stitch, envOf("stitch"))).status, 200);
});

test("a manifest without an engine pack is a 503 (the reason goes to the log)", async () => {
  const manifest = JSON.parse(await readFile(join(root, "assets", "manifest.json"), "utf8"));
  delete manifest.models.engine;
  const withoutPack = envOf("stitch", {
    fetch: (request) =>
      new URL(request.url).pathname.endsWith("manifest.json")
        ? Promise.resolve(new Response(JSON.stringify(manifest)))
        : assets.fetch(request),
  });
  const fresh = createApp(
    new ModelHolder(
      stitchEngine({ relaxed: await loadKernels("relaxed"), simd128: await loadKernels("simd128") }),
    ),
    undefined,
    decoder,
  );
  const response = await predict(fresh, withoutPack);
  assert.equal(response.status, 503);
  assert.equal(((await response.json()) as { error: { code: string } }).error.code, "model_unavailable");
});

test("MAX_BATCH caps the images per request with a 413 that names the limit", async () => {
  const response = await predict(stitch, { ...envOf("stitch"), MAX_BATCH: "3" });
  assert.equal(response.status, 413);
  assert.match(((await response.json()) as { error: { message: string } }).error.message, /at most 3 images/);
  assert.equal((await predict(stitch, { ...envOf("stitch"), MAX_BATCH: "8" })).status, 200);
});

test("a truncated engine pack is a 503 (the byte count goes to the log)", async () => {
  const truncated = envOf("stitch", {
    fetch: async (request) => {
      const response = await assets.fetch(request);
      if (!new URL(request.url).pathname.endsWith(".bin")) return response;
      return new Response((await response.arrayBuffer()).slice(0, 1000));
    },
  });
  const fresh = createApp(
    new ModelHolder(
      stitchEngine({ relaxed: await loadKernels("relaxed"), simd128: await loadKernels("simd128") }),
    ),
    undefined,
    decoder,
  );
  const response = await predict(fresh, truncated);
  assert.equal(response.status, 503);
  assert.equal(((await response.json()) as { error: { code: string } }).error.code, "model_unavailable");
});

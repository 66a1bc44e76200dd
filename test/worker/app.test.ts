// The Hono app through app.request(), under Node: the same routes and the same
// onnxruntime-web wasm as in workerd, with a directory standing in for ASSETS.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import {
  directoryAssets,
  type Fixture,
  loadTestImages,
  makeFixture,
  pixelsBody,
} from "../../testing/worker.ts";
import { nodeCodecModules } from "../../worker/dev/codecs.ts";
import { ImageDecoder } from "../../worker/image-decode.ts";
import { type Bindings, createApp, MAX_BATCH, MAX_BODY_BYTES } from "../../worker/index.ts";
import type { ImagePrediction } from "../../worker/inference.ts";
import { FIRST_RETRY_MS, ModelHolder } from "../../worker/inference.ts";

let fixture: Fixture;
let env: Bindings;
let images: Uint8Array[];
const decoder = new ImageDecoder(nodeCodecModules);
const app = createApp(new ModelHolder(), undefined, decoder);

before(async () => {
  fixture = await makeFixture();
  env = { ASSETS: directoryAssets(fixture.assetsDir), CORS_ORIGINS: "" };
  images = (await loadTestImages(3)).images;
});
after(() => fixture.remove());

interface PredictBody {
  modelId: string;
  predictions: ImagePrediction[];
}

const post = (body: BodyInit, contentType?: string, extra: Bindings | undefined = undefined) =>
  app.request(
    "/v1/predict",
    { method: "POST", body, headers: contentType ? { "content-type": contentType } : {} },
    extra ?? env,
  );
const png = async (pixels: Uint8Array) =>
  new Uint8Array(
    await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toBuffer(),
  );

async function expectError(response: Response, status: number, code: string) {
  const body = (await response.json()) as { error?: { code: string; message: string } };
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error?.code, code);
  assert.ok(body.error?.message, "an error carries a message");
}

describe("successful requests", () => {
  test("/health says loading (503) until the model is loaded, then ok (200)", async () => {
    const fresh = createApp(new ModelHolder(), undefined, decoder);
    const first = await fresh.request("/health", {}, env);
    assert.equal(first.status, 503);
    assert.deepEqual(await first.json(), { status: "loading", modelLoaded: false });
    // Asking started the load; the model route waits for it.
    assert.equal((await fresh.request("/v1/model", {}, env)).status, 200);
    const loaded = await fresh.request("/health", {}, env);
    assert.equal(loaded.status, 200);
    assert.deepEqual(await loaded.json(), { status: "ok", modelLoaded: true });
  });

  test("JSON pixels: every task, top classes sorted, model id, Server-Timing", async () => {
    const response = await post(pixelsBody(images[0] ?? []), "application/json");
    assert.equal(response.status, 200);
    const body = (await response.json()) as PredictBody;
    assert.equal(body.modelId, fixture.manifest.modelId);
    assert.equal(body.predictions.length, 1);
    for (const task of fixture.manifest.tasks) {
      const prediction = body.predictions[0]?.[task.name];
      assert.ok(prediction, `task ${task.name} answered`);
      assert.equal(prediction.label, task.classes[prediction.index]);
      assert.equal(prediction.top[0]?.label, prediction.label);
      assert.equal(prediction.top[0]?.score, prediction.score);
      assert.equal(prediction.top.length, 3);
      const scores = prediction.top.map((t) => t.score);
      assert.deepEqual(
        scores,
        [...scores].sort((a, b) => b - a),
      );
      assert.ok(prediction.score > 0 && prediction.score <= 1);
    }
    const timing = response.headers.get("server-timing") ?? "";
    for (const part of ["decode", "preprocess", "load", "inference"])
      assert.match(timing, new RegExp(`${part};dur=`));
    const health = await (await app.request("/health", {}, env)).json();
    assert.deepEqual(health, { status: "ok", modelLoaded: true });
  });

  test("a PNG body, multipart files and a JSON batch answer as the pixels do", async () => {
    const single = async (pixels: Uint8Array) =>
      ((await (await post(pixelsBody(pixels), "application/json")).json()) as PredictBody).predictions[0];
    const expected = await Promise.all(images.map(single));
    const raw = (await (
      await post(await png(images[0] ?? new Uint8Array()), "image/png")
    ).json()) as PredictBody;
    assert.deepEqual(raw.predictions, [expected[0]]);
    const form = new FormData();
    for (const image of images.slice(0, 2))
      form.append("image", new Blob([await png(image)], { type: "image/png" }));
    const multipart = (await (await post(form)).json()) as PredictBody;
    assert.deepEqual(multipart.predictions, expected.slice(0, 2));
    const batch = JSON.stringify({ images: images.map((image) => ({ pixels: Array.from(image) })) });
    const batched = (await (await post(batch, "application/json")).json()) as PredictBody;
    assert.deepEqual(batched.predictions, expected);
  });

  test("/v1/model serves the manifest; /openapi.json documents the API; / is the page", async () => {
    assert.deepEqual(await (await app.request("/v1/model", {}, env)).json(), fixture.manifest);
    const spec = (await (await app.request("/openapi.json", {}, env)).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>>;
    };
    assert.deepEqual(Object.keys(spec.paths).sort(), ["/", "/health", "/v1/model", "/v1/predict"]);
    assert.deepEqual(Object.keys(spec.paths["/v1/predict"]?.post?.requestBody?.content ?? {}).sort(), [
      "application/json",
      "image/jpeg",
      "image/jpg",
      "image/png",
      "image/webp",
      "multipart/form-data",
    ]);
    const page = await app.request("/", {}, env);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    assert.match(await page.text(), /<input id="file" type="file"/);
  });
});

describe("errors", () => {
  test("400: wrong pixel count, out-of-range values, malformed and unknown bodies", async () => {
    const pixels = Array.from(images[0] ?? []);
    await expectError(
      await post(JSON.stringify({ pixels: pixels.slice(1) }), "application/json"),
      400,
      "wrong_pixel_count",
    );
    await expectError(
      await post(JSON.stringify({ pixels: [256, ...pixels.slice(1)] }), "application/json"),
      400,
      "pixel_out_of_range",
    );
    await expectError(
      await post(JSON.stringify({ pixels: [-1, ...pixels.slice(1)] }), "application/json"),
      400,
      "pixel_out_of_range",
    );
    await expectError(
      await post(JSON.stringify({ images: [{ pixels }, { pixels: pixels.slice(2) }] }), "application/json"),
      400,
      "wrong_pixel_count",
    );
    const tooMany = JSON.stringify({ images: new Array(MAX_BATCH + 1).fill({ pixels }) });
    const tooManyAnswer = await post(tooMany, "application/json");
    const tooManyBody = (await tooManyAnswer.clone().json()) as { error: { message: string } };
    assert.match(tooManyBody.error.message, new RegExp(`at most ${MAX_BATCH} images`));
    await expectError(tooManyAnswer, 413, "too_many_images");
    await expectError(
      await post(JSON.stringify({ pixels: ["a", ...pixels.slice(1)] }), "application/json"),
      400,
      "invalid_body",
    );
    await expectError(await post("{", "application/json"), 400, "bad_request");
    await expectError(await post(JSON.stringify({ image: "x" }), "application/json"), 400, "invalid_body");
    await expectError(await post(new FormData()), 400, "invalid_body");
    const hugeKey = JSON.stringify({ ["k".repeat(100_000)]: 1 });
    const hugeKeyAnswer = await post(hugeKey, "application/json");
    assert.ok((await hugeKeyAnswer.clone().text()).length < 300, "the error does not echo the body");
    await expectError(hugeKeyAnswer, 400, "invalid_body");
  });

  test("400 undecodable, 415 unsupported type, 413 over the body or image limit", async () => {
    const encoded = await png(images[0] ?? new Uint8Array());
    await expectError(await post(encoded.subarray(0, 60), "image/png"), 400, "undecodable_image");
    await expectError(await post("GIF89a......", "image/gif"), 415, "unsupported_media_type");
    await expectError(await post("GIF89a......", "image/png"), 415, "unsupported_media_type");
    await expectError(await post("hello", "text/plain"), 415, "unsupported_media_type");
    await expectError(await post("hello"), 415, "unsupported_media_type");
    await expectError(await post(new Uint8Array(MAX_BODY_BYTES + 1), "image/png"), 413, "payload_too_large");
    const huge = encoded.slice(0, 33);
    new DataView(huge.buffer).setUint32(16, 5000);
    await expectError(await post(huge, "image/png"), 413, "image_too_large");
  });

  test("401 without the right bearer token when API_TOKEN is set; open routes stay open", async () => {
    const secured = { ...env, API_TOKEN: "s3cret-token" };
    const request = (authorization?: string) =>
      app.request("/v1/model", { headers: authorization ? { authorization } : {} }, secured);
    await expectError(await request(), 401, "unauthorized");
    await expectError(await request("Bearer wrong"), 401, "unauthorized");
    await expectError(await request("Basic s3cret-token"), 401, "unauthorized");
    assert.equal((await request()).headers.get("www-authenticate"), "Bearer");
    assert.equal((await request("Bearer s3cret-token")).status, 200);
    assert.equal((await app.request("/health", {}, secured)).status, 200);
  });

  test("404 unknown path, 405 wrong method with Allow", async () => {
    await expectError(await app.request("/nope", {}, env), 404, "not_found");
    await expectError(await app.request("/model.int8.onnx", {}, env), 404, "not_found");
    const wrong = await app.request("/v1/predict", { method: "GET" }, env);
    assert.equal(wrong.headers.get("allow"), "POST");
    await expectError(wrong, 405, "method_not_allowed");
  });

  test("CORS headers only for the configured origins", async () => {
    const preflight = (bindings: Bindings) =>
      app.request(
        "/v1/predict",
        {
          method: "OPTIONS",
          headers: { origin: "https://a.example", "access-control-request-method": "POST" },
        },
        bindings,
      );
    const allowed = await preflight({ ...env, CORS_ORIGINS: "https://a.example, https://b.example" });
    assert.equal(allowed.headers.get("access-control-allow-origin"), "https://a.example");
    const other = await preflight({ ...env, CORS_ORIGINS: "https://b.example" });
    assert.equal(other.headers.get("access-control-allow-origin"), null);
    const none = await app.request("/health", { headers: { origin: "https://a.example" } }, env);
    assert.equal(none.headers.get("access-control-allow-origin"), null);
  });

  test("503 with a fixed message when the graph does not match its hash; retried after a backoff", async () => {
    let now = 0;
    const models = new ModelHolder(() => now);
    const broken = createApp(models, undefined, decoder);
    const modelPath = join(fixture.assetsDir, fixture.manifest.models.int8.file);
    const original = new Uint8Array(
      await (await env.ASSETS.fetch(new Request("https://a/model.int8.onnx"))).arrayBuffer(),
    );
    const tampered = original.slice();
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    await writeFile(modelPath, tampered);
    try {
      const response = await broken.request("/v1/model", {}, env);
      assert.equal(response.status, 503);
      assert.equal(response.headers.get("retry-after"), "1");
      const { error } = (await response.json()) as { error: { message: string } };
      assert.doesNotMatch(error.message, /SHA|sha256|[0-9a-f]{16}/, "no loader detail in the answer");
      const health = await broken.request("/health", {}, env);
      assert.equal(health.status, 503);
      assert.equal(((await health.json()) as { status: string }).status, "failed");
    } finally {
      await writeFile(modelPath, original);
    }
    // Within the backoff the load is not re-run, even though the graph is fixed now.
    assert.equal((await broken.request("/v1/model", {}, env)).status, 503);
    now += FIRST_RETRY_MS;
    assert.equal((await broken.request("/v1/model", {}, env)).status, 200);
    assert.equal((await broken.request("/health", {}, env)).status, 200);
  });

  test("security headers on the page and the API", async () => {
    const page = await app.request("/", {}, env);
    const csp = page.headers.get("content-security-policy") ?? "";
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /default-src 'none'/);
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce, csp);
    assert.ok(
      (await page.text()).includes(`<script type="module" nonce="${nonce}">`),
      "the script has the nonce",
    );
    assert.equal(page.headers.get("x-content-type-options"), "nosniff");
    assert.equal(page.headers.get("referrer-policy"), "no-referrer");
    assert.equal(page.headers.get("x-frame-options"), "DENY");
    const api = await app.request("/nope", {}, env);
    assert.equal(api.headers.get("x-content-type-options"), "nosniff");
  });
});

describe("what clients send", () => {
  test("image/jpg, image/webp, +json and a multipart part without a filename are accepted", async () => {
    const source = sharp(images[0] ?? new Uint8Array(), { raw: { width: 28, height: 28, channels: 1 } });
    const jpeg = new Uint8Array(await source.clone().jpeg().toBuffer());
    const webp = new Uint8Array(await source.clone().webp().toBuffer());
    assert.equal((await post(jpeg, "image/jpg")).status, 200);
    assert.equal((await post(webp, "image/webp")).status, 200);
    assert.equal((await post(pixelsBody(images[0] ?? []), "application/vnd.api+json")).status, 200);
    const boundary = "stitchboundary";
    const encoder = new TextEncoder();
    const body = new Uint8Array([
      ...encoder.encode(`--${boundary}\r\nContent-Disposition: form-data; name="image"\r\n\r\n`),
      ...jpeg,
      ...encoder.encode(`\r\n--${boundary}--\r\n`),
    ]);
    const response = await post(body, `multipart/form-data; boundary=${boundary}`);
    assert.equal(response.status, 200, await response.clone().text());
  });

  test("a client that goes away mid-body is answered 400 request_aborted, not a 500", async () => {
    const controller = new AbortController();
    const body = new ReadableStream<Uint8Array>({
      start(stream) {
        stream.enqueue(new Uint8Array(100));
        controller.signal.addEventListener("abort", () => stream.error(new Error("connection reset")));
      },
    });
    const request = new Request("http://worker/v1/predict", {
      method: "POST",
      body,
      headers: { "content-type": "image/png" },
      signal: controller.signal,
      duplex: "half",
    } as RequestInit);
    const answer = app.request(request, undefined, env);
    setTimeout(() => controller.abort(), 20);
    await expectError(await answer, 400, "request_aborted");
  });

  test("?include=input returns the 28x28 image the model saw", async () => {
    const response = await app.request(
      "/v1/predict?include=input",
      {
        method: "POST",
        body: await png(images[0] ?? new Uint8Array()),
        headers: { "content-type": "image/png" },
      },
      env,
    );
    const { inputs } = (await response.json()) as { inputs: number[][] };
    assert.deepEqual(inputs[0], Array.from(images[0] ?? []));
  });
});

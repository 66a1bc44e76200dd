// The worker inside real workerd (the deploy bundle in plain workerd, as `npm run serve` runs it),
// API_TOKEN set: every error the API promises, then a fuzz run of corrupted,
// truncated and random bodies that must never produce a 5xx or kill the worker.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { unstable_readConfig } from "wrangler";
import {
  type Fixture,
  loadTestImages,
  makeFixture,
  pixelsBody,
  type RunningWorker,
  startWorkerd,
} from "../../testing/worker.ts";
import { MAX_REQUEST_PIXELS } from "../../worker/image-decode.ts";
import { MAX_BODY_BYTES } from "../../worker/index.ts";
import { batchLimit } from "../../worker/routes/predict.ts";

const TOKEN = "integration-token";
const FUZZ_CASES = 300;

let fixture: Fixture;
let worker: RunningWorker;
let pixels: Uint8Array;
let png: Uint8Array<ArrayBuffer>;
let jpeg: Uint8Array<ArrayBuffer>;

before(async () => {
  fixture = await makeFixture();
  worker = await startWorkerd(fixture.assetsDir, { API_TOKEN: TOKEN, CORS_ORIGINS: "https://app.example" });
  pixels = (await loadTestImages(1)).images[0] ?? new Uint8Array();
  const image = sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } }).resize(200, 150);
  png = new Uint8Array(await image.clone().png().toBuffer());
  jpeg = new Uint8Array(await image.clone().jpeg().toBuffer());
});
after(async () => {
  await worker?.stop();
  await fixture?.remove();
});

function request(path: string, init: RequestInit & { token?: string | null } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.token !== null) headers.set("authorization", `Bearer ${init.token ?? TOKEN}`);
  return fetch(`${worker.url}${path}`, { ...init, headers });
}
const predict = (body: BodyInit, contentType?: string, token?: string | null, signal?: AbortSignal) =>
  request("/v1/predict", {
    method: "POST",
    body,
    headers: contentType ? { "content-type": contentType } : {},
    token,
    signal,
  });

/**
 * Posts a body the worker refuses from its Content-Length before reading it, the way HTTP clients
 * send large bodies (Expect: 100-continue): workerd answers at once and closes, so a client that
 * pushes the body first (fetch) sees only the broken pipe.
 */
function postRefusedEarly(body: Uint8Array, contentType: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      `${worker.url}/v1/predict`,
      {
        method: "POST",
        headers: {
          "content-type": contentType,
          "content-length": body.byteLength,
          expect: "100-continue",
          authorization: `Bearer ${TOKEN}`,
        },
      },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
        incoming.on("end", () => {
          outgoing.destroy();
          resolve(
            new Response(Buffer.concat(chunks), {
              status: incoming.statusCode,
              headers: { "content-type": incoming.headers["content-type"] ?? "" },
            }),
          );
        });
      },
    );
    outgoing.on("continue", () => outgoing.end(body));
    outgoing.on("error", reject);
  });
}

async function expectError(response: Response, status: number, code: string) {
  const text = await response.text();
  assert.equal(response.status, status, text);
  assert.match(response.headers.get("content-type") ?? "", /application\/json/);
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  assert.equal(body.error.code, code);
  assert.ok(body.error.message.length > 0);
  assert.doesNotMatch(body.error.message, /\n\s+at /, "no stack trace");
}

describe("in workerd", () => {
  // workerd (compatibility date 2026-11-17, where enable_request_signal is the default) notices a
  // client that resets its connection and cancels the request at its next await; one that closes
  // its side normally (fetch's abort) goes unnoticed until the answer is written. Neither may show
  // up as a 500 or an unhandled error, and the worker must serve the next request.
  test("a client that resets or closes during a large batch: no 500, nothing unhandled, served after", async () => {
    // As many photos as this worker takes (wrangler.toml's MAX_BATCH), the request's pixel budget between them.
    const batch = batchLimit(unstable_readConfig({ config: "wrangler.toml" }).vars as { MAX_BATCH?: string });
    const side = Math.floor(Math.sqrt(MAX_REQUEST_PIXELS / batch));
    const photo = new Uint8Array(
      await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } })
        .resize(side, side)
        .jpeg({ quality: 95 })
        .toBuffer(),
    );
    const form = new FormData();
    for (let i = 0; i < batch; i++)
      form.append("image", new Blob([photo], { type: "image/jpeg" }), `${i}.jpg`);
    const encoded = new Request(worker.url, { method: "POST", body: form });
    const body = new Uint8Array(await encoded.arrayBuffer());
    const contentType = encoded.headers.get("content-type") ?? "";
    const logFrom = worker.output().length;

    const { hostname, port } = new URL(worker.url);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write(
          `POST /v1/predict HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${TOKEN}\r\n` +
            `Content-Type: ${contentType}\r\nContent-Length: ${body.byteLength}\r\n\r\n`,
        );
        socket.write(body, () =>
          setTimeout(() => {
            socket.resetAndDestroy();
            resolve();
          }, 50),
        );
      });
      socket.on("error", reject);
    });
    await assert.rejects(predict(body, contentType, undefined, AbortSignal.timeout(50)), {
      name: "TimeoutError",
    });

    const health = await request("/health");
    assert.equal(health.status, 200, await health.text());
    const answer = await predict(body, contentType);
    assert.equal(answer.status, 200, await answer.text());
    const log = worker.output().slice(logFrom);
    assert.doesNotMatch(log, /unhandled error|internal_error|Uncaught|exception/i, log);
  });

  test("PNG, JPEG, multipart and JSON predict with both tasks", async () => {
    for (const [body, type] of [
      [png, "image/png"],
      [jpeg, "image/jpeg"],
      [pixelsBody(pixels), "application/json"],
    ] as const) {
      const response = await predict(body, type);
      assert.equal(response.status, 200, await response.clone().text());
      const result = (await response.json()) as { modelId: string; predictions: Record<string, unknown>[] };
      assert.equal(result.modelId, fixture.manifest.modelId);
      assert.deepEqual(Object.keys(result.predictions[0] ?? {}), ["fashion", "category"]);
      assert.match(
        response.headers.get("server-timing") ?? "",
        /decode;dur=.*preprocess;dur=.*inference;dur=/,
      );
    }
    const form = new FormData();
    form.append("image", new Blob([png], { type: "image/png" }), "a.png");
    form.append("image", new Blob([jpeg], { type: "image/jpeg" }), "b.jpg");
    const multipart = (await (await predict(form)).json()) as { predictions: unknown[] };
    assert.equal(multipart.predictions.length, 2);
  });

  test("400 undecodable image, wrong pixel count, out-of-range value", async () => {
    await expectError(await predict(png.subarray(0, 100), "image/png"), 400, "undecodable_image");
    await expectError(await predict(jpeg.subarray(0, 300), "image/jpeg"), 400, "undecodable_image");
    await expectError(
      await predict(pixelsBody(pixels.subarray(1)), "application/json"),
      400,
      "wrong_pixel_count",
    );
    const bright = Array.from(pixels, (v, i) => (i === 5 ? 300 : v));
    await expectError(
      await predict(JSON.stringify({ pixels: bright }), "application/json"),
      400,
      "pixel_out_of_range",
    );
  });

  test("413 body over the limit, 413 image over the pixel limit from its header", async () => {
    await expectError(
      await postRefusedEarly(new Uint8Array(MAX_BODY_BYTES + 1024), "image/png"),
      413,
      "payload_too_large",
    );
    const huge = png.slice(0, 33);
    new DataView(huge.buffer).setUint32(20, 4097);
    await expectError(await predict(huge, "image/png"), 413, "image_too_large");
  });

  test("415, 401, 404, 405", async () => {
    await expectError(await predict("GIF89a", "image/gif"), 415, "unsupported_media_type");
    await expectError(await predict(png, "image/png", null), 401, "unauthorized");
    await expectError(await predict(png, "image/png", "not-the-token"), 401, "unauthorized");
    await expectError(await request("/v1/model", { token: null }), 401, "unauthorized");
    await expectError(await request("/missing"), 404, "not_found");
    await expectError(await request("/manifest.json", { token: null }), 404, "not_found");
    await expectError(await request(`/${fixture.manifest.models.int8.file}`), 404, "not_found");
    await expectError(await request("/health", { method: "DELETE" }), 405, "method_not_allowed");
  });

  test("CORS preflight for the configured origin", async () => {
    const response = await request("/v1/predict", {
      method: "OPTIONS",
      token: null,
      headers: { origin: "https://app.example", "access-control-request-method": "POST" },
    });
    assert.equal(response.status, 204);
    assert.equal(response.headers.get("access-control-allow-origin"), "https://app.example");
  });

  test(`fuzz: ${FUZZ_CASES} corrupted, truncated and random bodies get 4xx (or a real answer), never 5xx`, async () => {
    let seed = 12345;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
    const flipBytes = (source: Uint8Array<ArrayBuffer>) => {
      const copy = source.slice();
      const flips = 1 + Math.floor(random() * 8);
      for (let k = 0; k < flips; k++) copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
      return copy;
    };
    const makers: (() => { body: BodyInit; type: string; mustFail: boolean })[] = [
      () => ({ body: randomBytes(Math.floor(random() * 4000)), type: "image/png", mustFail: true }),
      () => ({ body: randomBytes(Math.floor(random() * 4000)), type: "image/jpeg", mustFail: true }),
      () => ({ body: png.subarray(0, Math.floor(random() * png.length)), type: "image/png", mustFail: true }),
      () => ({ body: jpeg.subarray(0, Math.floor(random() * 600)), type: "image/jpeg", mustFail: true }),
      () => ({ body: flipBytes(png), type: "image/png", mustFail: false }),
      () => ({ body: flipBytes(jpeg), type: "image/jpeg", mustFail: false }),
      () => ({ body: randomBytes(200), type: "application/json", mustFail: true }),
      () => ({
        body: pixelsBody(pixels).slice(0, Math.floor(random() * 2000)),
        type: "application/json",
        mustFail: true,
      }),
      () => ({ body: randomBytes(300), type: "multipart/form-data; boundary=xyz", mustFail: true }),
    ];
    const outcomes = new Map<number, number>();
    for (let i = 0; i < FUZZ_CASES; i++) {
      const maker = makers[i % makers.length];
      if (!maker) continue;
      const { body, type, mustFail } = maker();
      const response = await predict(body, type);
      const text = await response.text();
      outcomes.set(response.status, (outcomes.get(response.status) ?? 0) + 1);
      assert.ok(response.status < 500, `case ${i} (${type}) answered ${response.status}: ${text}`);
      if (mustFail || response.status !== 200) {
        assert.ok(response.status >= 400, `case ${i} (${type}) should fail, answered ${response.status}`);
        assert.ok((JSON.parse(text) as { error?: { code?: string } }).error?.code, `case ${i}: ${text}`);
      }
    }
    assert.ok((outcomes.get(400) ?? 0) > FUZZ_CASES / 2, `outcomes ${JSON.stringify([...outcomes])}`);
    const health = await request("/health");
    const { status, modelLoaded, wasmHeapBytes } = (await health.json()) as Record<string, unknown>;
    assert.deepEqual([status, modelLoaded], ["ok", true]);
    assert.ok(typeof wasmHeapBytes === "number" && wasmHeapBytes > 1 << 20 && wasmHeapBytes < 128 << 20);
    assert.equal((await predict(png, "image/png")).status, 200);
  });
});

// GET / in real headless Chromium against the worker in workerd: picking a
// file and dropping one both show every task's prediction, the same as the API's,
// the 28x28 image the model saw and the request's timing; the drop zone's box
// overlaps nothing. A screenshot goes to .cache/browser/page.png for a person to look at;
// STITCH_ARTIFACTS=<export> serves a real export instead of the random-weight fixture, which is
// how the README's docs/page.png is made.
import assert from "node:assert/strict";
import fs from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Browser, chromium } from "playwright-core";
import sharp from "sharp";
import type { Manifest } from "../../contracts/manifest.ts";
import {
  type Fixture,
  loadTestImages,
  makeFixture,
  type RunningWorker,
  startWorkerd,
} from "../../testing/worker.ts";
import { stageAssets } from "../../worker/dev/stage-assets.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// Where Chromium is missing the test skips and says why; .ci/run installs it and requires it.
const CHROMIUM_REQUIRED = process.env.STITCH_EDGE_REQUIRE_CHROMIUM === "1";
const skipWithoutChromium =
  fs.existsSync(CHROMIUM) || CHROMIUM_REQUIRED
    ? false
    : `Chromium not found at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM_PATH`;

let fixture: Fixture | undefined;
let stagedDir: string | undefined;
let manifest: Manifest;
let worker: RunningWorker;
let browser: Browser;
let pngs: Buffer[];

before(async () => {
  if (skipWithoutChromium) return;
  if (process.env.STITCH_ARTIFACTS) {
    stagedDir = await mkdtemp(join(tmpdir(), "stitch-edge-browser-"));
    manifest = await stageAssets(process.env.STITCH_ARTIFACTS, stagedDir);
  } else {
    fixture = await makeFixture();
    manifest = fixture.manifest;
  }
  worker = await startWorkerd(stagedDir ?? fixture?.assetsDir ?? "");
  const { images } = await loadTestImages(2);
  // Shown at 140x140 as a dark product on white, the way a photo would arrive.
  pngs = await Promise.all(
    images.map((image) =>
      sharp(
        image.map((v) => 255 - v),
        { raw: { width: 28, height: 28, channels: 1 } },
      )
        .resize(140, 140)
        .png()
        .toBuffer(),
    ),
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
});
after(async () => {
  await browser?.close();
  await worker?.stop();
  await fixture?.remove();
  if (stagedDir) await rm(stagedDir, { recursive: true, force: true });
});

async function apiLabels(png: Buffer): Promise<Record<string, string>> {
  const response = await fetch(`${worker.url}/v1/predict`, {
    method: "POST",
    headers: { "content-type": "image/png" },
    body: new Uint8Array(png),
  });
  const { predictions } = (await response.json()) as { predictions: Record<string, { label: string }>[] };
  return Object.fromEntries(Object.entries(predictions[0] ?? {}).map(([task, p]) => [task, p.label]));
}

async function apiInputs(png: Buffer): Promise<number[]> {
  const response = await fetch(`${worker.url}/v1/predict?include=input`, {
    method: "POST",
    headers: { "content-type": "image/png" },
    body: new Uint8Array(png),
  });
  return ((await response.json()) as { inputs: number[][] }).inputs[0] ?? [];
}

test("the page shows both predictions for a picked file and a dropped file, and errors in words", {
  skip: skipWithoutChromium,
}, async () => {
  const page = await browser.newPage();
  const requestsElsewhere: string[] = [];
  page.on("request", (request) => {
    if (!request.url().startsWith(worker.url) && !request.url().startsWith("blob:"))
      requestsElsewhere.push(request.url());
  });
  await page.goto(`${worker.url}/`);
  assert.equal(await page.title(), "stitch-edge");

  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  const shownLabels = async () => {
    await page.waitForSelector("#results:not([hidden])", { timeout: 20_000 }).catch(async (error: Error) => {
      throw new Error(
        `${error.message}\nstatus: ${await page.textContent("#status")}\npage errors: ${pageErrors}`,
      );
    });
    const rows = await page.$$eval("#results tbody tr", (trs) =>
      trs.map((tr) => [tr.getAttribute("data-task") ?? "", tr.children[1]?.textContent ?? ""]),
    );
    return Object.fromEntries(rows);
  };

  const [first, second] = pngs;
  assert.ok(first && second);
  await page.setInputFiles("#file", { name: "first.png", mimeType: "image/png", buffer: first });
  const picked = await shownLabels();
  assert.deepEqual(
    Object.keys(picked),
    manifest.tasks.map((t) => t.name),
  );
  assert.deepEqual(picked, await apiLabels(first));
  assert.match((await page.textContent("#status")) ?? "", new RegExp(manifest.modelId));
  assert.match((await page.textContent("#timing")) ?? "", /^Round trip \d+ ms; server: decode .* inference /);
  // The canvas holds what the model saw: the API's own inputs for the same upload.
  const seen = await page.$eval("#seen", (canvas) => {
    const context = (canvas as HTMLCanvasElement).getContext("2d");
    const data = context?.getImageData(0, 0, 28, 28).data ?? [];
    return Array.from({ length: 784 }, (_, i) => data[i * 4] ?? -1);
  });
  const inputs = await apiInputs(first);
  assert.deepEqual(seen, inputs);
  assert.ok(Math.max(...seen) > 200, "the garment shows light on black");

  // The dashed drop zone sits between the lines above and below without touching them.
  const boxes = await page.evaluate(() =>
    ["#drop", "body > p:first-of-type", "#drop + p"].map((selector) => {
      const box = document.querySelector(selector)?.getBoundingClientRect();
      return box ? { top: box.top, bottom: box.bottom } : undefined;
    }),
  );
  const [drop, above, below] = boxes;
  assert.ok(drop && above && below, JSON.stringify(boxes));
  assert.ok(above.bottom <= drop.top && drop.bottom <= below.top, `overlap: ${JSON.stringify(boxes)}`);
  await mkdir(".cache/browser", { recursive: true });
  await page.screenshot({ path: ".cache/browser/page.png", fullPage: true });

  const pickedPreview = await page.getAttribute("#preview", "src");
  await page.evaluate(async (bytes) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(bytes)], "second.png", { type: "image/png" }));
    document
      .getElementById("drop")
      ?.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
  }, Array.from(second));
  await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("Model"));
  assert.notEqual(await page.getAttribute("#preview", "src"), pickedPreview, "the drop replaced the preview");
  assert.deepEqual(await shownLabels(), await apiLabels(second));

  // 2400x1800 is over the worker's 2.1 MP limit: the page shrinks it before sending.
  const photo = await sharp(first).resize(2400, 1800).jpeg().toBuffer();
  const tooLarge = await fetch(`${worker.url}/v1/predict`, {
    method: "POST",
    headers: { "content-type": "image/jpeg" },
    body: new Uint8Array(photo),
  });
  assert.equal(tooLarge.status, 413);
  await page.setInputFiles("#file", { name: "photo.jpg", mimeType: "image/jpeg", buffer: photo });
  await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("Model"));
  assert.deepEqual(
    Object.keys(await shownLabels()),
    manifest.tasks.map((t) => t.name),
  );

  await page.setInputFiles("#file", {
    name: "broken.png",
    mimeType: "image/png",
    buffer: first.subarray(0, 50),
  });
  await page.waitForSelector("#status.error", { timeout: 20_000 });
  assert.match((await page.textContent("#status")) ?? "", /could not be decoded/);
  assert.deepEqual(requestsElsewhere, [], "the page only talks to its worker");
  await page.close();
});

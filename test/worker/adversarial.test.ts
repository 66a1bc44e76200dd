// The adversarial corpus (testing/adversarial-images.ts) against the worker in
// real workerd: each crafted body gets the status and error code it is owed
// (the byte, pixel, scan and batch budgets are enforced), costs workerd at most
// 16 MiB of resident memory over what it held before it (the 4 MB bodies
// themselves are most of that), and /health still answers. How fast each case
// is answered against the 200 ms goal is a benchmark (bench/worker-input.ts).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { workerdRssBytes } from "../../bench/worker-common.ts";
import { adversarialCases, postCase } from "../../testing/adversarial-images.ts";
import { type Fixture, makeFixture, type RunningWorker, startWorkerd } from "../../testing/worker.ts";
import { MAX_REQUEST_DECODE_MS } from "../../worker/image-decode.ts";

const MAX_GROWTH_BYTES = 16 * 1024 * 1024;
/**
 * Not a speed goal but a tripwire for a missing budget: unbudgeted, these bodies took 7.5-37.8 s of
 * decoding; budgeted, each is tens of milliseconds of work (bench/results/worker-input.json). The
 * bound is the worker's own decode-time budget with a margin of five for a CI machine whose two
 * cores are shared with training runs (at a load average of 11 the slowest case took 170 ms).
 */
const MAX_CASE_MS = 5 * MAX_REQUEST_DECODE_MS;

let fixture: Fixture;
let worker: RunningWorker;

before(async () => {
  fixture = await makeFixture();
  // The corpus holds a 32-photo batch, the API's hard limit: lift the free plan's MAX_BATCH (6) to it.
  worker = await startWorkerd(fixture.assetsDir, { MAX_BATCH: "32" });
  // Warm up: the model and every codec instantiated, as on a worker that has served each format.
  const image = sharp({ create: { width: 640, height: 480, channels: 3, background: "#eee" } });
  const bodies: [Uint8Array<ArrayBuffer>, string][] = [
    [new Uint8Array(await image.clone().png().toBuffer()), "image/png"],
    [new Uint8Array(await image.clone().jpeg().toBuffer()), "image/jpeg"],
    [new Uint8Array(await image.clone().webp().toBuffer()), "image/webp"],
  ];
  for (let round = 0; round < 3; round++) {
    for (const [body, type] of bodies) {
      const response = await fetch(`${worker.url}/v1/predict`, {
        method: "POST",
        body,
        headers: { "content-type": type },
      });
      assert.equal(response.status, 200, await response.text());
    }
  }
});
after(async () => {
  await worker?.stop();
  await fixture?.remove();
});

test("every crafted body: its status and code, within the budgets, within 16 MiB of memory, /health still up", async () => {
  const failures: string[] = [];
  for (const crafted of await adversarialCases()) {
    const before = await workerdRssBytes(worker.pid);
    const answer = await postCase(worker.url, crafted);
    const growth = (await workerdRssBytes(worker.pid)) - before;
    const health = await fetch(`${worker.url}/health`);
    await health.body?.cancel();
    const line = `${crafted.name}: ${answer.status} ${answer.code ?? ""} in ${answer.ms.toFixed(1)} ms, +${(growth / 2 ** 20).toFixed(1)} MiB`;
    console.log(line);
    if (answer.status !== crafted.status || (crafted.code && answer.code !== crafted.code)) {
      failures.push(`${line} (expected ${crafted.status} ${crafted.code ?? ""})`);
    }
    if (answer.ms > MAX_CASE_MS) failures.push(`${line}: over ${MAX_CASE_MS} ms, a budget is not enforced`);
    if (growth > MAX_GROWTH_BYTES) failures.push(`${line}: over 16 MiB`);
    if (health.status !== 200) failures.push(`${line}: /health answered ${health.status}`);
  }
  assert.deepEqual(failures, [], worker.output().slice(-2000));
});

// The predict CLI as a person runs it, against the worker in workerd: a table
// of both tasks on success, one clear line and exit code 1 on every failure.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import sharp from "sharp";
import {
  type Fixture,
  freePort,
  loadTestImages,
  makeFixture,
  REPO_ROOT,
  type RunningWorker,
  startWorkerd,
} from "../../testing/worker.ts";

const TOKEN = "client-token";
let fixture: Fixture;
let worker: RunningWorker;
let dir: string;
let webp: string;
let jpeg: string;

before(async () => {
  fixture = await makeFixture();
  worker = await startWorkerd(fixture.assetsDir, { API_TOKEN: TOKEN });
  dir = await mkdtemp(join(tmpdir(), "stitch-edge-client-"));
  const [first, second] = (await loadTestImages(2)).images;
  webp = join(dir, "first.webp");
  jpeg = join(dir, "second.jpg");
  const raw = { width: 28, height: 28, channels: 1 } as const;
  await sharp(first, { raw }).resize(600, 600).webp().toFile(webp);
  await sharp(second, { raw }).resize(2000, 1500).jpeg().toFile(jpeg);
});
after(async () => {
  await worker?.stop();
  await fixture?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function runCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", join(REPO_ROOT, "client/predict.ts"), ...args],
      { cwd: REPO_ROOT, env: { ...process.env, API_TOKEN: "" }, timeout: 60_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

test("prints both tasks for every image, as the API answers them", async () => {
  const { code, stdout, stderr } = await runCli(webp, jpeg, "--url", worker.url, "--token", TOKEN);
  assert.equal(code, 0, stderr);
  const lines = stdout.split("\n");
  assert.match(lines[0] ?? "", new RegExp(`model ${fixture.manifest.modelId}`));
  assert.match(stdout, /^image\s+fashion\s+category$/m);
  const form = new FormData();
  for (const path of [webp, jpeg]) {
    const png = await sharp(path)
      .flatten({ background: "#fff" })
      .resize(256, 256, { fit: "inside" })
      .png()
      .toBuffer();
    form.append("image", new Blob([new Uint8Array(png)], { type: "image/png" }));
  }
  const response = await fetch(`${worker.url}/v1/predict`, {
    method: "POST",
    body: form,
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const { predictions } = (await response.json()) as { predictions: Record<string, { label: string }>[] };
  for (const [i, name] of ["first.webp", "second.jpg"].entries()) {
    const row = lines.find((line) => line.startsWith(name)) ?? "";
    assert.ok(row.includes(`${predictions[i]?.fashion?.label} (`), `row ${row}`);
    assert.ok(row.includes(`${predictions[i]?.category?.label} (`), `row ${row}`);
  }
  assert.match(stdout, /server timing \(ms\): decode;dur=/);
});

test("clear one-line errors: server down, server refusing, unreadable file, no arguments; --help", async () => {
  const closedPort = await freePort();
  const down = await runCli(webp, "--url", `http://127.0.0.1:${closedPort}`);
  assert.equal(down.code, 1);
  assert.ok(
    down.stderr.startsWith(
      `predict: cannot reach http://127.0.0.1:${closedPort} (ECONNREFUSED); is the worker`,
    ),
    down.stderr,
  );
  const refused = await runCli(webp, "--url", worker.url, "--token", "wrong");
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^predict: the server refused the request: 401 unauthorized: /);
  const notImage = join(dir, "notes.txt");
  await writeFile(notImage, "not an image");
  const unreadable = await runCli(notImage, "--url", worker.url);
  assert.equal(unreadable.code, 1);
  assert.match(unreadable.stderr, /^predict: cannot read .*notes\.txt: /);
  const usage = await runCli();
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /^predict: <image>\.\.\.: give at least one image\nusage: npm run predict/);
  const help = await runCli("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: npm run predict -- \[flags\] <image>\.\.\./);
  for (const run of [down, refused, unreadable, usage]) assert.doesNotMatch(run.stderr, /\n\s+at /);
});

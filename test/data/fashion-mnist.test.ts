import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import {
  DataError,
  decodeIdxFile,
  IDX_FILES,
  type IdxFileSpec,
  loadFashionMnist,
  SYSTEM_DATA_DIR,
} from "../../data/fashion-mnist.ts";

/** A tiny IDX file pair set with its own specs, so tests run on a few images. */
function tinyIdx(count: number, prefix: string) {
  const images = Buffer.alloc(16 + count * 784);
  images.writeUInt32BE(0x803, 0);
  images.writeUInt32BE(count, 4);
  images.writeUInt32BE(28, 8);
  images.writeUInt32BE(28, 12);
  for (let i = 0; i < count * 784; i++) images[16 + i] = (i * 7) % 256;
  const labels = Buffer.alloc(8 + count);
  labels.writeUInt32BE(0x801, 0);
  labels.writeUInt32BE(count, 4);
  for (let i = 0; i < count; i++) labels[8 + i] = i % 10;
  const spec = (name: string, bytes: Buffer, magic: number): IdxFileSpec => ({
    name: `${prefix}-${name}`,
    magic,
    count,
    bytes: bytes.length,
    sha256: createHash("sha256").update(bytes).digest("hex"),
  });
  return {
    bytes: { images, labels },
    specs: {
      trainImages: spec("train-images-idx3-ubyte", images, 0x803),
      trainLabels: spec("train-labels-idx1-ubyte", labels, 0x801),
      testImages: spec("t10k-images-idx3-ubyte", images, 0x803),
      testLabels: spec("t10k-labels-idx1-ubyte", labels, 0x801),
    },
  };
}

// The search order is under test: a developer's own data folder must not short-circuit it.
delete process.env.FASHION_MNIST_DIR;

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "stitch-data-"));

describe("decodeIdxFile", () => {
  const { bytes, specs } = tinyIdx(3, "t");

  test("reads plain and gzipped IDX files to the same payload", () => {
    const plain = decodeIdxFile(bytes.images, specs.trainImages, "plain");
    const gzipped = decodeIdxFile(gzipSync(bytes.images), specs.trainImages, "gz");
    assert.equal(plain.length, 3 * 784);
    assert.deepEqual(gzipped, plain);
    assert.deepEqual([...decodeIdxFile(bytes.labels, specs.trainLabels, "labels")], [0, 1, 2]);
  });

  test("rejects a label file given as images by its magic number", () => {
    assert.throws(
      () => decodeIdxFile(bytes.labels, specs.trainImages, "f"),
      /not an IDX image file \(magic 0x801/,
    );
  });

  test("rejects a wrong item count", () => {
    assert.throws(
      () => decodeIdxFile(bytes.labels, { ...specs.trainLabels, count: 4 }, "f"),
      /holds 3 items, expected 4/,
    );
  });

  test("rejects wrong image dimensions", () => {
    const odd = Buffer.from(bytes.images);
    odd.writeUInt32BE(27, 8);
    assert.throws(() => decodeIdxFile(odd, specs.trainImages, "f"), /images are 27x28/);
  });

  test("rejects a checksum mismatch in the decompressed bytes", () => {
    const corrupt = Buffer.from(bytes.images);
    corrupt[100] = (corrupt[100] as number) ^ 0xff;
    assert.throws(() => decodeIdxFile(gzipSync(corrupt), specs.trainImages, "f"), /SHA-256 mismatch/);
  });

  test("rejects truncated gzip data", () => {
    const gz = gzipSync(bytes.images);
    assert.throws(
      () => decodeIdxFile(gz.subarray(0, gz.length >> 1), specs.trainImages, "half.gz"),
      (error: Error) =>
        error instanceof DataError && /half\.gz: gzip data is truncated or corrupt/.test(error.message),
    );
  });
});

describe("loadFashionMnist from folders", () => {
  test("--data_dir wins and reads plain and .gz files alike", async () => {
    const { bytes, specs } = tinyIdx(5, "dir");
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, specs.trainImages.name), bytes.images);
    fs.writeFileSync(path.join(dir, `${specs.trainLabels.name}.gz`), gzipSync(bytes.labels));
    fs.writeFileSync(path.join(dir, specs.testImages.name), bytes.images);
    fs.writeFileSync(path.join(dir, specs.testLabels.name), bytes.labels);
    const data = await loadFashionMnist({ dataDir: dir, files: specs, cacheDir: tempDir() });
    assert.equal(data.source, dir);
    assert.equal(data.train.count, 5);
    assert.equal(data.test.images.length, 5 * 784);
    assert.deepEqual([...data.train.labels], [0, 1, 2, 3, 4]);
  });

  test("a --data_dir without the files is an error naming what is missing", async () => {
    await assert.rejects(
      loadFashionMnist({ dataDir: tempDir(), files: tinyIdx(1, "none").specs }),
      /--data_dir .* lacks none-train-images-idx3-ubyte/,
    );
  });

  test("the official files verify (Debian's dataset-fashion-mnist)", {
    skip: !fs.existsSync(SYSTEM_DATA_DIR),
  }, async () => {
    const data = await loadFashionMnist({ cacheDir: tempDir(), log: () => {} });
    assert.equal(data.source, SYSTEM_DATA_DIR);
    assert.equal(data.train.count, IDX_FILES.trainImages.count);
    assert.equal(data.test.images.length, 10000 * 784);
    const perClass = new Array(10).fill(0);
    for (const label of data.test.labels) perClass[label]++;
    assert.deepEqual(perClass, new Array(10).fill(1000));
  });
});

describe("loadFashionMnist download", () => {
  const { bytes, specs } = tinyIdx(4, "dl");
  const served = new Map<string, Buffer>();
  let server: http.Server;
  let mirror: string;

  before(async () => {
    server = http.createServer((request, response) => {
      const body = served.get(request.url?.slice(1) ?? "");
      if (!body) return void response.writeHead(404).end();
      response.writeHead(200, { "content-length": body.length }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => server.close());

  const serveAll = () => {
    served.set(`${specs.trainImages.name}.gz`, gzipSync(bytes.images));
    served.set(`${specs.trainLabels.name}.gz`, gzipSync(bytes.labels));
    served.set(`${specs.testImages.name}.gz`, gzipSync(bytes.images));
    served.set(`${specs.testLabels.name}.gz`, gzipSync(bytes.labels));
  };
  const load = (cacheDir: string) => loadFashionMnist({ cacheDir, mirror, files: specs, log: () => {} });

  test("downloads into the cache, verifies, and reads from the cache next time", async () => {
    serveAll();
    const cache = tempDir();
    const data = await load(cache);
    assert.equal(data.source, cache);
    assert.equal(data.train.count, 4);
    assert.deepEqual(
      fs.readdirSync(cache).sort(),
      Object.values(specs)
        .map((s) => `${s.name}.gz`)
        .sort(),
    );
    served.clear();
    assert.equal((await load(cache)).test.count, 4);
  });

  for (const [kind, damage] of [
    ["corrupted", (_gz: Buffer) => gzipSync(Buffer.from(bytes.images).fill(9, 200, 300))],
    ["truncated", (gz: Buffer) => gz.subarray(0, gz.length - 50)],
  ] as const) {
    test(`a ${kind} download fails clearly and leaves nothing a later run would trust`, async () => {
      serveAll();
      const name = `${specs.testImages.name}.gz`;
      served.set(name, damage(served.get(name) as Buffer));
      const cache = tempDir();
      await assert.rejects(load(cache), (error: Error) => {
        assert.ok(error instanceof DataError);
        assert.match(error.message, kind === "corrupted" ? /SHA-256 mismatch/ : /truncated or corrupt/);
        return true;
      });
      const left = fs.readdirSync(cache);
      assert.ok(!left.includes(name), `${name} must not be left in the cache`);
      assert.ok(!left.some((f) => f.endsWith(".download")), "no temp files are left");
      serveAll();
      assert.equal((await load(cache)).train.count, 4, "a later run with good data succeeds");
    });
  }

  test("no data and no network: one message naming the apt package, the env var and the flag", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const deadMirror = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/`;
    await new Promise((resolve) => closed.close(resolve));
    await assert.rejects(
      loadFashionMnist({ cacheDir: tempDir(), mirror: deadMirror, files: specs, log: () => {} }),
      (error: Error) =>
        /apt-get install dataset-fashion-mnist/.test(error.message) &&
        /FASHION_MNIST_DIR/.test(error.message) &&
        /--data_dir/.test(error.message),
    );
  });
});

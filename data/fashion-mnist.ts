// Finds, verifies and reads the official Fashion-MNIST IDX files.
import { createHash } from "node:crypto";
import { once } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { gunzipSync } from "node:zlib";
import { IMAGE_SIZE } from "../contracts/image.ts";

export const OFFICIAL_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";
export const SYSTEM_DATA_DIR = "/usr/share/datasets/fashion-mnist";
export const APT_PACKAGE = "dataset-fashion-mnist";

const IDX_IMAGES_MAGIC = 0x00000803;
const IDX_LABELS_MAGIC = 0x00000801;
const GZIP_MAGIC = [0x1f, 0x8b] as const;

export interface IdxFileSpec {
  name: string;
  magic: number;
  count: number;
  /** Size and SHA-256 of the decompressed file; gzip containers differ between sources. */
  bytes: number;
  sha256: string;
}

export const IDX_FILES = {
  trainImages: {
    name: "train-images-idx3-ubyte",
    magic: IDX_IMAGES_MAGIC,
    count: 60000,
    bytes: 47040016,
    sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
  },
  trainLabels: {
    name: "train-labels-idx1-ubyte",
    magic: IDX_LABELS_MAGIC,
    count: 60000,
    bytes: 60008,
    sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
  },
  testImages: {
    name: "t10k-images-idx3-ubyte",
    magic: IDX_IMAGES_MAGIC,
    count: 10000,
    bytes: 7840016,
    sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
  },
  testLabels: {
    name: "t10k-labels-idx1-ubyte",
    magic: IDX_LABELS_MAGIC,
    count: 10000,
    bytes: 10008,
    sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
  },
} as const satisfies Record<string, IdxFileSpec>;

export interface Split {
  /** count * 784 bytes, row-major 28x28 images, 0 = background, 255 = ink. */
  images: Uint8Array;
  /** Source labels 0-9 (the 10 Fashion-MNIST classes). */
  labels: Uint8Array;
  count: number;
}

export interface FashionMnist {
  train: Split;
  test: Split;
  /** The folder the files were read from. */
  source: string;
}

export interface LoadOptions {
  /** The --data_dir flag; wins over every other location. */
  dataDir?: string;
  /** Where downloads are kept; defaults to .cache/fashion-mnist in the working directory. */
  cacheDir?: string;
  mirror?: string;
  /** Overrides the file specs (tests use tiny files with their own checksums). */
  files?: Record<keyof typeof IDX_FILES, IdxFileSpec>;
  log?: (line: string) => void;
}

export class DataError extends Error {
  override name = "DataError";
}

const sha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

function isGzip(raw: Uint8Array): boolean {
  return raw[0] === GZIP_MAGIC[0] && raw[1] === GZIP_MAGIC[1];
}

/** Decompresses (when gzipped), checks size, checksum and IDX header, and returns the payload. */
export function decodeIdxFile(raw: Uint8Array, spec: IdxFileSpec, origin: string): Uint8Array {
  let bytes = raw;
  if (isGzip(raw)) {
    try {
      bytes = gunzipSync(raw);
    } catch (error) {
      throw new DataError(`${origin}: gzip data is truncated or corrupt (${(error as Error).message})`);
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = bytes.byteLength >= 4 ? view.getUint32(0) : -1;
  if (magic !== spec.magic) {
    throw new DataError(
      `${origin}: not an IDX ${spec.magic === IDX_IMAGES_MAGIC ? "image" : "label"} file (magic 0x${magic.toString(16)}, expected 0x${spec.magic.toString(16)})`,
    );
  }
  const isImages = spec.magic === IDX_IMAGES_MAGIC;
  const headerBytes = isImages ? 16 : 8;
  const count = bytes.byteLength >= 8 ? view.getUint32(4) : -1;
  if (count !== spec.count) throw new DataError(`${origin}: holds ${count} items, expected ${spec.count}`);
  if (isImages) {
    const rows = view.getUint32(8);
    const cols = view.getUint32(12);
    if (rows !== IMAGE_SIZE || cols !== IMAGE_SIZE) {
      throw new DataError(`${origin}: images are ${rows}x${cols}, expected ${IMAGE_SIZE}x${IMAGE_SIZE}`);
    }
  }
  if (bytes.byteLength !== spec.bytes) {
    throw new DataError(`${origin}: ${bytes.byteLength} bytes after decompression, expected ${spec.bytes}`);
  }
  const digest = sha256Hex(bytes);
  if (digest !== spec.sha256) {
    throw new DataError(
      `${origin}: SHA-256 mismatch (got ${digest}, expected ${spec.sha256}); the file is corrupt`,
    );
  }
  return bytes.subarray(headerBytes);
}

/** The file for `spec` in `dir`, plain or gzipped, or null when neither exists. */
function findIdxFile(dir: string, spec: IdxFileSpec): string | null {
  for (const candidate of [path.join(dir, spec.name), path.join(dir, `${spec.name}.gz`)]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  return null;
}

function missingFiles(dir: string, files: Record<string, IdxFileSpec>): string[] {
  return Object.values(files)
    .filter((spec) => !findIdxFile(dir, spec))
    .map((spec) => spec.name);
}

function readDir(dir: string, files: Record<keyof typeof IDX_FILES, IdxFileSpec>): FashionMnist {
  const read = (spec: IdxFileSpec) => {
    const file = findIdxFile(dir, spec);
    if (!file) throw new DataError(`${dir}: missing ${spec.name} (or ${spec.name}.gz)`);
    return decodeIdxFile(fs.readFileSync(file), spec, file);
  };
  const split = (images: IdxFileSpec, labels: IdxFileSpec): Split => ({
    images: read(images),
    labels: read(labels),
    count: images.count,
  });
  return {
    train: split(files.trainImages, files.trainLabels),
    test: split(files.testImages, files.testLabels),
    source: dir,
  };
}

function formatMegabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Streams `url` to `target` through a temp file; the file appears only once it verified. */
async function downloadVerified(
  url: string,
  target: string,
  spec: IdxFileSpec,
  log: (line: string) => void,
): Promise<void> {
  const temp = `${target}.${process.pid}.download`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(120_000) });
    if (!response.ok || !response.body) throw new DataError(`${url}: HTTP ${response.status}`);
    const total = Number(response.headers.get("content-length")) || 0;
    const out = fs.createWriteStream(temp);
    let received = 0;
    let reportedQuarter = -1;
    for await (const chunk of Readable.fromWeb(response.body as WebReadableStream<Uint8Array>)) {
      received += (chunk as Buffer).byteLength;
      if (!out.write(chunk)) await once(out, "drain");
      const quarter = total ? Math.floor((received / total) * 4) : -1;
      if (process.stderr.isTTY && total) {
        const filled = Math.round((received / total) * 30);
        process.stderr.write(
          `\r  ${spec.name}.gz [${"#".repeat(filled)}${" ".repeat(30 - filled)}] ${formatMegabytes(received)} / ${formatMegabytes(total)}`,
        );
      } else if (quarter > reportedQuarter) {
        reportedQuarter = quarter;
        log(`  ${spec.name}.gz ${formatMegabytes(received)}${total ? ` / ${formatMegabytes(total)}` : ""}`);
      }
    }
    await new Promise<void>((resolve, reject) =>
      out.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
    if (process.stderr.isTTY && total) process.stderr.write("\n");
    decodeIdxFile(fs.readFileSync(temp), spec, url);
    fs.renameSync(temp, target);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

async function download(
  cacheDir: string,
  mirror: string,
  files: Record<string, IdxFileSpec>,
  log: (line: string) => void,
): Promise<void> {
  fs.mkdirSync(cacheDir, { recursive: true });
  log(`downloading Fashion-MNIST from ${mirror} into ${cacheDir}`);
  for (const spec of Object.values(files)) {
    if (findIdxFile(cacheDir, spec)) continue;
    const url = new URL(`${spec.name}.gz`, mirror).toString();
    await downloadVerified(url, path.join(cacheDir, `${spec.name}.gz`), spec, log);
  }
}

/**
 * Loads the official split, looking in order at --data_dir, $FASHION_MNIST_DIR,
 * the cache folder, Debian's dataset-fashion-mnist, and finally downloading
 * from the mirror into the cache.
 */
export async function loadFashionMnist(options: LoadOptions = {}): Promise<FashionMnist> {
  const files = options.files ?? IDX_FILES;
  const log = options.log ?? ((line: string) => console.error(line));
  const cacheDir = options.cacheDir ?? path.resolve(".cache", "fashion-mnist");
  const mirror = options.mirror ?? process.env.FASHION_MNIST_MIRROR ?? OFFICIAL_MIRROR;

  const explicit = options.dataDir ?? process.env.FASHION_MNIST_DIR;
  if (explicit) {
    const origin = options.dataDir ? "--data_dir" : "FASHION_MNIST_DIR";
    const missing = missingFiles(explicit, files);
    if (missing.length)
      throw new DataError(`${origin} ${explicit} lacks ${missing.join(", ")} (plain or .gz)`);
    return readDir(explicit, files);
  }
  for (const dir of [cacheDir, SYSTEM_DATA_DIR]) {
    if (missingFiles(dir, files).length === 0) return readDir(dir, files);
  }
  try {
    await download(cacheDir, mirror, files, log);
  } catch (error) {
    throw new DataError(
      `Fashion-MNIST not found and the download failed (${(error as Error).message}). ` +
        `Install it with \`apt-get install ${APT_PACKAGE}\` (files in ${SYSTEM_DATA_DIR}), ` +
        "or set FASHION_MNIST_DIR, or pass --data_dir, pointing at a folder with the four IDX files.",
    );
  }
  return readDir(cacheDir, files);
}

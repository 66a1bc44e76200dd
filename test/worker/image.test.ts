import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import sharp from "sharp";
import { PIXELS_PER_IMAGE } from "../../contracts/image.ts";
import { loadTestImages } from "../../testing/worker.ts";
import { nodeCodecModules } from "../../worker/dev/codecs.ts";
import { ApiError } from "../../worker/errors.ts";
import { toModelPixels } from "../../worker/image.ts";
import { ImageDecoder } from "../../worker/image-decode.ts";
import { inspectImage, MAX_IMAGE_SIDE, sniffImageKind } from "../../worker/image-formats.ts";

let sample: Uint8Array;
const decoder = new ImageDecoder(nodeCodecModules);

before(async () => {
  // A Sneaker-like real image: light object on black, as the model was trained.
  sample = (await loadTestImages(1)).images[0] ?? new Uint8Array();
});

const gray28 = (pixels: Uint8Array) => sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } });
const decodeToGray = async (bytes: Uint8Array) => (await decoder.decodeAll([bytes], (gray) => gray))[0];
const pipeline = async (encoded: Buffer) => {
  const gray = await decodeToGray(new Uint8Array(encoded));
  assert.ok(gray);
  return toModelPixels(gray);
};
const maxDifference = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((max, value, i) => Math.max(max, Math.abs(value - (b[i] ?? 0))), 0);

async function expectApiError(run: () => unknown, status: number, code: string) {
  await assert.rejects(
    async () => run(),
    (error: unknown) => {
      assert.ok(error instanceof ApiError, `expected an ApiError, got ${String(error)}`);
      assert.equal(error.status, status);
      assert.equal(error.code, code);
      return true;
    },
  );
}

describe("reading the header", () => {
  test("PNG and baseline/progressive JPEG sizes come from the header", async () => {
    const base = sharp({ create: { width: 123, height: 45, channels: 3, background: "#808080" } });
    const png = new Uint8Array(await base.clone().png().toBuffer());
    const jpeg = new Uint8Array(await base.clone().jpeg().toBuffer());
    const progressive = new Uint8Array(await base.clone().jpeg({ progressive: true }).toBuffer());
    assert.equal(sniffImageKind(png), "png");
    assert.equal(sniffImageKind(jpeg), "jpeg");
    assert.equal(sniffImageKind(new TextEncoder().encode("GIF89a")), undefined);
    for (const [bytes, kind] of [
      [png, "png"],
      [jpeg, "jpeg"],
      [progressive, "jpeg"],
    ] as const) {
      const { width, height } = inspectImage(bytes);
      assert.deepEqual([sniffImageKind(bytes), width, height], [kind, 123, 45]);
    }
  });

  test("an image over the side limit is refused from its header alone", async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#000" } })
      .png()
      .toBuffer();
    // Rewrite IHDR to claim a huge width and cut the file after it: decoding would fail with 400.
    const header = new Uint8Array(png.subarray(0, 33));
    new DataView(header.buffer).setUint32(16, MAX_IMAGE_SIDE + 1);
    await expectApiError(() => decodeToGray(header), 413, "image_too_large");
    const jpeg = new Uint8Array(
      await sharp({ create: { width: 4000, height: 4000, channels: 3, background: "#fff" } })
        .jpeg({ quality: 10 })
        .toBuffer(),
    );
    // Within the side limit but over the pixel-count limit: still refused before decoding.
    await expectApiError(() => decodeToGray(jpeg.subarray(0, 700)), 413, "image_too_large");
  });

  test("truncated, empty and foreign bytes are 400 or 415, never a crash", async () => {
    const png = new Uint8Array(await gray28(sample).png().toBuffer());
    await expectApiError(() => decodeToGray(png.subarray(0, png.length - 30)), 400, "undecodable_image");
    await expectApiError(() => decodeToGray(png.subarray(0, 20)), 400, "undecodable_image");
    const jpeg = new Uint8Array(await gray28(sample).jpeg().toBuffer());
    await expectApiError(() => decodeToGray(jpeg.subarray(0, 200)), 400, "undecodable_image");
    await expectApiError(() => decodeToGray(new Uint8Array()), 415, "unsupported_media_type");
    await expectApiError(
      () => decodeToGray(new TextEncoder().encode("GIF89a....")),
      415,
      "unsupported_media_type",
    );
  });
});

describe("turning an image into model pixels", () => {
  test("a 28x28 Fashion-MNIST PNG comes back pixel for pixel", async () => {
    const pixels = await pipeline(await gray28(sample).png().toBuffer());
    assert.equal(pixels.length, PIXELS_PER_IMAGE);
    assert.deepEqual(Array.from(pixels), Array.from(sample));
  });

  test("a dark object on white, 10x larger, in colour, becomes the original light-on-dark image", async () => {
    const inverted = sample.map((v) => 255 - v);
    const large = await gray28(inverted)
      .resize(280, 280, { kernel: "nearest" })
      .toColourspace("srgb")
      .png()
      .toBuffer();
    assert.equal((await sharp(large).metadata()).channels, 3);
    assert.ok(maxDifference(await pipeline(large), sample) < 1e-3);
  });

  test("16-bit and palette PNGs decode like the 8-bit image", async () => {
    const sixteen = await gray28(sample).toColourspace("grey16").png().toBuffer();
    assert.equal((await sharp(sixteen).metadata()).depth, "ushort");
    assert.ok(maxDifference(await pipeline(sixteen), sample) <= 0.51);
    const palette = await gray28(sample).png({ palette: true, colours: 256, dither: 0 }).toBuffer();
    assert.ok((await sharp(palette).metadata()).isPalette);
    assert.ok(maxDifference(await pipeline(palette), sample) <= 12);
  });

  test("transparency is composited over white, then negated as a light background", async () => {
    const clear = await sharp({ create: { width: 40, height: 40, channels: 4, background: "#00000000" } })
      .png()
      .toBuffer();
    assert.ok(maxDifference(await pipeline(clear), new Uint8Array(PIXELS_PER_IMAGE)) < 1e-9);
    // Gray + alpha: an opaque black square on a transparent ground reads as a white object on black.
    const grayAlpha = new Uint8Array(40 * 40 * 2).map((_, i) => {
      const [row, column] = [Math.floor(i / 80), Math.floor(i / 2) % 40];
      const inside = row >= 10 && row < 30 && column >= 5 && column < 35;
      return i % 2 === 0 ? 0 : inside ? 255 : 0;
    });
    const square = await sharp(grayAlpha, { raw: { width: 40, height: 40, channels: 2 } })
      .toColourspace("b-w")
      .png()
      .toBuffer();
    assert.equal((await sharp(square).metadata()).channels, 2);
    const pixels = Array.from(await pipeline(square), Math.round);
    // 30x20 object: 28 columns, 19 rows (18.67 rounded) starting at row 5.
    assert.deepEqual(
      [pixels[0], pixels[14 * 28 + 14], pixels[4 * 28 + 14], pixels[5 * 28 + 14]],
      [0, 255, 0, 255],
    );
  });

  test("the object is trimmed by the corner colour, its longest side fitted to 28 and centred", async () => {
    // 80x40: a white bar (rows 10-17, columns 16-63: 48x8) on black, with margins to trim.
    // 48 columns become 28; 8 rows become 4.67, rounded to 5 cells, with 12 cells above.
    const wide = new Uint8Array(80 * 40).map((_, i) => {
      const [row, column] = [Math.floor(i / 80), i % 80];
      return row >= 10 && row < 18 && column >= 16 && column < 64 ? 255 : 0;
    });
    const pixels = await pipeline(
      await sharp(wide, { raw: { width: 80, height: 40, channels: 1 } })
        .png()
        .toBuffer(),
    );
    const row = (r: number) => Array.from(pixels.subarray(r * 28, (r + 1) * 28), Math.round);
    assert.deepEqual(row(11), new Array(28).fill(0));
    for (const r of [12, 13, 14, 15]) assert.deepEqual(row(r), new Array(28).fill(255), `row ${r}`);
    assert.ok((row(16)[5] ?? 0) > 100 && (row(16)[5] ?? 0) < 255, `row 16 is partly covered: ${row(16)[5]}`);
    assert.deepEqual(row(17), new Array(28).fill(0));
  });

  test("a dim object on a tinted light background is negated and stretched to the full range", async () => {
    const tinted = sample.map((v) => 230 - Math.round(v * 0.5));
    const pixels = await pipeline(await gray28(tinted).resize(224, 224).png().toBuffer());
    assert.equal(Math.round(Math.max(...pixels)), 255);
    assert.equal(Math.round(pixels[0] ?? -1), 0);
    const meanError = Array.from(pixels).reduce((sum, v, i) => sum + Math.abs(v - (sample[i] ?? 0)), 0) / 784;
    assert.ok(meanError < 8, `mean error ${meanError}`);
  });

  test("a JPEG photo decodes close to its source", async () => {
    const jpeg = await gray28(sample)
      .resize(112, 112, { kernel: "nearest" })
      .jpeg({ quality: 95 })
      .toBuffer();
    const pixels = await pipeline(jpeg);
    const meanError = Array.from(pixels).reduce((sum, v, i) => sum + Math.abs(v - (sample[i] ?? 0)), 0) / 784;
    assert.ok(meanError < 8, `mean error ${meanError}`);
  });
});

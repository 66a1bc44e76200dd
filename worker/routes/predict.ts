// POST /v1/predict: images (PNG, JPEG, WebP; raw body or multipart) or JSON
// pixels in, every task's prediction for each image out.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { PIXELS_PER_IMAGE } from "../../contracts/image.ts";
import { standardize } from "../../contracts/normalization.ts";
import { ApiError, type ErrorCode, readBody } from "../errors.ts";
import { toModelPixels } from "../image.ts";
import { type ImageDecoder, MAX_REQUEST_DECODE_MS, MAX_REQUEST_PIXELS } from "../image-decode.ts";
import { MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, MAX_JPEG_SCANS } from "../image-formats.ts";
import type { Bindings } from "../index.ts";
import { type ModelHolder, TOP_CLASSES } from "../inference.ts";
import { limitBody } from "../middleware/body.ts";
import { jsonGuard } from "../middleware/json-guard.ts";
import { multipartField } from "../multipart.ts";
import { errorContent } from "../schemas.ts";

export const MAX_BODY_BYTES = 5 * 1024 * 1024;
export const MAX_BATCH = 32;

/** `application/json` and any `application/<something>+json`, as the validator reads them. */
const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;
/** image/jpg is not registered, but browsers and phones send it. */
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/jpg", "image/webp"];

const pixelsSchema = z
  .array(z.number().min(0).max(255))
  .length(PIXELS_PER_IMAGE)
  .openapi({ description: "784 gray values 0-255, row-major 28x28, light object on dark background" });

const predictJsonSchema = z
  .union([
    z.object({ pixels: pixelsSchema }).strict(),
    z.object({ images: z.array(z.object({ pixels: pixelsSchema }).strict()).min(1) }).strict(),
  ])
  .openapi("PredictJson");

const taskPredictionSchema = z.object({
  label: z.string(),
  index: z.number().int(),
  score: z.number(),
  top: z.array(z.object({ label: z.string(), score: z.number() })),
});

const predictResponseSchema = z
  .object({
    modelId: z.string(),
    predictions: z.array(z.record(z.string(), taskPredictionSchema)).openapi({
      description: "One entry per image, in request order, keyed by task name",
    }),
    inputs: z
      .array(z.array(z.number().int()))
      .optional()
      .openapi({ description: "With ?include=input: each image as the model saw it, 784 values 0-255" }),
  })
  .openapi("Prediction");

const binaryImage = { schema: z.string().openapi({ type: "string", format: "binary" }) };

const predictRoute = createRoute({
  method: "post",
  path: "/v1/predict",
  summary: "Predict every task for one image or a batch",
  description: [
    `Send a PNG, JPEG or WebP body (image/png, image/jpeg or image/jpg, image/webp), multipart field "image"`,
    `(repeat it for a batch), JSON {"pixels": [784]} or a batch {"images": [{"pixels": [784]}, ...]};`,
    `at most ${MAX_BATCH} images. Bodies over ${MAX_BODY_BYTES} bytes, images over ${MAX_IMAGE_SIDE} pixels`,
    `a side or ${MAX_IMAGE_PIXELS} pixels, requests over ${MAX_REQUEST_PIXELS} decoded pixels in all or`,
    `${MAX_REQUEST_DECODE_MS} ms of decoding, and JPEGs of over ${MAX_JPEG_SCANS} scans are refused.`,
    `Images become 28x28 the way Fashion-MNIST was made: trimmed to the object by the corner colour,`,
    `the longest side fitted to 28 and centred, negated on a light background, contrast stretched.`,
    `JSON pixels are used as given. The top ${TOP_CLASSES} classes of each task are listed.`,
    `?include=input adds the 28x28 pixels the model saw.`,
  ].join(" "),
  security: [{ bearer: [] }],
  middleware: [
    limitBody(MAX_BODY_BYTES),
    // {"images": [{"pixels": [...]}]} nests 4 deep; one image over the batch limit still gets its own error.
    jsonGuard({ maxDepth: 4, maxValues: (MAX_BATCH + 1) * (PIXELS_PER_IMAGE + 1), maxStringBytes: 64 }),
  ] as const,
  request: {
    query: z.object({ include: z.enum(["input"]).optional() }),
    body: {
      required: false,
      content: {
        "application/json": { schema: predictJsonSchema },
        "multipart/form-data": {
          schema: {
            type: "object",
            properties: { image: { type: "array", items: { type: "string", format: "binary" } } },
          },
        },
        "image/png": binaryImage,
        "image/jpeg": binaryImage,
        "image/jpg": binaryImage,
        "image/webp": binaryImage,
      },
    },
  },
  responses: {
    200: {
      description: "Predictions; Server-Timing splits decode, preprocess, model load and inference",
      content: { "application/json": { schema: predictResponseSchema } },
    },
    400: errorContent("Undecodable image, wrong pixel count, out-of-range value or malformed body"),
    401: errorContent("API_TOKEN is set and the bearer token is missing or wrong"),
    413: errorContent("Body, image, batch or decoded pixels over the limits"),
    415: errorContent("Not PNG, JPEG, WebP, multipart or JSON; animated WebP"),
    422: errorContent("A JPEG with too many scans, or decoding over the request's time budget"),
    503: errorContent("The model could not be loaded (Retry-After says when it is tried again)"),
  },
});

const FIXED_VALIDATION_MESSAGES: Record<string, string> = {
  wrong_pixel_count: `pixels must hold ${PIXELS_PER_IMAGE} values`,
  pixel_out_of_range: "pixel values must be numbers from 0 to 255",
  invalid_body: 'expected {"pixels": [784 numbers]} or {"images": [{"pixels": [...]}, ...]}',
};

/** Maps a validation failure to the most specific error code the request earned; the text is fixed. */
export function validationError(error: z.ZodError): ApiError {
  const issue = error.issues.find((i) => i.code !== "invalid_union") ?? error.issues[0];
  // A union reports its branches' issues nested; the pixels branch is the informative one.
  const nested = issue?.code === "invalid_union" ? issue.errors.flat()[0] : undefined;
  const first = nested ?? issue;
  let code: ErrorCode = "invalid_body";
  if (first?.code === "too_small" || first?.code === "too_big") {
    code = first.origin === "number" ? "pixel_out_of_range" : "wrong_pixel_count";
    if (first.path.length <= 1 && first.path[0] === "images") code = "invalid_body";
  }
  return new ApiError(400, code, FIXED_VALIDATION_MESSAGES[code] ?? "invalid body");
}

const tooManyImages = () =>
  new ApiError(413, "too_many_images", `a request may hold at most ${MAX_BATCH} images`);

const ms = (value: number) => value.toFixed(2);

export function registerPredictRoute(
  app: OpenAPIHono<{ Bindings: Bindings }>,
  models: ModelHolder,
  decoder: ImageDecoder,
) {
  app.openapi(predictRoute, async (c) => {
    const contentType = c.req.header("content-type")?.toLowerCase() ?? "";
    // JSON is parsed and validated before this handler runs: for it, decode stays 0.
    let decodeMs = 0;
    let preprocessMs = 0;
    let pixels: ArrayLike<number>[];
    if (JSON_TYPE.test(contentType)) {
      // The JSON validator ran for this content type; the route's typing only knows the query.
      const body = (c.req.valid as (target: "json") => unknown)("json") as z.infer<typeof predictJsonSchema>;
      pixels = "pixels" in body ? [body.pixels] : body.images.map((image) => image.pixels);
      if (pixels.length > MAX_BATCH) throw tooManyImages();
    } else {
      let images: Uint8Array[];
      if (contentType.startsWith("multipart/form-data")) {
        const body = await readBody(c.req);
        images = multipartField(body, contentType, "image", MAX_BATCH);
        if (images.length === 0) throw new ApiError(400, "invalid_body", 'send the images in field "image"');
      } else if (IMAGE_TYPES.some((type) => contentType.startsWith(type))) {
        images = [await readBody(c.req)];
      } else {
        throw new ApiError(415, "unsupported_media_type", "send PNG, JPEG, WebP, multipart or JSON");
      }
      pixels = await decoder.decodeAll(images, (gray, imageDecodeMs) => {
        decodeMs += imageDecodeMs;
        const start = performance.now();
        const modelPixels = toModelPixels(gray);
        preprocessMs += performance.now() - start;
        return modelPixels;
      });
    }
    const loadStart = performance.now();
    const model = await models.get(c.env.ASSETS);
    const normalizeStart = performance.now();
    const inputs = pixels.map((p) => standardize(p, model.manifest.normalization));
    const inferenceStart = performance.now();
    preprocessMs += inferenceStart - normalizeStart;
    const predictions = await model.predict(inputs);
    const end = performance.now();
    c.header(
      "Server-Timing",
      [
        `decode;dur=${ms(decodeMs)}`,
        `preprocess;dur=${ms(preprocessMs)}`,
        `load;dur=${ms(normalizeStart - loadStart)}`,
        `inference;dur=${ms(end - inferenceStart)}`,
      ].join(", "),
    );
    const inputsSeen =
      c.req.valid("query").include === "input"
        ? pixels.map((p) => Array.from(p, (v) => Math.round(v)))
        : undefined;
    return c.json({ modelId: model.manifest.modelId, predictions, inputs: inputsSeen }, 200);
  });
}

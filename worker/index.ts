// The HTTP API: routes, validation, auth, CORS and the one error handler.
// The workerd entries (workerd-stitch.ts, workerd.ts) wire in an engine and serve createApp().
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { PIXELS_PER_IMAGE } from "../contracts/image.ts";
import { manifestSchema } from "../contracts/manifest.ts";
import { standardize } from "../contracts/normalization.ts";
import { ApiError, type ErrorCode, errorBody } from "./errors.ts";
import { decodeToGray, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, toModelPixels } from "./image.ts";
import { type AssetFetcher, type ModelHolder, TOP_CLASSES } from "./inference.ts";
import { renderPage } from "./page.ts";

/**
 * The worker's bindings: `Env` is generated from wrangler.toml by `npm run cf-typegen`.
 * API_TOKEN is an optional secret (`wrangler secret put API_TOKEN`), so it is not in
 * wrangler.toml; when set, /v1/* requires `Authorization: Bearer <API_TOKEN>`.
 */
export type Bindings = Omit<Env, "ASSETS"> & {
  /** The app only fetches from ASSETS, so it asks no more of it (Node tests serve a folder). */
  ASSETS: AssetFetcher;
  API_TOKEN?: string;
};

export const MAX_BODY_BYTES = 5 * 1024 * 1024;
export const MAX_BATCH = 32;

/**
 * This deployment's images-per-request limit: the MAX_BATCH var (wrangler.toml; sized so that a
 * request stays within the free plan's 10 ms of CPU), never above MAX_BATCH.
 */
export function batchLimit(env: { MAX_BATCH?: string } | undefined): number {
  const configured = Number(env?.MAX_BATCH);
  return Number.isInteger(configured) && configured >= 1 ? Math.min(configured, MAX_BATCH) : MAX_BATCH;
}

function checkBatch(count: number, env: { MAX_BATCH?: string } | undefined): void {
  const limit = batchLimit(env);
  if (count > limit) {
    throw new ApiError(
      413,
      "payload_too_large",
      `${count} images in one request; this deployment answers at most ${limit} (MAX_BATCH)`,
    );
  }
}

const errorSchema = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi("Error", {
    example: { error: { code: "wrong_pixel_count", message: "pixels: expected 784 values" } },
  });

const pixelsSchema = z
  .array(z.number().min(0).max(255))
  .length(PIXELS_PER_IMAGE)
  .openapi({ description: "784 gray values 0-255, row-major 28x28, light object on dark background" });

const predictJsonSchema = z
  .union([
    z.object({ pixels: pixelsSchema }).strict(),
    z
      .object({
        images: z
          .array(z.object({ pixels: pixelsSchema }).strict())
          .min(1)
          .max(MAX_BATCH),
      })
      .strict(),
  ])
  .openapi("PredictJson");

const imageFileSchema = z.custom<File>((value) => value instanceof File, "expected an image file");
const predictFormSchema = z.object({
  image: z
    .union([imageFileSchema, z.array(imageFileSchema).min(1).max(MAX_BATCH)])
    .openapi({ type: "string", format: "binary", description: `1-${MAX_BATCH} files in field "image"` }),
});

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
  })
  .openapi("Prediction");

const binaryImage = { schema: z.string().openapi({ type: "string", format: "binary" }) };
const errorContent = (description: string) => ({
  description,
  content: { "application/json": { schema: errorSchema } },
});

const predictRoute = createRoute({
  method: "post",
  path: "/v1/predict",
  summary: "Predict every task for one image or a batch",
  description: [
    `Send a PNG or JPEG body (image/png, image/jpeg), multipart field "image" (repeat it for a batch),`,
    `JSON {"pixels": [784]} or a batch {"images": [{"pixels": [784]}, ...]} of at most ${MAX_BATCH}.`,
    `Bodies over ${MAX_BODY_BYTES} bytes and images over ${MAX_IMAGE_SIDE} pixels a side or`,
    `${MAX_IMAGE_PIXELS} pixels in all are refused. Images become 28x28 gray: transparency over white,`,
    `padded to square with the border's mean, area-resampled, inverted when the border mean is over 127.5.`,
    `JSON pixels are used as given. The top ${TOP_CLASSES} classes of each task are listed.`,
  ].join(" "),
  security: [{ bearer: [] }],
  middleware: [
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ApiError(413, "payload_too_large", `the body is over ${MAX_BODY_BYTES} bytes`);
      },
    }),
  ] as const,
  request: {
    body: {
      required: false,
      content: {
        "application/json": { schema: predictJsonSchema },
        "multipart/form-data": { schema: predictFormSchema },
        "image/png": binaryImage,
        "image/jpeg": binaryImage,
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
    413: errorContent("Body or image over the limits"),
    415: errorContent("Not PNG, JPEG, multipart or JSON"),
    503: errorContent("The model could not be loaded"),
  },
});

const modelRoute = createRoute({
  method: "get",
  path: "/v1/model",
  summary: "The served model's manifest: tasks, classes, accuracies, quantization, hashes, version",
  security: [{ bearer: [] }],
  responses: {
    200: {
      description: "The manifest, and the engine that runs the graph",
      content: {
        "application/json": {
          schema: manifestSchema.extend({ engine: z.enum(["stitch", "ort"]) }).openapi("ModelInfo"),
        },
      },
    },
    401: errorContent("API_TOKEN is set and the bearer token is missing or wrong"),
    503: errorContent("The model could not be loaded"),
  },
});

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  summary: "Liveness; says whether the model session exists yet",
  responses: {
    200: {
      description: "The worker answers",
      content: {
        "application/json": {
          schema: z.object({
            status: z.literal("ok"),
            modelLoaded: z.boolean(),
            wasmHeapBytes: z.number().int().optional().openapi({ description: "onnxruntime's wasm memory" }),
          }),
        },
      },
    },
  },
});

const pageRoute = createRoute({
  method: "get",
  path: "/",
  summary: "A page to try the model with an image",
  responses: { 200: { description: "HTML page", content: { "text/html": { schema: z.string() } } } },
});

/** Maps a validation failure to the most specific error code the request earned. */
function validationError(error: z.ZodError): ApiError {
  const issue = error.issues.find((i) => i.code !== "invalid_union") ?? error.issues[0];
  // A union reports its branches' issues nested; the pixels branch is the informative one.
  const nested = issue?.code === "invalid_union" ? issue.errors.flat()[0] : undefined;
  const first = nested ?? issue;
  const where = first?.path.length ? `${first.path.join(".")}: ` : "";
  const message = `${where}${first?.message ?? "invalid body"}`;
  let code: ErrorCode = "invalid_body";
  if (first?.code === "too_small" || first?.code === "too_big") {
    code = first.origin === "number" ? "pixel_out_of_range" : "wrong_pixel_count";
    if (first.path.length <= 1 && first.path[0] === "images") code = "invalid_body";
  }
  return new ApiError(400, code, message);
}

const STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  400: "bad_request",
  401: "unauthorized",
  404: "not_found",
  405: "method_not_allowed",
  413: "payload_too_large",
  415: "unsupported_media_type",
};

/** Compares SHA-256 digests so the time taken does not depend on where the tokens differ. */
async function tokensMatch(given: string, expected: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [a, b] = await Promise.all(
    [given, expected].map(
      async (t) => new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(t))),
    ),
  );
  let difference = 0;
  for (let i = 0; i < 32; i++) difference |= (a?.[i] ?? 0) ^ (b?.[i] ?? 0);
  return difference === 0;
}

const ms = (from: number, to: number) => (to - from).toFixed(2);

export function createApp(models: ModelHolder) {
  const app = new OpenAPIHono<{ Bindings: Bindings }>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error);
    },
  });

  app.use("*", async (c, next) => {
    const origins = (c.env?.CORS_ORIGINS ?? "")
      .split(",")
      .map((origin) => origin.trim())
      .filter(Boolean);
    if (origins.length === 0) return next();
    return cors({
      origin: origins.includes("*") ? "*" : origins,
      allowMethods: ["GET", "POST", "OPTIONS"],
      allowHeaders: ["Authorization", "Content-Type"],
      exposeHeaders: ["Server-Timing"],
      maxAge: 86400,
    })(c, next);
  });

  app.use("/v1/*", async (c, next) => {
    const expected = c.env?.API_TOKEN;
    if (expected) {
      const given = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1];
      if (!given || !(await tokensMatch(given, expected))) {
        throw new ApiError(401, "unauthorized", "a valid bearer token is required");
      }
    }
    await next();
  });

  app.openapi(healthRoute, (c) =>
    c.json({ status: "ok" as const, modelLoaded: models.loaded, wasmHeapBytes: models.heapBytes() }, 200),
  );

  app.openapi(pageRoute, (c) => c.html(renderPage(), 200));

  app.use("/v1/*", async (c, next) => {
    const wanted = c.env?.ENGINE;
    if (wanted && wanted !== models.opener.name) {
      throw new ApiError(
        503,
        "model_unavailable",
        `ENGINE is "${wanted}" but this build bundles the ${models.opener.name} engine (wrangler --env ${wanted})`,
      );
    }
    await next();
  });

  app.openapi(modelRoute, async (c) =>
    c.json({ ...(await models.get(c.env.ASSETS)).manifest, engine: models.opener.name }, 200),
  );

  app.openapi(predictRoute, async (c) => {
    const contentType = c.req.header("content-type")?.toLowerCase() ?? "";
    // JSON is parsed and validated before this handler runs: for it, decode stays 0.
    let decodeMs = 0;
    let preprocessMs = 0;
    let pixels: ArrayLike<number>[];
    if (contentType.startsWith("application/json")) {
      // The validator typed every declared body as one union; the content type picked this one.
      const body = c.req.valid("json") as z.infer<typeof predictJsonSchema>;
      pixels = "pixels" in body ? [body.pixels] : body.images.map((image) => image.pixels);
      checkBatch(pixels.length, c.env);
    } else {
      let images: Uint8Array[];
      if (contentType.startsWith("multipart/form-data")) {
        const field = (c.req.valid("form") as z.infer<typeof predictFormSchema>).image;
        const files = Array.isArray(field) ? field : [field];
        checkBatch(files.length, c.env);
        images = await Promise.all(files.map(async (file) => new Uint8Array(await file.arrayBuffer())));
      } else if (contentType.startsWith("image/")) {
        images = [new Uint8Array(await c.req.arrayBuffer())];
      } else {
        throw new ApiError(415, "unsupported_media_type", "send image/png, image/jpeg, multipart or JSON");
      }
      pixels = images.map((bytes) => {
        const start = performance.now();
        const gray = decodeToGray(bytes);
        const decoded = performance.now();
        const modelPixels = toModelPixels(gray);
        decodeMs += decoded - start;
        preprocessMs += performance.now() - decoded;
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
        `decode;dur=${decodeMs.toFixed(2)}`,
        `preprocess;dur=${preprocessMs.toFixed(2)}`,
        `load;dur=${ms(loadStart, normalizeStart)}`,
        `inference;dur=${ms(inferenceStart, end)}`,
      ].join(", "),
    );
    return c.json({ modelId: model.manifest.modelId, predictions }, 200);
  });

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "stitch-edge",
      version: "1.0.0",
      description: "Fashion-MNIST predictions for every task of a cross-stitch network, from the edge",
    },
  });

  app.notFound((c) => {
    // A route's middleware and validators are listed as routes too: count each method once.
    const allowed = [
      ...new Set(
        app.routes
          .filter((route) => route.method !== "ALL" && route.path === c.req.path)
          .map((r) => r.method),
      ),
    ];
    if (allowed.length > 0) {
      c.header("Allow", allowed.join(", "));
      throw new ApiError(
        405,
        "method_not_allowed",
        `${c.req.method} is not allowed here; use ${allowed.join(", ")}`,
      );
    }
    throw new ApiError(404, "not_found", `nothing at ${c.req.path}`);
  });

  app.onError((error, c) => {
    if (error instanceof ApiError) {
      if (error.status === 401) c.header("WWW-Authenticate", "Bearer");
      return c.json(errorBody(error.code, error.message), error.status);
    }
    if (error instanceof HTTPException) {
      const status = error.status as ContentfulStatusCode;
      return c.json(errorBody(STATUS_CODES[status] ?? "bad_request", error.message || "bad request"), status);
    }
    console.error("unhandled error:", error);
    return c.json(errorBody("internal_error", "internal error"), 500);
  });

  return app;
}

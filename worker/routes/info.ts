// GET /health, GET /v1/model and GET / (the page).
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { manifestSchema } from "../../contracts/manifest.ts";
import type { Bindings, RuntimeProbes } from "../index.ts";
import type { ModelHolder } from "../inference.ts";
import { renderPage } from "../page.ts";
import { errorContent } from "../schemas.ts";

const healthSchema = z.object({
  status: z.enum(["ok", "loading", "failed"]).openapi({
    description: "ok: the model is loaded; loading: a load is under way; failed: the last load failed",
  }),
  modelLoaded: z.boolean(),
  retryAfterSeconds: z
    .number()
    .int()
    .optional()
    .openapi({ description: "When failed: until the next attempt" }),
  wasmHeapBytes: z.number().int().optional().openapi({ description: "onnxruntime's wasm memory" }),
});

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  summary: "Whether the model is loaded; asking starts the load when none has started",
  responses: {
    200: { description: "The model is loaded", content: { "application/json": { schema: healthSchema } } },
    503: {
      description: "The model is loading, or its last load failed (Retry-After: seconds to the next attempt)",
      content: { "application/json": { schema: healthSchema } },
    },
  },
});

const modelRoute = createRoute({
  method: "get",
  path: "/v1/model",
  summary: "The served model's manifest: tasks, classes, accuracies, quantization, hashes, version",
  security: [{ bearer: [] }],
  responses: {
    200: { description: "The manifest", content: { "application/json": { schema: manifestSchema } } },
    401: errorContent("API_TOKEN is set and the bearer token is missing or wrong"),
    503: errorContent("The model could not be loaded"),
  },
});

const pageRoute = createRoute({
  method: "get",
  path: "/",
  summary: "A page to try the model with an image",
  responses: { 200: { description: "HTML page", content: { "text/html": { schema: z.string() } } } },
});

export function registerInfoRoutes(
  app: OpenAPIHono<{ Bindings: Bindings }>,
  models: ModelHolder,
  probes?: RuntimeProbes,
) {
  app.openapi(healthRoute, (c) => {
    if (models.state === "idle") models.get(c.env.ASSETS).catch(() => undefined);
    const status = models.state === "loaded" ? "ok" : models.state === "failed" ? "failed" : "loading";
    const retryAfterSeconds = models.retryAfterSeconds();
    if (retryAfterSeconds !== undefined) c.header("Retry-After", String(retryAfterSeconds));
    const body = {
      status,
      modelLoaded: status === "ok",
      retryAfterSeconds,
      wasmHeapBytes: probes?.wasmHeapBytes(),
    } as const;
    return status === "ok" ? c.json(body, 200) : c.json(body, 503);
  });

  app.openapi(pageRoute, (c) => c.html(renderPage(c.get("secureHeadersNonce") ?? ""), 200));

  app.openapi(modelRoute, async (c) => c.json((await models.get(c.env.ASSETS)).manifest, 200));
}

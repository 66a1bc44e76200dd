// The HTTP API: createApp wires the middleware (middleware/) and the routes
// (routes/). The workerd entry (workerd.ts) wires in ORT's wasm and serves createApp().
import { OpenAPIHono } from "@hono/zod-openapi";
import { ImageDecoder } from "./image-decode.ts";
import { type AssetFetcher, ModelHolder } from "./inference.ts";
import { bearerAuth } from "./middleware/auth.ts";
import { corsFromEnv } from "./middleware/cors.ts";
import { answerError, answerNotFound } from "./middleware/errors.ts";
import { securityHeaders } from "./middleware/security.ts";
import { registerInfoRoutes } from "./routes/info.ts";
import { registerPredictRoute, validationError } from "./routes/predict.ts";

export { MAX_BATCH, MAX_BODY_BYTES } from "./routes/predict.ts";

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

export interface RuntimeProbes {
  /** Size of onnxruntime's wasm linear memory, where the runtime can see it. */
  wasmHeapBytes(): number | undefined;
}

/** The codecs' wasm as the bundle carries it: modules compiled at upload (see image-wasm.ts). */
const bundledCodecs = async () => (await import("./image-wasm.ts")).codecModules;

/**
 * The app. Under Node (tests, scripts) pass an ImageDecoder over
 * worker/dev/codecs.ts: the bundled codecs exist only inside the bundle.
 */
export function createApp(
  models = new ModelHolder(),
  probes?: RuntimeProbes,
  decoder = new ImageDecoder(bundledCodecs),
) {
  const app = new OpenAPIHono<{ Bindings: Bindings }>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error);
    },
  });

  app.use("*", securityHeaders);
  app.use("*", corsFromEnv);
  app.use("/v1/*", bearerAuth);

  registerInfoRoutes(app, models, probes);
  registerPredictRoute(app, models, decoder);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "stitch-edge",
      version: "1.0.0",
      description: "Fashion-MNIST predictions for every task of a cross-stitch network, from the edge",
    },
  });

  app.notFound(answerNotFound(app));
  app.onError(answerError);
  return app;
}

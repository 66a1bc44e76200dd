// The model behind the API: the manifest and the int8 graph read from the
// ASSETS binding, the graph's SHA-256 checked against the manifest, and one
// onnxruntime-web session created on first use and reused by every request.
import * as ort from "onnxruntime-web/wasm";
import { MANIFEST_FILE } from "../contracts/artifacts.ts";
import { PIXELS_PER_IMAGE } from "../contracts/image.ts";
import { type Manifest, parseManifest } from "../contracts/manifest.ts";
import { ApiError } from "./errors.ts";

/** What the Workers static-assets binding offers; a directory reader stands in for it under Node. */
export interface AssetFetcher {
  fetch(request: Request): Promise<Response>;
}

export interface TaskPrediction {
  label: string;
  index: number;
  score: number;
  top: { label: string; score: number }[];
}

export type ImagePrediction = Record<string, TaskPrediction>;

/** How many classes each task lists under `top`, best first. */
export const TOP_CLASSES = 3;

// Workers have no threads, and the proxy worker would need a script URL.
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;

async function readAsset(assets: AssetFetcher, file: string): Promise<Response> {
  const response = await assets.fetch(new Request(`https://assets.invalid/${encodeURIComponent(file)}`));
  if (!response.ok) throw new Error(`asset ${file} answered ${response.status}`);
  return response;
}

function toHex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function softmax(logits: Float32Array): Float32Array {
  let max = Number.NEGATIVE_INFINITY;
  for (const value of logits) max = Math.max(max, value);
  const exps = logits.map((value) => Math.exp(value - max));
  const total = exps.reduce((sum, value) => sum + value, 0);
  return exps.map((value) => value / total);
}

export class Model {
  /** session.run is not re-entrant: concurrent requests queue here. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly manifest: Manifest,
    private readonly session: ort.InferenceSession,
  ) {}

  static async load(assets: AssetFetcher): Promise<Model> {
    const manifest = parseManifest(await (await readAsset(assets, MANIFEST_FILE)).json());
    const served = manifest.models.int8;
    const bytes = new Uint8Array(await (await readAsset(assets, served.file)).arrayBuffer());
    const digest = toHex(await crypto.subtle.digest("SHA-256", bytes));
    if (digest !== served.sha256) {
      throw new Error(`${served.file} has SHA-256 ${digest}; the manifest says ${served.sha256}`);
    }
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
    return new Model(manifest, session);
  }

  /** Runs a batch of normalized 28x28 images and answers every task for each. */
  predict(images: Float32Array[]): Promise<ImagePrediction[]> {
    const result = this.queue.then(() => this.run(images));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async run(images: Float32Array[]): Promise<ImagePrediction[]> {
    const { input, tasks } = this.manifest;
    const batch = new Float32Array(images.length * PIXELS_PER_IMAGE);
    images.forEach((image, i) => {
      batch.set(image, i * PIXELS_PER_IMAGE);
    });
    const dims = input.shape.map((d, i) => (i === 0 ? images.length : d));
    const feeds = { [input.name]: new ort.Tensor("float32", batch, dims) };
    const outputs = await this.session.run(
      feeds,
      tasks.map((task) => task.output),
    );
    const predictions: ImagePrediction[] = images.map(() => ({}));
    for (const task of tasks) {
      const logits = outputs[task.output]?.data;
      if (!(logits instanceof Float32Array)) throw new Error(`output ${task.output} is not float32`);
      const classes = task.classes.length;
      predictions.forEach((prediction, i) => {
        const scores = softmax(logits.subarray(i * classes, (i + 1) * classes));
        const ranked = Array.from(scores, (score, index) => ({ index, score })).sort(
          (a, b) => b.score - a.score,
        );
        const best = ranked[0] ?? { index: 0, score: 0 };
        prediction[task.name] = {
          label: task.classes[best.index] ?? String(best.index),
          index: best.index,
          score: best.score,
          top: ranked.slice(0, TOP_CLASSES).map(({ index, score }) => ({
            label: task.classes[index] ?? String(index),
            score,
          })),
        };
      });
    }
    return predictions;
  }
}

export type ModelState = "idle" | "loading" | "loaded" | "failed";

/** Wait before the first retry of a failed load; each further failure doubles it, up to the maximum. */
export const FIRST_RETRY_MS = 1000;
export const MAX_RETRY_MS = 60_000;

/**
 * One model per assets binding, loaded on first use and shared. A failed load
 * is logged with its detail and retried with exponential backoff: until the
 * next attempt is due, requests get a 503 at once instead of re-running it.
 */
export class ModelHolder {
  private loading: Promise<Model> | undefined;
  private failures = 0;
  private retryAt = 0;
  state: ModelState = "idle";

  constructor(private readonly now: () => number = () => Date.now()) {}

  /** Seconds until the next load attempt, while a failed load waits for it. */
  retryAfterSeconds(): number | undefined {
    if (this.state !== "failed") return undefined;
    return Math.max(1, Math.ceil((this.retryAt - this.now()) / 1000));
  }

  get(assets: AssetFetcher): Promise<Model> {
    if (this.state === "failed" && this.now() < this.retryAt) return Promise.reject(this.unavailable());
    if (!this.loading || this.state === "failed") {
      this.state = "loading";
      this.loading = Model.load(assets).then(
        (model) => {
          this.state = "loaded";
          this.failures = 0;
          return model;
        },
        (error: unknown) => {
          this.failures += 1;
          this.state = "failed";
          this.retryAt = this.now() + Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (this.failures - 1));
          console.error(`model load failed (attempt ${this.failures}):`, error);
          throw this.unavailable();
        },
      );
    }
    return this.loading;
  }

  private unavailable(): ApiError {
    return new ApiError(503, "model_unavailable", "the model is not available; retry later", {
      "Retry-After": String(this.retryAfterSeconds() ?? 1),
    });
  }
}

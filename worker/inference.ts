// The model behind the API: the manifest read from the ASSETS binding and one
// engine (engine-stitch.ts or engine-ort.ts, whichever the entry bundles) opened
// on first use and reused by every request; files are checked against the
// manifest's SHA-256 before use.
import { MANIFEST_FILE } from "../contracts/artifacts.ts";
import { PIXELS_PER_IMAGE } from "../contracts/image.ts";
import { type AnswerSource, answerSources, type Manifest, parseManifest } from "../contracts/manifest.ts";
import { answerScores } from "../contracts/scores.ts";
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

export type EngineName = "stitch" | "ort";

/** Runs the served graph: per task (manifest order) the logits of `count` images, image-major. */
export interface LogitsEngine {
  readonly name: EngineName;
  run(batch: Float32Array, count: number): Promise<Float32Array[]>;
  /** Bytes of the engine's wasm linear memory. */
  heapBytes(): number | undefined;
}

export interface EngineOpener {
  readonly name: EngineName;
  open(assets: AssetFetcher, manifest: Manifest): Promise<LogitsEngine>;
}

async function readAsset(assets: AssetFetcher, file: string): Promise<Response> {
  const response = await assets.fetch(new Request(`https://assets.invalid/${encodeURIComponent(file)}`));
  if (!response.ok) throw new Error(`asset ${file} answered ${response.status}`);
  return response;
}

function toHex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A file the manifest names, its length checked: hashing the 6.5 MB engine pack in the isolate
 * costs 25-50 ms of CPU, over the free plan's 10 ms for the first request, so its SHA-256 is
 * checked where it is staged (worker/dev/stage-assets.ts, before every serve and deploy).
 */
export async function readSized(
  assets: AssetFetcher,
  entry: { file: string; bytes: number },
): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = new Uint8Array(await (await readAsset(assets, entry.file)).arrayBuffer());
  if (bytes.length !== entry.bytes)
    throw new Error(`${entry.file} has ${bytes.length} bytes; the manifest says ${entry.bytes}`);
  return bytes;
}

/** A file the manifest names, its SHA-256 checked. */
export async function readVerified(
  assets: AssetFetcher,
  entry: { file: string; sha256: string },
): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = new Uint8Array(await (await readAsset(assets, entry.file)).arrayBuffer());
  const digest = toHex(await crypto.subtle.digest("SHA-256", bytes));
  if (digest !== entry.sha256)
    throw new Error(`${entry.file} has SHA-256 ${digest}; the manifest says ${entry.sha256}`);
  return bytes;
}

export class Model {
  /** session.run is not re-entrant: concurrent requests queue here. */
  private queue: Promise<unknown> = Promise.resolve();

  /** Per task, the logits its answer reads (its own, or a finer task's). */
  private readonly answers: AnswerSource[];

  private constructor(
    readonly manifest: Manifest,
    readonly engine: LogitsEngine,
  ) {
    this.answers = answerSources(manifest);
  }

  static async load(assets: AssetFetcher, opener: EngineOpener): Promise<Model> {
    const manifest = parseManifest(await (await readAsset(assets, MANIFEST_FILE)).json());
    return new Model(manifest, await opener.open(assets, manifest));
  }

  /** Runs a batch of normalized 28x28 images and answers every task for each. */
  predict(images: Float32Array[]): Promise<ImagePrediction[]> {
    const result = this.queue.then(() => this.run(images));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async run(images: Float32Array[]): Promise<ImagePrediction[]> {
    const { tasks } = this.manifest;
    const batch = new Float32Array(images.length * PIXELS_PER_IMAGE);
    images.forEach((image, i) => {
      batch.set(image, i * PIXELS_PER_IMAGE);
    });
    const outputs = await this.engine.run(batch, images.length);
    const predictions: ImagePrediction[] = images.map(() => ({}));
    for (const [t, task] of tasks.entries()) {
      const { source, sourceClasses, rule } = this.answers[t] as AnswerSource;
      const logits = outputs[source];
      if (!logits) throw new Error(`the engine gave no logits for ${tasks[source]?.output}`);
      predictions.forEach((prediction, i) => {
        const scores = answerScores(logits.subarray(i * sourceClasses, (i + 1) * sourceClasses), rule);
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
  private model: Model | undefined;
  private failures = 0;
  private retryAt = 0;
  state: ModelState = "idle";

  constructor(
    readonly opener: EngineOpener,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Seconds until the next load attempt, while a failed load waits for it. */
  retryAfterSeconds(): number | undefined {
    if (this.state !== "failed") return undefined;
    return Math.max(1, Math.ceil((this.retryAt - this.now()) / 1000));
  }

  /** Bytes of the loaded engine's wasm memory. */
  heapBytes(): number | undefined {
    return this.model?.engine.heapBytes();
  }

  get(assets: AssetFetcher): Promise<Model> {
    if (this.state === "failed" && this.now() < this.retryAt) return Promise.reject(this.unavailable());
    if (!this.loading || this.state === "failed") {
      this.state = "loading";
      this.loading = Model.load(assets, this.opener).then(
        (model) => {
          this.state = "loaded";
          this.model = model;
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

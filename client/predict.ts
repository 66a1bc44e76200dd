// npm run predict -- <images...> [--url URL] [--token TOKEN]
//
// Reads any image sharp can read (PNG, JPEG, WebP, GIF, TIFF, AVIF, SVG...),
// flattens transparency onto white, shrinks it to at most 256 px a side, sends
// them as one multipart batch to POST /v1/predict and prints every task's answer.
// The token defaults to $API_TOKEN.
import { basename } from "node:path";
import sharp from "sharp";
import { z } from "zod";
import { type Command, parseCommand, runCommand } from "../cli/args.ts";

export const DEFAULT_URL = "http://127.0.0.1:8787";
/** Plenty for a 28x28 model, and keeps uploads far below the worker's 5 MB limit. */
const MAX_UPLOAD_SIDE = 256;
/** The worker's batch limit. */
const BATCH = 32;

export interface TaskPrediction {
  label: string;
  score: number;
  top: { label: string; score: number }[];
}
interface PredictResponse {
  modelId: string;
  predictions: Record<string, TaskPrediction>[];
}

/** An error meant for the person at the terminal: printed without a stack. */
export class ClientError extends Error {}

export async function prepareImage(path: string): Promise<Uint8Array<ArrayBuffer>> {
  try {
    const png = await sharp(path)
      .flatten({ background: "#ffffff" })
      .resize(MAX_UPLOAD_SIDE, MAX_UPLOAD_SIDE, { fit: "inside", withoutEnlargement: true })
      .png()
      .toBuffer();
    return new Uint8Array(png);
  } catch (error) {
    throw new ClientError(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export async function requestPredictions(
  url: string,
  images: Uint8Array<ArrayBuffer>[],
  token?: string,
): Promise<{ body: PredictResponse; timing: string }> {
  const form = new FormData();
  images.forEach((png, i) => {
    form.append("image", new Blob([png], { type: "image/png" }), `image-${i}.png`);
  });
  // Sent whole with a Content-Length rather than streamed: a server that refuses the request from
  // its headers (401, 413) answers and closes, and a streaming upload then sees only a broken pipe.
  const encoded = new Response(form);
  const body = await encoded.arrayBuffer();
  const contentType = encoded.headers.get("content-type") ?? "multipart/form-data";
  const endpoint = new URL("/v1/predict", url);
  let response: Response;
  try {
    response = await fetch(endpoint, {
      method: "POST",
      body,
      headers: { "content-type": contentType, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
    throw new ClientError(`cannot reach ${endpoint.origin} (${why}); is the worker running (npm run dev)?`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ClientError(
      `${endpoint} answered ${response.status} with something that is not JSON: ${text.slice(0, 200)}`,
    );
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } }).error;
    throw new ClientError(
      `the server refused the request: ${response.status} ${error?.code ?? ""}: ${error?.message ?? text.slice(0, 200)}`,
    );
  }
  return { body: parsed as PredictResponse, timing: response.headers.get("server-timing") ?? "" };
}

const percent = (score: number) => `${(score * 100).toFixed(1)}%`;

/** One row per image, one column per task: "label (score)". */
export function formatTable(names: string[], predictions: Record<string, TaskPrediction>[]): string {
  const tasks = Object.keys(predictions[0] ?? {});
  const rows = [
    ["image", ...tasks],
    ...predictions.map((prediction, i) => [
      names[i] ?? "",
      ...tasks.map((task) => {
        const p = prediction[task];
        return p ? `${p.label} (${percent(p.score)})` : "";
      }),
    ]),
  ];
  const widths = (rows[0] ?? []).map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (row: string[]) =>
    row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(rows[0] ?? []), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join(
    "\n",
  );
}

const command = {
  name: "npm run predict --",
  positionals: "<image>...",
  summary: "Sends images (any format sharp reads) to a running worker and prints every task's answer.",
  flags: {
    url: { value: "URL", help: "the worker" },
    token: { value: "TOKEN", help: "bearer token for /v1/* ($API_TOKEN)" },
  },
  schema: z.object({
    url: z.url().default(DEFAULT_URL),
    token: z.string().optional(),
    positionals: z.array(z.string()).min(1, "give at least one image"),
  }),
} satisfies Command<z.ZodType>;

export async function main(argv: string[]): Promise<void> {
  const flags = parseCommand(command, argv);
  if (flags === null) return;
  const { url, positionals } = flags;
  const token = flags.token ?? process.env.API_TOKEN;
  for (let start = 0; start < positionals.length; start += BATCH) {
    const paths = positionals.slice(start, start + BATCH);
    const images = await Promise.all(paths.map(prepareImage));
    const { body, timing } = await requestPredictions(url, images, token);
    if (start === 0) console.log(`model ${body.modelId} at ${url}\n`);
    console.log(
      formatTable(
        paths.map((p) => basename(p)),
        body.predictions,
      ),
    );
    if (timing) console.log(`\nserver timing (ms): ${timing}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runCommand(command, () => main(process.argv.slice(2)));
}

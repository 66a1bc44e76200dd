// Renders bench/results/*.json as one markdown summary: bench/results/summary.md,
// and the same text between the bench-summary markers in README.md, so the
// README's figures are always the committed results. A missing result file
// leaves its section out rather than failing.
//
//   tsx bench/summary.ts [--results bench/results] [--readme README.md]
import { existsSync } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { z } from "zod";
import { flagValue, parseCommandOrExit } from "../cli/args.ts";

export const SUMMARY_START = "<!-- bench-summary:start -->";
export const SUMMARY_END = "<!-- bench-summary:end -->";

// The result files' shapes, as far as the summary reads them.
interface TrainSpeed {
  measured_at: string;
  machine: { load_average_1m_before: number };
  keras_reference_images_per_second: number;
  keras_same_run?: { tensorflow: string; images_per_second: Record<string, number> } | null;
  results: {
    variant: string;
    images_per_second: number;
    seconds_per_epoch: number;
    ratio_to_keras: number;
    ratio_to_keras_same_run?: number | null;
    speedup_over_naive_fit_same_run: number;
  }[];
}
interface Timing {
  p50Ms: number;
}
interface ExportLayouts {
  measuredAt: string;
  model: string;
  results: { layout: string; precision: string; bytes: number; single: Timing; batch32: Timing }[];
}
interface ExportParity {
  run: string;
  sizes: { float32Bytes: number; int8Bytes: number; ratio: number };
  tasks: {
    task: string;
    tfjsAccuracy: number;
    float32MaxAbsLogitDelta: number;
    int8Accuracy: number;
    int8Agreement: number;
  }[];
}
interface Percentiles {
  p50: number;
  p95: number;
}
interface Context {
  context: { date: string; loadAverage1m: number };
}
interface WorkerLatency extends Context {
  modelId: string;
  workerd: {
    coldStart: { firstRequestMs: number; serverTiming: Record<string, number> }[];
    firstRequests: { singleMs: Percentiles; singleServerInferenceMs: Percentiles };
    steadyStateAfterRequests: number;
    singleMs: Percentiles;
    batch32Ms: Percentiles;
    singleServerInferenceMs: Percentiles;
    batch32ServerInferenceMs: Percentiles;
    jpeg1MP: { decodeMs: Percentiles };
    wasmHeapMiB: number;
  };
  native: {
    singleMs: Percentiles;
    batch32Ms: Percentiles;
    coldStart: { processStartToFirstAnswerMs: number }[];
  };
  goals: Record<string, { goal: number; reached: number; met: boolean }>;
}
interface WorkerBundle extends Context {
  wranglerReported: { uploadKiB: number; gzipKiB: number };
  gzipMiB: number;
  goal: { gzipMiB: number; met: boolean };
}
interface WorkerLoadRun {
  completed: number;
  elapsedS: number;
  requestsPerS: number;
  errorCount: number;
  latencyMs: Percentiles;
  memory: {
    start: { workerdRssMiB: number; wasmHeapMiB: number };
    end: { workerdRssMiB: number; wasmHeapMiB: number };
  };
}
interface WorkerLoad extends Context {
  concurrency: number;
  /** The first run is on workerd's default V8 flags (bench/worker-load.ts). */
  runs: WorkerLoadRun[];
}

export interface Results {
  trainSpeed?: TrainSpeed;
  exportLayouts?: ExportLayouts;
  exportParity?: ExportParity;
  workerLatency?: WorkerLatency;
  workerBundle?: WorkerBundle;
  workerLoad?: WorkerLoad;
}

const FILES: Record<keyof Results, string> = {
  trainSpeed: "train-speed.json",
  exportLayouts: "export-layouts.json",
  exportParity: "export-parity.json",
  workerLatency: "worker-latency.json",
  workerBundle: "worker-bundle.json",
  workerLoad: "worker-load.json",
};

export async function readResults(dir: string): Promise<Results> {
  const results: Results = {};
  for (const [key, file] of Object.entries(FILES) as [keyof Results, string][]) {
    const path = join(dir, file);
    if (existsSync(path)) Object.assign(results, { [key]: JSON.parse(await readFile(path, "utf8")) });
  }
  return results;
}

const fixed = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");
const percent = (value: number, digits = 2) => `${fixed(value * 100, digits)} %`;
const day = (iso: string) => iso.slice(0, 10);
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
/** A markdown table with padded columns, the way the formatter (Biome) writes them. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, 3, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join(" | ")} |`;
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

function trainSection(t: TrainSpeed): string {
  const keras = t.keras_same_run;
  const header = keras
    ? `Keras (TensorFlow ${keras.tensorflow}) trained the same towers in the same run: ${Object.entries(
        keras.images_per_second,
      )
        .map(([variant, speed]) => `${variant} ${fixed(speed, 0)}`)
        .join(", ")} images/s`
    : `Keras reference ${t.keras_reference_images_per_second} images/s from SPEC.md`;
  return [
    `**Training speed** (\`train-speed.json\`, ${day(t.measured_at)}, load average ${fixed(t.machine.load_average_1m_before)} when it started; ${header})`,
    "",
    table(
      [
        "variant",
        "images/s",
        "s/epoch",
        "vs naive model.fit, same run",
        "vs Keras, same run",
        `vs Keras' ${t.keras_reference_images_per_second}`,
      ],
      t.results.map((r) => [
        r.variant,
        String(r.images_per_second),
        fixed(r.seconds_per_epoch, 0),
        `${fixed(r.speedup_over_naive_fit_same_run, 2)}x`,
        r.ratio_to_keras_same_run ? `${fixed(r.ratio_to_keras_same_run, 2)}x` : "not measured",
        `${fixed(r.ratio_to_keras, 2)}x`,
      ]),
    ),
  ].join("\n");
}

function exportSection(parity: ExportParity | undefined, layouts: ExportLayouts | undefined): string {
  const parts: string[] = [];
  if (parity) {
    parts.push(
      [
        `**Export** (\`export-parity.json\`, run \`${basename(parity.run)}\`): int8 ${fixed(parity.sizes.int8Bytes / 1e6, 2)} MB = ${percent(parity.sizes.ratio, 1)} of float32 ${fixed(parity.sizes.float32Bytes / 1e6, 2)} MB`,
        "",
        table(
          ["task", "tfjs", "int8 ONNX", "int8 agrees with tfjs", "float32 ONNX max abs logit diff"],
          parity.tasks.map((t) => [
            t.task,
            percent(t.tfjsAccuracy),
            percent(t.int8Accuracy),
            percent(t.int8Agreement),
            t.float32MaxAbsLogitDelta.toExponential(1),
          ]),
        ),
      ].join("\n"),
    );
  }
  if (layouts) {
    parts.push(
      [
        `**Graph layouts** in onnxruntime-web wasm, one thread, under Node (\`export-layouts.json\`, ${day(layouts.measuredAt)}, p50 ms)`,
        "",
        table(
          ["layout", "precision", "MB", "single", "batch 32"],
          layouts.results.map((r) => [
            r.layout,
            r.precision,
            fixed(r.bytes / 1e6, 2),
            fixed(r.single.p50Ms, 2),
            fixed(r.batch32.p50Ms, 1),
          ]),
        ),
      ].join("\n"),
    );
  }
  return parts.join("\n\n");
}

function workerSection(latency?: WorkerLatency, bundle?: WorkerBundle, load?: WorkerLoad): string {
  const rows: string[][] = [];
  if (latency) {
    const { workerd, native, goals } = latency;
    const load = median(workerd.coldStart.map((c) => c.serverTiming.load ?? Number.NaN));
    rows.push(
      [
        "first 100 requests after start: single p50 / p95 (ms, over HTTP; inference p50)",
        `${fixed(workerd.firstRequests.singleMs.p50)} / ${fixed(workerd.firstRequests.singleMs.p95)} (${fixed(workerd.firstRequests.singleServerInferenceMs.p50)})`,
        "",
        "",
      ],
      [
        `steady state (after ${workerd.steadyStateAfterRequests} requests): single p50 / p95 (ms, over HTTP)`,
        `${fixed(workerd.singleMs.p50)} / ${fixed(workerd.singleMs.p95)}`,
        `${fixed(native.singleMs.p50)} / ${fixed(native.singleMs.p95)}`,
        `${goals.singleP50Ms?.goal} p50`,
      ],
      [
        "batch 32 p50 / p95 (ms)",
        `${fixed(workerd.batch32Ms.p50)} / ${fixed(workerd.batch32Ms.p95)}`,
        `${fixed(native.batch32Ms.p50)} / ${fixed(native.batch32Ms.p95)}`,
        `${goals.batch32P50Ms?.goal} p50`,
      ],
      [
        "inference alone, single / batch 32 (ms, Server-Timing)",
        `${fixed(workerd.singleServerInferenceMs.p50)} / ${fixed(workerd.batch32ServerInferenceMs.p50)}`,
        "",
        "",
      ],
      [
        "cold start: first request (ms; model load alone)",
        `${fixed(median(workerd.coldStart.map((c) => c.firstRequestMs)), 0)} (${fixed(load, 0)})`,
        `${fixed(median(native.coldStart.map((c) => c.processStartToFirstAnswerMs)), 0)} (process start)`,
        `${goals.coldStartFirstRequestMs?.goal}`,
      ],
      ["1-megapixel JPEG decode p50 (ms)", fixed(workerd.jpeg1MP.decodeMs.p50, 0), "", ""],
      ["wasm heap (MiB)", fixed(workerd.wasmHeapMiB, 2), "", `${goals.wasmHeapMiB?.goal}`],
    );
  }
  if (bundle) rows.push(["bundle, gzip (MiB)", fixed(bundle.gzipMiB, 2), "", `${bundle.goal.gzipMiB}`]);
  const run = load?.runs[0];
  if (load && run) {
    rows.push([
      `load: ${run.completed} requests at concurrency ${load.concurrency} in ${fixed(run.elapsedS, 0)} s`,
      `${run.errorCount} errors, p50 ${fixed(run.latencyMs.p50, 0)} ms, RSS ${fixed(run.memory.start.workerdRssMiB, 0)} -> ${fixed(run.memory.end.workerdRssMiB, 0)} MiB, heap ${fixed(run.memory.start.wasmHeapMiB, 1)} -> ${fixed(run.memory.end.wasmHeapMiB, 1)} MiB`,
      "",
      "0 errors, flat memory",
    ]);
  }
  if (rows.length === 0) return "";
  const context = latency ?? bundle ?? load;
  return [
    `**Worker** in workerd over loopback vs onnxruntime-node on the same graph (\`worker-*.json\`${latency ? `, model \`${latency.modelId}\`` : ""}${context ? `, ${day(context.context.date)}, load average ${fixed(context.context.loadAverage1m)}` : ""})`,
    "",
    table(["figure", "worker (workerd)", "native", "goal"], rows),
  ].join("\n");
}

export function renderSummary(results: Results): string {
  const sections = [
    results.trainSpeed && trainSection(results.trainSpeed),
    exportSection(results.exportParity, results.exportLayouts),
    workerSection(results.workerLatency, results.workerBundle, results.workerLoad),
  ].filter((s): s is string => Boolean(s));
  return `${sections.join("\n\n")}\n`;
}

/** README text with the part between the markers replaced; an error when a marker is missing. */
export function spliceReadme(readme: string, summary: string): string {
  const start = readme.indexOf(SUMMARY_START);
  const end = readme.indexOf(SUMMARY_END);
  if (start < 0 || end < start)
    throw new Error(`README.md has no ${SUMMARY_START} ... ${SUMMARY_END} section`);
  return `${readme.slice(0, start + SUMMARY_START.length)}\n\n${summary}\n${readme.slice(end)}`;
}

async function writeAtomically(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const values = parseCommandOrExit(
    {
      name: "npm run bench:summary --",
      summary:
        "the benchmark results as one table, in <results>/summary.md and the README's summary section.",
      flags: {
        results: { value: "DIR", help: "the benchmarks' JSON results" },
        readme: { value: "FILE", help: "the README whose summary section is replaced" },
      },
      schema: z.object({
        results: flagValue.path().default("bench/results"),
        readme: flagValue.path().default("README.md"),
      }),
    },
    process.argv.slice(2),
  );
  const summary = renderSummary(await readResults(values.results));
  await writeAtomically(join(values.results, "summary.md"), `# Benchmark summary\n\n${summary}`);
  await writeAtomically(values.readme, spliceReadme(await readFile(values.readme, "utf8"), summary));
  console.log(`wrote ${join(values.results, "summary.md")} and the summary section of ${values.readme}`);
}

// `npm run export -- --run <run folder> [--out artifacts] [options]`
// Any failure prints one sentence and exits 1: no stack trace, no partial output.
import { parseArgs } from "node:util";
import { DEFAULT_TOLERANCES, exportRun } from "./export.ts";
import type { GraphLayout } from "./passes/index.ts";
import { tfjsLogits } from "./tfjs-reference.ts";

const USAGE = `usage: npm run export -- --run <run folder> [--out <dir>] [--layout fused|per_tower]
  [--calibration-samples N] [--selection-samples N] [--data_dir <dir>]
  [--max-logit-delta X] [--max-accuracy-drop POINTS] [--min-agreement FRACTION] [--max-size-ratio FRACTION]
  [--min-engine-agreement FRACTION] [--max-engine-accuracy-delta POINTS]`;

function positiveNumber(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0)
    throw new Error(`--${flag} must be a non-negative number, got ${value}`);
  return parsed;
}

function positiveInteger(flag: string, value: string | undefined, fallback: number): number {
  const parsed = positiveNumber(flag, value, fallback);
  if (!Number.isInteger(parsed) || parsed < 1)
    throw new Error(`--${flag} must be a positive integer, got ${value}`);
  return parsed;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      run: { type: "string" },
      out: { type: "string", default: "artifacts" },
      layout: { type: "string", default: "per_tower" },
      "calibration-samples": { type: "string" },
      "selection-samples": { type: "string" },
      data_dir: { type: "string" },
      "max-logit-delta": { type: "string" },
      "max-accuracy-drop": { type: "string" },
      "min-agreement": { type: "string" },
      "max-size-ratio": { type: "string" },
      "min-engine-agreement": { type: "string" },
      "max-engine-accuracy-delta": { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.run) throw new Error(`--run is required\n${USAGE}`);
  if (values.layout !== "fused" && values.layout !== "per_tower") {
    throw new Error(`--layout must be fused or per_tower, got ${values.layout}`);
  }
  const started = Date.now();
  const { report } = await exportRun({
    runDir: values.run,
    outDir: values.out,
    layout: values.layout as GraphLayout,
    calibrationSamples: positiveInteger("calibration-samples", values["calibration-samples"], 4000),
    selectionSamples: positiveInteger("selection-samples", values["selection-samples"], 2000),
    dataDir: values.data_dir,
    tolerances: {
      maxLogitDelta: positiveNumber(
        "max-logit-delta",
        values["max-logit-delta"],
        DEFAULT_TOLERANCES.maxLogitDelta,
      ),
      maxAccuracyDropPoints: positiveNumber(
        "max-accuracy-drop",
        values["max-accuracy-drop"],
        DEFAULT_TOLERANCES.maxAccuracyDropPoints,
      ),
      minAgreement: positiveNumber("min-agreement", values["min-agreement"], DEFAULT_TOLERANCES.minAgreement),
      maxSizeRatio: positiveNumber(
        "max-size-ratio",
        values["max-size-ratio"],
        DEFAULT_TOLERANCES.maxSizeRatio,
      ),
      minEngineAgreement: positiveNumber(
        "min-engine-agreement",
        values["min-engine-agreement"],
        DEFAULT_TOLERANCES.minEngineAgreement,
      ),
      maxEngineAccuracyDelta: positiveNumber(
        "max-engine-accuracy-delta",
        values["max-engine-accuracy-delta"],
        DEFAULT_TOLERANCES.maxEngineAccuracyDelta,
      ),
    },
    reference: tfjsLogits,
    log: (line) => console.error(line),
  });
  console.log(
    JSON.stringify(
      { out: values.out, seconds: (Date.now() - started) / 1000, sizes: report.sizes, tasks: report.tasks },
      null,
      2,
    ),
  );
}

main().catch((error: unknown) => {
  console.error(`export failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

// A graph of the real export's architecture, for benchmarking the worker before a trained model
// exists: the export itself (export/export.ts: folding, per-tower layout, calibrated int8 QDQ,
// manifest) run on a run folder of random weights from the training stage's model factory
// (testing/run-folder.ts), so the benchmark times the graph a real export writes. Random weights:
// for timing only, so the int8 accuracy limits are lifted; float32 parity still holds.
//
//   tsx bench/worker-model.ts [--out DIR]   (default .cache/bench-artifacts)
import { rm } from "node:fs/promises";
import { resolve } from "node:path";
import { z } from "zod";
import { type Command, flagValue, parseCommand, runCommand } from "../cli/args.ts";
import type { Manifest } from "../contracts/manifest.ts";
import { DEFAULT_TOLERANCES, exportRun } from "../export/export.ts";
import { tfjsLogits } from "../export/tfjs-reference.ts";
import { buildFixtureModel, writeRunFolder } from "../testing/run-folder.ts";
import { BENCH_ARTIFACTS_DIR } from "./worker-common.ts";

export async function writeBenchArtifacts(dir: string): Promise<Manifest> {
  const runDir = await writeRunFolder(buildFixtureModel(7, true), true);
  try {
    const { manifest } = await exportRun({
      runDir,
      outDir: dir,
      layout: "per_tower",
      calibrationSamples: 500,
      selectionSamples: 200,
      testLimit: 200,
      tolerances: { ...DEFAULT_TOLERANCES, maxAccuracyDropPoints: 100, minAgreement: 0 },
      reference: tfjsLogits,
      log: (line) => console.error(line),
    });
    return manifest;
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
}

const command = {
  name: "tsx bench/worker-model.ts",
  summary: "Exports a random-weight model of the real architecture for the worker benchmarks.",
  flags: { out: { value: "DIR", help: `artifacts folder (${BENCH_ARTIFACTS_DIR})` } },
  schema: z.object({ out: flagValue.path().default(BENCH_ARTIFACTS_DIR) }),
} satisfies Command<z.ZodType>;

if (import.meta.url === `file://${process.argv[1]}`) {
  runCommand(command, async () => {
    const flags = parseCommand(command, process.argv.slice(2));
    if (flags === null) return;
    const dir = resolve(flags.out);
    const manifest = await writeBenchArtifacts(dir);
    console.log(`wrote ${manifest.modelId} (${manifest.models.int8.bytes} bytes int8) to ${dir}`);
  });
}

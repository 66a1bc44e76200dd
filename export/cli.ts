// `npm run export -- --run <run folder> [--out DIR] [flags]`: passes the tfjs reference into
// the export (nothing else in export/ loads TensorFlow). Failures print one sentence; an export
// that fails writes nothing.
import { z } from "zod";
import { type Command, flagValue, parseCommand, runCommand } from "../cli/args.ts";
import { DEFAULT_TOLERANCES, exportRun } from "./export.ts";
import { tfjsLogits } from "./tfjs-reference.ts";

const command = {
  name: "npm run export --",
  summary:
    "Folds batch-norm, quantizes to int8 QDQ, checks parity with the trained model, writes the artifacts.",
  flags: {
    run: { value: "DIR", help: "run folder to export (required)" },
    out: { value: "DIR", help: "artifacts folder, replaced only when every check passes" },
    layout: { value: "fused|per_tower", help: "graph layout" },
    calibration_samples: { value: "N", help: "training images the activation ranges come from" },
    selection_samples: { value: "N", help: "training images that choose the calibration method" },
    data_dir: { value: "DIR", help: "folder with the Fashion-MNIST IDX files (the loader's search order)" },
    max_logit_delta: { value: "X", help: "float32 ONNX vs tfjs, any logit" },
    max_accuracy_drop: { value: "POINTS", help: "int8 vs tfjs test accuracy per task" },
    min_agreement: { value: "FRACTION", help: "int8 vs tfjs predicted-class agreement per task" },
    max_size_ratio: { value: "FRACTION", help: "int8 bytes / float32 bytes" },
    min_engine_agreement: {
      value: "FRACTION",
      help: "engine vs onnxruntime-web int8 predicted-class agreement per task",
    },
    max_engine_accuracy_delta: {
      value: "POINTS",
      help: "engine vs onnxruntime-web int8 test accuracy per task",
    },
  },
  schema: z.object({
    run: z.string({ error: "required" }).min(1, "expected a path"),
    out: flagValue.path().default("artifacts"),
    layout: z.enum(["fused", "per_tower"]).default("per_tower"),
    calibration_samples: flagValue.integer(1).default(4000),
    selection_samples: flagValue.integer(1).default(2000),
    data_dir: flagValue.path().optional(),
    max_logit_delta: flagValue.number(0).default(DEFAULT_TOLERANCES.maxLogitDelta),
    max_accuracy_drop: flagValue.number(0).default(DEFAULT_TOLERANCES.maxAccuracyDropPoints),
    min_agreement: flagValue.number(0).default(DEFAULT_TOLERANCES.minAgreement),
    max_size_ratio: flagValue.number(0).default(DEFAULT_TOLERANCES.maxSizeRatio),
    min_engine_agreement: flagValue.number(0).default(DEFAULT_TOLERANCES.minEngineAgreement),
    max_engine_accuracy_delta: flagValue.number(0).default(DEFAULT_TOLERANCES.maxEngineAccuracyDelta),
  }),
} satisfies Command<z.ZodType>;

runCommand(command, async () => {
  const flags = parseCommand(command, process.argv.slice(2));
  if (flags === null) return;
  const started = Date.now();
  const { report } = await exportRun({
    runDir: flags.run,
    outDir: flags.out,
    layout: flags.layout,
    calibrationSamples: flags.calibration_samples,
    selectionSamples: flags.selection_samples,
    dataDir: flags.data_dir,
    tolerances: {
      maxLogitDelta: flags.max_logit_delta,
      maxAccuracyDropPoints: flags.max_accuracy_drop,
      minAgreement: flags.min_agreement,
      maxSizeRatio: flags.max_size_ratio,
      minEngineAgreement: flags.min_engine_agreement,
      maxEngineAccuracyDelta: flags.max_engine_accuracy_delta,
    },
    reference: tfjsLogits,
    log: (line) => console.error(line),
  });
  console.log(
    JSON.stringify(
      { out: flags.out, seconds: (Date.now() - started) / 1000, sizes: report.sizes, tasks: report.tasks },
      null,
      2,
    ),
  );
});

// The main job: data -> baseline and cross-stitch runs -> comparison report ->
// export of the better run -> the worker in workerd answering real test images.
// Each stage runs as its own process and talks to the next through files, so a
// re-run skips what is finished and resumes what was interrupted.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import sharp from "sharp";
import { z } from "zod";
import {
  type Command,
  EXIT,
  flagValue,
  InterruptedError,
  parseCommand,
  runCommand,
  UsageError,
} from "../cli/args.ts";
import { formatTable, requestPredictions } from "../client/predict.ts";
import { ENGINE_FILE, FLOAT32_FILE, INT8_FILE, MANIFEST_FILE, REPORT_FILE } from "../contracts/artifacts.ts";
import { IMAGE_SIZE, PIXELS_PER_IMAGE } from "../contracts/image.ts";
import { type Preset, TRAINING_PRESETS } from "../contracts/presets.ts";
import { RUN_FILES, type RunSummary } from "../contracts/run-folder.ts";
import { SOURCE_CLASSES } from "../contracts/tasks.ts";
import { loadFashionMnist } from "../data/fashion-mnist.ts";
import { readExportReport, readManifest } from "../stage-files/artifacts.ts";
import { readSummary } from "../stage-files/run-folder.ts";
import { stageAssets } from "../worker/dev/stage-assets.ts";
import { startWorkerd } from "../worker/dev/workerd.ts";

const REPO_ROOT = path.resolve(new URL("..", import.meta.url).pathname);

interface PipelineConfig {
  quick: boolean;
  preset: Preset;
  seed: number;
  data_dir: string | null;
  runs_dir: string;
  artifacts: string;
  samples: number;
}

/** --quick: a first look in a few minutes; the default reproduces the reference hyperparameters. */
const QUICK_TRAINING = ["--limit", "12000", "--n_epoch", "3"];

const command = {
  name: "npm run pipeline --",
  summary:
    "data -> baseline and cross-stitch runs -> comparison -> export of the better run -> workerd answers; re-running resumes.",
  flags: {
    quick: {
      help: `train with ${QUICK_TRAINING.join(" ")} (a few minutes) instead of the preset's full run`,
    },
    preset: {
      value: TRAINING_PRESETS.join("|"),
      help: "training preset (npm run train -- --help)",
    },
    seed: { value: "N", help: "seed of both training runs" },
    data_dir: { value: "DIR", help: "folder with the Fashion-MNIST IDX files (the loader's search order)" },
    runs_dir: { value: "DIR", help: "where the run folders go (runs/pipeline[-<preset>][-quick])" },
    artifacts: { value: "DIR", help: "where the export goes (artifacts or artifacts-quick)" },
    samples: { value: "N", help: "test images sent to the local worker at the end" },
  },
  schema: z
    .object({
      quick: z.boolean().default(false),
      preset: z.enum(TRAINING_PRESETS).default("reference"),
      seed: flagValue.integer(0).default(1),
      data_dir: flagValue.path().optional(),
      runs_dir: flagValue.path().optional(),
      artifacts: flagValue.path().optional(),
      samples: flagValue.integer(1).default(8),
    })
    .transform(
      ({ quick, preset, seed, data_dir, runs_dir, artifacts, samples }): PipelineConfig => ({
        quick,
        preset,
        seed,
        data_dir: data_dir ?? null,
        runs_dir:
          runs_dir ?? `runs/pipeline${preset === "reference" ? "" : `-${preset}`}${quick ? "-quick" : ""}`,
        // A quick export never lands where `npm run serve` and `npm run deploy` look by default.
        artifacts: artifacts ?? (quick ? "artifacts-quick" : "artifacts"),
        samples,
      }),
    ),
} satisfies Command<z.ZodType>;

function heading(step: number, total: number, title: string) {
  console.log(`\n[${step}/${total}] ${title}`);
}

/** Runs a stage's own CLI; its progress goes straight to the terminal. */
function runStage(script: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO_ROOT, script), ...args], {
      stdio: "inherit",
    });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.once("SIGINT", forward);
    process.once("SIGTERM", forward);
    child.on("exit", (code, signal) => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      if (code === 0) resolve();
      else if (signal || code === EXIT.interrupted)
        reject(new InterruptedError(`${script} was interrupted; run the pipeline again to resume`));
      else reject(new Error(`${script} exited with code ${code}`));
    });
  });
}

function finishedSummary(runDir: string): RunSummary | null {
  return fs.existsSync(path.join(runDir, RUN_FILES.summary)) ? readSummary(runDir) : null;
}

async function train(config: PipelineConfig, runDir: string, crossStitch: boolean): Promise<RunSummary> {
  const finished = finishedSummary(runDir);
  if (finished) {
    console.log(`finished earlier: ${runDir} (final mean test accuracy ${finished.final.mean.toFixed(4)})`);
    return finished;
  }
  // Training writes config.json before its first checkpoint: a stop in the first epoch leaves a
  // run folder without checkpoints, which train.ts resumes from the start only when told --resume.
  const interrupted = fs.existsSync(path.join(runDir, RUN_FILES.config));
  console.log(interrupted ? `resuming ${runDir} from its last checkpoint` : `training into ${runDir}`);
  await runStage("train/train.ts", [
    "--out",
    runDir,
    "--cross_stitch_enabled",
    String(crossStitch),
    "--seed",
    String(config.seed),
    "--preset",
    config.preset,
    ...(config.data_dir ? ["--data_dir", config.data_dir] : []),
    ...(config.quick ? QUICK_TRAINING : []),
    ...(interrupted ? ["--resume"] : []),
  ]);
  const summary = finishedSummary(runDir);
  if (!summary) throw new Error(`${runDir} has no ${RUN_FILES.summary} after training`);
  return summary;
}

/** The run folder the export in `artifacts` came from (its report records the full path). */
function exportedFrom(artifacts: string): string | null {
  const exists = (file: string) => fs.existsSync(path.join(artifacts, file));
  if (!exists(MANIFEST_FILE) || !exists(REPORT_FILE)) return null;
  readManifest(artifacts);
  return readExportReport(artifacts).run;
}

/**
 * A quick pipeline writes only where it exported before: an export from any other run (a full one,
 * say) stays, so a later deploy never ships a 3-epoch model by surprise.
 */
function refuseToReplace(config: PipelineConfig, artifacts: string, runsDir: string) {
  if (!config.quick || !fs.existsSync(path.join(artifacts, MANIFEST_FILE))) return;
  const run = fs.existsSync(path.join(artifacts, REPORT_FILE)) ? readExportReport(artifacts).run : null;
  if (run !== null && path.resolve(run).startsWith(`${runsDir}${path.sep}`)) return;
  throw new UsageError(
    `--quick: ${artifacts} holds an export of ${run ?? "another run"}, not of this quick pipeline; ` +
      "choose another --artifacts folder (the default is artifacts-quick)",
  );
}

/** The first `count` test images as PNG files, so they can be sent again with `npm run predict`. */
async function writeSamples(config: PipelineConfig, dir: string) {
  const data = await loadFashionMnist(config.data_dir ? { dataDir: config.data_dir } : {});
  fs.mkdirSync(dir, { recursive: true });
  const samples = [];
  for (let i = 0; i < config.samples; i++) {
    const pixels = data.test.images.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE);
    const file = path.join(dir, `test-${String(i).padStart(4, "0")}.png`);
    await sharp(Buffer.from(pixels), { raw: { width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 1 } })
      .png()
      .toFile(file);
    samples.push({ file, label: data.test.labels[i]! });
  }
  return samples;
}

async function main(config: PipelineConfig) {
  const runsDir = path.resolve(config.runs_dir);
  const baselineDir = path.join(runsDir, `baseline-s${config.seed}`);
  const crossStitchDir = path.join(runsDir, `cross-stitch-s${config.seed}`);
  const comparisonDir = path.join(runsDir, "comparison");
  const artifacts = path.resolve(config.artifacts);
  const total = 6;
  fs.mkdirSync(runsDir, { recursive: true });
  fs.writeFileSync(path.join(runsDir, "pipeline-config.json"), `${JSON.stringify(config, null, 2)}\n`);
  refuseToReplace(config, artifacts, runsDir);

  heading(1, total, "data");
  const samples = await writeSamples(config, path.join(runsDir, "samples"));
  console.log(
    `Fashion-MNIST verified; ${samples.length} test images written to ${path.join(runsDir, "samples")}`,
  );

  heading(2, total, "train the baseline (no sharing)");
  const baseline = await train(config, baselineDir, false);
  heading(3, total, "train the cross-stitch network");
  const crossStitch = await train(config, crossStitchDir, true);

  heading(4, total, "compare");
  await runStage("train/report.ts", [
    "--baseline",
    baselineDir,
    "--cross_stitch",
    crossStitchDir,
    "--out",
    comparisonDir,
  ]);

  // Never chosen on the test set: by validation accuracy when the preset holds a validation
  // split, else the cross-stitch run (the project's model) whatever the test figures say.
  const [better, why] =
    baseline.selected && crossStitch.selected
      ? crossStitch.selected.validation_accuracy_mean >= baseline.selected.validation_accuracy_mean
        ? [crossStitchDir, "the higher mean validation accuracy"]
        : [baselineDir, "the higher mean validation accuracy"]
      : [crossStitchDir, "no validation split to choose on, so the cross-stitch network"];
  heading(5, total, `export ${path.basename(better)} (${why})`);
  if (exportedFrom(artifacts) === better) {
    console.log(`already exported to ${artifacts}`);
  } else {
    await runStage("export/cli.ts", ["--run", better, "--out", artifacts]);
  }

  heading(6, total, "serve locally in workerd and ask it about real test images");
  const assetsDir = path.join(runsDir, "worker-assets");
  const manifest = await stageAssets(artifacts, assetsDir);
  // All samples go in one request: lift the free plan's per-request cap (MAX_BATCH) locally.
  const worker = await startWorkerd(assetsDir, { MAX_BATCH: "32" });
  try {
    console.log(`workerd serves ${manifest.modelId} at ${worker.url}`);
    const { body } = await requestPredictions(
      worker.url,
      await Promise.all(samples.map(async (s) => new Uint8Array(await fs.promises.readFile(s.file)))),
    );
    const names = samples.map((s) => `${path.basename(s.file)} (truly ${SOURCE_CLASSES[s.label]})`);
    console.log(formatTable(names, body.predictions));
  } finally {
    await worker.stop();
  }

  console.log(`
done. Where everything is:
  runs           ${baselineDir}
                 ${crossStitchDir}
  comparison     ${comparisonDir}
  artifacts      ${artifacts} (${ENGINE_FILE} served by the default build, ${INT8_FILE} by --env ort, ${FLOAT32_FILE}, ${MANIFEST_FILE}, ${REPORT_FILE})
  test images    ${path.join(runsDir, "samples")}
serve it yourself: npm run serve${config.artifacts === "artifacts" ? "" : ` -- --artifacts ${config.artifacts}`}   then: npm run predict -- ${path.relative(process.cwd(), samples[0]!.file)}`);
}

runCommand(command, async () => {
  const config = parseCommand(command, process.argv.slice(2));
  if (config !== null) await main(config);
});

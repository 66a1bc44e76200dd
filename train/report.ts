/**
 * `npm run report -- --baseline runs/a --cross_stitch runs/b --out reports/x`: a side-by-side
 * report of two run folders: accuracy and loss curves, the learned alphas (SVG and PNG), a table of
 * final / best / last-5 test accuracy (markdown and JSON), and a copy of each run's config,
 * metrics and summary. Runs still in progress are reported as such, from their epochs so far
 * (alphas from the latest checkpoint).
 */
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { alphaSvg } from "../charts/alphas.ts";
import { type ChartSeries, lineChartSvg } from "../charts/line-chart.ts";
import { COLORS, DASHES } from "../charts/style.ts";
import { type Command, EXIT, flagValue, parseCommand, runCommand } from "../cli/args.ts";
import { CROSS_STITCH_UNITS, layerName } from "../contracts/architecture.ts";
import {
  type AccuracyRow,
  type EpochMetrics,
  RUN_FILES,
  type RunConfig,
  type RunSummary,
} from "../contracts/run-folder.ts";
import type { TaskSpec } from "../contracts/tasks.ts";
import { writeChart } from "../stage-files/chart-files.ts";
import { writeFileAtomic, writeJsonAtomic } from "../stage-files/files.ts";
import { readMetrics, readRunConfig, readRunTasks, readSummary } from "../stage-files/run-folder.ts";
import { checkpointWeightArrays, latestCheckpointEpoch } from "./run-folder.ts";
import { summarize } from "./summary.ts";

export class ReportError extends Error {
  override name = "ReportError";
}

/** What a run folder records: enough to compare runs over their epochs. */
export interface RunRecords {
  dir: string;
  label: string;
  config: RunConfig;
  tasks: TaskSpec[];
  metrics: EpochMetrics[];
  finished: boolean;
}

interface LoadedRun extends RunRecords {
  summary: RunSummary;
}

function nested(flat: Float32Array, shape: number[]): number[][][] {
  const [rows = 0, n = 0] = shape;
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: n }, (_, i) =>
      Array.from({ length: n }, (_, j) => flat[r * n * n + i * n + j] as number),
    ),
  );
}

export function readRunRecords(dir: string, label: string): RunRecords {
  for (const file of [RUN_FILES.config, RUN_FILES.tasks, RUN_FILES.metrics]) {
    if (!fs.existsSync(path.join(dir, file)))
      throw new ReportError(`${dir}: no ${file} (is it a run folder with at least one epoch?)`);
  }
  const config = readRunConfig(dir);
  const tasks = readRunTasks(dir);
  const metrics = readMetrics(dir);
  if (metrics.length === 0) throw new ReportError(`${dir}: ${RUN_FILES.metrics} holds no epoch yet`);
  const finished = fs.existsSync(path.join(dir, RUN_FILES.summary));
  return { dir, label, config, tasks, metrics, finished };
}

/** The run's summary.json, or for a run in progress one made from its epochs so far and latest checkpoint. */
function loadRun(dir: string, label: string): LoadedRun {
  const records = readRunRecords(dir, label);
  const { config, tasks, metrics } = records;
  if (records.finished) return { ...records, summary: readSummary(dir) };
  const hasCheckpoint = latestCheckpointEpoch(dir) !== null;
  const weights = config.cross_stitch_enabled && hasCheckpoint ? checkpointWeightArrays(dir) : new Map();
  const alphas = CROSS_STITCH_UNITS.map((u) => weights.get(`${layerName.crossStitch(u)}/alpha`))
    .filter((a) => a !== undefined)
    .map((a) => nested(a.values, a.shape));
  const variant = config.cross_stitch_enabled ? "cross_stitch" : "baseline";
  return { ...records, summary: summarize(variant, tasks, metrics, alphas) };
}

/** The runs' common task names; runs of different tasks cannot be compared. */
export function sharedTaskNames(runs: readonly RunRecords[]): string[] {
  const [first, ...rest] = runs.map((run) => run.tasks.map((t) => t.name));
  for (const [k, names] of rest.entries()) {
    if (JSON.stringify(names) !== JSON.stringify(first))
      throw new ReportError(
        `the runs have different tasks: ${runs[0]?.dir} ${first} vs ${runs[k + 1]?.dir} ${names}`,
      );
  }
  return first ?? [];
}

const percent = (x: number) => (x * 100).toFixed(2);

function tableRows(run: LoadedRun, s: RunSummary = run.summary): string[] {
  const cells = (row: AccuracyRow) => [
    ...run.tasks.map((t) => percent(row.per_task[t.name] as number)),
    percent(row.mean),
  ];
  return [
    `| ${run.label} | final (epoch ${s.final.epoch}) | ${cells(s.final).join(" | ")} |`,
    `| ${run.label} | best (epoch ${s.best.epoch}) | ${cells(s.best).join(" | ")} |`,
    `| ${run.label} | mean of epochs ${s.last5.epochs[0]}-${s.last5.epochs[s.last5.epochs.length - 1]} | ${cells(s.last5).join(" | ")} |`,
  ];
}

export function status(run: RunRecords): string {
  return run.finished
    ? `finished, ${run.metrics.length} epochs`
    : `IN PROGRESS: ${run.metrics.length} of ${run.config.n_epoch} epochs done`;
}

export async function writeReport(
  baselineDir: string,
  crossStitchDir: string,
  outDir: string,
): Promise<void> {
  const baseline = loadRun(baselineDir, "baseline");
  const stitched = loadRun(crossStitchDir, "cross-stitch");
  const taskNames = sharedTaskNames([baseline, stitched]);
  fs.mkdirSync(outDir, { recursive: true });

  // Colour tells the runs apart, dash the tasks (solid: their mean).
  const runStyle = {
    baseline: { color: COLORS[1], dash: DASHES[1] },
    "cross-stitch": { color: COLORS[0], dash: DASHES[0] },
  };
  const styleOf = (run: LoadedRun) => runStyle[run.label as keyof typeof runStyle];
  const epochs = { title: "epoch", integer: true } as const;
  const accuracy = { title: "test accuracy", format: "percent" } as const;
  const meanSeries = (run: LoadedRun): ChartSeries => ({
    label: `${run.label}, mean of tasks`,
    color: styleOf(run).color,
    dash: DASHES[0],
    width: 2.6,
    points: run.metrics.map((m) => ({ x: m.epoch, y: m.test_accuracy_mean })),
  });
  await writeChart(
    path.join(outDir, "accuracy"),
    lineChartSvg({
      title: "Test accuracy per epoch (10k test set)",
      note: "colour: the run; line: solid the mean of the tasks, dashed or dotted one task",
      x: epochs,
      y: accuracy,
      series: [baseline, stitched].flatMap((run) => [
        meanSeries(run),
        ...run.tasks.map((t, k) => ({
          label: `${run.label}, ${t.name}`,
          color: styleOf(run).color,
          dash: DASHES[(k + 1) % DASHES.length] as string,
          width: 1.6,
          points: run.metrics.map((m) => ({ x: m.epoch, y: m.test_accuracy[t.name] as number })),
        })),
      ]),
    }),
  );
  await writeChart(
    path.join(outDir, "accuracy-mean"),
    lineChartSvg({
      title: "Mean test accuracy over the tasks per epoch",
      x: epochs,
      y: accuracy,
      series: [baseline, stitched].map((run) => ({ ...meanSeries(run), dash: styleOf(run).dash })),
    }),
  );
  await writeChart(
    path.join(outDir, "loss"),
    lineChartSvg({
      title: "Training loss per epoch",
      note: "sum of the task cross-entropies + L2",
      x: epochs,
      y: { title: "training loss" },
      series: [baseline, stitched].map((run) => ({
        label: run.label,
        ...styleOf(run),
        points: run.metrics.map((m) => ({ x: m.epoch, y: m.loss_total })),
      })),
    }),
  );
  const units = stitched.summary.alphas.map((a) => ({ unit: a.unit, values: a.values }));
  if (units.length > 0) await writeChart(path.join(outDir, "alphas"), alphaSvg(units, taskNames));

  const header = `| run | epoch | ${taskNames.join(" | ")} | mean |`;
  const divider = `|${" --- |".repeat(taskNames.length + 3)}`;
  const delta = (pick: (s: RunSummary) => AccuracyRow) =>
    ((pick(stitched.summary).mean - pick(baseline.summary).mean) * 100).toFixed(2);
  // Runs in progress may stand at different epochs; compare them over the epochs both have too.
  const common = Math.min(baseline.metrics.length, stitched.metrics.length);
  const upToCommon = (run: LoadedRun) => summarize(run.label, run.tasks, run.metrics.slice(0, common), []);
  const equal = { baseline: upToCommon(baseline), stitched: upToCommon(stitched) };
  const equalDelta = (pick: (s: RunSummary) => AccuracyRow) =>
    ((pick(equal.stitched).mean - pick(equal.baseline).mean) * 100).toFixed(2);
  const equalSection =
    baseline.metrics.length === stitched.metrics.length
      ? []
      : [
          `## Over the epochs both runs have (1-${common})`,
          "",
          header,
          divider,
          ...tableRows(baseline, equal.baseline),
          ...tableRows(stitched, equal.stitched),
          "",
          `Cross-stitch minus baseline over epochs 1-${common} (points): final ${equalDelta((s) => s.final)}, best ${equalDelta((s) => s.best)}, last-5 mean ${equalDelta((s) => s.last5)}.`,
          "",
        ];
  const markdown = [
    "# Baseline vs cross-stitch: test accuracy (%)",
    "",
    `- baseline: \`${baseline.dir}\` (seed ${baseline.config.seed}), ${status(baseline)}`,
    `- cross-stitch: \`${stitched.dir}\` (seed ${stitched.config.seed}), ${status(stitched)}`,
    "",
    header,
    divider,
    ...tableRows(baseline),
    ...tableRows(stitched),
    "",
    `Cross-stitch minus baseline, mean accuracy (points): final ${delta((s) => s.final)}, best ${delta((s) => s.best)}, last-5 mean ${delta((s) => s.last5)}.`,
    "",
    ...equalSection,
    "Plots (each also as SVG): `accuracy.png` (colour: run; solid: mean of tasks, dashed/dotted: one task), `accuracy-mean.png`, `loss.png`, `alphas.png`.",
    "",
  ].join("\n");
  writeFileAtomic(path.join(outDir, "comparison.md"), markdown);
  const runJson = (run: LoadedRun) => ({
    dir: run.dir,
    finished: run.finished,
    epochs_done: run.metrics.length,
    n_epoch: run.config.n_epoch,
    seed: run.config.seed,
    final: run.summary.final,
    best: run.summary.best,
    last5: run.summary.last5,
    alpha_means: run.summary.alphas.map((a) => ({ unit: a.unit, shape: a.shape, mean: a.mean })),
  });
  writeJsonAtomic(path.join(outDir, "comparison.json"), {
    tasks: taskNames,
    baseline: runJson(baseline),
    cross_stitch: runJson(stitched),
    equal_epochs: {
      epochs: common,
      baseline: { final: equal.baseline.final, best: equal.baseline.best, last5: equal.baseline.last5 },
      cross_stitch: { final: equal.stitched.final, best: equal.stitched.best, last5: equal.stitched.last5 },
    },
    cross_stitch_minus_baseline_mean: {
      final: stitched.summary.final.mean - baseline.summary.final.mean,
      best: stitched.summary.best.mean - baseline.summary.best.mean,
      last5: stitched.summary.last5.mean - baseline.summary.last5.mean,
    },
  });
  for (const run of [baseline, stitched]) copyRunRecords(run, outDir);
}

/** The files a report's numbers come from, copied to <outDir>/runs/<run>: not the weights. */
export function copyRunRecords(run: RunRecords, outDir: string): void {
  const copyDir = path.join(outDir, "runs", path.basename(run.dir));
  for (const file of [
    RUN_FILES.config,
    RUN_FILES.tasks,
    RUN_FILES.normalization,
    RUN_FILES.metrics,
    RUN_FILES.summary,
  ]) {
    const from = path.join(run.dir, file);
    if (fs.existsSync(from)) writeFileAtomic(path.join(copyDir, file), fs.readFileSync(from));
  }
}

const command = {
  name: "npm run report --",
  summary:
    "a side-by-side report of a baseline and a cross-stitch run folder (finished or still training): curves, alphas, accuracy table.",
  flags: {
    baseline: { value: "DIR", help: "the baseline's run folder (required)" },
    cross_stitch: { value: "DIR", help: "the cross-stitch run folder (required)" },
    out: { value: "DIR", help: "where the report goes (required)" },
  },
  schema: z.object({
    baseline: flagValue.path(),
    cross_stitch: flagValue.path(),
    out: flagValue.path(),
  }),
} satisfies Command<z.ZodType>;

async function main(argv: string[]): Promise<number> {
  const args = parseCommand(command, argv);
  if (args === null) return EXIT.ok;
  await writeReport(args.baseline, args.cross_stitch, args.out);
  console.log(fs.readFileSync(path.join(args.out, "comparison.md"), "utf8"));
  return EXIT.ok;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runCommand(command, () => main(process.argv.slice(2)));
}

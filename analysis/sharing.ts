/**
 * The sharing study's analysis (`npm run study:report -- [--root DIR] [--out DIR]`):
 * for each training-set size, the gain of cross-stitch over the baseline per task, paired by
 * seed, as a mean with a 95 % confidence interval over seeds, on the mean test accuracy of the
 * last 5 epochs (and of the final epoch); and the fair baseline for "category", which is a
 * relabelling of "fashion": the baseline's fashion head, its argmax mapped to its group. It reads
 * the git-tracked records train/study.ts publishes (same layout and files as the run folders, so
 * they survive the machine); `--root runs/sharing` reads the run folders themselves, where runs
 * still going are listed with the epoch they reached. Only finished runs count. Writes
 * summary.json, results.md and gain-vs-size.{svg,png}.
 */
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { type ChartSeries, lineChartSvg } from "../charts/line-chart.ts";
import { lineStyle } from "../charts/style.ts";
import { type Command, EXIT, flagValue, parseCommand, runCommand } from "../cli/args.ts";
import type { EpochMetrics } from "../contracts/run-folder.ts";
import { STUDY_RECORDS_DIR, STUDY_RUNS_DIR, type StudyVariant } from "../contracts/study.ts";
import { writeChart } from "../stage-files/chart-files.ts";
import { listStudyRuns } from "../stage-files/study.ts";
import { AnalysisError, lastMean, readRunFiles } from "./runs.ts";
import { type MeanInterval, meanInterval, verdict } from "./stats.ts";

const LAST = 5;

export interface StudyRunFigures {
  size: number;
  seed: number;
  variant: StudyVariant;
  finished: boolean;
  epochs: number;
  n_epoch: number;
  /** Test accuracy per task (and "mean"), averaged over the last 5 epochs; and at the final epoch. */
  last5: Record<string, number>;
  final: Record<string, number>;
  /** Coarse tasks read off a finer head (category_from_fashion), same two statistics. */
  derived_last5: Record<string, number>;
  derived_final: Record<string, number>;
}

function figures(
  metrics: EpochMetrics[],
  taskNames: string[],
  at: (m: EpochMetrics[], pick: (r: EpochMetrics) => number) => number,
) {
  const perTask = Object.fromEntries(
    taskNames.map((t) => [t, at(metrics, (r) => r.test_accuracy[t] as number)]),
  );
  perTask.mean = at(metrics, (r) => r.test_accuracy_mean);
  const derivedNames = Object.keys(metrics[metrics.length - 1]?.derived_test_accuracy ?? {});
  const derived = Object.fromEntries(
    derivedNames.map((d) => [d, at(metrics, (r) => r.derived_test_accuracy?.[d] ?? Number.NaN)]),
  );
  return { perTask, derived };
}

/** Every run folder or record under root/n<size>/<variant>-s<seed> with at least one epoch. */
export function readStudy(root: string): StudyRunFigures[] {
  if (!fs.existsSync(root)) throw new AnalysisError(`${root}: no such folder (run npm run study first)`);
  const found: StudyRunFigures[] = [];
  for (const { size, variant, seed, dir } of listStudyRuns(root)) {
    const run = readRunFiles(dir);
    if (run === null) continue;
    const taskNames = run.tasks.map((t) => t.name);
    const last5 = figures(run.metrics, taskNames, (m, pick) => lastMean(m, LAST, pick));
    const final = figures(run.metrics, taskNames, (m, pick) => lastMean(m, 1, pick));
    found.push({
      size,
      seed,
      variant,
      finished: run.finished,
      epochs: run.metrics.length,
      n_epoch: run.config.n_epoch,
      last5: last5.perTask,
      final: final.perTask,
      derived_last5: last5.derived,
      derived_final: final.derived,
    });
  }
  return found;
}

export interface GainRow extends MeanInterval {
  /** In accuracy points (percent). */
  verdict: ReturnType<typeof verdict>;
}

export interface SizeResult {
  size: number;
  /** Seeds with both variants finished. */
  seeds: number[];
  /** Cross-stitch minus baseline, points, per task and "mean"; over the last 5 epochs and the final epoch. */
  gain_last5: Record<string, GainRow>;
  gain_final: Record<string, GainRow>;
  /** Cross-stitch's category head minus the baseline's fashion head mapped to category (the fair baseline). */
  fair_category_gain_last5: GainRow | null;
  /** The baseline's own category head minus its fashion head mapped to category. */
  baseline_category_head_vs_mapped_last5: GainRow | null;
  /** Mean accuracies (points) per variant over the paired seeds, last 5 epochs. */
  accuracy_last5: Record<"baseline" | "cross-stitch", Record<string, number>>;
}

const points = (values: number[]): GainRow => {
  const interval = meanInterval(values.map((v) => v * 100));
  return { ...interval, verdict: verdict(interval) };
};

/** Gains per size over the seeds where both variants finished. */
export function analyseStudy(runs: readonly StudyRunFigures[]): SizeResult[] {
  const finished = runs.filter((r) => r.finished);
  const sizes = [...new Set(finished.map((r) => r.size))].sort((a, b) => a - b);
  const results: SizeResult[] = [];
  for (const size of sizes) {
    const at = (variant: string, seed: number) =>
      finished.find((r) => r.size === size && r.variant === variant && r.seed === seed);
    const seeds = [...new Set(finished.filter((r) => r.size === size).map((r) => r.seed))]
      .filter((seed) => at("baseline", seed) && at("cross-stitch", seed))
      .sort((a, b) => a - b);
    if (seeds.length === 0) continue;
    const pairs = seeds.map((seed) => ({
      base: at("baseline", seed) as StudyRunFigures,
      cross: at("cross-stitch", seed) as StudyRunFigures,
    }));
    const keys = Object.keys(pairs[0]?.base.last5 ?? {});
    const gains = (stat: "last5" | "final") =>
      Object.fromEntries(
        keys.map((k) => [
          k,
          points(pairs.map((p) => (p.cross[stat][k] as number) - (p.base[stat][k] as number))),
        ]),
      );
    const mapped = "category_from_fashion";
    const hasMapped = pairs.every(
      (p) => Number.isFinite(p.base.derived_last5[mapped]) && p.cross.last5.category !== undefined,
    );
    const average = (variant: "base" | "cross") =>
      Object.fromEntries(
        keys.map((k) => [
          k,
          (pairs.reduce((a, p) => a + (p[variant].last5[k] as number), 0) / pairs.length) * 100,
        ]),
      );
    results.push({
      size,
      seeds,
      gain_last5: gains("last5"),
      gain_final: gains("final"),
      fair_category_gain_last5: hasMapped
        ? points(
            pairs.map((p) => (p.cross.last5.category as number) - (p.base.derived_last5[mapped] as number)),
          )
        : null,
      baseline_category_head_vs_mapped_last5: hasMapped
        ? points(
            pairs.map((p) => (p.base.last5.category as number) - (p.base.derived_last5[mapped] as number)),
          )
        : null,
      accuracy_last5: { baseline: average("base"), "cross-stitch": average("cross") },
    });
  }
  return results;
}

const signed = (v: number) => `${v >= 0 ? "+" : ""}${v.toFixed(2)}`;
function cell(row: GainRow | null | undefined): string {
  if (!row) return "n/a";
  return row.low === null || row.high === null
    ? `${signed(row.mean)} (n=1)`
    : `${signed(row.mean)} [${signed(row.low)}, ${signed(row.high)}]`;
}

export function resultsMarkdown(results: SizeResult[], runs: StudyRunFigures[]): string {
  const lines = [
    "# Sharing study: results",
    "",
    "Generated by `npm run study:report`; only runs that reached their last epoch count. Gains are",
    "cross-stitch minus baseline in accuracy points on the 10k test set, the mean of the last 5",
    "epochs of each run, paired by seed: mean [95 % CI over seeds, t distribution]. No figure here",
    "was used to choose anything.",
    "",
    "| training images | seeds | fashion | category | mean of tasks | category vs fair baseline | baseline: category head vs mapped fashion head |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...results.map(
      (r) =>
        `| ${r.size.toLocaleString("en")} | ${r.seeds.join(", ")} | ${cell(r.gain_last5.fashion)} | ${cell(r.gain_last5.category)} | ${cell(r.gain_last5.mean)} | ${cell(r.fair_category_gain_last5)} | ${cell(r.baseline_category_head_vs_mapped_last5)} |`,
    ),
    "",
    'Verdicts (last 5 epochs; "helps"/"hurts" only when the whole 95 % interval is on one side of 0):',
    "",
    ...results.map(
      (r) =>
        `- ${r.size.toLocaleString("en")} images (${r.seeds.length} seed${r.seeds.length === 1 ? "" : "s"}): fashion ${r.gain_last5.fashion?.verdict}; category ${r.gain_last5.category?.verdict}; against the fair category baseline ${r.fair_category_gain_last5?.verdict ?? "n/a"}.`,
    ),
    "",
    "Final-epoch gains (noisier: one epoch per run):",
    "",
    "| training images | fashion | category | mean |",
    "| --- | --- | --- | --- |",
    ...results.map(
      (r) =>
        `| ${r.size.toLocaleString("en")} | ${cell(r.gain_final.fashion)} | ${cell(r.gain_final.category)} | ${cell(r.gain_final.mean)} |`,
    ),
    "",
    "Mean test accuracy (%) over the paired seeds, last 5 epochs:",
    "",
    "| training images | baseline fashion | cross-stitch fashion | baseline category | cross-stitch category | baseline fashion head mapped to category |",
    "| --- | --- | --- | --- | --- | --- |",
    ...results.map((r) => {
      const b = r.accuracy_last5.baseline;
      const c = r.accuracy_last5["cross-stitch"];
      const mapped = runs
        .filter(
          (x) => x.size === r.size && x.variant === "baseline" && x.finished && r.seeds.includes(x.seed),
        )
        .map((x) => (x.derived_last5.category_from_fashion as number) * 100);
      const mappedMean = mapped.length
        ? (mapped.reduce((a, v) => a + v, 0) / mapped.length).toFixed(2)
        : "n/a";
      return `| ${r.size.toLocaleString("en")} | ${b.fashion?.toFixed(2)} | ${c.fashion?.toFixed(2)} | ${b.category?.toFixed(2)} | ${c.category?.toFixed(2)} | ${mappedMean} |`;
    }),
    "",
    "Every run found (finished or not):",
    "",
    "| training images | variant | seed | epochs done | finished | last-5 mean test accuracy |",
    "| --- | --- | --- | --- | --- | --- |",
    ...runs.map(
      (r) =>
        `| ${r.size.toLocaleString("en")} | ${r.variant} | ${r.seed} | ${r.epochs}/${r.n_epoch} | ${r.finished ? "yes" : "in progress"} | ${((r.last5.mean as number) * 100).toFixed(2)} |`,
    ),
    "",
  ];
  return lines.join("\n");
}

export function gainChartSvg(results: SizeResult[]): string {
  const gainPoints = (pick: (r: SizeResult) => GainRow | null | undefined) =>
    results.flatMap((r) => {
      const g = pick(r);
      return g ? [{ x: r.size, y: g.mean, low: g.low, high: g.high }] : [];
    });
  const series: ChartSeries[] = [
    { label: "fashion", points: gainPoints((r) => r.gain_last5.fashion) },
    { label: "category", points: gainPoints((r) => r.gain_last5.category) },
    { label: "mean of tasks", points: gainPoints((r) => r.gain_last5.mean) },
    { label: "category vs fair baseline", points: gainPoints((r) => r.fair_category_gain_last5) },
  ].map((s, k) => ({ ...s, ...lineStyle(k) }));
  const seeds = results.map((r) => `${r.size.toLocaleString("en")}: ${r.seeds.length}`).join(", ");
  return lineChartSvg({
    title: "Cross-stitch gain over the baseline vs training-set size",
    note: `test accuracy, mean of the last 5 epochs, paired by seed; bars: 95 % CI over seeds (seeds per size ${seeds})`,
    x: { title: "class-balanced training images (log scale)", log: true },
    y: { title: "gain (accuracy points)", format: "signed" },
    referenceY: 0,
    series,
  });
}

const command = {
  name: "npm run study:report --",
  summary:
    "the sharing study's analysis: cross-stitch's gain over the baseline per size, paired by seed, with 95 % intervals.",
  flags: {
    root: {
      value: "DIR",
      help: `the study's published records, or its run folders (${STUDY_RUNS_DIR}) to see runs in progress`,
    },
    out: { value: "DIR", help: "where summary.json, results.md and the plot go" },
  },
  schema: z.object({
    root: flagValue.path().default(STUDY_RECORDS_DIR),
    out: flagValue.path().default("reports/sharing"),
  }),
} satisfies Command<z.ZodType>;

async function main(argv: string[]): Promise<number> {
  const values = parseCommand(command, argv);
  if (values === null) return EXIT.ok;
  const runs = readStudy(values.root);
  const results = analyseStudy(runs);
  fs.mkdirSync(values.out, { recursive: true });
  const summary = {
    generated_at: new Date().toISOString(),
    statistic: "test accuracy, mean of the last 5 epochs; gains in points",
    results,
    runs,
  };
  fs.writeFileSync(path.join(values.out, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  fs.writeFileSync(path.join(values.out, "results.md"), resultsMarkdown(results, runs));
  if (results.length > 0) await writeChart(path.join(values.out, "gain-vs-size"), gainChartSvg(results));
  const done = runs.filter((r) => r.finished).length;
  console.log(
    `${runs.length} run folders (${done} finished); ${results.length} size(s) with paired seeds; wrote ${path.join(values.out, "results.md")}` +
      (results.length > 0
        ? ` and ${path.join(values.out, "gain-vs-size.png")}`
        : " (no plot: no size has a finished pair yet)"),
  );
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runCommand(command, () => main(process.argv.slice(2)));
}

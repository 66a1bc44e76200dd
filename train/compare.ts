/**
 * `npm run compare -- --out reports/x runs/a runs/b ...`: many run folders side by side over the
 * epochs they all have (seeds, ablations of the alpha settings, runs still going): final, best and
 * last-5 mean test accuracy, the mean over every compared epoch, the alphas' self weight per unit at
 * the last compared epoch, and the mean over seeds of runs whose settings differ only in the seed.
 * Writes comparison.md, comparison.json, accuracy-mean.{svg,png} and a copy of each run's records (runs/).
 */
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { lineChartSvg } from "../charts/line-chart.ts";
import { COLORS, DASHES } from "../charts/style.ts";
import { type Command, EXIT, flagValue, parseCommand, runCommand } from "../cli/args.ts";
import type { RunSummary } from "../contracts/run-folder.ts";
import { writeChart } from "../stage-files/chart-files.ts";
import { writeFileAtomic, writeJsonAtomic } from "../stage-files/files.ts";
import {
  copyRunRecords,
  ReportError,
  type RunRecords,
  readRunRecords,
  sharedTaskNames,
  status,
} from "./report.ts";
import { summarize } from "./summary.ts";

/** Settings that decide what a run is; everything else (seed, paths, resume) only which instance. */
const VARIANT_KEYS = [
  "cross_stitch_enabled",
  "alpha_mode",
  "alpha_init",
  "alpha_same",
  "alpha_lr_mult",
  "lr",
  "n_batch_size",
  "reg_lambda",
  "keep_prob",
  "normalization",
  "limit",
] as const;

interface ComparedRun {
  name: string;
  dir: string;
  seed: number;
  variant: string;
  status: string;
  summary: RunSummary;
  /** Mean test accuracy averaged over every compared epoch: steadier than any single epoch. */
  mean_all_epochs: number;
  alpha_self: number[];
}

export function variantOf(config: RunRecords["config"]): string {
  if (config.cross_stitch_enabled !== true) return "baseline";
  const init = config.alpha_init === "identity" ? "identity" : `convex ${config.alpha_same}`;
  return `cross-stitch ${config.alpha_mode}, ${init}, alpha lr x${config.alpha_lr_mult}`;
}

function variantKey(config: RunRecords["config"]): string {
  return JSON.stringify(VARIANT_KEYS.map((key) => config[key] ?? null));
}

const percent = (x: number) => (x * 100).toFixed(2);

export async function writeComparison(runDirs: string[], outDir: string): Promise<void> {
  if (runDirs.length < 2) throw new ReportError("give at least two run folders");
  const runs = runDirs.map((dir) => readRunRecords(dir, path.basename(dir)));
  const taskNames = sharedTaskNames(runs);
  const common = Math.min(...runs.map((run) => run.metrics.length));
  const compared: ComparedRun[] = runs.map((run) => {
    const metrics = run.metrics.slice(0, common);
    const variant = variantOf(run.config);
    return {
      name: run.label,
      dir: run.dir,
      seed: run.config.seed,
      variant,
      status: status(run),
      summary: summarize(variant, run.tasks, metrics, []),
      mean_all_epochs: metrics.reduce((a, m) => a + m.test_accuracy_mean, 0) / metrics.length,
      alpha_self: metrics[metrics.length - 1]?.alpha_self ?? [],
    };
  });
  const groups = new Map<string, { variant: string; members: ComparedRun[] }>();
  runs.forEach((run, k) => {
    const key = variantKey(run.config);
    const group = groups.get(key) ?? { variant: variantOf(run.config), members: [] };
    group.members.push(compared[k] as ComparedRun);
    groups.set(key, group);
  });
  const average = (members: ComparedRun[], pick: (run: ComparedRun) => number) =>
    members.reduce((a, run) => a + pick(run), 0) / members.length;
  const seedMeans = [...groups.values()]
    .filter((group) => group.members.length > 1)
    .map(({ variant, members }) => ({
      variant,
      seeds: members.map((run) => run.seed),
      final: average(members, (run) => run.summary.final.mean),
      best: average(members, (run) => run.summary.best.mean),
      last5: average(members, (run) => run.summary.last5.mean),
      mean_all_epochs: average(members, (run) => run.mean_all_epochs),
    }));

  fs.mkdirSync(outDir, { recursive: true });
  await writeChart(
    path.join(outDir, "accuracy-mean"),
    lineChartSvg({
      title: `Mean test accuracy over the tasks, epochs 1-${common}`,
      x: { title: "epoch", integer: true },
      y: { title: "mean test accuracy", format: "percent" },
      // Colour: the variant (seeds of one variant share it); dash: the run.
      series: runs.map((run, k) => ({
        label: run.label,
        color: COLORS[[...groups.keys()].indexOf(variantKey(run.config)) % COLORS.length] as string,
        dash: DASHES[k % DASHES.length] as string,
        points: run.metrics.slice(0, common).map((m) => ({ x: m.epoch, y: m.test_accuracy_mean })),
      })),
    }),
  );
  const last5Label = (s: RunSummary) => `${s.last5.epochs[0]}-${s.last5.epochs[s.last5.epochs.length - 1]}`;
  const markdown = [
    `# ${runs.length} runs over epochs 1-${common}: mean test accuracy over the tasks (%)`,
    "",
    ...compared.map(
      (run) => `- \`${run.name}\` (\`${run.dir}\`): ${run.variant}, seed ${run.seed}, ${run.status}`,
    ),
    "",
    `| run | seed | variant | final (epoch ${common}) | best (epoch) | mean of epochs ${last5Label(compared[0]?.summary as RunSummary)} | mean of epochs 1-${common} | alpha self weight per unit, epoch ${common} |`,
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...compared.map(
      (run) =>
        `| ${run.name} | ${run.seed} | ${run.variant} | ${percent(run.summary.final.mean)} | ${percent(run.summary.best.mean)} (${run.summary.best.epoch}) | ${percent(run.summary.last5.mean)} | ${percent(run.mean_all_epochs)} | ${run.alpha_self.map((a) => a.toFixed(2)).join(" / ") || "-"} |`,
    ),
    "",
    ...(seedMeans.length === 0
      ? []
      : [
          "Mean over seeds (runs whose settings differ only in the seed):",
          "",
          "| variant | seeds | final | best | last-5 mean | mean of all compared epochs |",
          "| --- | --- | --- | --- | --- | --- |",
          ...seedMeans.map(
            (g) =>
              `| ${g.variant} | ${g.seeds.join(", ")} | ${percent(g.final)} | ${percent(g.best)} | ${percent(g.last5)} | ${percent(g.mean_all_epochs)} |`,
          ),
          "",
        ]),
    "Plot: `accuracy-mean.png` (and `.svg`). Alpha self weight: the mean diagonal of the unit's alpha (1 = keeps its own tower, no sharing).",
    "",
  ].join("\n");
  writeFileAtomic(path.join(outDir, "comparison.md"), markdown);
  writeJsonAtomic(path.join(outDir, "comparison.json"), {
    tasks: taskNames,
    epochs_compared: common,
    runs: compared.map(({ summary, ...run }) => ({
      ...run,
      final: summary.final,
      best: summary.best,
      last5: summary.last5,
    })),
    seed_means: seedMeans,
  });
  for (const run of runs) copyRunRecords(run, outDir);
}

const command = {
  name: "npm run compare --",
  positionals: "<run> <run> [<run> ...]",
  summary:
    "many run folders side by side over the epochs they all have: final, best and last-5 accuracy, alphas, seed means.",
  flags: { out: { value: "DIR", help: "where the comparison goes (required)" } },
  schema: z.object({
    out: flagValue.path(),
    positionals: z.array(z.string().min(1)).min(2, "name at least two run folders"),
  }),
} satisfies Command<z.ZodType>;

async function main(argv: string[]): Promise<number> {
  const args = parseCommand(command, argv);
  if (args === null) return EXIT.ok;
  await writeComparison(args.positionals, args.out);
  console.log(fs.readFileSync(path.join(args.out, "comparison.md"), "utf8"));
  return EXIT.ok;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runCommand(command, () => main(process.argv.slice(2)));
}

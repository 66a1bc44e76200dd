/**
 * The sharing study: baseline vs cross-stitch at several class-balanced training-set sizes and
 * seeds, reference preset. The small sizes see the same number of images (30 epochs of 10,000
 * drawn from their pool, 300k in all); the full set trains its usual 30 epochs of 60,000.
 *
 *   npm run study -- [--root DIR] [--records DIR] [--sizes N,N,...] [--seeds N,N,...] [--data_dir DIR] [--dry_run]
 *   (npm run study -- --help lists them with their defaults)
 *
 * Runs go smallest first, both variants of a seed back to back, one at a time, each as its own
 * `train/train.ts` process in <root>/n<size>/<variant>-s<seed> with its log beside it. The
 * machines are wiped between sessions, so each run is published as soon as it finishes: its
 * record (config, tasks, metrics, summary; no checkpoints) goes to <records>/n<size>/<variant>-s<seed>,
 * which git keeps once it is committed. Re-running skips published runs, publishes finished ones
 * without training them again and resumes an interrupted one, so the driver itself is resumable.
 * The analysis is `npm run study:report` (analysis/sharing.ts), which reads the records.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { type Command, EXIT, flagValue, InterruptedError, parseCommand, runCommand } from "../cli/args.ts";
import { RUN_FILES } from "../contracts/run-folder.ts";
import { STUDY_RECORDS_DIR, STUDY_RUNS_DIR, STUDY_VARIANTS, type StudyRunKey } from "../contracts/study.ts";
import { hasStudyRecord, publishStudyRecord, studyRunDir } from "../stage-files/study.ts";

export const STUDY_SIZES = [1000, 3000, 10000, 60000];
export const STUDY_SEEDS = [1, 2, 3];
export const FULL_SIZE = 60000;
/** Images per epoch for the subsets: 30 epochs of this = 300k images seen, as the brief fixes. */
export const SUBSET_EPOCH_IMAGES = 10000;
export const STUDY_EPOCHS = 30;
export interface StudyRun extends StudyRunKey {
  dir: string;
  /** Flags of train/train.ts, without --resume. */
  args: string[];
}

/** Every run of the study in the order it trains: smallest size first, then seed, baseline before cross-stitch. */
export function studyPlan(
  root: string,
  sizes: number[],
  seeds: number[],
  dataDir: string | null,
): StudyRun[] {
  const ordered = [...sizes].sort((a, b) => a - b);
  return ordered.flatMap((size) =>
    seeds.flatMap((seed) =>
      STUDY_VARIANTS.map((variant) => {
        const dir = studyRunDir(root, { size, variant, seed });
        const subset =
          size < FULL_SIZE
            ? ["--train_size", String(size), "--epoch_images", String(SUBSET_EPOCH_IMAGES)]
            : [];
        return {
          size,
          seed,
          variant,
          dir,
          args: [
            "--preset",
            "reference",
            "--cross_stitch_enabled",
            String(variant === "cross-stitch"),
            "--seed",
            String(seed),
            "--n_epoch",
            String(STUDY_EPOCHS),
            ...subset,
            ...(dataDir ? ["--data_dir", dataDir] : []),
            "--out",
            dir,
          ],
        };
      }),
    ),
  );
}

/** published: its record is under the records folder; finished: its run folder is, the record not yet. */
export type RunState = "published" | "finished" | "interrupted" | "new";

export function runState(run: StudyRun, recordsRoot: string): RunState {
  if (hasStudyRecord(recordsRoot, run)) return "published";
  if (fs.existsSync(path.join(run.dir, RUN_FILES.summary))) return "finished";
  if (fs.existsSync(path.join(run.dir, RUN_FILES.config))) return "interrupted";
  return "new";
}

/** "1000,3000" as [1000, 3000]: comma-separated integers >= min. */
const integerList = (min: number) =>
  z.string().transform((text, context) => {
    const values = text.split(",").map((part) => (part.trim() === "" ? Number.NaN : Number(part)));
    if (values.some((v) => !Number.isInteger(v) || v < min)) {
      context.addIssue({
        code: "custom",
        message: `expected comma-separated integers >= ${min}, got "${text}"`,
      });
      return z.NEVER;
    }
    return values;
  });

const command = {
  name: "npm run study --",
  summary:
    "the sharing study: baseline vs cross-stitch per class-balanced training-set size and seed, one train process at a time; re-running resumes.",
  flags: {
    root: { value: "DIR", help: "where the run folders go, <root>/n<size>/<variant>-s<seed>" },
    records: { value: "DIR", help: "where each finished run's record is published for git, same layout" },
    sizes: { value: "N,N,...", help: "training-set sizes" },
    seeds: { value: "N,N,...", help: "seeds" },
    data_dir: { value: "DIR", help: "folder with the Fashion-MNIST IDX files (the loader's search order)" },
    dry_run: { help: "print the plan and each run's state, train nothing" },
  },
  schema: z.object({
    root: flagValue.path().default(STUDY_RUNS_DIR),
    records: flagValue.path().default(STUDY_RECORDS_DIR),
    sizes: integerList(10).default(STUDY_SIZES),
    seeds: integerList(0).default(STUDY_SEEDS),
    data_dir: flagValue.path().optional(),
    dry_run: z.boolean().default(false),
  }),
} satisfies Command<z.ZodType>;

const TRAIN_SCRIPT = path.join(path.dirname(new URL(import.meta.url).pathname), "train.ts");

function trainOnce(run: StudyRun, resume: boolean, signal: AbortSignal): Promise<number> {
  return new Promise((resolve) => {
    fs.mkdirSync(path.dirname(run.dir), { recursive: true });
    const log = fs.openSync(`${run.dir}.log`, "a");
    const child = spawn(
      process.execPath,
      ["--import", "tsx", TRAIN_SCRIPT, ...run.args, ...(resume ? ["--resume"] : [])],
      {
        stdio: ["ignore", log, log],
      },
    );
    const stop = () => child.kill("SIGTERM");
    signal.addEventListener("abort", stop, { once: true });
    child.on("exit", (code, childSignal) => {
      signal.removeEventListener("abort", stop);
      fs.closeSync(log);
      resolve(code ?? (childSignal ? 130 : 1));
    });
  });
}

async function main(argv: string[]): Promise<number> {
  const values = parseCommand(command, argv);
  if (values === null) return EXIT.ok;
  const plan = studyPlan(values.root, values.sizes, values.seeds, values.data_dir ?? null);
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  process.once("SIGTERM", () => controller.abort());
  for (const [i, run] of plan.entries()) {
    const state = runState(run, values.records);
    const label = `[${i + 1}/${plan.length}] n=${run.size} ${run.variant} seed ${run.seed}`;
    if (state === "published") {
      console.log(`${label}: published earlier (${studyRunDir(values.records, run)})`);
      continue;
    }
    if (values.dry_run) {
      console.log(
        state === "finished"
          ? `${label}: finished, not published yet: publish ${run.dir}`
          : `${label}: ${state}: train ${run.args.join(" ")}${state === "interrupted" ? " --resume" : ""}`,
      );
      continue;
    }
    if (state === "finished") {
      console.log(`${label}: finished earlier (${run.dir}), not published yet`);
    } else {
      console.log(
        `${new Date().toISOString()} ${label}: ${state === "interrupted" ? "resuming" : "starting"}; log ${run.dir}.log`,
      );
      const code = await trainOnce(run, state === "interrupted", controller.signal);
      if (controller.signal.aborted || code === 130) {
        throw new InterruptedError(`${label}: interrupted; run the same command again to resume`);
      }
      if (code !== 0) throw new Error(`${label} failed with exit code ${code}; see ${run.dir}.log`);
    }
    const recordDir = publishStudyRecord(run.dir, values.records, run);
    console.log(`${label}: published ${recordDir}; only \`git add ${recordDir}\` and a commit keep it`);
  }
  const reportRoot =
    path.resolve(values.records) === path.resolve(STUDY_RECORDS_DIR) ? "" : ` -- --root ${values.records}`;
  if (values.dry_run) console.log("study: dry run, nothing trained or published");
  else
    console.log(
      `study: every run of the plan is published; git add ${values.records}, then npm run study:report${reportRoot}`,
    );
  return EXIT.ok;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runCommand(command, () => main(process.argv.slice(2)));
}

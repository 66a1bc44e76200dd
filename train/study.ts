/**
 * The sharing study: baseline vs cross-stitch at several class-balanced training-set sizes and
 * seeds, reference preset. The small sizes see the same number of images (30 epochs of 10,000
 * drawn from their pool, 300k in all); the full set trains its usual 30 epochs of 60,000.
 *
 *   npm run study -- [--root runs/sharing] [--sizes 1000,3000,10000,60000] [--seeds 1,2,3] [--data_dir DIR] [--dry_run]
 *
 * Runs go smallest first, both variants of a seed back to back, one at a time, each as its own
 * `train/train.ts` process in <root>/n<size>/<variant>-s<seed> with its log beside it. Re-running
 * skips finished runs and resumes an interrupted one, so the driver itself is resumable. The
 * analysis is `npm run study:report` (analysis/sharing.ts), which reads whatever has finished.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

export const STUDY_SIZES = [1000, 3000, 10000, 60000];
export const STUDY_SEEDS = [1, 2, 3];
export const FULL_SIZE = 60000;
/** Images per epoch for the subsets: 30 epochs of this = 300k images seen, as the brief fixes. */
export const SUBSET_EPOCH_IMAGES = 10000;
export const STUDY_EPOCHS = 30;
export const VARIANTS = ["baseline", "cross-stitch"] as const;
export type Variant = (typeof VARIANTS)[number];

export interface StudyRun {
  size: number;
  seed: number;
  variant: Variant;
  dir: string;
  /** Flags of train/train.ts, without --resume. */
  args: string[];
}

export function studyRunDir(root: string, size: number, variant: Variant, seed: number): string {
  return path.join(root, `n${size}`, `${variant}-s${seed}`);
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
      VARIANTS.map((variant) => {
        const dir = studyRunDir(root, size, variant, seed);
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

export type RunState = "finished" | "interrupted" | "new";

export function runState(dir: string): RunState {
  if (fs.existsSync(path.join(dir, "summary.json"))) return "finished";
  if (fs.existsSync(path.join(dir, "config.json"))) return "interrupted";
  return "new";
}

class StudyError extends Error {}

function parseList(flag: string, text: string, min: number): number[] {
  const values = text.split(",").map((part) => Number(part.trim()));
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < min)) {
    throw new StudyError(`--${flag}: expected comma-separated integers >= ${min}, got "${text}"`);
  }
  return values;
}

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
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      root: { type: "string", default: "runs/sharing" },
      sizes: { type: "string", default: STUDY_SIZES.join(",") },
      seeds: { type: "string", default: STUDY_SEEDS.join(",") },
      data_dir: { type: "string" },
      dry_run: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: npm run study -- [--root runs/sharing] [--sizes 1000,3000,10000,60000] [--seeds 1,2,3] [--data_dir DIR] [--dry_run]",
    );
    return 0;
  }
  const plan = studyPlan(
    values.root,
    parseList("sizes", values.sizes, 10),
    parseList("seeds", values.seeds, 0),
    values.data_dir ?? null,
  );
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  process.once("SIGTERM", () => controller.abort());
  for (const [i, run] of plan.entries()) {
    const state = runState(run.dir);
    const label = `[${i + 1}/${plan.length}] n=${run.size} ${run.variant} seed ${run.seed}`;
    if (state === "finished") {
      console.log(`${label}: finished earlier (${run.dir})`);
      continue;
    }
    if (values.dry_run) {
      console.log(
        `${label}: ${state}: train ${run.args.join(" ")}${state === "interrupted" ? " --resume" : ""}`,
      );
      continue;
    }
    console.log(
      `${new Date().toISOString()} ${label}: ${state === "interrupted" ? "resuming" : "starting"}; log ${run.dir}.log`,
    );
    const code = await trainOnce(run, state === "interrupted", controller.signal);
    if (controller.signal.aborted || code === 130) {
      console.log(`${label}: interrupted; run the same command again to resume`);
      return 130;
    }
    if (code !== 0) {
      console.error(`study: ${label} failed with exit code ${code}; see ${run.dir}.log`);
      return 1;
    }
  }
  console.log(`study: every run of the plan has finished; npm run study:report -- --root ${values.root}`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    if (error instanceof StudyError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`study: ${(error as Error).message}`);
      process.exitCode = 2;
    } else throw error;
  }
}

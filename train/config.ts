/**
 * The training configuration: defaults equal to the reference, the reference's flag names, and
 * strict parsing (an unknown flag or a bad value is a ConfigError naming the flag).
 */
import type { AlphaInit, AlphaMode } from "../contracts/architecture.ts";
import type { NormalizationKind } from "../contracts/normalization.ts";
import { type Preset, TRAINING_PRESETS } from "../contracts/presets.ts";
import type { AugmentSettings } from "./augment.ts";
import type { LrSchedule } from "./schedule.ts";

export interface TrainConfig extends AugmentSettings {
  /** The defaults the other flags start from (PRESETS); every flag given explicitly wins. */
  preset: Preset;
  lr: number;
  n_epoch: number;
  n_batch_size: number;
  reg_lambda: number;
  keep_prob: number;
  cross_stitch_enabled: boolean;
  seed: number;
  /** Run folder; defaults to runs/<baseline|cross-stitch>-s<seed>. */
  out: string;
  /** Task file (JSON, see contracts/tasks.ts); null = the default fashion + category tasks. */
  tasks: string | null;
  /** Folder with the four IDX files; null = the loader's search order. */
  data_dir: string | null;
  /** Train on a seeded random subset of this many images (the test set stays whole); null = all. */
  limit: number | null;
  alpha_mode: AlphaMode;
  alpha_init: AlphaInit;
  alpha_same: number;
  alpha_lr_mult: number;
  normalization: NormalizationKind;
  /** Training images held out, stratified and seeded, for every choice the run makes (0 = none). */
  val_size: number;
  /** Train on a class-balanced subset of this many of the (remaining) training images; null = all. */
  train_size: number | null;
  /** Images per epoch, drawn as back-to-back permutations of the training pool; null = the pool's size. */
  epoch_images: number | null;
  /** Decay of the weights' exponential moving average (0 = no average). */
  ema_decay: number;
  lr_schedule: LrSchedule;
  /** Linear warm-up of a cosine schedule, in epochs. */
  warmup_epochs: number;
  label_smoothing: number;
  resume: boolean;
  overwrite: boolean;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

type Kind = "number" | "integer" | "boolean" | "string" | "path";

interface FlagSpec {
  kind: Kind;
  help: string;
  choices?: readonly string[];
  check?: (value: number) => boolean;
  rule?: string;
}

const probability = { check: (v: number) => v >= 0 && v <= 1, rule: "in [0, 1]" };

const FLAGS: Record<keyof TrainConfig, FlagSpec> = {
  preset: {
    kind: "string",
    help: "defaults: reference (SPEC's recipe) or beyond (augmentation, cosine, EMA, validation)",
    choices: TRAINING_PRESETS,
  },
  lr: { kind: "number", help: "Adam learning rate (0.001)", check: (v) => v > 0, rule: "> 0" },
  n_epoch: { kind: "integer", help: "epochs (30)", check: (v) => v >= 1, rule: ">= 1" },
  n_batch_size: { kind: "integer", help: "batch size (128)", check: (v) => v >= 1, rule: ">= 1" },
  reg_lambda: {
    kind: "number",
    help: "L2 weight on conv and dense kernels (1e-5)",
    check: (v) => v >= 0,
    rule: ">= 0",
  },
  keep_prob: {
    kind: "number",
    help: "dropout keep probability (0.8)",
    check: (v) => v > 0 && v <= 1,
    rule: "in (0, 1]",
  },
  cross_stitch_enabled: { kind: "boolean", help: "cross-stitch units between the towers (true)" },
  seed: {
    kind: "integer",
    help: "seed for init, shuffling, dropout and --limit (1)",
    check: (v) => v >= 0,
    rule: ">= 0",
  },
  out: { kind: "path", help: "run folder (runs/<baseline|cross-stitch>-s<seed>)" },
  tasks: { kind: "path", help: "task file, JSON (fashion + category)" },
  data_dir: { kind: "path", help: "folder with the Fashion-MNIST IDX files (searched)" },
  limit: {
    kind: "integer",
    help: "train on this many images only (all)",
    check: (v) => v >= 1,
    rule: ">= 1",
  },
  alpha_mode: {
    kind: "string",
    help: "one alpha matrix per channel or per unit (channel)",
    choices: ["channel", "layer"],
  },
  alpha_init: { kind: "string", help: "alpha init (convex)", choices: ["identity", "convex"] },
  alpha_same: {
    kind: "number",
    help: "diagonal of the convex init (0.9)",
    check: (v) => v >= 0 && v <= 1,
    rule: "in [0, 1]",
  },
  alpha_lr_mult: {
    kind: "number",
    help: "alpha learning rate = lr * this (10)",
    check: (v) => v > 0,
    rule: "> 0",
  },
  normalization: { kind: "string", help: "z-score statistics (global)", choices: ["global", "per_pixel"] },
  val_size: {
    kind: "integer",
    help: "stratified validation images held out of training (0; beyond 5000)",
    check: (v) => v >= 0,
    rule: ">= 0",
  },
  train_size: {
    kind: "integer",
    help: "class-balanced training subset of this size (all)",
    check: (v) => v >= 10,
    rule: ">= 10",
  },
  epoch_images: {
    kind: "integer",
    help: "images per epoch, repeating a small pool (the pool's size)",
    check: (v) => v >= 1,
    rule: ">= 1",
  },
  ema_decay: {
    kind: "number",
    help: "moving average of the weights, 0 = off (0; beyond 0.999)",
    check: (v) => v >= 0 && v < 1,
    rule: "in [0, 1)",
  },
  lr_schedule: {
    kind: "string",
    help: "learning-rate schedule (constant; beyond cosine)",
    choices: ["constant", "cosine"],
  },
  warmup_epochs: {
    kind: "number",
    help: "linear warm-up of the cosine schedule, epochs (0; beyond 1)",
    check: (v) => v >= 0,
    rule: ">= 0",
  },
  label_smoothing: {
    kind: "number",
    help: "uniform target weight (0; beyond 0.1)",
    check: (v) => v >= 0 && v < 1,
    rule: "in [0, 1)",
  },
  aug_shift: {
    kind: "integer",
    help: "random shift up to this many pixels (0; beyond 2)",
    check: (v) => v >= 0 && v <= 8,
    rule: "in 0..8",
  },
  aug_flip: { kind: "number", help: "horizontal flip probability (0; beyond 0.5)", ...probability },
  aug_brightness: {
    kind: "number",
    help: "brightness offset up to this fraction of 255 (0; beyond 0.1)",
    ...probability,
  },
  aug_contrast: { kind: "number", help: "contrast gain in 1 +- this (0; beyond 0.2)", ...probability },
  aug_invert: { kind: "number", help: "inversion probability (0; beyond 0.02)", ...probability },
  resume: { kind: "boolean", help: "continue the run in --out from its last checkpoint (false)" },
  overwrite: { kind: "boolean", help: "replace a finished run in --out (false)" },
};

export const DEFAULT_CONFIG: Omit<TrainConfig, "out"> = {
  preset: "reference",
  lr: 0.001,
  n_epoch: 30,
  n_batch_size: 128,
  reg_lambda: 1e-5,
  keep_prob: 0.8,
  cross_stitch_enabled: true,
  seed: 1,
  tasks: null,
  data_dir: null,
  limit: null,
  alpha_mode: "channel",
  alpha_init: "convex",
  alpha_same: 0.9,
  // Adam moves every weight by about lr per step whatever its gradient's scale, so alpha (~1)
  // changes far slower, relatively, than the kernels (~0.03-0.1); the paper's 100-1000x
  // multiplier was for SGD. 10x keeps alpha's relative rate close to the kernels'.
  alpha_lr_mult: 10,
  normalization: "global",
  val_size: 0,
  train_size: null,
  epoch_images: null,
  ema_decay: 0,
  lr_schedule: "constant",
  warmup_epochs: 0,
  label_smoothing: 0,
  aug_shift: 0,
  aug_flip: 0,
  aug_brightness: 0,
  aug_contrast: 0,
  aug_invert: 0,
  resume: false,
  overwrite: false,
};

/**
 * What each preset changes from DEFAULT_CONFIG (the reference's recipe). "beyond" keeps the
 * towers and trains them the way small image models are trained today: augmentation, a cosine
 * schedule with warm-up, label smoothing, an EMA of the weights, and a validation split that
 * picks the epoch and the weights (raw or EMA) the export serves.
 */
export const PRESETS: Record<Preset, Partial<Omit<TrainConfig, "out">>> = {
  reference: {},
  beyond: {
    val_size: 5000,
    ema_decay: 0.999,
    lr_schedule: "cosine",
    warmup_epochs: 1,
    label_smoothing: 0.1,
    aug_shift: 2,
    aug_flip: 0.5,
    aug_brightness: 0.1,
    aug_contrast: 0.2,
    aug_invert: 0.02,
  },
};

const TRUE_WORDS = ["true", "1", "yes"];
const FALSE_WORDS = ["false", "0", "no"];

function parseBoolean(flag: string, text: string): boolean {
  const word = text.toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  throw new ConfigError(`--${flag}: expected true/false/1/0/yes/no, got "${text}"`);
}

function parseValue(flag: keyof TrainConfig, spec: FlagSpec, text: string): TrainConfig[keyof TrainConfig] {
  switch (spec.kind) {
    case "boolean":
      return parseBoolean(flag, text);
    case "number":
    case "integer": {
      const value = text.trim() === "" ? Number.NaN : Number(text);
      if (!Number.isFinite(value)) throw new ConfigError(`--${flag}: expected a number, got "${text}"`);
      if (spec.kind === "integer" && !Number.isInteger(value)) {
        throw new ConfigError(`--${flag}: expected an integer, got "${text}"`);
      }
      if (spec.check && !spec.check(value))
        throw new ConfigError(`--${flag}: must be ${spec.rule}, got ${text}`);
      return value;
    }
    case "string":
      if (spec.choices && !spec.choices.includes(text)) {
        throw new ConfigError(`--${flag}: expected one of ${spec.choices.join(", ")}, got "${text}"`);
      }
      return text;
    case "path":
      if (text === "" || text.startsWith("--"))
        throw new ConfigError(`--${flag}: expected a path, got "${text}"`);
      return text;
  }
}

export function usage(): string {
  const lines = Object.entries(FLAGS).map(([name, spec]) => {
    const value =
      spec.kind === "boolean" ? "[true|false]" : spec.choices ? spec.choices.join("|") : `<${spec.kind}>`;
    return `  --${`${name} ${value}`.padEnd(42)} ${spec.help}`;
  });
  return ["usage: npm run train -- [flags]   (--flag value or --flag=value)", ...lines].join("\n");
}

/** Parses command-line flags over the defaults. Throws ConfigError; `--help` is the caller's business. */
export function parseTrainArgs(argv: readonly string[]): TrainConfig {
  const values: Partial<Record<keyof TrainConfig, unknown>> = {};
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (!token.startsWith("--"))
      throw new ConfigError(`unexpected argument "${token}" (flags start with --)`);
    const eq = token.indexOf("=");
    const name = (eq === -1 ? token.slice(2) : token.slice(2, eq)) as keyof TrainConfig;
    const spec = Object.hasOwn(FLAGS, name) ? FLAGS[name] : undefined;
    if (spec === undefined) throw new ConfigError(`unknown flag --${name} (see --help)`);
    if (Object.hasOwn(values, name)) throw new ConfigError(`--${name} given twice`);
    let text: string;
    if (eq !== -1) {
      text = token.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      const nextIsBoolean =
        next !== undefined && [...TRUE_WORDS, ...FALSE_WORDS].includes(next.toLowerCase());
      if (spec.kind === "boolean" && !nextIsBoolean) {
        text = "true"; // a bare boolean flag means true
      } else {
        if (next === undefined) throw new ConfigError(`--${name}: missing value`);
        text = next;
        i++;
      }
    }
    values[name] = parseValue(name, spec, text);
  }
  const preset = (values.preset as Preset | undefined) ?? DEFAULT_CONFIG.preset;
  const merged = { ...DEFAULT_CONFIG, ...PRESETS[preset], ...values } as Omit<TrainConfig, "out"> & {
    out?: string;
  };
  const variant = merged.cross_stitch_enabled ? "cross-stitch" : "baseline";
  const out = merged.out ?? `runs/${preset === "reference" ? "" : `${preset}-`}${variant}-s${merged.seed}`;
  if (merged.resume && merged.overwrite)
    throw new ConfigError("--resume and --overwrite contradict each other");
  if (merged.limit !== null && merged.train_size !== null)
    throw new ConfigError("--limit and --train_size both pick a subset; give one");
  return { ...merged, out };
}

/**
 * The training configuration: defaults equal to the reference, the reference's flag names, parsed
 * the way every command parses its flags (cli/args.ts: an unknown flag or a bad value is a
 * UsageError naming the flag, exit 2).
 */
import { z } from "zod";
import { type Command, type Flag, flagValue, parseCommand, UsageError } from "../cli/args.ts";
import { ALPHA_INITS, ALPHA_MODES, type AlphaInit, type AlphaMode } from "../contracts/architecture.ts";
import { NORMALIZATION_KINDS, type NormalizationKind } from "../contracts/normalization.ts";
import { type Preset, TRAINING_PRESETS } from "../contracts/presets.ts";
import type { AugmentSettings } from "./augment.ts";
import { LR_SCHEDULES, type LrSchedule } from "./schedule.ts";

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

/** A training setting the run cannot go on with (a one-task file with cross-stitch on, a split too large): exit 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

interface TrainFlag extends Flag {
  /** The flag's word to its value; absent flags take the preset's default. */
  schema: z.ZodType;
}

const choice = <const T extends readonly [string, ...string[]]>(choices: T) => ({
  value: choices.join("|"),
  schema: z.enum(choices, {
    error: (issue) => `expected one of ${choices.join(", ")}, got "${issue.input}"`,
  }),
});
const number = (rule: string, within: (v: number) => boolean) => ({
  value: "X",
  schema: flagValue.numberWhere(rule, within),
});
const integer = (rule: string, within: (v: number) => boolean) => ({
  value: "N",
  schema: flagValue.numberWhere(rule, within, true),
});
const probability = number("in [0, 1]", (v) => v >= 0 && v <= 1);
const toggle = { toggle: true, schema: flagValue.toggle() };
const pathFlag = (value: string) => ({ value, schema: flagValue.path() });

const FLAGS: Record<keyof TrainConfig, TrainFlag> = {
  preset: {
    ...choice(TRAINING_PRESETS),
    help: "the other flags' defaults: reference (SPEC's recipe) or beyond (augmentation, cosine, EMA, validation)",
  },
  lr: { ...number("> 0", (v) => v > 0), help: "Adam learning rate" },
  n_epoch: { ...integer(">= 1", (v) => v >= 1), help: "epochs" },
  n_batch_size: { ...integer(">= 1", (v) => v >= 1), help: "batch size" },
  reg_lambda: { ...number(">= 0", (v) => v >= 0), help: "L2 weight on conv and dense kernels" },
  keep_prob: { ...number("in (0, 1]", (v) => v > 0 && v <= 1), help: "dropout keep probability" },
  cross_stitch_enabled: { ...toggle, help: "cross-stitch units between the towers" },
  seed: { ...integer(">= 0", (v) => v >= 0), help: "seed for init, shuffling, dropout and --limit" },
  out: { ...pathFlag("DIR"), help: "run folder (runs/[<preset>-]<baseline|cross-stitch>-s<seed>)" },
  tasks: { ...pathFlag("FILE"), help: "task file, JSON (fashion + category)" },
  data_dir: { ...pathFlag("DIR"), help: "folder with the Fashion-MNIST IDX files (searched)" },
  limit: { ...integer(">= 1", (v) => v >= 1), help: "train on this many images only (all)" },
  alpha_mode: { ...choice(ALPHA_MODES), help: "one alpha matrix per channel or per unit" },
  alpha_init: { ...choice(ALPHA_INITS), help: "alpha init" },
  alpha_same: { ...number("in [0, 1]", (v) => v >= 0 && v <= 1), help: "diagonal of the convex init" },
  alpha_lr_mult: { ...number("> 0", (v) => v > 0), help: "alpha learning rate = lr * this" },
  normalization: { ...choice(NORMALIZATION_KINDS), help: "z-score statistics" },
  val_size: { ...integer(">= 0", (v) => v >= 0), help: "stratified validation images held out of training" },
  train_size: {
    ...integer(">= 10", (v) => v >= 10),
    help: "class-balanced training subset of this size (all)",
  },
  epoch_images: {
    ...integer(">= 1", (v) => v >= 1),
    help: "images per epoch, repeating a small pool (the pool's size)",
  },
  ema_decay: {
    ...number("in [0, 1)", (v) => v >= 0 && v < 1),
    help: "moving average of the weights, 0 = off",
  },
  lr_schedule: { ...choice(LR_SCHEDULES), help: "learning-rate schedule" },
  warmup_epochs: { ...number(">= 0", (v) => v >= 0), help: "linear warm-up of the cosine schedule, epochs" },
  label_smoothing: { ...number("in [0, 1)", (v) => v >= 0 && v < 1), help: "uniform target weight" },
  aug_shift: { ...integer("in 0..8", (v) => v >= 0 && v <= 8), help: "random shift up to this many pixels" },
  aug_flip: { ...probability, help: "horizontal flip probability" },
  aug_brightness: { ...probability, help: "brightness offset up to this fraction of 255" },
  aug_contrast: { ...probability, help: "contrast gain in 1 +- this" },
  aug_invert: { ...probability, help: "inversion probability" },
  resume: { ...toggle, help: "continue the run in --out from its last checkpoint" },
  overwrite: { ...toggle, help: "replace a finished run in --out" },
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

/** The flags over the preset's defaults over DEFAULT_CONFIG, and --out named after the run when absent. */
function resolveConfig(given: Partial<TrainConfig>, context: z.RefinementCtx): TrainConfig {
  const preset = given.preset ?? DEFAULT_CONFIG.preset;
  const merged = { ...DEFAULT_CONFIG, ...PRESETS[preset], ...given };
  const variant = merged.cross_stitch_enabled ? "cross-stitch" : "baseline";
  const out = merged.out ?? `runs/${preset === "reference" ? "" : `${preset}-`}${variant}-s${merged.seed}`;
  if (merged.resume && merged.overwrite)
    context.addIssue({ code: "custom", message: "--resume and --overwrite contradict each other" });
  if (merged.limit !== null && merged.train_size !== null)
    context.addIssue({ code: "custom", message: "--limit and --train_size both pick a subset; give one" });
  return { ...merged, out };
}

/**
 * The defaults train's --help shows, from DEFAULT_CONFIG and PRESETS: the reference's value, then
 * each other preset's where it differs ("0; beyond: 5000"). A null default has none: its help says
 * what an absent flag means.
 */
function presetDefaults(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(DEFAULT_CONFIG).flatMap(([name, value]) => {
      if (value === null) return [];
      const others = Object.entries(PRESETS).flatMap(([preset, changes]) => {
        const changed = changes[name as keyof typeof changes];
        return changed === undefined || changed === value ? [] : [`${preset}: ${changed}`];
      });
      return [[name, [String(value), ...others].join("; ")]];
    }),
  );
}

export const trainCommand = {
  name: "npm run train --",
  summary:
    "trains one variant and writes its run folder, checkpointing every epoch (Ctrl-C stops within a batch; --resume continues).",
  flags: FLAGS,
  schema: z
    .object(Object.fromEntries(Object.entries(FLAGS).map(([name, flag]) => [name, flag.schema.optional()])))
    .transform((given, context) => resolveConfig(given as Partial<TrainConfig>, context)),
  defaults: presetDefaults(),
} satisfies Command<z.ZodType<TrainConfig>>;

/** The configuration the flags give; throws UsageError (`--help` is parsed by the command, not here). */
export function parseTrainArgs(argv: readonly string[]): TrainConfig {
  const asksForHelp = argv.includes("--help") || argv.includes("-h");
  const config = asksForHelp ? null : parseCommand(trainCommand, argv);
  if (config === null) throw new UsageError("--help prints the usage; it is not a configuration");
  return config;
}

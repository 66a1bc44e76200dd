/**
 * What the beyond preset's per-batch work costs: training steps of the cross-stitch network
 * (batch 128) plain, with augmentation (augment.ts, the beyond preset's settings), and with
 * augmentation plus the EMA update (ema.ts). The three are interleaved in short blocks, round
 * after round, so load from other processes falls on all of them alike; only their ratios are
 * read: of the summed process CPU time (what load from other processes disturbs least), of the
 * summed wall time, and the median of each round's wall-time ratio. Writes
 * bench/results/train-augment.json.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { acceptNoFlagsOrExit } from "../cli/args.ts";
import { DEFAULT_TASKS } from "../contracts/tasks.ts";
import { augmentBatch, drawAugmentation } from "../train/augment.ts";
import { parseTrainArgs } from "../train/config.ts";
import { WeightAverage } from "../train/ema.ts";
import { buildModel } from "../train/model.ts";
import { Trainer } from "../train/step.ts";
import * as tf from "../train/tf.ts";

acceptNoFlagsOrExit(
  "tsx bench/train-augment.ts",
  "what the beyond preset's augmentation and EMA cost per training step; writes bench/results/train-augment.json.",
  process.argv.slice(2),
);

const BATCH = 128;
const POOL = 2048;
const BLOCK_STEPS = Number(process.env.BENCH_BLOCK_STEPS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const MEAN = 72.94;
const STD = 90.02;

type Mode = "plain" | "augmented" | "augmented_ema";

const config = parseTrainArgs(["--preset", "beyond"]);
const model = buildModel(config, DEFAULT_TASKS);
const trainer = new Trainer(model, DEFAULT_TASKS, config);
const average = new WeightAverage(model, buildModel(config, DEFAULT_TASKS), config.ema_decay);
const pixels = tf.tidy(() => tf.randomUniform([POOL, 28, 28, 1], 0, 255).floor()) as tf.Tensor4D;
const normalized = tf.tidy(() => pixels.sub(MEAN).div(STD)) as tf.Tensor4D;
const mean = tf.scalar(MEAN);
const std = tf.scalar(STD);
const labels = DEFAULT_TASKS.map(
  (t) => tf.randomUniform([POOL], 0, t.classes.length, "int32") as tf.Tensor1D,
);
let stepCount = 0;

function step(mode: Mode): void {
  const i = stepCount++;
  tf.tidy(() => {
    const start = (i * BATCH) % (POOL - BATCH);
    const index = tf.range(start, start + BATCH, 1, "int32");
    const images =
      mode === "plain"
        ? (tf.gather(normalized, index) as tf.Tensor4D)
        : augmentBatch(
            tf.gather(pixels, index) as tf.Tensor4D,
            drawAugmentation(config, BATCH, 28, [1, 1, i]),
            config.aug_shift,
            mean,
            std,
          );
    trainer.step(
      {
        images,
        labels: labels.map((l) => tf.gather(l, index) as tf.Tensor1D),
        dropoutSeeds: DEFAULT_TASKS.map((_, t) => [t, i]),
      },
      0.5,
    );
  });
  if (mode === "augmented_ema") {
    if (average.due(trainer.steps)) tf.tidy(() => average.update(trainer.steps, trainer.readOptimised()));
  }
}

async function block(mode: Mode): Promise<{ wall: number; cpu: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let s = 0; s < BLOCK_STEPS; s++) step(mode);
  await trainer.takeLosses();
  const cpu = process.cpuUsage(cpu0);
  return { wall: (performance.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6 };
}

const modes: Mode[] = ["plain", "augmented", "augmented_ema"];
for (const mode of modes) await block(mode);
const seconds: Record<Mode, number[]> = { plain: [], augmented: [], augmented_ema: [] };
const cpuSeconds: Record<Mode, number[]> = { plain: [], augmented: [], augmented_ema: [] };
const loadBefore = os.loadavg()[0];
for (let round = 0; round < ROUNDS; round++) {
  // Rotate the order each round so no mode always follows the same one.
  for (let k = 0; k < modes.length; k++) {
    const mode = modes[(round + k) % modes.length] as Mode;
    const { wall, cpu } = await block(mode);
    seconds[mode].push(wall);
    cpuSeconds[mode].push(cpu);
  }
}
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const rate = (mode: Mode) => (ROUNDS * BLOCK_STEPS * BATCH) / sum(seconds[mode]);
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
/** Speed of `mode` relative to plain (> 1 = faster), three ways. */
const ratios = (mode: Mode) => ({
  cpu_time: Number((sum(cpuSeconds.plain) / sum(cpuSeconds[mode])).toFixed(3)),
  wall_time: Number((rate(mode) / rate("plain")).toFixed(3)),
  median_round_wall_time: Number(
    median(seconds.plain.map((plain, r) => plain / (seconds[mode][r] as number))).toFixed(3),
  ),
});
const report = {
  measured_at: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? "unknown" },
  load_average_1m_before: loadBefore,
  load_average_1m_after: os.loadavg()[0],
  setup: {
    variant: "cross_stitch",
    batch: BATCH,
    block_steps: BLOCK_STEPS,
    rounds: ROUNDS,
    augmentation: {
      aug_shift: config.aug_shift,
      aug_flip: config.aug_flip,
      aug_brightness: config.aug_brightness,
      aug_contrast: config.aug_contrast,
      aug_invert: config.aug_invert,
    },
    ema_decay: config.ema_decay,
  },
  images_per_second: Object.fromEntries(modes.map((m) => [m, Math.round(rate(m))])),
  block_seconds: seconds,
  block_cpu_seconds: cpuSeconds,
  speed_augmented_vs_plain: ratios("augmented"),
  speed_augmented_ema_vs_plain: ratios("augmented_ema"),
};
const file = path.join("bench", "results", "train-augment.json");
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
fs.renameSync(`${file}.tmp`, file);
console.log(
  `cross-stitch step, batch ${BATCH}, ${ROUNDS} interleaved rounds of ${BLOCK_STEPS} steps: ` +
    modes.map((m) => `${m} ${report.images_per_second[m]} img/s`).join(", ") +
    `; speed vs plain (CPU time, wall, median round): augmented ${Object.values(report.speed_augmented_vs_plain).join(" / ")}, ` +
    `augmented + EMA ${Object.values(report.speed_augmented_ema_vs_plain).join(" / ")}; wrote ${file}`,
);
tf.dispose([pixels, normalized, mean, std, ...labels]);
trainer.dispose();
average.dispose();
model.dispose();

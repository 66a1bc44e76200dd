// The engine against onnxruntime on the full Fashion-MNIST test set: the int8
// graph in onnxruntime-web (wasm, the reference the export judges by) and in
// onnxruntime-node (native), per task: max |logit difference|, share of
// bit-equal logits, argmax agreement, accuracy of each. Both engine builds.
// `npm run bench:engine-parity -- --artifacts DIR` (DIR: an export with
// model.int8.onnx and manifest.json; its model.engine.bin, else packed here). Writes
// bench/results/engine-parity.json.
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { flagValue, parseCommandOrExit } from "../cli/args.ts";
import { ENGINE_FILE } from "../contracts/artifacts.ts";
import { parseManifest } from "../contracts/manifest.ts";
import { standardize } from "../contracts/normalization.ts";
import { BUILTIN_TASKS, taskLabels } from "../contracts/tasks.ts";
import { loadFashionMnist } from "../data/fashion-mnist.ts";
import { loadEngine } from "../export/engine-run.ts";
import { runAll } from "../export/ort-session.ts";
import { packEngine } from "../export/pack-engine.ts";
import { compareTask } from "../export/parity.ts";

const RESULTS = "bench/results/engine-parity.json";
const values = parseCommandOrExit(
  {
    name: "npm run bench:engine-parity --",
    summary:
      "the engine's answers against onnxruntime's on the 10k test images; writes bench/results/engine-parity.json.",
    flags: {
      artifacts: { value: "DIR", help: "the export folder (required)" },
      data_dir: { value: "DIR", help: "folder with the Fashion-MNIST IDX files (the loader's search order)" },
    },
    schema: z.object({ artifacts: flagValue.path(), data_dir: flagValue.path().optional() }),
  },
  process.argv.slice(2),
);
const dir = values.artifacts;
const manifest = parseManifest(JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")));
const model = await readFile(join(dir, manifest.models.int8.file));
// An export written before the engine existed has no pack: pack its int8 graph here.
const packFile = join(dir, manifest.models.engine?.file ?? ENGINE_FILE);
const packed = existsSync(packFile)
  ? new Uint8Array(await readFile(packFile))
  : packEngine(
      model,
      manifest.tasks.map((t) => ({ name: t.name, output: t.output, classes: t.classes.length })),
    ).bytes;
const data = await loadFashionMnist({ dataDir: values.data_dir, log: (line) => console.error(line) });
const images = standardize(data.test.images, manifest.normalization);
const outputs = manifest.tasks.map((t) => t.output);
/** The manifest names each task's classes; the label mapping of the built-in tasks gives accuracy. */
function builtIn(task: string) {
  const spec = BUILTIN_TASKS[task];
  if (!spec) {
    console.error(`task ${task} is not a built-in task: its labels are unknown here`);
    process.exit(1);
  }
  return spec;
}
for (const t of manifest.tasks) builtIn(t.name);

const references = {
  "onnxruntime-web": await runAll(model, "wasm", manifest.input.name, images, outputs),
  "onnxruntime-node": await runAll(model, "native", manifest.input.name, images, outputs),
};
const results: Record<string, unknown> = {};
for (const build of ["simd128", "relaxed"] as const) {
  const engine = await loadEngine(packed, build);
  const started = performance.now();
  const logits = engine.run(images);
  const seconds = (performance.now() - started) / 1000;
  results[`engine-${build}`] = {
    kernels: engine.kernels,
    seconds: Math.round(seconds * 100) / 100,
    against: Object.fromEntries(
      Object.entries(references).map(([runtime, reference]) => [
        runtime,
        manifest.tasks.map((task, i) => {
          const ref = reference.get(task.output) as Float32Array;
          const mine = logits[i] as Float32Array;
          let equal = 0;
          for (let j = 0; j < ref.length; j++) if (ref[j] === mine[j]) equal++;
          const comparison = compareTask(
            task.name,
            { classes: task.classes.length, values: ref },
            { classes: task.classes.length, values: mine },
            taskLabels(builtIn(task.name), data.test.labels),
          );
          return { ...comparison, bitEqualShare: equal / ref.length };
        }),
      ]),
    ),
  };
  console.log(build, JSON.stringify(results[`engine-${build}`]));
}

await mkdir("bench/results", { recursive: true });
await writeFile(
  RESULTS,
  `${JSON.stringify({ date: new Date().toISOString(), modelId: manifest.modelId, testImages: data.test.count, results }, null, 2)}\n`,
);
console.log(`wrote ${RESULTS}`);

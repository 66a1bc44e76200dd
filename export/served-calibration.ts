/**
 * Calibration of the served model: the int8 graph of an export, run in onnxruntime-web's wasm
 * build as the worker runs it, over the 10k test set, scored at the manifest's temperature as the
 * worker scores it; per task the expected calibration error (and the plain softmax's),
 * a reliability diagram, and how many answers come at >= 99 % and how often those are right.
 *
 *   npm run calibration -- [--artifacts DIR] [--out DIR] [--bins N] [--data_dir DIR]
 *
 * Writes <out>/calibration.json, <out>/calibration.md and <out>/reliability.{svg,png}.
 */
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { reliabilitySvg } from "../charts/reliability.ts";
import { type Command, EXIT, flagValue, parseCommand, runCommand } from "../cli/args.ts";
import { MANIFEST_FILE } from "../contracts/artifacts.ts";
import { calibration, confidentAnswers, type Mistake, mistakes, topClass } from "../contracts/calibration.ts";
import { type AnswerSource, answerSources, parseManifest, type TaskEntry } from "../contracts/manifest.ts";
import { standardize } from "../contracts/normalization.ts";
import { BUILTIN_TASKS, derivations, type TaskSpec } from "../contracts/tasks.ts";
import { loadFashionMnist } from "../data/fashion-mnist.ts";
import { writeChart } from "../stage-files/chart-files.ts";
import { runAll } from "./ort-session.ts";

const THRESHOLDS = [0.9, 0.99];
/** How many of the most frequent mistakes each task lists. */
const MISTAKES_LISTED = 6;

class AnalysisError extends Error {}

function readArtifacts(dir: string) {
  const manifestFile = path.join(dir, MANIFEST_FILE);
  if (!fs.existsSync(manifestFile))
    throw new AnalysisError(`${dir}: no ${MANIFEST_FILE} (run npm run export first)`);
  let manifest: ReturnType<typeof parseManifest>;
  try {
    manifest = parseManifest(JSON.parse(fs.readFileSync(manifestFile, "utf8")));
  } catch (error) {
    throw new AnalysisError(`${manifestFile}: ${(error as Error).message}`);
  }
  const modelFile = path.join(dir, manifest.models.int8.file);
  if (!fs.existsSync(modelFile))
    throw new AnalysisError(`${dir}: the manifest names ${manifest.models.int8.file}, which is missing`);
  const reportFile = path.join(dir, "export-report.json");
  const report = fs.existsSync(reportFile)
    ? (JSON.parse(fs.readFileSync(reportFile, "utf8")) as { served?: unknown; run?: string })
    : {};
  return { manifest, model: new Uint8Array(fs.readFileSync(modelFile)), served: report.served ?? null };
}

const command = {
  name: "npm run calibration --",
  summary: "calibration of an export's int8 graph as the worker runs it, on the 10k test images.",
  flags: {
    artifacts: { value: "DIR", help: "the export to measure" },
    out: { value: "DIR", help: "where calibration.json, calibration.md and the diagram go" },
    bins: { value: "N", help: "equal-width confidence bins, 2-100" },
    data_dir: { value: "DIR", help: "folder with the Fashion-MNIST IDX files (the loader's search order)" },
  },
  schema: z.object({
    artifacts: flagValue.path().default("artifacts"),
    out: flagValue.path().default("reports/calibration"),
    bins: flagValue.numberWhere("2-100", (n) => n >= 2 && n <= 100, true).default(15),
    data_dir: flagValue.path().optional(),
  }),
} satisfies Command<z.ZodType>;

async function main(argv: string[]): Promise<number> {
  const values = parseCommand(command, argv);
  if (values === null) return EXIT.ok;
  const { bins } = values;
  const { manifest, model, served } = readArtifacts(values.artifacts);
  const data = await loadFashionMnist(values.data_dir ? { dataDir: values.data_dir } : {});
  const images = standardize(data.test.images, manifest.normalization);
  const logits = await runAll(
    model,
    "wasm",
    manifest.input.name,
    images,
    manifest.tasks.map((t) => t.output),
  );
  const sources = answerSources(manifest);
  const specs = manifest.tasks.map((task) => builtinTask(task.name));
  const finerOf = new Map(derivations(specs).map((d) => [d.to, d.from]));
  const perTask = manifest.tasks.map((task, t) => {
    // The manifest's tasks carry class names; their label maps are the default tasks' (contracts/tasks.ts).
    const { source, sourceClasses, rule } = sources[t] as AnswerSource;
    const sourceLogits = logits.get((manifest.tasks[source] as TaskEntry).output) as Float32Array;
    const { confidence, predicted } = topClass(sourceLogits, sourceClasses, rule);
    const truth = labelsFor(task.name, data.test.labels);
    const correct = Array.from(predicted, (p, i) => p === truth[i]);
    const result = calibration(confidence, correct, bins);
    const plain = calibration(
      topClass(sourceLogits, sourceClasses, { ...rule, temperature: 1 }).confidence,
      correct,
      bins,
    );
    return {
      task: task.name,
      answeredThrough: task.answeredThrough?.task ?? null,
      temperature: task.temperature,
      plainSoftmax: { ece: plain.ece, mce: plain.mce, meanConfidence: plain.meanConfidence },
      ...result,
      confident: THRESHOLDS.map((t) => confidentAnswers(confidence, correct, t)),
      errors: correct.filter((right) => !right).length,
      mistakes: named(mistakes(predicted, truth), task.classes, task.classes),
      // A coarse task's errors by each image's finer class: which fine classes cross a group line.
      mistakesByFinerClass: finerOf.has(t)
        ? named(
            mistakes(
              predicted,
              truth,
              labelsFor((specs[finerOf.get(t) as number] as TaskSpec).name, data.test.labels),
            ),
            (manifest.tasks[finerOf.get(t) as number] as TaskEntry).classes,
            task.classes,
          )
        : null,
    };
  });
  fs.mkdirSync(values.out, { recursive: true });
  const summary = {
    generated_at: new Date().toISOString(),
    model: manifest.modelId,
    source: manifest.source,
    served,
    runtime: "onnxruntime-web wasm, int8 graph",
    test_images: data.test.count,
    bins,
    tasks: perTask,
  };
  fs.writeFileSync(path.join(values.out, "calibration.json"), `${JSON.stringify(summary, null, 2)}\n`);
  await writeChart(
    path.join(values.out, "reliability"),
    reliabilitySvg(
      `Reliability of the served int8 model ${manifest.modelId}`,
      `10k test images, ${bins} bins; ${perTask.map((t) => `${t.task} ECE ${(t.ece * 100).toFixed(2)} %`).join(", ")}`,
      perTask.map((t) => ({
        label: `${t.task} (accuracy ${(t.accuracy * 100).toFixed(2)} %)`,
        bins: t.bins,
      })),
    ),
  );
  const lines = [
    `# Calibration of the served model ${manifest.modelId}`,
    "",
    "Generated by `npm run calibration`: the int8 graph in onnxruntime-web (wasm), as the worker runs it, on the",
    `10,000 test images; ${bins} equal-width confidence bins. ECE = sum over bins of (share of answers) x |accuracy - mean confidence|.`,
    "Scores as served: softmax(logits / temperature), the temperature the export fitted on the run's validation split",
    "(1 when the run has none); a task answered through a finer head sums that head's scores per group. The plain",
    "softmax's ECE (temperature 1, same answer source) beside it.",
    "",
    "| task | answered by | accuracy | temperature | mean confidence | ECE | ECE, plain softmax | max bin gap | answers at >= 90 % (right) | answers at >= 99 % (right) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...perTask.map((t) => {
      const at = (k: number) => t.confident[k] as ReturnType<typeof confidentAnswers>;
      const share = (k: number) =>
        `${(at(k).share * 100).toFixed(1)} % (${(at(k).accuracy * 100).toFixed(2)} %)`;
      const answeredBy = t.answeredThrough ? `${t.answeredThrough} head, grouped` : "own head";
      return `| ${t.task} | ${answeredBy} | ${(t.accuracy * 100).toFixed(2)} % | ${t.temperature.toFixed(3)} | ${(t.meanConfidence * 100).toFixed(2)} % | ${(t.ece * 100).toFixed(2)} % | ${(t.plainSoftmax.ece * 100).toFixed(2)} % | ${(t.mce * 100).toFixed(1)} % | ${share(0)} | ${share(1)} |`;
    }),
    "",
    "![reliability diagram](reliability.png)",
    "",
    "## Where the served answers go wrong",
    "",
    `The ${MISTAKES_LISTED} most frequent (true class -> answer) pairs per task, as a share of that task's wrong answers;`,
    "for a task whose classes group a finer task's, its wrong answers counted by each image's finer class too.",
    "",
    ...perTask.flatMap((t) => [
      ...mistakeTable(`${t.task}: ${t.errors} wrong of ${data.test.count}`, t.mistakes),
      ...(t.mistakesByFinerClass
        ? mistakeTable(`${t.task} by the image's finer class`, t.mistakesByFinerClass)
        : []),
    ]),
  ];
  fs.writeFileSync(path.join(values.out, "calibration.md"), lines.join("\n"));
  for (const t of perTask)
    console.log(
      `${t.task}: accuracy ${(t.accuracy * 100).toFixed(2)} %, ECE ${(t.ece * 100).toFixed(2)} % at temperature ${t.temperature.toFixed(3)} (plain softmax ${(t.plainSoftmax.ece * 100).toFixed(2)} %)`,
    );
  console.log(`wrote ${path.join(values.out, "calibration.md")}`);
  return 0;
}

interface NamedMistake extends Mistake {
  truthName: string;
  answeredName: string;
}

function named(found: Mistake[], truthClasses: string[], answerClasses: string[]): NamedMistake[] {
  return found.map((m) => ({
    ...m,
    truthName: truthClasses[m.truth] as string,
    answeredName: answerClasses[m.answered] as string,
  }));
}

function mistakeTable(title: string, found: NamedMistake[]): string[] {
  return [
    `| ${title} | answered | images | share of errors |`,
    "| --- | --- | --- | --- |",
    ...found
      .slice(0, MISTAKES_LISTED)
      .map(
        (m) =>
          `| ${m.truthName} | ${m.answeredName} | ${m.count} | ${(m.shareOfErrors * 100).toFixed(1)} % |`,
      ),
    "",
  ];
}

function builtinTask(name: string): TaskSpec {
  const task = Object.values(BUILTIN_TASKS).find((t) => t.name === name);
  if (task === undefined)
    throw new AnalysisError(`task ${name} is not a built-in task; its test labels are unknown here`);
  return task;
}

/** Test labels of a default task by name (the manifest carries no label map). */
function labelsFor(task: string, sourceLabels: Uint8Array): Int32Array {
  const { labelMap } = builtinTask(task);
  return Int32Array.from(sourceLabels, (label) => labelMap[label] as number);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runCommand(command, () => main(process.argv.slice(2)));
}

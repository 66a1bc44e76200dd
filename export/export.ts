// The export pipeline: run folder -> folded float32 graph -> calibrated int8
// graph -> parity on the full test set -> manifest and report, written only
// when every check passes.
import { createHash } from "node:crypto";
import {
  ENGINE_FILE,
  FLOAT32_FILE,
  INT8_FILE,
  MANIFEST_FILE,
  ONNX_METADATA_KEYS,
  REPORT_FILE,
} from "../contracts/artifacts.ts";
import { PACK_VERSION } from "../contracts/engine-pack.ts";
import type {
  Check,
  ExportReport,
  ScoreCalibration,
  TaskComparison,
  Tolerances,
} from "../contracts/export-report.ts";
import { MODEL_INPUT } from "../contracts/image.ts";
import { type AnswerSpec, answerSources, type Manifest, parseManifest } from "../contracts/manifest.ts";
import { standardize } from "../contracts/normalization.ts";
import { taskLabels } from "../contracts/tasks.ts";
import { createRng, gather, shuffledIndices } from "../data/dataset.ts";
import { loadFashionMnist, type Split } from "../data/fashion-mnist.ts";
import { stratifiedSplit } from "../data/split.ts";
import { type CalibrationMethod, calibratedParams, collectHistograms, describeMethod } from "./calibrate.ts";
import { loadEngine } from "./engine-run.ts";
import type { Graph } from "./graph.ts";
import { hasCrossStitch, INPUT_NAME, importModel, logitsName } from "./import-model.ts";
import { encodeOnnx, OPSET } from "./onnx.ts";
import { type Runtime, runAll } from "./ort-session.ts";
import { stageOutput } from "./output-folder.ts";
import { packEngine } from "./pack-engine.ts";
import { compareTask, type TaskLogits } from "./parity.ts";
import { applyPasses, type GraphLayout } from "./passes/index.ts";
import { quantizedActivations, quantizeGraph } from "./quantize.ts";
import { ExportError, type RunFolder, readRunFolder } from "./run-folder.ts";
import { answerAccuracy, chooseAnswers } from "./served-answers.ts";

/**
 * The trained model's logits per task (task order, count * classes values each) for standardized
 * NHWC images: the reference every exported graph is held to. The CLI passes the tfjs one in
 * (tfjs-reference.ts), so importing the export does not load TensorFlow.
 */
/** The trained model's logits per output for `images`, read from `<runDir>/<modelFolder>`. */
export type ReferenceLogits = (
  runDir: string,
  modelFolder: string,
  images: Float32Array,
) => Promise<Float32Array[]>;

export const DEFAULT_TOLERANCES: Tolerances = {
  maxLogitDelta: 1e-4,
  maxAccuracyDropPoints: 0.3,
  minAgreement: 0.995,
  maxSizeRatio: 0.27,
  minEngineAgreement: 0.999,
  maxEngineAccuracyDelta: 0.05,
};

export const CALIBRATION_METHODS: readonly CalibrationMethod[] = [
  { kind: "minmax" },
  { kind: "percentile", percentile: 99.99 },
  { kind: "percentile", percentile: 99.999 },
  { kind: "entropy" },
];

export interface ExportOptions {
  readonly runDir: string;
  readonly outDir: string;
  readonly layout: GraphLayout;
  readonly tolerances: Tolerances;
  /** Training images the activation ranges are calibrated on. */
  readonly calibrationSamples: number;
  /** Other training images the calibration method is chosen on (never the test set). */
  readonly selectionSamples: number;
  /** Test images for parity; the full test set unless a test asks for fewer. */
  readonly testLimit?: number;
  readonly dataDir?: string;
  readonly reference: ReferenceLogits;
  readonly log: (line: string) => void;
}

function failIfAny(checks: readonly Check[]): void {
  const failed = checks.filter((c) => !c.passed);
  if (failed.length === 0) return;
  const lines = failed.map((c) => `  ${c.name}: ${c.value} (limit ${c.limit})`);
  throw new ExportError(`parity failed, nothing written:\n${lines.join("\n")}`);
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

async function graphLogits(model: Uint8Array, runtime: Runtime, images: Float32Array, run: RunFolder) {
  const outputs = await runAll(
    model,
    runtime,
    INPUT_NAME,
    images,
    run.tasks.map((t) => logitsName(t.name)),
  );
  return run.tasks.map(
    (t): TaskLogits => ({
      classes: t.classes.length,
      values: outputs.get(logitsName(t.name)) as Float32Array,
    }),
  );
}

function compareAll(run: RunFolder, reference: TaskLogits[], candidate: TaskLogits[], split: Split) {
  return run.tasks.map((t, i) =>
    compareTask(t.name, reference[i] as TaskLogits, candidate[i] as TaskLogits, taskLabels(t, split.labels)),
  );
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/** Calibrates on one training slice, quantizes with each method, keeps the one closest to float32 on another. */
async function quantizeBest(
  options: ExportOptions,
  run: RunFolder,
  graph: Graph,
  calibration: Float32Array,
  selection: Split,
) {
  const histograms = await collectHistograms(
    (g) => encodeOnnx(g, ""),
    graph,
    INPUT_NAME,
    calibration,
    quantizedActivations(graph),
  );
  const selectionImages = standardize(selection.images, run.normalization);
  const float32 = await graphLogits(encodeOnnx(graph, ""), "native", selectionImages, run);
  const candidates = [];
  for (const method of CALIBRATION_METHODS) {
    const int8Graph = quantizeGraph(graph, calibratedParams(histograms, method));
    // Judged in the wasm runtime the worker ships: native x86 int8 kernels without VNNI saturate.
    const int8 = await graphLogits(encodeOnnx(int8Graph, ""), "wasm", selectionImages, run);
    const comparison = compareAll(run, float32, int8, selection);
    const score = mean(comparison.map((c) => c.agreement));
    options.log(
      `calibration ${describeMethod(method)}: agreement with float32 ${(100 * score).toFixed(2)}% on ${selection.count} held-out training images`,
    );
    candidates.push({ method, int8Graph, score, comparison });
  }
  const best = candidates.reduce((a, b) => (b.score > a.score ? b : a));
  return { best, candidates, histogramCount: histograms.size };
}

/**
 * Each task's served answer and the temperature of its scores, chosen on the int8 graph's logits
 * (what the worker serves) over the run's validation split: the images no training step and no
 * other choice has used for anything but validation (served-answers.ts). The test set is never used.
 */
async function chooseServedScores(
  run: RunFolder,
  train: Split,
  int8Bytes: Uint8Array,
  log: (line: string) => void,
): Promise<ScoreCalibration> {
  if (!run.validation)
    return {
      method: "none",
      reason:
        "the run holds no validation split, so each task serves its own head's plain softmax of the logits",
      validationImages: 0,
      tasks: [],
    };
  const validation = stratifiedSplit(train, run.validation.size, run.validation.seed).validation;
  const logits = await graphLogits(int8Bytes, "wasm", standardize(validation.images, run.normalization), run);
  const labels = run.tasks.map((task) => taskLabels(task, validation.labels));
  const tasks = chooseAnswers(run.tasks, logits, labels);
  for (const answer of tasks) {
    const candidates = answer.candidates
      .map((c) => `${c.answeredThrough ?? "own"} head ${(100 * c.validationAccuracy).toFixed(2)}%`)
      .join(" vs ");
    log(
      `${answer.task}: serves ${answer.answeredThrough ? `the ${answer.answeredThrough.task} head's scores grouped` : "its own head"}` +
        `${answer.candidates.length > 1 ? ` (validation: ${candidates})` : ""}; ` +
        `score temperature ${answer.temperature.toFixed(3)} on ${validation.count} validation images: ` +
        `ECE ${(100 * answer.eceBefore).toFixed(2)}% -> ${(100 * answer.eceAfter).toFixed(2)}%, ` +
        `NLL ${answer.nllBefore.toFixed(4)} -> ${answer.nllAfter.toFixed(4)}`,
    );
  }
  return {
    method: "temperature scaling",
    reason:
      `chosen and fitted per task on the run's validation split (${validation.count} held-out training images): ` +
      "the answer (own head, or a finer head's scores grouped) right on more of them, then the temperature minimising the negative log-likelihood of the int8 graph's scores",
    validationImages: validation.count,
    tasks,
  };
}

/**
 * What each task serves, as the manifest, the ONNX metadata and the served accuracy state it: its
 * fitted temperature (1 without a validation split) and answeredThrough when it has one.
 */
function servedAnswers(run: RunFolder, scores: ScoreCalibration): AnswerSpec[] {
  return run.tasks.map((t, i) => {
    const through = scores.tasks[i]?.answeredThrough;
    return {
      name: t.name,
      classes: t.classes,
      temperature: scores.tasks[i]?.temperature ?? 1,
      ...(through ? { answeredThrough: through } : {}),
    };
  });
}

/** What each written ONNX file says about itself: the manifest's facts for that graph. */
function onnxMetadata(
  run: RunFolder,
  modelId: string,
  precision: "int8" | "float32",
  answers: readonly AnswerSpec[],
): Record<string, string> {
  return {
    [ONNX_METADATA_KEYS.modelId]: modelId,
    [ONNX_METADATA_KEYS.sourceRun]: run.name,
    [ONNX_METADATA_KEYS.precision]: precision,
    [ONNX_METADATA_KEYS.tasks]: JSON.stringify(
      answers.map(({ name, classes, temperature, ...through }) => ({
        name,
        classes,
        output: logitsName(name),
        scoreTemperature: temperature,
        ...through,
      })),
    ),
    [ONNX_METADATA_KEYS.input]: JSON.stringify(MODEL_INPUT),
    [ONNX_METADATA_KEYS.normalization]: JSON.stringify(run.normalization),
  };
}

function graphDocString(run: RunFolder, what: string): string {
  const outputs = run.tasks.map((t) => `${logitsName(t.name)} (${t.classes.length} ${t.name} classes)`);
  return (
    `stitch-edge ${what} of run ${run.name}. Input ${MODEL_INPUT.name}: [batch, ${MODEL_INPUT.height}, ` +
    `${MODEL_INPUT.width}, ${MODEL_INPUT.channels}] grayscale images, light object on black, z-scored with ` +
    `${ONNX_METADATA_KEYS.normalization}. Outputs, logits: ${outputs.join(", ")}; scores are ` +
    `softmax(logits / scoreTemperature), the temperature per task in ${ONNX_METADATA_KEYS.tasks}; a task ` +
    "listed with answeredThrough serves that finer task's scores at its own temperature, summed per group " +
    "(classMap[finer class] = its class)."
  );
}

export async function exportRun(
  options: ExportOptions,
): Promise<{ manifest: Manifest; report: ExportReport }> {
  const { log, tolerances } = options;
  const output = await stageOutput(options.outDir);
  try {
    const run = await readRunFolder(options.runDir);
    const float32Graph = applyPasses(importModel(run), options.layout);
    const float32Description = `${options.layout} float32 graph, batch-norm folded,`;
    const float32Bytes = encodeOnnx(float32Graph, graphDocString(run, float32Description));
    log(
      `${run.name}: ${run.tasks.length} task(s), ${hasCrossStitch(run) ? "cross-stitch" : "no cross-stitch"}, layout ${options.layout}`,
    );
    log(
      `serving ${run.served.folder}/ (${run.served.weights} weights${run.served.epoch === null ? "" : ` of epoch ${run.served.epoch}`}): ${run.served.reason}`,
    );

    const data = await loadFashionMnist({ dataDir: options.dataDir, log });
    const order = shuffledIndices(data.train.count, createRng(20160401));
    const calibrationSplit = gather(data.train, order.subarray(0, options.calibrationSamples));
    const selection = gather(
      data.train,
      order.subarray(options.calibrationSamples, options.calibrationSamples + options.selectionSamples),
    );
    const test = options.testLimit
      ? gather(data.test, shuffledIndices(data.test.count, createRng(7)).subarray(0, options.testLimit))
      : data.test;
    const testImages = standardize(test.images, run.normalization);

    log(`parity on ${test.count} test images: tfjs vs float32 (onnxruntime-node)`);
    const reference = (await options.reference(run.dir, run.served.folder, testImages)).map(
      (values, i): TaskLogits => ({ classes: run.tasks[i]?.classes.length ?? 0, values }),
    );
    const float32 = compareAll(
      run,
      reference,
      await graphLogits(float32Bytes, "native", testImages, run),
      test,
    );
    const float32Checks: Check[] = float32.flatMap((c) => [
      {
        name: `${c.task}: float32 max |Δlogit| vs tfjs`,
        value: c.maxAbsLogitDelta,
        limit: tolerances.maxLogitDelta,
        passed: c.maxAbsLogitDelta <= tolerances.maxLogitDelta,
      },
      {
        name: `${c.task}: float32 argmax agreement with tfjs`,
        value: c.agreement,
        limit: 1,
        passed: c.agreement === 1,
      },
    ]);
    // A float graph that does not match the trained model makes quantizing it pointless.
    failIfAny(float32Checks);

    const { best, candidates } = await quantizeBest(
      options,
      run,
      float32Graph,
      standardize(calibrationSplit.images, run.normalization),
      selection,
    );
    const int8Description = `${options.layout} int8 QDQ graph, calibrated with ${describeMethod(best.method)},`;
    const int8Bytes = encodeOnnx(best.int8Graph, graphDocString(run, int8Description));
    log(`parity on ${test.count} test images: tfjs vs int8 (onnxruntime-web wasm)`);
    const int8Logits = await graphLogits(int8Bytes, "wasm", testImages, run);
    const int8 = compareAll(run, reference, int8Logits, test);
    const scores = await chooseServedScores(run, data.train, int8Bytes, log);
    const answers = servedAnswers(run, scores);
    const served = answerAccuracy(
      answerSources({ tasks: answers }),
      int8Logits,
      run.tasks.map((t) => taskLabels(t, test.labels)),
    );
    log(
      `served answers on ${test.count} test images: ${run.tasks.map((t, i) => `${t.name} ${(100 * (served[i] as number)).toFixed(2)}%`).join(", ")}`,
    );

    // The engine serves per-tower graphs only; a fused export stays ONNX-only.
    const packed =
      options.layout === "per_tower"
        ? packEngine(
            int8Bytes,
            run.tasks.map((t) => ({ name: t.name, output: logitsName(t.name), classes: t.classes.length })),
          )
        : undefined;
    let engine: { kernels: string; tasks: TaskComparison[] } | undefined;
    if (packed) {
      const runner = await loadEngine(packed.bytes);
      log(
        `parity on ${test.count} test images: int8 (onnxruntime-web wasm) vs the engine (${runner.kernels})`,
      );
      const engineLogits = runner
        .run(testImages)
        .map((values, i): TaskLogits => ({ classes: run.tasks[i]?.classes.length ?? 0, values }));
      engine = { kernels: runner.kernels, tasks: compareAll(run, int8Logits, engineLogits, test) };
    }
    // The id names the graph itself, so the files can carry it: the hash of the int8 graph as
    // measured above, before its metadata is added.
    const modelId = `${run.name}-${sha256(int8Bytes).slice(0, 12)}`;
    const int8File = encodeOnnx(
      best.int8Graph,
      graphDocString(run, int8Description),
      onnxMetadata(run, modelId, "int8", answers),
    );
    const float32File = encodeOnnx(
      float32Graph,
      graphDocString(run, float32Description),
      onnxMetadata(run, modelId, "float32", answers),
    );

    const checks: Check[] = [
      ...float32Checks,
      ...int8.flatMap((c) => {
        const drop = 100 * (c.referenceAccuracy - c.accuracy);
        return [
          {
            name: `${c.task}: int8 accuracy drop (points)`,
            value: drop,
            limit: tolerances.maxAccuracyDropPoints,
            passed: drop <= tolerances.maxAccuracyDropPoints,
          },
          {
            name: `${c.task}: int8 argmax agreement with tfjs`,
            value: c.agreement,
            limit: tolerances.minAgreement,
            passed: c.agreement >= tolerances.minAgreement,
          },
        ];
      }),
      ...(engine?.tasks ?? []).flatMap((c) => {
        const delta = Math.abs(100 * (c.accuracy - c.referenceAccuracy));
        return [
          {
            name: `${c.task}: engine argmax agreement with int8`,
            value: c.agreement,
            limit: tolerances.minEngineAgreement,
            passed: c.agreement >= tolerances.minEngineAgreement,
          },
          {
            name: `${c.task}: engine vs int8 accuracy (points)`,
            value: delta,
            limit: tolerances.maxEngineAccuracyDelta,
            passed: delta <= tolerances.maxEngineAccuracyDelta,
          },
        ];
      }),
      {
        name: "int8 bytes / float32 bytes",
        value: int8File.length / float32File.length,
        limit: tolerances.maxSizeRatio,
        passed: int8File.length / float32File.length <= tolerances.maxSizeRatio,
      },
    ];
    const report: ExportReport = {
      run: run.dir,
      served: run.served,
      layout: options.layout,
      opset: OPSET,
      testImages: test.count,
      sizes: {
        float32Bytes: float32File.length,
        int8Bytes: int8File.length,
        ratio: int8File.length / float32File.length,
      },
      calibration: {
        samples: calibrationSplit.count,
        selectionSamples: selection.count,
        chosen: describeMethod(best.method),
        candidates: candidates.map((c) => ({
          method: describeMethod(c.method),
          meanAgreementWithFloat32: c.score,
          tasks: c.comparison,
        })),
      },
      tolerances,
      scores,
      tasks: run.tasks.map((t, i) => ({
        task: t.name,
        float32: float32[i] as TaskComparison,
        int8: int8[i] as TaskComparison,
        ...(engine ? { engine: engine.tasks[i] as TaskComparison } : {}),
        servedAccuracy: served[i] as number,
      })),
      ...(engine && packed ? { engine: { kernels: engine.kernels, packBytes: packed.bytes.length } } : {}),
      checks,
    };
    failIfAny(checks);

    const manifest = parseManifest({
      format: "stitch-edge-manifest",
      formatVersion: 1,
      modelId,
      createdAt: new Date().toISOString(),
      source: {
        run: run.name,
        crossStitch: hasCrossStitch(run),
        meanAccuracy: mean(float32.map((c) => c.referenceAccuracy)),
      },
      tasks: answers.map((answer, i) => ({
        ...answer,
        output: logitsName(answer.name),
        accuracy: {
          trained: float32[i]?.referenceAccuracy,
          float32: float32[i]?.accuracy,
          int8: int8[i]?.accuracy,
          served: served[i],
        },
      })),
      input: MODEL_INPUT,
      normalization: run.normalization,
      quantization: {
        format: "QDQ",
        weights: "int8 symmetric per-channel",
        activations: "int8",
        calibration: { method: describeMethod(best.method), samples: calibrationSplit.count },
      },
      opset: OPSET,
      graphLayout: options.layout,
      models: {
        int8: { file: INT8_FILE, bytes: int8File.length, sha256: sha256(int8File) },
        float32: { file: FLOAT32_FILE, bytes: float32File.length, sha256: sha256(float32File) },
        ...(packed
          ? {
              engine: {
                file: ENGINE_FILE,
                bytes: packed.bytes.length,
                sha256: sha256(packed.bytes),
                formatVersion: PACK_VERSION,
              },
            }
          : {}),
      },
    });
    await output.write(INT8_FILE, int8File);
    await output.write(FLOAT32_FILE, float32File);
    if (packed) await output.write(ENGINE_FILE, packed.bytes);
    await output.write(MANIFEST_FILE, `${JSON.stringify(manifest, null, 2)}\n`);
    await output.write(REPORT_FILE, `${JSON.stringify(report, null, 2)}\n`);
    await output.commit();
    return { manifest, report };
  } catch (error) {
    await output.discard();
    throw error;
  }
}

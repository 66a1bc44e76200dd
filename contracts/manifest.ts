// The one contract between the export stage and the worker: everything the
// worker needs to turn an image into predictions travels in this file, so the
// worker never imports training code.
import { z } from "zod";
import { modelInputSchema } from "./image.ts";
import { normalizationSchema } from "./normalization.ts";
import { parseOrFail } from "./parse.ts";
import type { AnswerRule } from "./scores.ts";
import { TASK_NAME } from "./tasks.ts";

export const MANIFEST_FORMAT = "stitch-edge-manifest";
export const MANIFEST_FORMAT_VERSION = 1;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "expected a lowercase hex SHA-256");

export const modelFileSchema = z.object({
  file: z.string().min(1),
  bytes: z.number().int().positive(),
  sha256: sha256Hex,
});

/** The engine's packed weights (contracts/engine-pack.ts), written beside the ONNX graph it was packed from. */
export const engineFileSchema = modelFileSchema.extend({ formatVersion: z.number().int().positive() });

/** A task answered through a finer task's logits: classMap[finer class] = this task's class. */
export const answeredThroughSchema = z.object({
  task: z.string().regex(TASK_NAME),
  classMap: z.array(z.number().int().nonnegative()),
});

export type AnsweredThrough = z.infer<typeof answeredThroughSchema>;

export const taskEntrySchema = z.object({
  name: z.string().regex(TASK_NAME),
  classes: z.array(z.string().min(1)).min(2),
  /** Name of this task's logits output in the ONNX graph. */
  output: z.string().min(1),
  /**
   * Test-set accuracy of this task's head: the trained (tfjs) model and each exported graph; and
   * of the answer as served (int8 graph, answeredThrough applied; absent in older manifests).
   */
  accuracy: z.object({
    trained: z.number(),
    float32: z.number(),
    int8: z.number(),
    served: z.number().optional(),
  }),
  /**
   * Scores are softmax(logits / temperature) (contracts/scores.ts), the temperature fitted on the
   * run's validation split; 1 (the plain softmax) for a run without one and in older manifests.
   */
  temperature: z.number().positive().default(1),
  /**
   * Present when the export chose, on the validation split, to answer this task through a finer
   * task's logits: its scores are that task's softmax(logits / temperature) summed per group,
   * classMap[finer class] = this task's class (contracts/scores.ts). Absent: its own logits.
   */
  answeredThrough: answeredThroughSchema.optional(),
});

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  formatVersion: z.literal(MANIFEST_FORMAT_VERSION),
  modelId: z.string().min(1),
  createdAt: z.string(),
  source: z.object({
    run: z.string(),
    crossStitch: z.boolean(),
    meanAccuracy: z.number(),
  }),
  tasks: z.array(taskEntrySchema).min(1),
  input: modelInputSchema,
  normalization: normalizationSchema,
  quantization: z.object({
    format: z.literal("QDQ"),
    weights: z.literal("int8 symmetric per-channel"),
    activations: z.literal("int8"),
    calibration: z.object({ method: z.string(), samples: z.number().int().positive() }),
  }),
  opset: z.number().int().positive(),
  /** "fused": towers merged into wide/grouped convolutions; "per_tower": one branch per task. */
  graphLayout: z.enum(["fused", "per_tower"]),
  models: z.object({
    int8: modelFileSchema,
    float32: modelFileSchema,
    /** Absent for a fused-layout export (the engine runs per-tower graphs). */
    engine: engineFileSchema.optional(),
  }),
});

export type Manifest = z.infer<typeof manifestSchema>;

/** Where each task's served answer comes from: the graph output it reads, and how. */
export interface AnswerSource {
  /** Index in tasks of the task whose logits are read (the task itself unless answered through another). */
  source: number;
  /** How many logits per image that output has. */
  sourceClasses: number;
  rule: AnswerRule;
}

/** What resolving a task's answer reads: a manifest task entry, or an export's choice before the manifest exists. */
export type AnswerSpec = Pick<TaskEntry, "name" | "classes" | "temperature"> & {
  answeredThrough?: AnsweredThrough | null;
};

/** Checks every answeredThrough against the task list and resolves it to an output index. */
function resolveAnswerSources(tasks: readonly AnswerSpec[]): AnswerSource[] | string {
  const sources: AnswerSource[] = [];
  for (const [t, task] of tasks.entries()) {
    const through = task.answeredThrough;
    if (!through) {
      sources.push({
        source: t,
        sourceClasses: task.classes.length,
        rule: { temperature: task.temperature },
      });
      continue;
    }
    const where = `tasks[${t}].answeredThrough`;
    const source = tasks.findIndex((other) => other.name === through.task);
    const finer = tasks[source];
    if (!finer || source === t)
      return `${where}.task: "${through.task}" is not another task of this manifest`;
    if (finer.answeredThrough)
      return `${where}.task: "${through.task}" is itself answered through another task`;
    if (through.classMap.length !== finer.classes.length)
      return `${where}.classMap: needs one entry per class of "${finer.name}" (${finer.classes.length})`;
    const outside = through.classMap.findIndex((c) => c >= task.classes.length);
    if (outside >= 0)
      return `${where}.classMap[${outside}]: not one of this task's ${task.classes.length} classes`;
    sources.push({
      source,
      sourceClasses: finer.classes.length,
      rule: {
        temperature: task.temperature,
        grouping: { classMap: through.classMap, classes: task.classes.length },
      },
    });
  }
  return sources;
}

/** Each task's answer source, in task order; throws naming the first answeredThrough it cannot use. */
export function answerSources(manifest: { tasks: readonly AnswerSpec[] }): AnswerSource[] {
  const sources = resolveAnswerSources(manifest.tasks);
  if (typeof sources === "string") throw new Error(`invalid manifest at ${sources}`);
  return sources;
}

export type TaskEntry = z.infer<typeof taskEntrySchema>;

/** Parses and validates a manifest, naming the first offending field. */
export function parseManifest(value: unknown): Manifest {
  const manifest = parseOrFail(
    manifestSchema,
    value,
    (problem) => new Error(`invalid manifest at ${problem}`),
  );
  answerSources(manifest); // throws on an answeredThrough naming no usable task
  return manifest;
}

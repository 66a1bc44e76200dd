/**
 * What each task serves, chosen on the run's validation split: its own head, or, for a coarse
 * task, a finer task's scores summed per group (contracts/scores.ts), whichever answers more of
 * the validation images right (its own head on a tie). Each candidate's temperature is fitted
 * first (score-temperature.ts), because grouped scores can change answer with it.
 *
 * Why: "category" is a relabelling of "fashion", and with 55k images its own head stays about
 * half a point below the fashion head's answer mapped to its group (reports/beyond). Nothing here
 * sees the test set; the export reports the chosen answers' test accuracy afterwards.
 */
import { calibration, topClass } from "../contracts/calibration.ts";
import type { AnsweredThrough, AnswerSource } from "../contracts/manifest.ts";
import type { ClassGrouping } from "../contracts/scores.ts";
import { derivations, type TaskSpec } from "../contracts/tasks.ts";
import type { TaskLogits } from "./parity.ts";
import { fitTemperature, type TemperatureFit } from "./score-temperature.ts";

export interface AnswerCandidate {
  /** null: the task's own head. */
  answeredThrough: string | null;
  validationAccuracy: number;
  temperature: number;
}

export interface TaskAnswer extends TemperatureFit {
  task: string;
  answeredThrough: AnsweredThrough | null;
  /** Expected calibration error on the validation split, plain softmax and at the fitted temperature. */
  eceBefore: number;
  eceAfter: number;
  candidates: AnswerCandidate[];
}

interface Candidate {
  through: AnsweredThrough | null;
  logits: TaskLogits;
  grouping: ClassGrouping | undefined;
  fit: TemperatureFit;
  accuracy: number;
  eceBefore: number;
  eceAfter: number;
}

function scoreCandidate(
  through: AnsweredThrough | null,
  logits: TaskLogits,
  classes: number,
  labels: Int32Array,
): Candidate {
  const grouping = through ? { classMap: through.classMap, classes } : undefined;
  const fit = fitTemperature(logits.values, labels, logits.classes, grouping);
  const measure = (temperature: number) => {
    const { confidence, predicted } = topClass(logits.values, logits.classes, { temperature, grouping });
    const correct = Array.from(predicted, (p, i) => p === labels[i]);
    return {
      accuracy: correct.filter(Boolean).length / correct.length,
      ece: calibration(confidence, correct).ece,
    };
  };
  const fitted = measure(fit.temperature);
  return {
    through,
    logits,
    grouping,
    fit,
    accuracy: fitted.accuracy,
    eceBefore: measure(1).ece,
    eceAfter: fitted.ece,
  };
}

/**
 * `logits[t]` are task t's logits on the validation images (the graph the worker serves) and
 * `labels[t]` its classes for them; returns each task's chosen answer and every candidate's figures.
 */
export function chooseAnswers(
  tasks: readonly TaskSpec[],
  logits: readonly TaskLogits[],
  labels: readonly Int32Array[],
): TaskAnswer[] {
  const finer = derivations(tasks);
  return tasks.map((task, t) => {
    const taskLabels = labels[t] as Int32Array;
    const own = scoreCandidate(null, logits[t] as TaskLogits, task.classes.length, taskLabels);
    const throughFiner = finer
      .filter((d) => d.to === t)
      .map((d) =>
        scoreCandidate(
          { task: (tasks[d.from] as TaskSpec).name, classMap: d.classMap },
          logits[d.from] as TaskLogits,
          task.classes.length,
          taskLabels,
        ),
      );
    const chosen = throughFiner.reduce((best, c) => (c.accuracy > best.accuracy ? c : best), own);
    return {
      task: task.name,
      answeredThrough: chosen.through,
      ...chosen.fit,
      eceBefore: chosen.eceBefore,
      eceAfter: chosen.eceAfter,
      candidates: [own, ...throughFiner].map((c) => ({
        answeredThrough: c.through?.task ?? null,
        validationAccuracy: c.accuracy,
        temperature: c.fit.temperature,
      })),
    };
  });
}

/**
 * Share of images each task's answer gets right: `sources` as contracts/manifest.ts resolves them,
 * `logits[t]` the graph's output t and `labels[t]` task t's classes for the same images.
 */
export function answerAccuracy(
  sources: readonly AnswerSource[],
  logits: readonly TaskLogits[],
  labels: readonly Int32Array[],
): number[] {
  return sources.map(({ source, sourceClasses, rule }, t) => {
    const { predicted } = topClass((logits[source] as TaskLogits).values, sourceClasses, rule);
    const truth = labels[t] as Int32Array;
    return predicted.reduce((right, p, i) => right + (p === truth[i] ? 1 : 0), 0) / predicted.length;
  });
}

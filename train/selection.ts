/**
 * Which weights a run serves: of every epoch's raw and EMA weights, the one with the highest mean
 * validation accuracy (the earlier epoch on a tie, raw before EMA). The test set plays no part.
 */
import { type EpochMetrics, RUN_FILES, type Selection } from "../contracts/run-folder.ts";

export type WeightKind = Selection["weights"];

/** The folder of a run holding the validation-chosen model (tfjs LayersModel, as model/). */
export const SELECTED_MODEL_DIR = RUN_FILES.selectedModelDir;
/** The record of that choice (contracts/run-folder.ts' selectionSchema). */
export const SELECTION_FILE = RUN_FILES.selection;

export const CRITERION =
  "highest mean validation accuracy over every epoch's raw and EMA weights (earlier epoch, then raw, on a tie)";

interface Candidate {
  epoch: number;
  weights: WeightKind;
  validation: Record<string, number>;
  validationMean: number;
  test: Record<string, number>;
  testMean: number;
}

function candidates(record: EpochMetrics): Candidate[] {
  const found: Candidate[] = [];
  if (record.validation_accuracy && record.validation_accuracy_mean !== undefined) {
    found.push({
      epoch: record.epoch,
      weights: "raw",
      validation: record.validation_accuracy,
      validationMean: record.validation_accuracy_mean,
      test: record.test_accuracy,
      testMean: record.test_accuracy_mean,
    });
  }
  const ema = record.ema;
  if (ema?.validation_accuracy && ema.validation_accuracy_mean !== undefined) {
    found.push({
      epoch: record.epoch,
      weights: "ema",
      validation: ema.validation_accuracy,
      validationMean: ema.validation_accuracy_mean,
      test: ema.test_accuracy,
      testMean: ema.test_accuracy_mean,
    });
  }
  return found;
}

/** The chosen weights over `records`, or null when no record carries validation accuracy. */
export function selectWeights(records: readonly EpochMetrics[]): Selection | null {
  let best: Candidate | null = null;
  for (const record of records) {
    for (const candidate of candidates(record)) {
      if (best === null || candidate.validationMean > best.validationMean) best = candidate;
    }
  }
  if (best === null) return null;
  return {
    epoch: best.epoch,
    weights: best.weights,
    criterion: CRITERION,
    validation_accuracy: best.validation,
    validation_accuracy_mean: best.validationMean,
    test_accuracy: best.test,
    test_accuracy_mean: best.testMean,
    model: SELECTED_MODEL_DIR,
  };
}

/**
 * Node's reading and writing of the run folder's files (names and schemas in
 * contracts/run-folder.ts): every read is checked against its schema, every write is atomic.
 */
import fs from "node:fs";
import path from "node:path";
import { type Architecture, architectureSchema } from "../contracts/architecture.ts";
import { type Normalization, normalizationSchema } from "../contracts/normalization.ts";
import {
  type EpochMetrics,
  parseMetricsLines,
  parseRunFile,
  RUN_FILES,
  type RunConfig,
  RunFileError,
  type RunSummary,
  runConfigSchema,
  runSummarySchema,
  type Selection,
  selectionSchema,
} from "../contracts/run-folder.ts";
import { parseRunTasks, parseTaskFile, TaskFileError, type TaskSpec } from "../contracts/tasks.ts";
import { readJsonFile, readText, writeFileAtomic, writeJsonAtomic } from "./files.ts";

const inRun = (runDir: string, name: string) => path.join(runDir, name);

export function readRunConfig(runDir: string): RunConfig {
  const file = inRun(runDir, RUN_FILES.config);
  return parseRunFile(runConfigSchema, readJsonFile(file, RUN_FILES.config), file);
}

/** The architecture keys of config.json: what model, forward and the export's import build. */
export function readArchitecture(runDir: string): Architecture {
  const file = inRun(runDir, RUN_FILES.config);
  return parseRunFile(architectureSchema, readJsonFile(file, RUN_FILES.config), file);
}

export function readNormalization(runDir: string): Normalization {
  const file = inRun(runDir, RUN_FILES.normalization);
  return parseRunFile(normalizationSchema, readJsonFile(file, RUN_FILES.normalization), file);
}

export function readRunTasks(runDir: string): TaskSpec[] {
  const file = inRun(runDir, RUN_FILES.tasks);
  try {
    return parseRunTasks(readJsonFile(file, RUN_FILES.tasks), RUN_FILES.tasks);
  } catch (error) {
    if (error instanceof TaskFileError) throw new RunFileError(error.message);
    throw error;
  }
}

export function readMetrics(runDir: string): EpochMetrics[] {
  const file = inRun(runDir, RUN_FILES.metrics);
  return parseMetricsLines(readText(file, RUN_FILES.metrics), file);
}

export function readSummary(runDir: string): RunSummary {
  const file = inRun(runDir, RUN_FILES.summary);
  return parseRunFile(runSummarySchema, readJsonFile(file, RUN_FILES.summary), file);
}

/** selection.json, or null for a run without a validation choice (yet). */
export function readSelection(runDir: string): Selection | null {
  const file = inRun(runDir, RUN_FILES.selection);
  if (!fs.existsSync(file)) return null;
  return parseRunFile(selectionSchema, readJsonFile(file, RUN_FILES.selection), file);
}

export function writeSelection(runDir: string, selection: Selection): void {
  writeJsonAtomic(inRun(runDir, RUN_FILES.selection), selectionSchema.parse(selection));
}

export function writeRunConfig(runDir: string, config: RunConfig): void {
  writeJsonAtomic(inRun(runDir, RUN_FILES.config), config);
}

export function writeNormalization(runDir: string, normalization: Normalization): void {
  writeJsonAtomic(inRun(runDir, RUN_FILES.normalization), normalization);
}

export function writeRunTasks(runDir: string, tasks: readonly TaskSpec[]): void {
  writeJsonAtomic(inRun(runDir, RUN_FILES.tasks), tasks);
}

export function writeSummary(runDir: string, summary: RunSummary): void {
  writeJsonAtomic(inRun(runDir, RUN_FILES.summary), summary);
}

export function appendMetrics(runDir: string, record: EpochMetrics): void {
  fs.appendFileSync(inRun(runDir, RUN_FILES.metrics), `${JSON.stringify(record)}\n`);
}

/** Metrics lines of epochs <= `lastEpoch` (a run killed between its metrics line and its checkpoint replays that epoch). */
export function keepMetricsUpTo(runDir: string, lastEpoch: number): void {
  const file = inRun(runDir, RUN_FILES.metrics);
  if (!fs.existsSync(file)) return;
  const kept = parseMetricsLines(fs.readFileSync(file, "utf8"), file).filter((m) => m.epoch <= lastEpoch);
  writeFileAtomic(file, kept.map((m) => `${JSON.stringify(m)}\n`).join(""));
}

/** A task file given with --tasks: {"tasks": [ "fashion" | {name, classes, labelMap}, ... ]}. */
export function loadTaskFile(file: string): TaskSpec[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new TaskFileError(
      `${file}: cannot read task file (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new TaskFileError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  return parseTaskFile(value, file);
}

// The export's own measurements, sizes and parity on the full test set, taken
// from an export's export-report.json into bench/results/export-parity.json so
// the benchmark summary shows them beside the speed figures.
//
//   tsx bench/export-parity.ts [--artifacts artifacts]
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { TaskComparison } from "../export/parity.ts";

interface ExportReport {
  run: string;
  layout: string;
  testImages: number;
  sizes: { float32Bytes: number; int8Bytes: number; ratio: number };
  calibration: { chosen: string };
  tasks: { task: string; float32: TaskComparison; int8: TaskComparison }[];
}

const RESULT = "bench/results/export-parity.json";
const { values } = parseArgs({ options: { artifacts: { type: "string", default: "artifacts" } } });
const reportPath = join(values.artifacts, "export-report.json");
const report = JSON.parse(
  await readFile(reportPath, "utf8").catch(() => {
    console.error(`no export report at ${reportPath}: run \`npm run export\` (or the pipeline) first`);
    process.exit(1);
  }),
) as ExportReport;
const result = {
  source: reportPath,
  run: report.run,
  layout: report.layout,
  testImages: report.testImages,
  calibration: report.calibration.chosen,
  sizes: report.sizes,
  tasks: report.tasks.map((t) => ({
    task: t.task,
    tfjsAccuracy: t.int8.referenceAccuracy,
    float32Accuracy: t.float32.accuracy,
    float32MaxAbsLogitDelta: t.float32.maxAbsLogitDelta,
    int8Accuracy: t.int8.accuracy,
    int8Agreement: t.int8.agreement,
  })),
};
await writeFile(RESULT, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${RESULT}`);

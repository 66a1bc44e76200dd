// The export's own measurements, sizes and parity on the full test set, taken
// from an export's export-report.json into bench/results/export-parity.json so
// the benchmark summary shows them beside the speed figures.
//
//   tsx bench/export-parity.ts [--artifacts artifacts]
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { flagValue, parseCommandOrExit } from "../cli/args.ts";
import { REPORT_FILE } from "../contracts/artifacts.ts";
import { readExportReport } from "../stage-files/artifacts.ts";

const RESULT = "bench/results/export-parity.json";
const values = parseCommandOrExit(
  {
    name: "tsx bench/export-parity.ts",
    summary:
      "the parity figures of an export's report as a benchmark result; writes bench/results/export-parity.json.",
    flags: { artifacts: { value: "DIR", help: "the export" } },
    schema: z.object({ artifacts: flagValue.path().default("artifacts") }),
  },
  process.argv.slice(2),
);
const reportPath = join(values.artifacts, REPORT_FILE);
let report: ReturnType<typeof readExportReport>;
try {
  report = readExportReport(values.artifacts);
} catch (error) {
  console.error(`${(error as Error).message}: run \`npm run export\` (or the pipeline) first`);
  process.exit(1);
}
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

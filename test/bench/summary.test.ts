import assert from "node:assert/strict";
import { test } from "node:test";
import { renderSummary, SUMMARY_END, SUMMARY_START, spliceReadme } from "../../bench/summary.ts";

const exportParity = {
  run: "runs/cross-stitch-s1",
  sizes: { float32Bytes: 25_904_937, int8Bytes: 6_523_295, ratio: 0.2518 },
  tasks: [
    {
      task: "fashion",
      tfjsAccuracy: 0.9109,
      float32MaxAbsLogitDelta: 1.5e-5,
      int8Accuracy: 0.9117,
      int8Agreement: 0.9975,
    },
  ],
};

test("the summary renders the results it has and leaves out the ones it lacks", () => {
  const summary = renderSummary({ exportParity });
  assert.match(summary, /int8 6\.52 MB = 25\.2 % of float32 25\.90 MB/);
  assert.match(summary, /\| fashion +\| 91\.09 % \| 91\.17 % +\| 99\.75 % +\| 1\.5e-5 +\|/);
  assert.doesNotMatch(summary, /Training speed|Worker|Graph layouts/);
});

test("the README keeps everything outside the markers and gets the new summary inside", () => {
  const readme = `# Title\n\nbefore\n\n${SUMMARY_START}\nold figures\n${SUMMARY_END}\n\nafter\n`;
  const spliced = spliceReadme(readme, "new figures\n");
  assert.equal(spliced, `# Title\n\nbefore\n\n${SUMMARY_START}\n\nnew figures\n\n${SUMMARY_END}\n\nafter\n`);
  assert.equal(spliceReadme(spliced, "new figures\n"), spliced);
});

test("a README without the markers is an error, not a silent append", () => {
  assert.throws(() => spliceReadme("# Title\n", "figures\n"), /bench-summary:start/);
});

// The analysis commands fail with one sentence and the house's exit codes: 2 for usage, 1 for a
// missing input; none leaves a file behind.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";

const run = (script: string, args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", script, ...args], { encoding: "utf8" });

test("study:report, curves and calibration refuse bad input with a sentence and exit 1 or 2", () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-analysis-cli-"));
  const out = path.join(empty, "out");
  const cases: [string, string[], number, RegExp][] = [
    ["analysis/sharing.ts", ["--root", path.join(empty, "none"), "--out", out], 1, /no such folder/],
    ["analysis/sharing.ts", ["--bogus"], 2, /Unknown option/],
    ["analysis/curves.ts", ["--out", out, empty], 1, /no epoch recorded yet/],
    ["analysis/curves.ts", [empty], 2, /usage/],
    ["export/served-calibration.ts", ["--artifacts", empty, "--out", out], 1, /no manifest\.json/],
    ["export/served-calibration.ts", ["--bins", "1", "--artifacts", empty], 2, /--bins/],
  ];
  for (const [script, args, code, message] of cases) {
    const result = run(script, args);
    assert.equal(result.status, code, `${script} ${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
  }
  assert.ok(!fs.existsSync(out), "nothing written");
  fs.rmSync(empty, { recursive: true, force: true });
});

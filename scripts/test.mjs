#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's test runner (Node 20's --test takes
// no globs). Arguments filter by path substring: `npm test -- export`.
import { spawnSync } from "node:child_process";
import fs from "node:fs";

const filters = process.argv.slice(2);
const files = fs
  .readdirSync("test", { recursive: true })
  .map((file) => `test/${file}`)
  .filter((file) => file.endsWith(".test.ts"))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(", ")}`);
  process.exit(1);
}
const run = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", ...files], {
  stdio: "inherit",
});
process.exit(run.status ?? 1);

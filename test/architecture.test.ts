// The import rules of the layout (README "Layout"): every .ts import in the repository is read
// and each room may import only the rooms its row names. Stages talk through files, so the
// worker never imports training code and the contracts import nothing of ours.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";

const REPO_ROOT = path.resolve(new URL("..", import.meta.url).pathname);

/**
 * Which of our rooms each room may import (its own files always). A room is a top-level folder,
 * except worker/dev/, the Node tools beside the worker bundle. Rooms not listed may not exist.
 */
const STAGES = [
  "contracts",
  "cli",
  "data",
  "stage-files",
  "charts",
  "engine",
  "train",
  "export",
  "worker",
  "worker/dev",
  "client",
];
const MAY_IMPORT: Record<string, readonly string[]> = {
  contracts: [],
  cli: [],
  data: ["contracts"],
  "stage-files": ["contracts"],
  // Charts are SVG text only; stage-files/chart-files.ts writes them as SVG and PNG.
  charts: ["contracts"],
  engine: ["contracts"],
  train: ["contracts", "cli", "data", "stage-files", "charts"],
  analysis: ["contracts", "cli", "stage-files", "charts"],
  // package.json: the producer name and version written into every ONNX file.
  export: ["contracts", "cli", "data", "stage-files", "charts", "engine", "train", "package.json"],
  worker: ["contracts", "engine"],
  "worker/dev": ["contracts", "cli", "engine", "stage-files", "worker"],
  client: ["contracts", "cli"],
  pipeline: ["contracts", "cli", "data", "stage-files", "client", "worker", "worker/dev"],
  testing: STAGES,
  bench: [...STAGES, "testing"],
  test: [...STAGES, "analysis", "pipeline", "testing", "bench"],
};

/** Within export/, only these files may import train/ (TensorFlow): the CLI passes the reference in. */
const EXPORT_FILES_IMPORTING_TRAIN = ["export/cli.ts", "export/tfjs-reference.ts"];

/** Files whose whole import closure must stay free of a package prefix. */
const CLOSURE_BANS: { entry: string; banned: readonly string[]; why: string }[] = [
  {
    entry: "export/export.ts",
    banned: ["@tensorflow/"],
    why: "the export loads TensorFlow only through its CLI",
  },
  {
    entry: "worker/index.ts",
    banned: ["node:", "@tensorflow/", "onnxruntime-node", "sharp"],
    why: "the worker bundle runs in workerd",
  },
];

export function roomOf(file: string): string {
  if (file.startsWith("worker/dev/")) return "worker/dev";
  return file.split("/")[0] as string;
}

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|(?:^|[\s;])import\s*\(?\s*["']([^"']+)["']/gm;

/** Every module specifier a source file imports or re-exports (static, side-effect and dynamic). */
export function importsOf(source: string): string[] {
  const withoutComments = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  return [...withoutComments.matchAll(IMPORT)].map((m) => (m[1] ?? m[2]) as string);
}

/** Rule breaks in `files` (repo-relative path -> source), one sentence each. */
export function violations(files: ReadonlyMap<string, string>): string[] {
  const found: string[] = [];
  const resolved = new Map<string, { local: string[]; packages: string[] }>();
  for (const [file, source] of files) {
    const local: string[] = [];
    const packages: string[] = [];
    for (const specifier of importsOf(source)) {
      if (!specifier.startsWith(".")) {
        packages.push(specifier);
        continue;
      }
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
      if (target.startsWith("node_modules/")) packages.push(target.slice("node_modules/".length));
      else local.push(target);
    }
    resolved.set(file, { local, packages });
    const room = roomOf(file);
    const allowed = MAY_IMPORT[room];
    if (allowed === undefined) {
      found.push(`${file}: room "${room}" has no row in the import rules`);
      continue;
    }
    for (const target of local) {
      const targetRoom = roomOf(target);
      if (targetRoom === room) continue;
      if (!allowed.includes(targetRoom)) {
        found.push(
          `${file} imports ${target}: ${room} may import only ${allowed.join(", ") || "nothing of ours"}`,
        );
      } else if (
        room === "export" &&
        targetRoom === "train" &&
        !EXPORT_FILES_IMPORTING_TRAIN.includes(file)
      ) {
        found.push(
          `${file} imports ${target}: in export/ only ${EXPORT_FILES_IMPORTING_TRAIN.join(" and ")} may`,
        );
      }
    }
    if (room === "contracts") {
      for (const name of packages.filter((p) => p !== "zod"))
        found.push(`${file} imports ${name}: contracts import zod only`);
    }
    if (room === "charts") {
      for (const name of packages)
        found.push(`${file} imports ${name}: charts are pure TypeScript and import no package`);
    }
  }
  for (const { entry, banned, why } of CLOSURE_BANS) {
    if (!files.has(entry)) continue;
    const seen = new Set<string>();
    const stack = [entry];
    while (stack.length > 0) {
      const file = stack.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      const imports = resolved.get(file);
      if (!imports) continue;
      for (const name of imports.packages.filter((p) => banned.some((b) => p.startsWith(b))))
        found.push(`${entry} reaches ${name} through ${file}: ${why}`);
      stack.push(...imports.local);
    }
  }
  return found;
}

function repositoryFiles(): Map<string, string> {
  const listed = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.ts"], {
    cwd: REPO_ROOT,
    encoding: "utf8",
  });
  const files = new Map<string, string>();
  for (const file of listed.split("\n").filter(Boolean)) {
    const full = path.join(REPO_ROOT, file);
    if (fs.existsSync(full) && !file.endsWith(".d.ts")) files.set(file, fs.readFileSync(full, "utf8"));
  }
  return files;
}

describe("import rules", () => {
  test("every import in the repository keeps to the rules", () => {
    const files = repositoryFiles();
    assert.ok(files.size > 50, `read only ${files.size} files`);
    assert.deepEqual(violations(files), []);
  });

  test("the reader finds every form of import", () => {
    const source = [
      'import a from "./a.ts";',
      'import type { B } from "../b/b.ts";',
      "import {\n  c,\n  d,\n} from './c.ts';",
      'export { e } from "./e.ts";',
      'import "./side-effect.ts";',
      'const f = await import("./f.ts");',
      '// import x from "./commented.ts";',
    ].join("\n");
    assert.deepEqual(importsOf(source), [
      "./a.ts",
      "../b/b.ts",
      "./c.ts",
      "./e.ts",
      "./side-effect.ts",
      "./f.ts",
    ]);
  });

  test("breaks of each rule are reported", () => {
    const files = new Map([
      ["contracts/image.ts", 'import fs from "node:fs";\nimport { x } from "../train/model.ts";'],
      ["worker/index.ts", 'import { y } from "./image.ts";\nimport { z } from "../export/onnx.ts";'],
      ["worker/image.ts", 'import { w } from "../stage-files/files.ts";'],
      ["stage-files/files.ts", 'import fs from "node:fs";'],
      ["export/export.ts", 'import { t } from "../train/model.ts";'],
      ["bench/a.ts", 'import { h } from "../test/worker/helpers.ts";'],
      ["newroom/a.ts", ""],
      ["charts/line.ts", 'import sharp from "sharp";\nimport { f } from "../stage-files/files.ts";'],
    ]);
    const found = violations(files);
    const expected = [
      /^contracts\/image\.ts imports train\/model\.ts/,
      /^contracts\/image\.ts imports node:fs: contracts import zod only/,
      /^worker\/index\.ts imports export\/onnx\.ts: worker may import only contracts, engine/,
      /^worker\/image\.ts imports stage-files\/files\.ts/,
      /^export\/export\.ts imports train\/model\.ts: in export\/ only export\/cli\.ts/,
      /^bench\/a\.ts imports test\/worker\/helpers\.ts/,
      /^newroom\/a\.ts: room "newroom" has no row/,
      /^charts\/line\.ts imports sharp: charts are pure TypeScript/,
      /^charts\/line\.ts imports stage-files\/files\.ts: charts may import only contracts/,
      /^worker\/index\.ts reaches node:fs through stage-files\/files\.ts: the worker bundle runs in workerd/,
    ];
    for (const pattern of expected)
      assert.ok(
        found.some((line) => pattern.test(line)),
        `${pattern} not in:\n${found.join("\n")}`,
      );
    assert.equal(found.length, expected.length, found.join("\n"));
  });
});

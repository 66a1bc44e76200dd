// Runs a packed graph on the engine's wasm kernels under Node, for the export's
// parity check and the engine benchmarks: the relaxed-SIMD build where Node
// validates it, SIMD128 otherwise, both built by `npm run build:engine`.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Engine, type EngineOptions, relaxedSimdSupported } from "../engine/engine.ts";

export type KernelBuild = "simd128" | "relaxed";

export const kernelPath = (build: KernelBuild) =>
  fileURLToPath(new URL(`../engine/build/kernels-${build}.wasm`, import.meta.url));

export async function loadKernels(build: KernelBuild = relaxedSimdSupported() ? "relaxed" : "simd128") {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await readFile(kernelPath(build));
  } catch {
    throw new Error(`engine kernels not built (${kernelPath(build)}): run npm run build:engine`);
  }
  return new WebAssembly.Module(bytes);
}

export async function loadEngine(
  packed: Uint8Array,
  build?: KernelBuild,
  options?: EngineOptions,
): Promise<Engine> {
  const copy = packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength) as ArrayBuffer;
  return Engine.load(await loadKernels(build), copy, options);
}

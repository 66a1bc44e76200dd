// Our own int8 engine (engine/) as the worker's engine (ENGINE = "stitch", the
// default): the export's packed weights (manifest models.engine) copied into
// wasm memory once, on the relaxed-SIMD kernels where the runtime validates
// them, SIMD128 otherwise. The entry hands in the two compiled kernel modules.
import { Engine, relaxedSimdSupported } from "../engine/engine.ts";
import { type EngineOpener, readSized } from "./inference.ts";

export interface KernelModules {
  readonly relaxed: WebAssembly.Module;
  readonly simd128: WebAssembly.Module;
}

export function stitchEngine(kernels: KernelModules): EngineOpener {
  return {
    name: "stitch",
    async open(assets, manifest) {
      const entry = manifest.models.engine;
      if (!entry) throw new Error("the manifest names no engine pack (models.engine): re-export the model");
      const bytes = await readSized(assets, entry);
      const engine = await Engine.load(
        relaxedSimdSupported() ? kernels.relaxed : kernels.simd128,
        bytes.buffer,
      );
      const mismatch = manifest.tasks.find((t, i) => engine.tasks[i]?.output !== t.output);
      if (mismatch || engine.tasks.length !== manifest.tasks.length)
        throw new Error(`${entry.file} does not hold the manifest's tasks`);
      return {
        name: "stitch",
        heapBytes: () => engine.heapBytes,
        run: async (batch) => engine.run(batch),
      };
    },
  };
}

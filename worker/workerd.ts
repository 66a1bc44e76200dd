// The entry of the `ort` build (wrangler --env ort): onnxruntime-web as the
// engine. Workers forbid compiling WebAssembly from bytes,
// so the ORT wasm arrives as a module compiled at upload (the CompiledWasm rule
// in wrangler.toml) and ORT's loader is steered onto it; see SPEC.md.
import * as ort from "onnxruntime-web/wasm";
// A path, not the package's own export "onnxruntime-web/ort-wasm-simd-threaded.wasm": wrangler
// 4.164's wasm-module collector resolves that export against this folder and fails (ENOENT).
import ortWasmModule from "../node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm";
import { ortEngine } from "./engine-ort.ts";
import { createApp } from "./index.ts";
import { ModelHolder } from "./inference.ts";

// Any non-empty wasmBinary makes ORT use its built-in Emscripten loader (no
// script URL, no fetch); these bytes are never compiled.
const placeholder = new Uint8Array([0]);
ort.env.wasm.wasmBinary = placeholder;

const instantiate = WebAssembly.instantiate.bind(WebAssembly);
/** ORT's linear memory (imported by the threaded build, exported otherwise), kept to report the wasm heap. */
let ortMemory: WebAssembly.Memory | undefined;

function findMemory(...namespaces: unknown[]): WebAssembly.Memory | undefined {
  for (const namespace of namespaces) {
    if (namespace instanceof WebAssembly.Memory) return namespace;
    if (namespace && typeof namespace === "object") {
      const found = findMemory(...Object.values(namespace));
      if (found) return found;
    }
  }
  return undefined;
}

WebAssembly.instantiate = ((source: BufferSource | WebAssembly.Module, imports?: WebAssembly.Imports) => {
  if (source instanceof WebAssembly.Module) return instantiate(source, imports);
  // Only the placeholder reaches here as bytes: answer with the precompiled module.
  return instantiate(ortWasmModule, imports).then((instance) => {
    ortMemory = findMemory(imports, instance.exports);
    return { instance, module: ortWasmModule };
  });
}) as typeof WebAssembly.instantiate;

export default createApp(new ModelHolder(ortEngine(() => ortMemory?.buffer.byteLength)));

// The entry of the default build: our int8 engine (engine/), whose two kernel
// builds arrive as modules compiled at upload (wrangler's CompiledWasm rule);
// onnxruntime-web is not bundled.
import relaxed from "../engine/build/kernels-relaxed.wasm";
import simd128 from "../engine/build/kernels-simd128.wasm";
import { stitchEngine } from "./engine-stitch.ts";
import { createApp } from "./index.ts";
import { ModelHolder } from "./inference.ts";

export default createApp(new ModelHolder(stitchEngine({ relaxed, simd128 })));

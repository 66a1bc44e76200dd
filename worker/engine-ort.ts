// onnxruntime-web as the worker's engine (ENGINE = "ort", the `ort` wrangler
// environment): one session over the int8 ONNX graph, created on first use.
import * as ort from "onnxruntime-web/wasm";
import { type EngineOpener, readVerified } from "./inference.ts";

// Workers have no threads, and the proxy worker would need a script URL.
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;

/** `heapBytes`: where the entry can see ORT's linear memory. */
export function ortEngine(heapBytes: () => number | undefined = () => undefined): EngineOpener {
  return {
    name: "ort",
    async open(assets, manifest) {
      const bytes = await readVerified(assets, manifest.models.int8);
      const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
      const { input, tasks } = manifest;
      return {
        name: "ort",
        heapBytes,
        async run(batch, count) {
          const dims = input.shape.map((d, i) => (i === 0 ? count : d));
          const outputs = await session.run(
            { [input.name]: new ort.Tensor("float32", batch, dims) },
            tasks.map((task) => task.output),
          );
          return tasks.map((task) => {
            const logits = outputs[task.output]?.data;
            if (!(logits instanceof Float32Array)) throw new Error(`output ${task.output} is not float32`);
            return logits;
          });
        },
      };
    },
  };
}

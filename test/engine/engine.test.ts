// The engine on full-size exported graphs (random weights, the export's own
// passes and quantization): logits equal to onnxruntime-web's (the runtime the
// export judges int8 graphs in) to the last bit, for two and three tasks, with
// channel-wise, layer-wise or no cross-stitch units, with both wasm builds.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { decodePack, PACK_VERSION } from "../../contracts/engine-pack.ts";
import { Engine, relaxedSimdSupported } from "../../engine/engine.ts";
import { INPUT_NAME, importModel } from "../../export/import-model.ts";
import { encodeOnnx } from "../../export/onnx.ts";
import { runAll } from "../../export/ort-session.ts";
import { PackError, packEngine } from "../../export/pack-engine.ts";
import { applyPasses } from "../../export/passes/index.ts";
import {
  DEFAULT_FIXTURE_TASKS,
  type FixtureOptions,
  fixtureTasks,
  quantizedFixture,
  randomRun,
  syntheticImages,
  THIRD_TASK,
} from "../../testing/engine-fixture.ts";

const IMAGES = 37;
const images = syntheticImages(IMAGES, 5);
const modules = {
  simd128: new WebAssembly.Module(
    await readFile(new URL("../../engine/build/kernels-simd128.wasm", import.meta.url)),
  ),
  relaxed: new WebAssembly.Module(
    await readFile(new URL("../../engine/build/kernels-relaxed.wasm", import.meta.url)),
  ),
};

const arrayBuffer = (bytes: Uint8Array) =>
  bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;

const VARIANTS: { name: string; options: FixtureOptions }[] = [
  {
    name: "two tasks, channel-wise cross-stitch",
    options: { tasks: DEFAULT_FIXTURE_TASKS, crossStitch: "channel", seed: 3 },
  },
  {
    name: "three tasks, layer-wise cross-stitch",
    options: { tasks: [...DEFAULT_FIXTURE_TASKS, THIRD_TASK], crossStitch: "layer", seed: 4 },
  },
  {
    name: "two tasks, no cross-stitch",
    options: { tasks: DEFAULT_FIXTURE_TASKS, crossStitch: "none", seed: 5 },
  },
];

for (const variant of VARIANTS) {
  test(`${variant.name}: logits equal onnxruntime-web's`, async () => {
    const model = await quantizedFixture(randomRun(variant.options), images);
    const tasks = fixtureTasks(variant.options.tasks);
    const packed = packEngine(model, tasks);
    const reference = await runAll(
      model,
      "wasm",
      INPUT_NAME,
      images,
      tasks.map((t) => t.output),
    );
    for (const [name, module] of Object.entries(modules)) {
      // maxBatch 16: 37 images run as 16 + 16 + 5.
      const engine = await Engine.load(module, arrayBuffer(packed.bytes), { maxBatch: 16 });
      const logits = engine.run(images);
      tasks.forEach((t, i) => {
        assert.deepEqual(logits[i], reference.get(t.output), `${name} ${t.name}`);
      });
    }
  });
}

test("relaxed SIMD is detected where the runtime has it (Node 24 does)", () => {
  assert.equal(relaxedSimdSupported(), true);
});

test("one image at a time gives the batch's logits", async () => {
  const options = VARIANTS[0]?.options as FixtureOptions;
  const model = await quantizedFixture(randomRun(options), images);
  const packed = packEngine(model, fixtureTasks(options.tasks));
  const engine = await Engine.load(modules.relaxed, arrayBuffer(packed.bytes));
  const batch = engine.run(images.subarray(0, 3 * 784));
  for (let i = 0; i < 3; i++) {
    const single = engine.run(images.subarray(i * 784, (i + 1) * 784));
    assert.deepEqual(single[0], (batch[0] as Float32Array).subarray(i * 10, (i + 1) * 10));
  }
  assert.throws(() => engine.run(new Float32Array(785)), /multiple of 784/);
  assert.throws(() => engine.run(new Float32Array(0)), /multiple of 784/);
  assert.equal(decodePack(arrayBuffer(packed.bytes)).header.source.bytes, model.length);
});

test("a damaged or foreign pack is refused with a sentence", async () => {
  const options = VARIANTS[2]?.options as FixtureOptions;
  const model = await quantizedFixture(randomRun(options), images.subarray(0, 4 * 784));
  const bytes = packEngine(model, fixtureTasks(options.tasks)).bytes;
  const magic = bytes.slice();
  magic[0] = 0x58;
  await assert.rejects(Engine.load(modules.simd128, arrayBuffer(magic)), /bad magic/);
  const version = bytes.slice();
  new DataView(version.buffer).setUint32(4, PACK_VERSION + 1, true);
  await assert.rejects(Engine.load(modules.simd128, arrayBuffer(version)), /format version/);
  await assert.rejects(
    Engine.load(modules.simd128, arrayBuffer(bytes.subarray(0, bytes.length - 64))),
    /data section/,
  );
  await assert.rejects(Engine.load(modules.simd128, new ArrayBuffer(5)), /too short/);
});

test("the packer names what it cannot run: a fused-layout graph, a task without logits", async () => {
  const options = VARIANTS[0]?.options as FixtureOptions;
  const run = randomRun(options);
  const fused = encodeOnnx(applyPasses(importModel(run), "fused"), "");
  assert.throws(() => packEngine(fused, fixtureTasks(options.tasks)), PackError);
  const model = await quantizedFixture(run, images.subarray(0, 4 * 784));
  assert.throws(
    () =>
      packEngine(model, [
        ...fixtureTasks(options.tasks),
        { name: "extra", output: "extra_logits", classes: 2 },
      ]),
    /no logits for task extra/,
  );
});

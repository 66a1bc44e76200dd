// The image codecs' wasm compiled from node_modules, for the worker's code run
// under Node (tests, benchmarks, scripts); the bundle gets them from image-wasm.ts.
import { readFile } from "node:fs/promises";
import type { CodecModules } from "../image-decode.ts";

const JSQUASH = new URL("../../node_modules/@jsquash/", import.meta.url);
const compile = async (path: string) => new WebAssembly.Module(await readFile(new URL(path, JSQUASH)));

export async function nodeCodecModules(): Promise<CodecModules> {
  const [jpeg, png, webp] = await Promise.all([
    compile("jpeg/codec/dec/mozjpeg_dec.wasm"),
    compile("png/codec/pkg/squoosh_png_bg.wasm"),
    compile("webp/codec/dec/webp_dec.wasm"),
  ]);
  return { jpeg, png, webp };
}

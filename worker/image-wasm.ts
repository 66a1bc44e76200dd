// The codecs' wasm for the bundle: wrangler's CompiledWasm rule turns each import
// into a WebAssembly.Module compiled at upload (Workers compile none at run time).
import jpeg from "../node_modules/@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm";
import png from "../node_modules/@jsquash/png/codec/pkg/squoosh_png_bg.wasm";
import webp from "../node_modules/@jsquash/webp/codec/dec/webp_dec.wasm";
import type { CodecModules } from "./image-decode.ts";

export const codecModules: CodecModules = { jpeg, png, webp };

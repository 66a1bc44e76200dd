// wrangler's CompiledWasm rule turns a .wasm import into a compiled module.
declare module "*.wasm" {
  const compiled: WebAssembly.Module;
  export default compiled;
}

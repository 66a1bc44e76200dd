// The files an export writes into its artifacts folder.
export const MANIFEST_FILE = "manifest.json";
export const INT8_FILE = "model.int8.onnx";
export const FLOAT32_FILE = "model.fp32.onnx";
export const REPORT_FILE = "export-report.json";
/** The int8 graph packed for our engine (format: contracts/engine-pack.ts), per-tower exports only. */
export const ENGINE_FILE = "model.engine.bin";

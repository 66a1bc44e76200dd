// The files an export writes into its artifacts folder.
export const MANIFEST_FILE = "manifest.json";
export const INT8_FILE = "model.int8.onnx";
export const FLOAT32_FILE = "model.fp32.onnx";
export const REPORT_FILE = "export-report.json";
/** The int8 graph packed for our engine (format: contracts/engine-pack.ts), per-tower exports only. */
export const ENGINE_FILE = "model.engine.bin";

/**
 * Keys of the metadata_props every exported ONNX file carries, so the file describes itself away
 * from its manifest. Values are strings: JSON for tasks (name, classes, output), input and
 * normalization (the manifest's shapes).
 */
export const ONNX_METADATA_KEYS = {
  modelId: "stitch_edge.model_id",
  sourceRun: "stitch_edge.source_run",
  precision: "stitch_edge.precision",
  tasks: "stitch_edge.tasks",
  input: "stitch_edge.input",
  normalization: "stitch_edge.normalization",
} as const;

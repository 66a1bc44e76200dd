// The machine a benchmark ran on, written beside every result: figures from
// different sessions only compare with this context (CPU model, load).
import { cpus, loadavg } from "node:os";

export function machineContext() {
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    loadAverage1m: loadavg()[0],
  };
}

// Node's reading of an artifacts folder (file names and schemas in contracts/artifacts.ts,
// contracts/manifest.ts and contracts/export-report.ts), for the stages after the export.
import path from "node:path";
import { MANIFEST_FILE, REPORT_FILE } from "../contracts/artifacts.ts";
import { type ExportReport, parseExportReport } from "../contracts/export-report.ts";
import { type Manifest, parseManifest } from "../contracts/manifest.ts";
import { RunFileError } from "../contracts/run-folder.ts";
import { readJsonFile } from "./files.ts";

export function readManifest(artifactsDir: string): Manifest {
  const file = path.join(artifactsDir, MANIFEST_FILE);
  try {
    return parseManifest(readJsonFile(file, MANIFEST_FILE));
  } catch (error) {
    if (error instanceof RunFileError) throw error;
    throw new RunFileError(`${file}: ${(error as Error).message}`);
  }
}

export function readExportReport(artifactsDir: string): ExportReport {
  const file = path.join(artifactsDir, REPORT_FILE);
  return parseExportReport(readJsonFile(file, REPORT_FILE), file);
}

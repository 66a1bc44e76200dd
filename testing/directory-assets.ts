// A folder served the way the Workers ASSETS binding serves the assets
// directory, for the worker's code run under Node (tests, benchmarks).
import { readFile } from "node:fs/promises";
import { join, normalize as normalizePath } from "node:path";
import type { AssetFetcher } from "../worker/inference.ts";

export function directoryAssets(dir: string): AssetFetcher {
  return {
    async fetch(request: Request) {
      const path = normalizePath(decodeURIComponent(new URL(request.url).pathname)).replace(/^\/+/, "");
      if (path.startsWith("..")) return new Response("not found", { status: 404 });
      try {
        return new Response(await readFile(join(dir, path)));
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  };
}

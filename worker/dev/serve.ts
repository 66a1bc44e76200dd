// `npm run serve [-- --port N --artifacts DIR --env NAME]`: the worker as
// production runs it (plain workerd, the deploy bundle, no inspector, no
// proxy), on 127.0.0.1 until Ctrl-C.
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_ASSETS_DIR, stageAssets } from "./stage-assets.ts";
import { startWorkerd, workerdRuntime } from "./workerd.ts";

const USAGE = `usage: npm run serve -- [--port N] [--artifacts DIR] [--env NAME]
  --port       port on 127.0.0.1 (default 8787; 0 picks a free one)
  --artifacts  export folder with manifest.json (default $STITCH_ARTIFACTS or artifacts)
  --env        a wrangler environment from wrangler.toml`;

function usageError(message: string): never {
  console.error(`serve: ${message}\n${USAGE}`);
  process.exit(2);
}

let values: { port?: string; artifacts?: string; env?: string; help?: boolean };
try {
  ({ values } = parseArgs({
    options: {
      port: { type: "string" },
      artifacts: { type: "string" },
      env: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  }));
} catch (error) {
  usageError((error as Error).message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const port = Number(values.port ?? 8787);
if (!Number.isInteger(port) || port < 0 || port > 65535)
  usageError(`--port: expected 0-65535, got "${values.port}"`);
const artifactsDir = resolve(values.artifacts ?? process.env.STITCH_ARTIFACTS ?? "artifacts");

try {
  const manifest = await stageAssets(artifactsDir, resolve(DEFAULT_ASSETS_DIR));
  const worker = await startWorkerd(DEFAULT_ASSETS_DIR, {}, { port, environment: values.env });
  const { version } = workerdRuntime();
  console.log(
    `serving ${manifest.modelId} from ${artifactsDir} on ${worker.url} (workerd ${version}; Ctrl-C stops)`,
  );
  const shutdown = async () => {
    await worker.stop();
    process.exit(130);
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
} catch (error) {
  console.error(`serve: ${(error as Error).message}`);
  process.exit(1);
}

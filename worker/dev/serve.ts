// `npm run serve [-- --port N --artifacts DIR --env NAME]`: the worker as
// production runs it (plain workerd, the deploy bundle, no inspector, no
// proxy), on 127.0.0.1 until Ctrl-C.
import { resolve } from "node:path";
import { z } from "zod";
import { type Command, EXIT, flagValue, parseCommand, runCommand } from "../../cli/args.ts";
import { DEFAULT_ASSETS_DIR, defaultArtifactsDir, stageAssets } from "./stage-assets.ts";
import { startWorkerd, workerdRuntime } from "./workerd.ts";

const command = {
  name: "npm run serve --",
  summary: "Serves the worker in plain workerd on 127.0.0.1 until Ctrl-C.",
  flags: {
    port: { value: "N", help: "port on 127.0.0.1, 0 picks a free one" },
    artifacts: { value: "DIR", help: "export folder with manifest.json ($STITCH_ARTIFACTS or artifacts)" },
    env: { value: "NAME", help: "a wrangler environment from wrangler.toml" },
  },
  schema: z.object({
    port: flagValue.integer(0).pipe(z.number().max(65535, "expected a port 0-65535")).default(8787),
    artifacts: flagValue.path().optional(),
    env: z.string().optional(),
  }),
} satisfies Command<z.ZodType>;

runCommand(command, async () => {
  const flags = parseCommand(command, process.argv.slice(2));
  if (flags === null) return;
  const artifactsDir = resolve(flags.artifacts ?? defaultArtifactsDir());
  const manifest = await stageAssets(artifactsDir, resolve(DEFAULT_ASSETS_DIR));
  const worker = await startWorkerd(DEFAULT_ASSETS_DIR, {}, { port: flags.port, environment: flags.env });
  const { version } = workerdRuntime();
  console.log(
    `serving ${manifest.modelId} from ${artifactsDir} on ${worker.url} (workerd ${version}; Ctrl-C stops)`,
  );
  const shutdown = async () => {
    await worker.stop();
    process.exit(EXIT.interrupted);
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
});

// Serves the worker locally the way Cloudflare serves it: the bundle `wrangler
// deploy --dry-run` would upload, run by the workerd binary itself, with no
// inspector attached (V8 tiers wasm up as in production) and no wrangler proxy
// in front. Node only; used by `npm run serve`, the tests, the benchmarks and
// the pipeline. `npm run dev` (wrangler dev) stays the live-reload loop.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { extname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { unstable_readConfig } from "wrangler";

const REPO_ROOT = new URL("../../", import.meta.url).pathname;
const WRANGLER_JS = join(REPO_ROOT, "node_modules/wrangler/bin/wrangler.js");
const STARTUP_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5000;

/** The workerd build wrangler ships, its binary and newest compatibility date. */
export function workerdRuntime(): { binary: string; version: string } {
  const { default: binary, version } = createRequire(import.meta.url)("workerd") as {
    default: string;
    version: string;
  };
  return { binary, version };
}

/** A port nothing listens on (at the moment of asking). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolvePort(address.port) : reject()));
    });
  });
}

export interface ServeOptions {
  /** A wrangler environment ([env.<name>] in wrangler.toml). */
  environment?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Where the bundle and the workerd config are written. */
  workDir?: string;
  /**
   * V8 flags for the workerd process (Config.v8Flags), for experiments such as a capped heap; the
   * deployed worker runs with Cloudflare's own, so none is set by default.
   */
  v8Flags?: string[];
}

export interface RunningWorker {
  url: string;
  /** The workerd process itself, so its memory can be read from /proc. */
  pid: number;
  /** Everything workerd printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

interface WorkerModule {
  name: string;
  kind: "esModule" | "wasm" | "data" | "text";
}

const MODULE_KIND_BY_EXTENSION: Record<string, WorkerModule["kind"]> = {
  ".js": "esModule",
  ".mjs": "esModule",
  ".wasm": "wasm",
  ".bin": "data",
  ".txt": "text",
};

/**
 * Bundles the worker exactly as `wrangler deploy` would upload it, with `assetsDir` as its static
 * assets (wrangler refuses a missing assets folder); returns its modules, entry first.
 */
export async function buildBundle(
  outDir: string,
  assetsDir: string,
  environment?: string,
): Promise<WorkerModule[]> {
  await rm(outDir, { recursive: true, force: true });
  const args = [WRANGLER_JS, "deploy", "--dry-run", "--outdir", outDir, "--assets", assetsDir];
  if (environment) args.push("--env", environment);
  const build = spawnSync(process.execPath, args, {
    cwd: REPO_ROOT,
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
  });
  if (build.status !== 0)
    throw new Error(`wrangler deploy --dry-run failed:\n${build.stdout}${build.stderr}`);
  const modules: WorkerModule[] = [];
  for (const name of await readdir(outDir)) {
    const kind = MODULE_KIND_BY_EXTENSION[extname(name)];
    if (kind) modules.push({ name, kind });
  }
  const entryName = `${config(environment).main?.split("/").pop()?.replace(/\.ts$/, "")}.js`;
  const entry = modules.find((module) => module.name === entryName);
  if (!entry) throw new Error(`wrangler wrote no ${entryName} in ${outDir}`);
  return [entry, ...modules.filter((module) => module !== entry)];
}

function config(environment?: string) {
  return unstable_readConfig({ config: join(REPO_ROOT, "wrangler.toml"), env: environment });
}

const capnpString = (text: string) => JSON.stringify(text);

/** A workerd config equivalent to the deployed worker: same modules, compatibility, vars and assets binding. */
export function workerdConfig(options: {
  modules: WorkerModule[];
  /** Relative to the config file: capnp reads an absolute embed path against its import path, not "/". */
  bundleDir: string;
  assetsDir: string;
  port: number;
  vars: Record<string, string>;
  environment?: string;
  v8Flags?: string[];
}): string {
  const { compatibility_date, compatibility_flags, assets } = config(options.environment);
  const modules = options.modules
    .map(
      ({ name, kind }) =>
        `(name = ${capnpString(name)}, ${kind} = embed ${capnpString(join(options.bundleDir, name))})`,
    )
    .join(",\n      ");
  const bindings = [
    ...Object.entries(options.vars).map(
      ([name, value]) => `(name = ${capnpString(name)}, text = ${capnpString(value)})`,
    ),
    `(name = ${capnpString(assets?.binding ?? "ASSETS")}, service = "assets")`,
  ].join(",\n      ");
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "assets", disk = (path = ${capnpString(options.assetsDir)}, writable = false)),
  ],
  sockets = [(name = "http", address = ${capnpString(`127.0.0.1:${options.port}`)}, http = (), service = "main")],
  v8Flags = [${(options.v8Flags ?? []).map(capnpString).join(", ")}],
);
const worker :Workerd.Worker = (
  modules = [
      ${modules}
  ],
  compatibilityDate = ${capnpString(compatibility_date ?? "")},
  compatibilityFlags = [${(compatibility_flags ?? []).map(capnpString).join(", ")}],
  bindings = [
      ${bindings}
  ],
);
`;
}

/**
 * Bundles the worker and starts it in plain workerd with the staged `assetsDir` and `vars` (over
 * wrangler.toml's [vars]); resolves once workerd reports its socket listening.
 */
export async function startWorkerd(
  assetsDir: string,
  vars: Record<string, string> = {},
  options: ServeOptions = {},
): Promise<RunningWorker> {
  const workDir = resolve(
    options.workDir ?? join(REPO_ROOT, ".cache/workerd", `${process.pid}-${Date.now()}`),
  );
  const bundleDir = join(workDir, "bundle");
  await mkdir(workDir, { recursive: true });
  const modules = await buildBundle(bundleDir, resolve(assetsDir), options.environment);
  const configFile = join(workDir, "config.capnp");
  const allVars = { ...(config(options.environment).vars as Record<string, string>), ...vars };
  await writeFile(
    configFile,
    workerdConfig({
      modules,
      bundleDir: "bundle",
      assetsDir: resolve(assetsDir),
      port: options.port ?? 0,
      vars: Object.fromEntries(Object.entries(allVars).map(([key, value]) => [key, String(value)])),
      environment: options.environment,
      v8Flags: options.v8Flags,
    }),
  );
  const { binary } = workerdRuntime();
  // fd 3 is workerd's control channel: it writes one JSON line per listening socket.
  const child: ChildProcess = spawn(binary, ["serve", configFile, "--control-fd=3"], {
    cwd: workDir,
    stdio: ["ignore", "pipe", "pipe", "pipe"],
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk;
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    await rm(workDir, { recursive: true, force: true });
  };
  const control = child.stdio[3];
  if (!control || !("on" in control)) throw new Error("workerd control channel missing");
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error("workerd did not listen in time")), STARTUP_TIMEOUT_MS);
    createInterface({ input: control as NodeJS.ReadableStream }).on("line", (line) => {
      const event = JSON.parse(line) as { event?: string; socket?: string; port?: number };
      if (event.event === "listen" && event.socket === "http" && event.port !== undefined) {
        clearTimeout(timer);
        resolvePort(event.port);
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`workerd exited (${code ?? signal}) before listening`));
    });
  }).catch(async (error: Error) => {
    await stop();
    throw new Error(`${error.message}:\n${output}`);
  });
  return { url: `http://127.0.0.1:${port}`, pid: child.pid ?? -1, output: () => output, stop };
}

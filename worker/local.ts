// Starts the worker locally in workerd through `wrangler dev`, for the tests,
// the benchmarks and the pipeline (Node only; not part of the worker bundle).
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";

const REPO_ROOT = new URL("../", import.meta.url).pathname;

/** A port nothing listens on (at the moment of asking). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject()));
    });
  });
}

export interface RunningWorker {
  url: string;
  /** The wrangler process; workerd runs as its descendant. */
  pid: number;
  /** Everything wrangler and the worker printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `wrangler dev` (workerd) with the repo's wrangler.toml and the given assets and vars;
 * `environment` picks a wrangler environment (`ort`: the onnxruntime-web build).
 */
export async function startWorkerd(
  assetsDir: string,
  vars: Record<string, string> = {},
  environment?: string,
): Promise<RunningWorker> {
  const port = await freePort();
  const inspectorPort = await freePort();
  const args = [
    join(REPO_ROOT, "node_modules/wrangler/bin/wrangler.js"),
    "dev",
    "--config",
    join(REPO_ROOT, "wrangler.toml"),
    "--assets",
    assetsDir,
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspectorPort),
    "--log-level",
    "log",
    ...Object.entries(vars).flatMap(([key, value]) => ["--var", `${key}:${value}`]),
    ...(environment ? ["--env", environment] : []),
  ];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
  });
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const stop = async () => {
    if (child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    process.kill(-child.pid, "SIGTERM");
    const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  while (!output.includes("Ready on")) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, pid: child.pid ?? -1, output: () => output, stop };
}

// Spawning one nats-server process and waiting until every listener is bound (its ports file).
import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ExitWatcher, signalQuietly } from "./child-exit.js";
import { ProcessStartError } from "./errors.js";
import type { LineBuffer } from "./line-buffer.js";
import { type NatsConfig, renderNatsConfig } from "./nats-config.js";
import { type NatsPorts, portsFilePath, waitForPortsFile } from "./ports-file.js";

/** Host every fixture binds to: tests must not expose servers beyond the machine. */
export const LOOPBACK = "127.0.0.1";

export interface LaunchSpec {
  binary: string;
  /** Private temp dir: config file and ports file live here. */
  dir: string;
  config: NatsConfig;
  /** Client port; -1 lets the server pick a free one. */
  port: number;
  /** Monitoring port; -1 lets the server pick a free one. */
  monitorPort: number;
  args: readonly string[];
  debug: boolean;
  log: LineBuffer;
  timeoutMs: number;
}

export interface Launched {
  child: ChildProcess;
  watcher: ExitWatcher;
  ports: NatsPorts;
}

/**
 * Spawns nats-server and resolves once its ports file exists (all listeners bound), or
 * rejects with the log tail if it exits first or the deadline passes.
 */
export async function launchNatsServer(spec: LaunchSpec): Promise<Launched> {
  const configFile = join(spec.dir, "nats-server.conf");
  await writeFile(configFile, renderNatsConfig(spec.config));

  const args = [
    "-c",
    configFile,
    "-a",
    LOOPBACK,
    "-p",
    String(spec.port),
    "-m",
    String(spec.monitorPort),
    "--ports_file_dir",
    spec.dir,
    ...(spec.debug ? ["-D"] : []),
    ...spec.args,
  ];
  const child = spawn(spec.binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  const watcher = new ExitWatcher(child);
  let spawnError: Error | undefined;
  child.once("error", (err) => {
    spawnError = err;
  });
  spec.log.attach(child.stdout!, "stdout");
  spec.log.attach(child.stderr!, "stderr");

  const failed = (message: string, cause?: unknown) =>
    new ProcessStartError(
      `nats-server (${spec.binary} ${args.join(" ")}) ${message}`,
      spec.log.tail(),
      cause === undefined ? undefined : { cause },
    );

  // Early exit (bad config, port taken) must fail fast with the server's own explanation,
  // not after the full readiness deadline.
  let exitedEarly = false;
  const earlyExit = watcher.exited.then(async (status) => {
    exitedEarly = true;
    await watcher.settled();
    throw failed(
      spawnError
        ? `failed to spawn: ${spawnError.message}`
        : `exited before becoming ready (code ${status.code}, signal ${status.signal})`,
      spawnError,
    );
  });
  // Keeps the rejection from being reported as unhandled once the race is decided.
  earlyExit.catch(() => undefined);

  try {
    if (child.pid === undefined) return await earlyExit;
    const portsFile = portsFilePath(spec.dir, spec.binary, child.pid);
    const ports = await Promise.race([
      waitForPortsFile(portsFile, spec.timeoutMs, () =>
        exitedEarly ? new Error("nats-server exited") : undefined,
      ),
      earlyExit,
    ]);
    return { child, watcher, ports };
  } catch (err) {
    // Whichever side of the race noticed the exit first, report it with the full log.
    if (exitedEarly) return await earlyExit;
    signalQuietly(child, "SIGKILL");
    await watcher.settled();
    throw failed(`did not become ready: ${(err as Error).message}`, err);
  }
}

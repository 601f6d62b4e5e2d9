// NatsServer: one real nats-server on 127.0.0.1 for tests: start, stop, kill, freeze, restart on
// the same ports, and its log.
import "./dispose-polyfill.js";
import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { type ExitWatcher, signalQuietly, terminate } from "./child-exit.js";
import { killQuietly, registerExitCleanup } from "./exit-cleanup.js";
import { findNatsServerBinary } from "./find-binary.js";
import { LineBuffer } from "./line-buffer.js";
import { mergeNatsConfig, type NatsConfig } from "./nats-config.js";
import { LOOPBACK, launchNatsServer } from "./nats-launch.js";
import { type NatsPorts, portOf } from "./ports-file.js";

export interface NatsServerOptions {
  /** Rendered into a config file (see renderNatsConfig). The fixture owns host and ports. */
  config?: NatsConfig;
  /** Extra command-line arguments, appended last (so they win over the fixture's). */
  args?: readonly string[];
  /** Run with -D and echo every log line to this process's stderr. */
  debug?: boolean;
  /** Client port; default: a free port picked by the server. */
  port?: number;
  /** Enable JetStream with its store inside the server's temp dir (kept across restarts). */
  jetstream?: boolean;
  /** Path to nats-server; default: findNatsServerBinary(). */
  binary?: string;
  /** Deadline for the server to become ready, per start/restart (default 10s). */
  startTimeoutMs?: number;
  /** How many log lines logTail() keeps (default 200). */
  logLines?: number;
}

/**
 * One real nats-server process on 127.0.0.1, for tests. Ports are picked by the server
 * (`-p -1`) and learnt from its ports file; they stay fixed across restart() so clients
 * with reconnect enabled find the server again.
 */
export class NatsServer {
  readonly binary: string;
  /** Private temp dir (config, ports file, JetStream store); removed by stop(). */
  readonly dir: string;
  readonly port: number;
  readonly monitorPort: number;
  /** Route listen port when the config has a `cluster` block. */
  readonly clusterPort: number | undefined;

  readonly #options: NatsServerOptions;
  readonly #log: LineBuffer;
  #child: ChildProcess;
  #watcher: ExitWatcher;
  #frozen = false;
  #stopped = false;
  readonly #unregisterCleanup: () => void;

  private constructor(
    binary: string,
    dir: string,
    options: NatsServerOptions,
    log: LineBuffer,
    launched: { child: ChildProcess; watcher: ExitWatcher; ports: NatsPorts },
  ) {
    this.binary = binary;
    this.dir = dir;
    this.#options = options;
    this.#log = log;
    this.#child = launched.child;
    this.#watcher = launched.watcher;
    this.port = portOf(launched.ports.nats)!;
    this.monitorPort = portOf(launched.ports.monitoring)!;
    this.clusterPort = portOf(launched.ports.cluster);
    // Reads #child at exit time, so it also covers processes started by restart().
    this.#unregisterCleanup = registerExitCleanup(() => {
      if (this.running) killQuietly(this.#child.pid);
      rmSync(this.dir, { recursive: true, force: true });
    });
  }

  /** Starts a server and resolves once it listens. */
  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const binary = options.binary ?? findNatsServerBinary();
    const dir = await mkdtemp(join(tmpdir(), "tailwire-nats-"));
    const log = new LineBuffer(options.logLines ?? 200);
    if (options.debug) log.onLine((line) => process.stderr.write(`[nats-server] ${line}\n`));
    try {
      const launched = await launchNatsServer({
        binary,
        dir,
        config: baseConfig(dir, options),
        port: options.port ?? -1,
        monitorPort: -1,
        args: options.args ?? [],
        debug: options.debug ?? false,
        log,
        timeoutMs: options.startTimeoutMs ?? 10_000,
      });
      return new NatsServer(binary, dir, options, log, launched);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** nats://127.0.0.1:PORT */
  get url(): string {
    return `nats://${LOOPBACK}:${this.port}`;
  }

  /** http://127.0.0.1:PORT of the monitoring endpoint (/varz, /routez, ...). */
  get monitorUrl(): string {
    return `http://${LOOPBACK}:${this.monitorPort}`;
  }

  /** nats://127.0.0.1:PORT of the route listener, when clustered. */
  get clusterUrl(): string | undefined {
    return this.clusterPort === undefined ? undefined : `nats://${LOOPBACK}:${this.clusterPort}`;
  }

  /** PID of the current process (changes on restart). */
  get pid(): number {
    return this.#child.pid!;
  }

  /** True while the current process has not exited (a frozen server is running). */
  get running(): boolean {
    return this.#watcher.status === undefined;
  }

  get frozen(): boolean {
    return this.#frozen && this.running;
  }

  /** The last lines of stdout+stderr, across restarts. */
  logTail(lines?: number): string {
    return this.#log.tail(lines);
  }

  /** GETs a monitoring endpoint, e.g. `monitor("routez")`, and returns the parsed JSON. */
  async monitor<T = Record<string, unknown>>(endpoint: string): Promise<T> {
    const response = await fetch(`${this.monitorUrl}/${endpoint.replace(/^\//, "")}`);
    if (!response.ok) throw new Error(`GET /${endpoint}: HTTP ${response.status}`);
    return (await response.json()) as T;
  }

  /** SIGTERM (SIGKILL after `graceMs`), then removes the temp dir. Idempotent. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      await terminate(this.#child, this.#watcher, { graceMs, what: `nats-server ${this.pid}` });
    } finally {
      this.#frozen = false;
      this.#unregisterCleanup();
      await rm(this.dir, { recursive: true, force: true });
    }
  }

  /** Simulates a crash: SIGKILL and wait for the exit. The temp dir stays for restart(). */
  async kill(): Promise<void> {
    await terminate(this.#child, this.#watcher, {
      signal: "SIGKILL",
      what: `nats-server ${this.pid}`,
    });
    this.#frozen = false;
  }

  /**
   * Starts the server again on the same client, monitoring and route ports (stopping it
   * first if it still runs), and resolves once it listens again.
   */
  async restart(): Promise<void> {
    if (this.#stopped) throw new Error("restart() after stop(): the server's dir is gone");
    if (this.running) {
      await terminate(this.#child, this.#watcher, { what: `nats-server ${this.pid}` });
    }
    this.#frozen = false;
    this.#log.push(`--- testkit: restarting on port ${this.port} ---`, "testkit");
    const launched = await this.#relaunch();
    this.#child = launched.child;
    this.#watcher = launched.watcher;
  }

  /** SIGSTOP: the process stays alive and keeps its sockets, but answers nothing. */
  freeze(): void {
    this.#assertRunning("freeze");
    signalQuietly(this.#child, "SIGSTOP");
    this.#frozen = true;
  }

  /** SIGCONT after freeze(). */
  thaw(): void {
    this.#assertRunning("thaw");
    signalQuietly(this.#child, "SIGCONT");
    this.#frozen = false;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #relaunch() {
    // A just-freed port can in principle be grabbed by another process; the server then
    // exits with "address already in use". Retry that case (only) until the deadline.
    const timeoutMs = this.#options.startTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await launchNatsServer({
          binary: this.binary,
          dir: this.dir,
          config: pinClusterListen(baseConfig(this.dir, this.#options), this.clusterPort),
          port: this.port,
          monitorPort: this.monitorPort,
          args: this.#options.args ?? [],
          debug: this.#options.debug ?? false,
          log: this.#log,
          timeoutMs,
        });
      } catch (err) {
        if (!/address already in use/i.test(String(err)) || Date.now() >= deadline) throw err;
        await delay(100);
      }
    }
  }

  #assertRunning(action: string): void {
    if (!this.running) throw new Error(`cannot ${action}: nats-server is not running`);
  }
}

function baseConfig(dir: string, options: NatsServerOptions): NatsConfig {
  const jetstream: NatsConfig | undefined = options.jetstream
    ? { jetstream: { store_dir: join(dir, "jetstream") } }
    : undefined;
  return mergeNatsConfig(jetstream, options.config);
}

/** Replaces a dynamic (`-1`) route listen port with the one the first start got. */
function pinClusterListen(config: NatsConfig, clusterPort: number | undefined): NatsConfig {
  const cluster = config["cluster"];
  if (clusterPort === undefined || cluster === undefined || typeof cluster !== "object") {
    return config;
  }
  const { port: _port, host: _host, listen: _listen, ...rest } = cluster as NatsConfig;
  return { ...config, cluster: { ...rest, listen: `${LOOPBACK}:${clusterPort}` } };
}

// NodeProcess: a Node script as a separate OS process for tests: start it, wait for a line of its
// output, crash (SIGKILL) or freeze (SIGSTOP) it.
import "./dispose-polyfill.js";
import { type ChildProcess, spawn } from "node:child_process";
import type { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { type ExitStatus, ExitWatcher, signalQuietly, terminate } from "./child-exit.js";
import { ProcessExitedError, ProcessStartError, TimeoutError } from "./errors.js";
import { registerExitCleanup } from "./exit-cleanup.js";
import { LineBuffer } from "./line-buffer.js";

export type { ExitStatus } from "./child-exit.js";

export type LinePattern = string | RegExp;

export interface NodeProcessOptions {
  /** The script to run with this Node binary (path or file: URL). */
  script: string | URL;
  args?: readonly string[];
  /** Merged over process.env. */
  env?: NodeJS.ProcessEnv;
  /** Flags for node itself, e.g. ["--import", "tsx"]. */
  nodeArgs?: readonly string[];
  cwd?: string;
  /**
   * start() resolves once a stdout line matches (a string matches a line containing it).
   * Without it, start() resolves as soon as the process has spawned.
   */
  readyLine?: LinePattern;
  /** Deadline for readyLine (default 10s). */
  readyTimeoutMs?: number;
  /** How many output lines are kept (default 10,000). */
  maxLines?: number;
}

function matcher(pattern: LinePattern): (line: string) => boolean {
  if (typeof pattern === "string") return (line) => line.includes(pattern);
  // A /g or /y regexp carries lastIndex between test() calls; matching must not.
  const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
  return (line) => re.test(line);
}

/**
 * A Node script running as a separate OS process, for tests that need real process
 * boundaries: crash it (SIGKILL), freeze it (SIGSTOP) and watch its output.
 */
export class NodeProcess {
  readonly #child: ChildProcess;
  readonly #watcher: ExitWatcher;
  readonly #log: LineBuffer;
  readonly #description: string;
  #frozen = false;

  private constructor(child: ChildProcess, log: LineBuffer, description: string) {
    this.#child = child;
    this.#watcher = new ExitWatcher(child);
    this.#log = log;
    this.#description = description;
    const unregister = registerExitCleanup(() => signalQuietly(child, "SIGKILL"));
    void this.#watcher.exited.then(unregister);
  }

  static async start(options: NodeProcessOptions): Promise<NodeProcess> {
    const script = options.script instanceof URL ? fileURLToPath(options.script) : options.script;
    const log = new LineBuffer(options.maxLines ?? 10_000);
    const child = spawn(
      process.execPath,
      [...(options.nodeArgs ?? []), script, ...(options.args ?? [])],
      {
        env: { ...process.env, ...options.env },
        stdio: ["pipe", "pipe", "pipe"],
        ...(options.cwd !== undefined && { cwd: options.cwd }),
      },
    );
    const proc = new NodeProcess(child, log, `node ${script}`);
    // Attach before any await, so not a single early line is missed.
    log.attach(child.stdout!, "stdout");
    log.attach(child.stderr!, "stderr");

    try {
      if (options.readyLine === undefined) {
        await new Promise<void>((resolve, reject) => {
          child.once("spawn", resolve);
          child.once("error", reject);
        });
      } else {
        await proc.#waitFor(
          matcher(options.readyLine),
          "stdout",
          options.readyTimeoutMs ?? 10_000,
          `ready line ${String(options.readyLine)}`,
        );
      }
    } catch (err) {
      await proc.kill();
      const reason = String((err as Error).message).split("\n")[0];
      throw new ProcessStartError(
        `${proc.#description} failed to start: ${reason}`,
        proc.output(),
        {
          cause: err,
        },
      );
    }
    return proc;
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** The child's stdin, for scripts driven by input. */
  get stdin(): Writable {
    return this.#child.stdin!;
  }

  get running(): boolean {
    return this.#watcher.status === undefined;
  }

  /** Exit status once exited, else undefined. */
  get exitStatus(): ExitStatus | undefined {
    return this.#watcher.status;
  }

  /** All collected lines, stdout and stderr interleaved in arrival order. */
  get lines(): string[] {
    return this.#log.lines();
  }

  get stdoutLines(): string[] {
    return this.#log.lines("stdout");
  }

  get stderrLines(): string[] {
    return this.#log.lines("stderr");
  }

  /** The collected output as one string. */
  output(): string {
    return this.#log.tail();
  }

  /**
   * Resolves with the first line (stdout or stderr), already seen or future, that matches;
   * rejects on timeout or when the process ends without printing one.
   */
  waitForLine(pattern: LinePattern, timeoutMs = 10_000): Promise<string> {
    return this.#waitFor(matcher(pattern), undefined, timeoutMs, `line ${String(pattern)}`);
  }

  /** Resolves with the exit status (immediately if already exited). */
  waitForExit(timeoutMs = 10_000): Promise<ExitStatus> {
    return this.#watcher.wait(timeoutMs, `${this.#description} (pid ${this.pid}) to exit`);
  }

  /**
   * Sends `signal` and waits for the exit. Anything gentler than SIGKILL that the script
   * survives for `graceMs` is followed by SIGKILL, so kill() always ends the process.
   */
  async kill(signal: NodeJS.Signals = "SIGKILL", graceMs = 5_000): Promise<ExitStatus> {
    const status = await terminate(this.#child, this.#watcher, {
      signal,
      graceMs,
      what: `${this.#description} (pid ${this.pid})`,
    });
    this.#frozen = false;
    return status;
  }

  /** SIGSTOP: the process keeps its resources but runs no code until thaw(). */
  freeze(): void {
    if (!this.running) throw new Error("cannot freeze: process has exited");
    signalQuietly(this.#child, "SIGSTOP");
    this.#frozen = true;
  }

  thaw(): void {
    if (!this.running) throw new Error("cannot thaw: process has exited");
    signalQuietly(this.#child, "SIGCONT");
    this.#frozen = false;
  }

  get frozen(): boolean {
    return this.#frozen && this.running;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.running) await this.kill();
  }

  #waitFor(
    matches: (line: string) => boolean,
    stream: string | undefined,
    timeoutMs: number,
    what: string,
  ): Promise<string> {
    const seen = this.#log.lines(stream).find(matches);
    if (seen !== undefined) return Promise.resolve(seen);

    return new Promise<string>((resolve, reject) => {
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        off();
        clearTimeout(timer);
        fn();
      };
      const off = this.#log.onLine((line, from) => {
        if ((stream === undefined || from === stream) && matches(line)) {
          finish(() => resolve(line));
        }
      });
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new TimeoutError(
                `timed out after ${timeoutMs}ms waiting for ${what} from ${this.#description}` +
                  `\n--- output ---\n${this.output()}`,
              ),
            ),
          ),
        timeoutMs,
      );
      // 'close' comes after the last line was delivered, so no match can still be pending.
      void this.#watcher
        .settled()
        .then((status) =>
          finish(() =>
            reject(
              new ProcessExitedError(
                `${this.#description} exited (code ${status.code}, signal ${status.signal}) ` +
                  `before printing ${what}`,
                this.output(),
              ),
            ),
          ),
        );
    });
  }
}

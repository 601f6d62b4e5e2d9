// The built `tailwire` binary as real processes, for the CLI's tests: one place for where the
// binary is, the environment it runs in, and stopping whatever a test file started.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { NodeProcess } from "@tailwire/testkit";

export const CLI = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));
const REPO = fileURLToPath(new URL("../../../../", import.meta.url));

/** No colour, no NATS_URL from the developer's shell: each test says what it runs against. */
export const CLI_ENV: NodeJS.ProcessEnv = {
  NO_COLOR: "1",
  FORCE_COLOR: undefined,
  NATS_URL: undefined,
};

/** Builds the CLI (and what it depends on) when a test runs before any build. */
export function ensureCliBuilt(): void {
  if (existsSync(CLI)) return;
  execFileSync("npx", ["-y", "pnpm@10", "-r", "--filter", "@tailwire/cli...", "build"], {
    cwd: REPO,
    stdio: "inherit",
  });
}

/** The CLI processes of one test file: started on demand, all stopped at the end. */
export class CliProcesses {
  readonly #started: NodeProcess[] = [];

  async start(
    args: string[],
    options: { readyLine?: string | RegExp; env?: NodeJS.ProcessEnv } = {},
  ): Promise<NodeProcess> {
    const proc = await NodeProcess.start({
      script: CLI,
      args,
      env: { ...CLI_ENV, ...options.env },
      ...(options.readyLine === undefined ? {} : { readyLine: options.readyLine }),
    });
    this.#started.push(proc);
    return proc;
  }

  /** Runs a command to its end: its exit status and output lines. */
  async run(
    args: string[],
    timeoutMs = 60_000,
  ): Promise<{ code: number | null; stdout: string[]; stderr: string[] }> {
    const proc = await this.start(args);
    const status = await proc.waitForExit(timeoutMs);
    return { code: status.code, stdout: proc.stdoutLines, stderr: proc.stderrLines };
  }

  /** Stops every process still running: SIGTERM, then SIGKILL after 3 s. */
  async stopAll(): Promise<void> {
    await Promise.allSettled(
      this.#started.filter((p) => p.running).map((p) => p.kill("SIGTERM", 3000)),
    );
  }
}

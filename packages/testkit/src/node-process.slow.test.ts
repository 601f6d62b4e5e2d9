import { afterEach, describe, expect, it, vi } from "vitest";
import { ProcessStartError, TimeoutError } from "./errors.js";
import { NodeProcess } from "./node-process.js";
import { processExists, processState } from "./test-helpers/process.js";

const ticker = new URL("./test-fixtures/ticker.mjs", import.meta.url);
const exitEarly = new URL("./test-fixtures/exit-early.mjs", import.meta.url);
const printEnv = new URL("./test-fixtures/print-env.mjs", import.meta.url);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function startTicker(label = "tick") {
  const proc = await NodeProcess.start({ script: ticker, args: [label], readyLine: /^ready / });
  cleanups.push(() => proc.kill());
  return proc;
}

/** Highest counter the ticker printed so far. */
function lastTick(proc: NodeProcess): number {
  const ticks = proc.stdoutLines.map((l) => /^tick (\d+)$/.exec(l)?.[1]).filter(Boolean);
  return Math.max(0, ...ticks.map(Number));
}

describe("NodeProcess", () => {
  it("waits for the ready line and collects stdout and stderr", async () => {
    const proc = await startTicker();
    expect(proc.stdoutLines[0]).toBe(`ready pid=${proc.pid}`);
    expect(proc.running).toBe(true);

    expect(await proc.waitForLine("tick 3")).toBe("tick 3");
    // Already-seen lines resolve too, from either stream.
    expect(await proc.waitForLine(/^ready/, 10)).toBe(`ready pid=${proc.pid}`);
    expect(await proc.waitForLine(/stderr/, 10)).toBe("ticker: this line goes to stderr");
    expect(proc.stderrLines).toEqual(["ticker: this line goes to stderr"]);
    expect(proc.lines).toEqual(expect.arrayContaining(["tick 1", "tick 2", "tick 3"]));
    expect(proc.output()).toContain("tick 2\ntick 3");
  });

  it("passes env to the script", async () => {
    const proc = await NodeProcess.start({
      script: printEnv,
      args: ["TESTKIT_VALUE"],
      env: { TESTKIT_VALUE: "42" },
      readyLine: "TESTKIT_VALUE=",
    });
    expect(proc.stdoutLines).toEqual(["TESTKIT_VALUE=42"]);
    expect(await proc.waitForExit()).toEqual({ code: 0, signal: null });
  });

  it("kill() reports SIGKILL as the exit status and the pid is gone", async () => {
    const proc = await startTicker();
    const status = await proc.kill();
    expect(status).toEqual({ code: null, signal: "SIGKILL" });
    expect(await proc.waitForExit(10)).toEqual(status);
    expect(proc.exitStatus).toEqual(status);
    expect(processExists(proc.pid)).toBe(false);
  });

  it("kill('SIGTERM') delivers that signal", async () => {
    const proc = await startTicker();
    expect(await proc.kill("SIGTERM")).toEqual({ code: null, signal: "SIGTERM" });
  });

  it("freeze() stops output until thaw()", async () => {
    const proc = await startTicker();
    await proc.waitForLine("tick 2");
    proc.freeze();
    await vi.waitFor(() => expect(processState(proc.pid)).toBe("T"));
    // Lines written just before SIGSTOP may still sit in the pipe; three further ticks
    // can only come from a running process.
    const frozenAt = lastTick(proc);
    await expect(proc.waitForLine(`tick ${frozenAt + 3}`, 300)).rejects.toThrow(TimeoutError);

    proc.thaw();
    expect(await proc.waitForLine(`tick ${frozenAt + 3}`, 5_000)).toBe(`tick ${frozenAt + 3}`);
  });

  it("rejects start with the output when the script exits before its ready line", async () => {
    const error = await NodeProcess.start({
      script: exitEarly,
      args: ["7"],
      readyLine: "never printed",
      readyTimeoutMs: 10_000,
    }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ProcessStartError);
    expect((error as Error).message).toMatch(/exited \(code 7/);
    expect((error as ProcessStartError).output).toContain("exit-early: giving up before ready");
  });

  it("rejects start after readyTimeoutMs and kills the process", async () => {
    const error = await NodeProcess.start({
      script: ticker,
      readyLine: "never printed",
      // Long enough for a child Node to start and print its pid on a loaded 2-core machine
      // (200 ms was not: the pid line was sometimes missing from the output).
      readyTimeoutMs: 2_000,
    }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ProcessStartError);
    expect((error as Error).message).toMatch(/timed out after 2000ms/);
    const pid = Number(/ready pid=(\d+)/.exec((error as ProcessStartError).output)?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(processExists(pid)).toBe(false);
  });

  it("waitForLine rejects when the process exits without printing the line", async () => {
    const proc = await NodeProcess.start({ script: exitEarly, args: ["0"] });
    await expect(proc.waitForLine("never printed")).rejects.toThrow(/exited \(code 0/);
  });

  it("await using kills a still-running process", async () => {
    let pid = 0;
    {
      await using proc = await startTicker();
      pid = proc.pid;
    }
    expect(processExists(pid)).toBe(false);
  });
});

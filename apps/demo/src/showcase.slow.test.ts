/**
 * The showcase (`pnpm demo`), run as a real process against the built `tailwire` CLI: it runs to
 * completion and leaves no process behind. Waits are events (an exit); nothing sleeps.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { NodeProcess } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const SHOWCASE = fileURLToPath(new URL("../dist/showcase.js", import.meta.url));
const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const PLAIN_ENV: NodeJS.ProcessEnv = { NO_COLOR: "1", FORCE_COLOR: undefined };
const started: NodeProcess[] = [];

beforeAll(() => {
  if (!existsSync(SHOWCASE)) {
    execFileSync("npx", ["-y", "pnpm@10", "-r", "--filter", "@tailwire/demo...", "build"], {
      cwd: REPO,
      stdio: "inherit",
    });
  }
}, 300_000);

afterAll(async () => {
  for (const proc of started) if (proc.running) await proc.kill();
});

describe("the showcase", () => {
  it("runs to completion in under a minute and leaves no process behind", async () => {
    const t0 = Date.now();
    const showcase = await NodeProcess.start({ script: SHOWCASE, env: PLAIN_ENV });
    started.push(showcase);
    // Every process the showcase starts, children and grandchildren, as seen while it runs.
    const seen = new Map<number, string>();
    const watch = setInterval(() => {
      for (const [pid, startTime] of descendants(showcase.pid)) seen.set(pid, startTime);
    }, 50);
    let status: Awaited<ReturnType<NodeProcess["waitForExit"]>>;
    try {
      status = await showcase.waitForExit(60_000);
    } finally {
      clearInterval(watch);
    }
    const output = showcase.stdoutLines.join("\n");
    expect(status, output + showcase.stderrLines.join("\n")).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(output).toContain("heartbeat every 250 ms, timeout 150 ms");
    expect(output).toMatch(/End frame: job-a exited with code 0/);
    expect(output).toMatch(/cause cancelled/);
    expect(output).toMatch(/stopped sending/);
    expect(output).toMatch(/COMPUTE_NODE_LOST/);
    expect(output).toMatch(/cause requester_lost/);
    expect(output).toMatch(/every process the showcase started has exited/);
    // nats-server, 3 compute nodes, 3 exec + 3 jobs, 1 requester.
    expect(seen.size).toBeGreaterThanOrEqual(11);
    const alive = [...seen].filter(([pid, startTime]) => processStartTime(pid) === startTime);
    expect(alive).toEqual([]);
  }, 70_000);
});

/** Field 22 of /proc/PID/stat: the start time, to tell a pid from its reuse. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19];
  } catch {
    return undefined;
  }
}

function descendants(root: number): Map<number, string> {
  const children = new Map<number, number[]>();
  const starts = new Map<number, string>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const pid = Number(name);
      const ppid = Number(fields[1]);
      starts.set(pid, fields[19]!);
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch {
      // The process ended while we looked.
    }
  }
  const found = new Map<number, string>();
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    found.set(pid, starts.get(pid)!);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

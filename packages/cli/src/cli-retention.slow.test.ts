/**
 * Disk-bounded logs through the built CLI: a job printing 120 MB under `tailwire exec
 * --max-log-bytes 10MB` leaves about 10 MB on disk, and `tailwire logs --json` prints the removal
 * notice first, then the newest lines contiguous up to the last; the compute node's stats line
 * reports the store's usage. Real processes, a real nats-server.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRetentionAge, parseSize } from "./sizes.js";
import { CliProcesses, ensureCliBuilt } from "./test-helpers/cli-processes.js";

let nats: NatsServer;
let dir: string;
const cli = new CliProcesses();
const start = (args: string[], readyLine?: string) =>
  cli.start(args, readyLine === undefined ? {} : { readyLine });

beforeAll(async () => {
  ensureCliBuilt();
  nats = await NatsServer.start();
  dir = await mkdtemp(join(tmpdir(), "tailwire-cli-retention-"));
}, 180_000);

afterAll(async () => {
  await cli.stopAll();
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function diskBytes(id: string): number {
  let total = statSync(join(dir, `${id}.log`)).size;
  const segDir = join(dir, `${id}.seg`);
  if (existsSync(segDir)) {
    for (const name of readdirSync(segDir)) total += statSync(join(segDir, name)).size;
  }
  return total;
}

describe("tailwire exec --max-log-bytes, compute --max-store-bytes, logs --json", () => {
  it("a 120 MB job under a 10 MB cap: ~10 MB on disk; logs --json gives the notice first, then the newest lines contiguous to the last", async () => {
    const LINES = 120_000;
    // 1000-byte lines (with their newline): 120 MB of output, written as fast as the pipe takes it.
    const job = `
      const pad = "x".repeat(989); let i = 0;
      const go = () => { while (i < ${LINES}) { i++;
        if (!process.stdout.write(String(i).padStart(10, "0") + " " + pad + "\\n")) return process.stdout.once("drain", go); } };
      go();`;
    const exec = await start([
      "exec",
      "--data-dir",
      dir,
      "--execution-id",
      "big-job",
      "--max-log-bytes",
      "10MB",
      "--",
      process.execPath,
      "-e",
      job,
    ]);
    expect((await exec.waitForExit(120_000)).code).toBe(0);
    const cap = 10_000_000;
    // The stated overhead: each segment may pass its size by one line (4 segments, ~1.1 KB each).
    const onDisk = diskBytes("big-job");
    expect(onDisk).toBeLessThanOrEqual(cap + 4 * 1200);
    expect(onDisk).toBeGreaterThan(cap / 2);

    const compute = await start(
      [
        "compute",
        "--node-id",
        "ret",
        "--data-dir",
        dir,
        "--nats",
        nats.url,
        "--max-store-bytes",
        "1GiB",
        "--max-log-age",
        "7d",
      ],
      "compute node ret ready",
    );
    const logs = await start(["logs", "big-job", "--node", "ret", "--nats", nats.url, "--json"]);
    expect((await logs.waitForExit(60_000)).code).toBe(0);
    const out = logs.stdoutLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const notice = out[0] as { notice: string; reason: string; fromSeq: number; toSeq: number };
    expect(notice).toMatchObject({ notice: "removed", reason: "retention", fromSeq: 1 });
    // The last record is the end record (issue 17): how the execution ended, not a line.
    const end = out.at(-1);
    expect(end).toMatchObject({ type: "end", executionId: "big-job", exitCode: 0, lastSeq: LINES });
    const entries = out.slice(1, -1) as { seq: number; line: string }[];
    expect(entries[0]?.seq).toBe(notice.toSeq + 1);
    expect(entries.every((e, i) => e.seq === notice.toSeq + 1 + i)).toBe(true);
    expect(entries.at(-1)?.seq).toBe(LINES);
    expect(entries.at(-1)?.line.startsWith(String(LINES).padStart(10, "0"))).toBe(true);

    // Without --json, the notice is a line on stderr, never among the job's own lines.
    const text = await start([
      "logs",
      "big-job",
      "--node",
      "ret",
      "--nats",
      nats.url,
      "--tail",
      "5000",
    ]);
    expect((await text.waitForExit(60_000)).code).toBe(0);
    expect(text.stderrLines[0]).toMatch(
      /^tailwire: lines \d+\.\.\d+ \(\d+\) were removed by the compute node's log retention$/,
    );
    expect(text.stdoutLines.at(-1)?.startsWith(String(LINES).padStart(10, "0"))).toBe(true);

    compute.stdin.write("stats usage\n");
    const line = await compute.waitForLine(/^stats usage /, 10_000);
    const stats = JSON.parse(line.slice(line.indexOf("{"))) as {
      store: { totalBytes: number; executions: Record<string, number> };
    };
    expect(stats.store.executions["big-job"]).toBe(diskBytes("big-job"));
    expect(stats.store.totalBytes).toBe(diskBytes("big-job"));
  }, 180_000);

  it("rejects sizes and durations it cannot read, with exit 2", async () => {
    const bad = await start([
      "exec",
      "--data-dir",
      dir,
      "--execution-id",
      "x",
      "--max-log-bytes",
      "10 parsecs",
      "--",
      "true",
    ]);
    expect((await bad.waitForExit(15_000)).code).toBe(2);
    expect(bad.stderrLines.join("\n")).toMatch(/--max-log-bytes/);
  });
});

describe("size and duration arguments", () => {
  it("reads SI and IEC sizes, docker's k/m/g, plain bytes and unlimited", () => {
    expect(parseSize("10MB")).toBe(10_000_000);
    expect(parseSize("1GiB")).toBe(1024 ** 3);
    expect(parseSize("64mib")).toBe(64 * 1024 ** 2);
    expect(parseSize("512k")).toBe(512 * 1024);
    expect(parseSize("1.5GB")).toBe(1_500_000_000);
    expect(parseSize("4096")).toBe(4096);
    expect(parseSize("unlimited")).toBe(Number.POSITIVE_INFINITY);
    for (const bad of ["", "MB", "10 parsecs", "-1MB", "1e9", "10XB"]) {
      expect(() => parseSize(bad)).toThrow(/expected a size/);
    }
  });

  it("reads retention ages", () => {
    expect(parseRetentionAge("7d")).toBe(7 * 86_400_000);
    expect(parseRetentionAge("1h30m")).toBe(5_400_000);
    expect(parseRetentionAge("none")).toBe(Number.POSITIVE_INFINITY);
    for (const bad of ["", "7", "0s", "soon"]) {
      expect(() => parseRetentionAge(bad)).toThrow(/expected a duration/);
    }
  });
});

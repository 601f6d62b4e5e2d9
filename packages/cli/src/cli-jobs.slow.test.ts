/**
 * `tailwire logs` without --node and `tailwire logs --job` against a fleet of real processes:
 * three `tailwire compute` nodes, executions captured by `tailwire exec --job-id`, one compute
 * node SIGKILLed in the middle of a job's follow.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CliProcesses, ensureCliBuilt } from "./test-helpers/cli-processes.js";

const FAST = ["--heartbeat-interval-ms", "200"];

let nats: NatsServer;
let dir: string;
const cli = new CliProcesses();
const start = (args: string[], readyLine?: string) =>
  cli.start(args, readyLine === undefined ? {} : { readyLine });

const computeNode = (node: string) =>
  start(
    ["compute", "--node-id", node, "--data-dir", join(dir, node), "--nats", nats.url],
    `compute node ${node} ready`,
  );

/** `count` lines `<id> <i>` every `everyMs`, then exit with `code`; a job of its own process. */
const job = (id: string, count: number, everyMs: number, code: number) =>
  `let i = 0; const t = setInterval(() => { console.log("${id} " + ++i); if (i === ${count}) { clearInterval(t); process.exitCode = ${code}; } }, ${everyMs});`;

const exec = (node: string, executionId: string, jobId: string, script: string) =>
  start(
    [
      ...["exec", "--data-dir", join(dir, node), "--execution-id", executionId],
      ...["--job-id", jobId, "--", process.execPath, "-e", script],
    ],
    `execution ${executionId} started`,
  );

beforeAll(async () => {
  ensureCliBuilt();
  nats = await NatsServer.start();
  dir = await mkdtemp(join(tmpdir(), "tailwire-cli-jobs-"));
});

afterAll(async () => {
  await cli.stopAll();
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("tailwire logs without --node, and --job", () => {
  it("finds an execution's compute node by itself; a job's executions merge with --prefix", async () => {
    await Promise.all(["n1", "n2"].map(computeNode));
    const a = await exec("n1", "done-a", "job-done", job("a", 5, 10, 0));
    const b = await exec("n2", "done-b", "job-done", job("b", 5, 10, 3));
    expect((await a.waitForExit(10_000)).code).toBe(0);
    expect((await b.waitForExit(10_000)).code).toBe(3);

    const one = await start(["logs", "done-a", "--nats", nats.url]);
    expect(await one.waitForExit(15_000)).toEqual({ code: 0, signal: null });
    expect(one.stdoutLines).toEqual(["a 1", "a 2", "a 3", "a 4", "a 5"]);

    const both = await start(["logs", "--job", "job-done", "--prefix", "--nats", nats.url]);
    expect(await both.waitForExit(15_000)).toEqual({ code: 0, signal: null });
    const lines = both.stdoutLines;
    expect(lines.filter((l) => l.startsWith("[n1/done-a] "))).toEqual(
      [1, 2, 3, 4, 5].map((i) => `[n1/done-a] a ${i}`),
    );
    expect(lines.filter((l) => l.startsWith("[n2/done-b] "))).toEqual(
      [1, 2, 3, 4, 5].map((i) => `[n2/done-b] b ${i}`),
    );
    expect(both.stderrLines).toContain("tailwire logs: execution done-b on n2 exited with code 3");

    const nobody = await start(["logs", "--job", "job-nowhere", "--nats", nats.url]);
    expect((await nobody.waitForExit(15_000)).code).toBe(3); // EXECUTION_NOT_FOUND
  });

  it("a job over three nodes, one SIGKILLed mid-follow: its execution fails, a retry on another node joins, the others complete with every line once", async () => {
    const nodes = await Promise.all(["k1", "k2", "k3"].map(computeNode));
    // 60 lines over about 3 s each; k2's node dies after the follow has seen lines from it.
    for (const [i, node] of ["k1", "k2", "k3"].entries())
      await exec(node, `run-${i + 1}`, "job-kill", job(`r${i + 1}`, 60, 50, 0));
    const follow = await start([
      ...["logs", "--job", "job-kill", "-f", "--json", "--nats", nats.url],
      ...FAST,
    ]);
    await follow.waitForLine(/"executionId":"run-2".*"line":"r2 5"/, 15_000);
    await nodes[1]!.kill("SIGKILL");
    // The orchestrator retries run-2 on k3: the follow picks it up without being told.
    await follow.waitForLine(/"type":"ended","executionId":"run-2"/, 15_000);
    await exec("k3", "run-2-retry", "job-kill", job("retry", 20, 20, 0));
    const status = await follow.waitForExit(30_000);
    expect(status.code).toBe(5); // COMPUTE_NODE_LOST, for run-2 only
    const records = follow.stdoutLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const id of ["run-1", "run-3"]) {
      const seqs = records.filter((r) => r.executionId === id && "seq" in r).map((r) => r.seq);
      expect(seqs).toEqual(Array.from({ length: 60 }, (_, k) => k + 1));
      expect(records).toContainEqual(
        expect.objectContaining({ type: "ended", executionId: id, exitCode: 0 }),
      );
    }
    const retry = records.filter((r) => r.executionId === "run-2-retry" && "seq" in r);
    expect(retry.map((r) => r.line)).toEqual(
      Array.from({ length: 20 }, (_, k) => `retry ${k + 1}`),
    );
    expect(records).toContainEqual(
      expect.objectContaining({ type: "ended", executionId: "run-2-retry", exitCode: 0 }),
    );
    const ended2 = records.find((r) => r.type === "ended" && r.executionId === "run-2");
    expect(ended2).toMatchObject({ error: { code: "COMPUTE_NODE_LOST" } });
    // What run-2 delivered before its node died came once each, in order.
    const seqs2 = records.filter((r) => r.executionId === "run-2" && "seq" in r).map((r) => r.seq);
    expect(seqs2).toEqual(Array.from({ length: seqs2.length }, (_, k) => k + 1));
  });
});

// The README examples of @tailwire/compute and @tailwire/requester, run against a real
// nats-server so they cannot rot: the compute example runs a job and serves its log, the
// requester example follows it (both through their exported `main`).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main as serveLogs } from "../../../../packages/compute/examples/serve-logs.js";
import { main as followLogs } from "../../../../packages/requester/examples/follow-logs.js";

let server: NatsServer;
let logDir: string;
beforeAll(async () => {
  server = await NatsServer.start();
  logDir = await mkdtemp(join(tmpdir(), "tailwire-examples-"));
});
afterAll(async () => {
  await server?.stop();
  if (logDir) await rm(logDir, { recursive: true, force: true });
});

// The job: a few lines on both streams, spread over time so the requester follows it live.
const JOB = `
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (let i = 1; i <= 3; i++) { console.log("step " + i); await sleep(50); }
console.error("warning: almost done");
process.exitCode = 3;
`;

describe("README examples", () => {
  it("compute serve-logs and requester follow-logs stream a running job end to end", async () => {
    // The requester starts first: "no responders" is retryable, the example retries until the
    // compute node is up, then follows the job to its end.
    const lines: string[] = [];
    const followed = followLogs({
      servers: server.url,
      nodeId: "example-requester",
      computeNodeId: "example-compute",
      executionId: "example-job",
      onEntry: (entry) => lines.push(`${entry.seq} ${entry.stream} ${entry.line}`),
    });
    const node = await serveLogs({
      servers: server.url,
      nodeId: "example-compute",
      logDir,
      job: {
        executionId: "example-job",
        command: process.execPath,
        args: ["--input-type=module", "-e", JOB],
      },
    });
    try {
      const result = await followed;
      expect(lines).toEqual([
        "1 stdout step 1",
        "2 stdout step 2",
        "3 stdout step 3",
        "4 stderr warning: almost done",
      ]);
      expect(result).toEqual({ exitCode: 3, lastSeq: 4 });
      expect((await node.job).exitCode).toBe(3);
      expect(node.server.stats().streamsEnded.completed).toBe(1);

      // A finished job's log stays available; a wrong id is a typed, non-retryable error.
      const again: string[] = [];
      await followLogs({
        servers: server.url,
        nodeId: "example-requester",
        computeNodeId: "example-compute",
        executionId: "example-job",
        onEntry: (entry) => again.push(`${entry.seq} ${entry.stream} ${entry.line}`),
      });
      expect(again).toEqual(lines);
      await expect(
        followLogs({
          servers: server.url,
          nodeId: "example-requester",
          computeNodeId: "example-compute",
          executionId: "no-such-job",
        }),
      ).rejects.toMatchObject({ code: "EXECUTION_NOT_FOUND", retryable: false });
    } finally {
      await node.stop();
    }
  });
});

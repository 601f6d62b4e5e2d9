// Requester mode against our own LogStreamClient (a real nats-server): the runner plays the
// compute node, the client reads every kit execution the way an application would.
import { connect } from "@nats-io/transport-node";
import { isRemovedNotice, LogStreamClient } from "@tailwire/requester";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatReport, REQUESTER_EXECUTIONS, readSeed, runRequesterConformance } from "./index.js";
import { EXPECTED_REQUESTER_FAILURES, expectedAmong } from "./test-helpers/expected-failures.js";

let nats: NatsServer;
beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(async () => {
  await nats?.stop();
});

describe("requester mode", () => {
  it("passes our LogStreamClient on every rule it already satisfies", async () => {
    const runnerConnection = await connect({ servers: nats.url });
    const clientConnection = await connect({ servers: nats.url });
    const client = new LogStreamClient({
      connection: clientConnection,
      nodeId: "requester-under-test",
      heartbeatIntervalMs: 200,
      windowBytes: 4096,
      unlistedGraceMs: 200,
    });
    const X = REQUESTER_EXECUTIONS;
    const run = runRequesterConformance({
      connection: runnerConnection,
      nodeId: "played-node",
      timeoutMs: 40_000,
      reconcileGraceMs: 200,
    });
    await runnerConnection.flush();
    const read = async (executionId: string, stopAfter?: number) => {
      const stream = client.streamLogs({
        nodeId: "played-node",
        executionId,
        follow: executionId === X.cancel,
      });
      const lines: string[] = [];
      for await (const entry of stream) {
        if (isRemovedNotice(entry)) throw new Error("a seed stream gave a removal notice");
        lines.push(entry.line);
        if (stopAfter !== undefined && lines.length >= stopAfter) break;
      }
      return lines;
    };
    try {
      const results = await Promise.all([
        read(X.basic),
        read(X.longLine),
        read(X.credit),
        read(X.gap),
        read(X.duplicate),
        read(X.heartbeat),
        read(X.reconcile),
        read(X.cancel, 5),
        // Broken by every heartbeat: the client gives up in the end (how, depends on its budget).
        read(X.resumeStorm).then(
          () => ["ended without an error"],
          (error: { code?: string }) => [error.code ?? "no code"],
        ),
      ]);
      // What the runner cannot see: the consumer got every line once, split lines joined.
      const lines = (name: "basic" | "long-line" | "credit") =>
        readSeed(name).entries.map((e) => e.line);
      expect(results[0]).toEqual(lines("basic"));
      expect(results[1]).toEqual(lines("long-line"));
      expect(results[2]).toEqual(lines("credit"));
      for (const i of [3, 4, 5, 6]) expect(results[i]).toEqual(lines("basic"));
      expect(results[7]).toHaveLength(5);
      expect(results[8]![0]).toMatch(/^(RESUME_EXHAUSTED|COMPUTE_NODE_LOST|EXECUTION_NOT_FOUND)$/);
      const report = await run;
      console.log(formatReport(report));
      const failed = report.results.filter((r) => r.outcome === "FAIL").map((r) => r.id);
      expect(failed.sort()).toEqual([...EXPECTED_REQUESTER_FAILURES].sort());
    } finally {
      await client.close();
      await clientConnection.close();
      await runnerConnection.close();
    }
  }, 60_000);

  it("with a window of 1 KiB: frames of 512 bytes, the long line in hundreds of parts", async () => {
    const runnerConnection = await connect({ servers: nats.url });
    const clientConnection = await connect({ servers: nats.url });
    const client = new LogStreamClient({
      connection: clientConnection,
      nodeId: "small-window-requester",
      heartbeatIntervalMs: 1000,
      windowBytes: 1024,
    });
    const X = REQUESTER_EXECUTIONS;
    const run = runRequesterConformance({
      connection: runnerConnection,
      nodeId: "played-node-small",
      executions: [X.credit, X.longLine],
      timeoutMs: 30_000,
    });
    await runnerConnection.flush();
    try {
      const read = async (executionId: string) => {
        const lines: string[] = [];
        for await (const entry of client.streamLogs({ nodeId: "played-node-small", executionId })) {
          if (isRemovedNotice(entry)) throw new Error("a seed stream gave a removal notice");
          lines.push(entry.line);
        }
        return lines;
      };
      const [credit, long] = await Promise.all([read(X.credit), read(X.longLine)]);
      expect(credit).toEqual(readSeed("credit").entries.map((e) => e.line));
      expect(long).toEqual(readSeed("long-line").entries.map((e) => e.line));
      const report = await run;
      const byId = new Map(report.results.map((r) => [r.id, r]));
      expect(byId.get("R-CREDIT")?.outcome).toBe("PASS");
      expect(byId.get("R-CREDIT-PARTIAL")?.detail).toMatch(/through a window of 1024/);
      expect(byId.get("R-STREAM-COMPLETES")?.outcome).toBe("PASS");
      // heartbeatTimeoutMs 1000 with an interval of 1000: see EXPECTED_REQUESTER_FAILURES.
      const failed = report.results.filter((r) => r.outcome === "FAIL").map((r) => r.id);
      const notRun = (id: string) => byId.get(id)?.outcome === "N/A";
      expect(failed.sort()).toEqual(expectedAmong(EXPECTED_REQUESTER_FAILURES, notRun));
    } finally {
      await client.close();
      await clientConnection.close();
      await runnerConnection.close();
    }
  }, 60_000);
});

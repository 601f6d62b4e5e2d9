// Compute mode against our own LogStreamServer (a real nats-server): every rule it already
// meets passes, and exactly the expected failures (test-helpers/expected-failures.ts) fail.
import { connect } from "@nats-io/transport-node";
import { LogStreamServer, type LogStreamServerLimits, MemoryLogStore } from "@tailwire/compute";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONFORMANCE_LIMITS, formatReport, loadSeeds, runComputeConformance } from "./index.js";
import { EXPECTED_COMPUTE_FAILURES } from "./test-helpers/expected-failures.js";

let nats: NatsServer;
beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(async () => {
  await nats?.stop();
});

describe("compute mode", () => {
  it("passes our LogStreamServer on every rule it already satisfies", async () => {
    const serverConnection = await connect({ servers: nats.url });
    const store = new MemoryLogStore();
    await loadSeeds(store);
    const limits: LogStreamServerLimits = {
      maxStreams: CONFORMANCE_LIMITS.maxStreams,
      maxStreamsPerRequester: CONFORMANCE_LIMITS.maxStreamsPerRequester,
      maxTailLines: CONFORMANCE_LIMITS.maxTailLines,
      maxRequestsPerSecondPerRequester: CONFORMANCE_LIMITS.maxRequestsPerSecondPerRequester,
      maxRequestsPerSecond: CONFORMANCE_LIMITS.maxRequestsPerSecond,
    };
    const server = new LogStreamServer({
      connection: serverConnection,
      nodeId: "node-under-test",
      source: store,
      limits,
      heartbeat: { maxMissed: CONFORMANCE_LIMITS.maxMissedHeartbeats },
    });
    await server.start();
    const connection = await connect({ servers: nats.url });
    try {
      const report = await runComputeConformance({ connection, nodeId: "node-under-test" });
      console.log(formatReport(report));
      const failed = report.results.filter((r) => r.outcome === "FAIL").map((r) => r.id);
      expect(failed.sort()).toEqual([...EXPECTED_COMPUTE_FAILURES].sort());
    } finally {
      await server.close();
      await connection.close();
      await serverConnection.close();
    }
  }, 120_000);
});

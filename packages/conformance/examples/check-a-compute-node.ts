/**
 * Checks a compute node with the conformance kit: here our own LogStreamServer, holding the kit's
 * seed logs in a MemoryLogStore and running with the kit's limits. For another implementation,
 * start it with the seeds loaded instead and run `tailwire-conformance compute --node-id <id>`.
 *
 *   NATS_URL=nats://127.0.0.1:4222 node examples/check-a-compute-node.ts
 *
 * (Node 22.18+ runs TypeScript directly; on Node 20 use `npx tsx ...`.) The tests run `main`
 * against a real nats-server (src/readme-example.slow.test.ts).
 */
import { pathToFileURL } from "node:url";
import { connect } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import {
  CONFORMANCE_LIMITS,
  type ComputeScenario,
  formatReport,
  loadSeeds,
  runComputeConformance,
} from "@tailwire/conformance";

export async function main(
  servers: string,
  only?: ComputeScenario[],
): Promise<{ ok: boolean; text: string }> {
  // The node under test: the seeds in its store, the kit's limits in its options.
  const store = new MemoryLogStore();
  await loadSeeds(store);
  const nodeConnection = await connect({ servers });
  const server = new LogStreamServer({
    connection: nodeConnection,
    nodeId: "node-under-test",
    source: store,
    limits: {
      maxStreams: CONFORMANCE_LIMITS.maxStreams,
      maxStreamsPerRequester: CONFORMANCE_LIMITS.maxStreamsPerRequester,
      maxTailLines: CONFORMANCE_LIMITS.maxTailLines,
      maxRequestsPerSecondPerRequester: CONFORMANCE_LIMITS.maxRequestsPerSecondPerRequester,
    },
    heartbeat: { maxMissed: CONFORMANCE_LIMITS.maxMissedHeartbeats },
  });
  await server.start();

  // The kit, playing requesters on a connection of its own.
  const connection = await connect({ servers });
  try {
    const report = await runComputeConformance({
      connection,
      nodeId: "node-under-test",
      ...(only ? { only } : {}),
    });
    return { ok: report.ok, text: formatReport(report) }; // one line per rule
  } finally {
    await connection.close();
    await server.close();
    await nodeConnection.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { ok, text } = await main(process.env.NATS_URL ?? "nats://127.0.0.1:4222");
  console.log(text);
  process.exitCode = ok ? 0 : 1;
}

// A stream stalled on credit is visible, not silent: the compute node's heartbeat names the
// streams that have lines ready but wait for credit (creditWait), and both sides show it
// (LogStream.waitingForCredit, both stats()). An idle follow with no new lines is not waiting.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import { LogStreamClient } from "@tailwire/requester";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

let nats: NatsServer;
const connections: NatsConnection[] = [];
beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(async () => {
  for (const nc of connections) await nc.close().catch(() => undefined);
  await nats.stop();
});

const WAIT = { timeout: 10_000, interval: 20 };

describe("waiting for credit", () => {
  it("is reported for a stream whose consumer does not read, not for an idle one", async () => {
    const store = new MemoryLogStore();
    const [computeNc, requesterNc] = await Promise.all([
      connect({ servers: nats.url }),
      connect({ servers: nats.url }),
    ]);
    connections.push(computeNc, requesterNc);
    const server = new LogStreamServer({
      connection: computeNc,
      nodeId: "compute-1",
      source: store,
    });
    await server.start();
    const client = new LogStreamClient({
      connection: requesterNc,
      nodeId: "requester-1",
      heartbeatIntervalMs: 100,
      windowBytes: 4096,
    });
    await store.create("busy");
    await store.create("idle");
    const busy = client.streamLogs({ nodeId: "compute-1", executionId: "busy", follow: true });
    const idle = client.streamLogs({ nodeId: "compute-1", executionId: "idle", follow: true });
    await Promise.all([busy.accepted, idle.accepted]);
    // Far more than the 4 KiB window, and nobody reads `busy`.
    for (let i = 0; i < 500; i++)
      await store.append("busy", "stdout", `line ${i} ${"x".repeat(40)}`);

    await vi.waitFor(() => expect(busy.waitingForCredit).toBe(true), WAIT);
    expect(idle.waitingForCredit).toBe(false);
    expect(client.stats().streamsWaitingForCredit).toBe(1);
    const stats = server.stats();
    expect(stats.streamsWaitingForCredit).toBe(1);
    expect(stats.requesters[0]?.waitingForCredit).toBe(1);

    // Reading everything lets the node send the rest: the next heartbeat says so.
    const iterator = busy[Symbol.asyncIterator]();
    for (let i = 0; i < 500; i++) expect((await iterator.next()).done).toBe(false);
    await vi.waitFor(() => expect(busy.waitingForCredit).toBe(false), WAIT);
    expect(client.stats().streamsWaitingForCredit).toBe(0);
    expect(server.stats()).toMatchObject({ openStreams: 2, streamsWaitingForCredit: 0 });
    busy.cancel();
    idle.cancel();
    await client.close();
    await server.close();
  });
});

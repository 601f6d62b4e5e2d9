// The adaptive window between our compute node and our requester over a path with a real round
// trip (the requester's NATS connection through a DelayRelay, 60 ms): a fast consumer's window
// grows well past the request's window, never past the requester's cap; a fixed cap keeps it;
// a slow consumer's stays at the request's window. What the compute node may send is watched
// from outside: the request's window plus every grant on the control subject, minus the data
// bytes it sent, is the credit it holds.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import { decodeControl, subjects } from "@tailwire/protocol";
import { LogStreamClient } from "@tailwire/requester";
import { DelayRelay, LogTextGenerator, NatsServer } from "@tailwire/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const KiB = 1024;
const WINDOW = 64 * KiB;
const COMPUTE = "compute-adaptive";
const LINES = new LogTextGenerator({ seed: 3 }).lines(30_000);

let nats: NatsServer;
let relay: DelayRelay;
let store: MemoryLogStore;
const cleanups: (() => Promise<unknown>)[] = [];

async function connection(url = nats.url): Promise<NatsConnection> {
  const nc = await connect({ servers: url });
  cleanups.push(() => nc.close());
  return nc;
}

beforeAll(async () => {
  nats = await NatsServer.start();
  const { hostname, port } = new URL(nats.url);
  relay = await DelayRelay.start({
    targetHost: hostname,
    targetPort: Number(port),
    oneWayDelayMs: 30,
  });
  store = new MemoryLogStore();
  for (const [i, line] of LINES.entries())
    await store.append("logs", "stdout", line, 1_732_790_000_000 + i);
  await store.complete("logs", 0);
  const server = new LogStreamServer({
    connection: await connection(),
    nodeId: COMPUTE,
    source: store,
  });
  await server.start();
  cleanups.push(() => server.close());
});
afterEach(async () => {
  // Only what a test opened: the shared server, store and compute node stay.
  while (cleanups.length > 2)
    await cleanups
      .pop()?.()
      .catch(() => undefined);
});
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await relay.close();
  await nats.stop();
});

/**
 * Reads `lines` lines (tail) through the relay; returns the most credit the compute node held at
 * once, and the lines in order. `pace` makes the consumer slow: a pause every `pace.lines` lines.
 */
async function read(options: {
  lines: number;
  maxWindowBytes: number;
  pace?: { lines: number; ms: number };
}) {
  const requesterNodeId = `req-${Math.random().toString(36).slice(2, 8)}`;
  const spy = await connection();
  let window = 0;
  let granted = 0;
  let sent = 0;
  let maxHeld = 0;
  const held = () => {
    maxHeld = Math.max(maxHeld, window + granted - sent);
  };
  spy.subscribe(subjects.control(COMPUTE), {
    callback: (_err, msg) => {
      const control = decodeControl(msg.data);
      if (control.sourcePeerId !== requesterNodeId) return;
      for (const grant of control.credit ?? []) granted += grant.bytes;
      held();
    },
  });
  spy.subscribe(subjects.request(COMPUTE), {
    callback: (_err, msg) => {
      window = (msg.json() as { window: number }).window;
    },
  });
  spy.subscribe(`_TW.${requesterNodeId}.s.*`, {
    callback: (_err, msg) => {
      if (Buffer.from(msg.data.subarray(0, 40)).includes("ExecutionLogs.Data/v1")) {
        sent += msg.data.byteLength;
        held();
      }
    },
  });
  await spy.flush();
  const client = new LogStreamClient({
    connection: await connection(relay.url),
    nodeId: requesterNodeId,
    windowBytes: WINDOW,
    maxWindowBytes: options.maxWindowBytes,
    // Plain frames: the credit watched is then the bytes on the wire. v1: the credit is watched
    // on v1's control subject (the window rule itself is the same in both versions).
    compression: false,
    protocol: "v1",
  });
  cleanups.push(() => client.close());
  const got: string[] = [];
  const stream = client.streamLogs({
    computeNodeId: COMPUTE,
    executionId: "logs",
    tail: options.lines,
  });
  for await (const entry of stream) {
    if ("line" in entry) got.push(entry.line);
    if (options.pace && got.length % options.pace.lines === 0)
      await new Promise((resolve) => setTimeout(resolve, options.pace?.ms));
  }
  await spy.flush();
  return { maxHeld, got, window };
}

describe("the adaptive window over a 60 ms round trip", () => {
  it("grows past four times the request's window for a fast consumer, within the cap", async () => {
    const cap = 2 * 1024 * KiB;
    const result = await read({ lines: 30_000, maxWindowBytes: cap });
    expect(result.got).toEqual(LINES);
    expect(result.window).toBe(WINDOW);
    expect(result.maxHeld).toBeGreaterThan(4 * WINDOW);
    expect(result.maxHeld).toBeLessThanOrEqual(cap);
  });

  it("stays at the request's window when the cap is that window", async () => {
    const result = await read({ lines: 8_000, maxWindowBytes: WINDOW });
    expect(result.got).toEqual(LINES.slice(-8_000));
    expect(result.maxHeld).toBeLessThanOrEqual(WINDOW);
  });

  it("stays at the request's window for a consumer slower than the path", async () => {
    // About 23 KB/s: twice that rate times the round trip is far below 64 KiB.
    const result = await read({
      lines: 600,
      maxWindowBytes: 8 * 1024 * KiB,
      pace: { lines: 10, ms: 60 },
    });
    expect(result.got).toEqual(LINES.slice(-600));
    expect(result.maxHeld).toBeLessThanOrEqual(WINDOW);
  });
});

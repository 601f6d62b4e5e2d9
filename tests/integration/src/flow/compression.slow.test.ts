// Compressed frames between our compute node and our requester, over a real nats-server: the
// codec is negotiated (and off when either side says false), every line arrives in order, the
// stream's frames are several times smaller on the wire, credit counts those wire bytes, and a
// small window still never stalls.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import { COMPRESSED_FRAME_TYPE, type CompressionCodec } from "@tailwire/protocol";
import { LogStreamClient } from "@tailwire/requester";
import { LogTextGenerator, NatsServer } from "@tailwire/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

let nats: NatsServer;
let store: MemoryLogStore;
const LINES = new LogTextGenerator({ seed: 11 }).lines(20_000);
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  nats = await NatsServer.start();
  store = new MemoryLogStore();
  for (const [i, line] of LINES.entries())
    await store.append("logs", i % 9 === 0 ? "stderr" : "stdout", line, 1_732_790_000_000 + i);
  await store.complete("logs", 0);
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
afterAll(() => nats.stop());

async function connection(): Promise<NatsConnection> {
  const nc = await connect({ servers: nats.url });
  cleanups.push(() => nc.close());
  return nc;
}

/** Reads the whole log once; counts the bytes and the kinds of frames on the stream's inbox. */
async function readAll(options: {
  compute?: readonly CompressionCodec[] | false;
  requester?: readonly CompressionCodec[] | boolean;
  windowBytes?: number;
}) {
  const computeNodeId = `compute-${Math.random().toString(36).slice(2, 8)}`;
  const server = new LogStreamServer({
    connection: await connection(),
    nodeId: computeNodeId,
    source: store,
    ...(options.compute !== undefined && { compression: options.compute }),
  });
  await server.start();
  cleanups.push(() => server.close());
  const requesterNodeId = `requester-${Math.random().toString(36).slice(2, 8)}`;
  const spy = await connection();
  const wire = { bytes: 0, compressed: 0, plain: 0 };
  spy.subscribe(`_TW.${requesterNodeId}.s.*`, {
    callback: (_err, msg) => {
      wire.bytes += msg.data.byteLength;
      const head = Buffer.from(msg.data.subarray(0, 60)).toString("latin1");
      if (head.includes(COMPRESSED_FRAME_TYPE)) wire.compressed++;
      else if (head.includes("ExecutionLogs.Data/v1")) wire.plain++;
    },
  });
  await spy.flush();
  const client = new LogStreamClient({
    connection: await connection(),
    nodeId: requesterNodeId,
    ...(options.requester !== undefined && { compression: options.requester }),
    // Compressed frames are v1's (v2 has none yet).
    protocol: "v1",
    ...(options.windowBytes !== undefined && { windowBytes: options.windowBytes }),
  });
  cleanups.push(() => client.close());
  const stream = client.streamLogs({ nodeId: computeNodeId, executionId: "logs" });
  const lines: string[] = [];
  let seq = 0;
  for await (const batch of stream.batches()) {
    if (!Array.isArray(batch)) throw new Error("no lines were removed from this log");
    for (const entry of batch as readonly { seq: number; line: string }[]) {
      expect(entry.seq).toBe(++seq);
      lines.push(entry.line);
    }
  }
  await spy.flush();
  return { lines, wire, accepted: await stream.accepted };
}

describe("compressed frames, compute node to requester", () => {
  it("uses zstd when both have it, delivers every line, at a third of the bytes or less", async () => {
    const compressed = await readAll({ requester: true });
    expect(compressed.accepted.compression).toBe("zstd");
    expect(compressed.lines).toEqual(LINES);
    expect(compressed.wire.compressed).toBeGreaterThan(10);
    const plain = await readAll({ requester: false });
    expect(plain.accepted.compression).toBeUndefined();
    expect(plain.lines).toEqual(LINES);
    expect(plain.wire.compressed).toBe(0);
    expect(compressed.wire.bytes * 3).toBeLessThan(plain.wire.bytes);
  });

  it("takes the first of the compute node's codecs that the requester offers", async () => {
    const result = await readAll({ compute: ["brotli", "zstd"], requester: ["zstd", "brotli"] });
    expect(result.accepted.compression).toBe("brotli");
    expect(result.lines).toEqual(LINES);
  });

  it("sends plain frames when the compute node compresses nothing", async () => {
    const result = await readAll({ compute: false });
    expect(result.accepted.compression).toBeUndefined();
    expect(result.wire.compressed).toBe(0);
    expect(result.lines).toEqual(LINES);
  });

  it("never stalls with a window of a few frames: credit counts wire bytes", async () => {
    const result = await readAll({ requester: true, windowBytes: 16 * 1024 });
    expect(result.accepted.compression).toBe("zstd");
    expect(result.accepted.maxFrameBytes).toBe(8 * 1024);
    expect(result.lines).toEqual(LINES);
  });
});

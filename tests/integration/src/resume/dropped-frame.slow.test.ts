// Frames lost in transit: the compute node publishes through a wrapper of its connection that
// silently drops chosen data frames (what a broken route or a server crash does). The requester
// sees the frame-number gap, never hands it to the consumer, and resumes from its last seq.
import type { NatsConnection } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import { LogStreamClient } from "@tailwire/requester";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectTo, consume, lineOf, within } from "./harness.js";

// Either version's data frame (the type name differs only in its last character).
const DATA_FRAME = new TextEncoder().encode('"type":"ExecutionLogs.Data/v');

/** True when the payload is a data frame (the type is the first field the encoder writes). */
function isDataFrame(data: Uint8Array): boolean {
  const head = data.subarray(0, 64);
  outer: for (let i = 0; i + DATA_FRAME.length <= head.length; i++) {
    for (let j = 0; j < DATA_FRAME.length; j++) if (head[i + j] !== DATA_FRAME[j]) continue outer;
    return true;
  }
  return false;
}

/**
 * The compute node's view of its connection: identical, except that the data frames whose
 * ordinal (1-based, over all streams) is in `drop` never reach NATS.
 */
function dropping(
  nc: NatsConnection,
  drop: Set<number>,
): { nc: NatsConnection; dropped: number[] } {
  let dataFrames = 0;
  const dropped: number[] = [];
  const wrapped = new Proxy(nc, {
    get(target, prop) {
      if (prop === "publish") {
        return (subject: string, data: Uint8Array, options?: unknown) => {
          if (subject.startsWith("_TW.") && data instanceof Uint8Array && isDataFrame(data)) {
            dataFrames++;
            if (drop.has(dataFrames)) {
              dropped.push(dataFrames);
              return;
            }
          }
          return (target.publish as (s: string, d: Uint8Array, o?: unknown) => void)(
            subject,
            data,
            options,
          );
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { nc: wrapped, dropped };
}

describe("dropped frames", () => {
  let server: NatsServer;
  const closers: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    server = await NatsServer.start();
  });
  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    await server.stop();
  });

  it("a dropped data frame is detected as a gap and resumed: every line once, in order", async () => {
    const LINES = 20_000;
    const store = new MemoryLogStore({
      maxEntriesPerExecution: LINES,
      maxLogBytes: Number.POSITIVE_INFINITY,
      maxStoreBytes: Number.POSITIVE_INFINITY,
    });
    await store.create("exec");
    for (let seq = 1; seq <= LINES; seq++) await store.append("exec", "stdout", lineOf(seq));
    await store.complete("exec", 3);

    const computeNc = await connectTo([server.url], "dropping-compute");
    closers.push(() => computeNc.close());
    // Small frames: about 1,000 data frames; the 10th and the 400th are lost.
    const lossy = dropping(computeNc, new Set([10, 400]));
    const compute = new LogStreamServer({
      connection: lossy.nc,
      nodeId: "lossy-compute",
      source: store,
      batching: { maxFrameBytes: 2048 },
    });
    await compute.start();
    closers.push(() => compute.close());
    const requesterNc = await connectTo([server.url], "dropping-requester");
    closers.push(() => requesterNc.close());
    const client = new LogStreamClient({
      connection: requesterNc,
      nodeId: "gap-requester",
      windowBytes: 32 * 1024,
    });
    closers.push(() => client.close());

    const stream = client.streamLogs({ nodeId: "lossy-compute", executionId: "exec" });
    let wrongLines = 0;
    const result = await within(
      consume(stream, {
        onEntry: (entry) => {
          if (entry.line !== lineOf(entry.seq)) wrongLines++;
        },
      }),
      30_000,
      "the stream to end",
    );
    expect(lossy.dropped).toEqual([10, 400]);
    expect(result.error).toBeUndefined();
    expect(result.violations).toEqual([]);
    expect(result.count).toBe(LINES);
    expect(wrongLines).toBe(0);
    expect(stream.exitCode).toBe(3);
    // One resume per lost frame, each from the last seq received.
    expect(stream.attempts).toBe(3);
    expect(client.stats()).toMatchObject({ resumeAttempts: 2, resumesExhausted: 0 });
    // The broken attempts were cancelled on the compute node, not left to run.
    expect(compute.stats().streamsEnded).toMatchObject({ cancelled: 2, completed: 1 });
  }, 40_000);

  it("with resume off the same loss ends the stream with SequenceGapError after the lines before it", async () => {
    const store = new MemoryLogStore();
    await store.create("exec2");
    for (let seq = 1; seq <= 2_000; seq++) await store.append("exec2", "stdout", lineOf(seq));
    await store.complete("exec2", 0);
    const computeNc = await connectTo([server.url], "dropping-compute-2");
    closers.push(() => computeNc.close());
    const lossy = dropping(computeNc, new Set([5]));
    const compute = new LogStreamServer({
      connection: lossy.nc,
      nodeId: "lossy-compute-2",
      source: store,
      batching: { maxFrameBytes: 2048 },
    });
    await compute.start();
    closers.push(() => compute.close());
    const requesterNc = await connectTo([server.url], "dropping-requester-2");
    closers.push(() => requesterNc.close());
    const client = new LogStreamClient({
      connection: requesterNc,
      nodeId: "gap-requester-2",
      resume: false,
    });
    closers.push(() => client.close());
    const stream = client.streamLogs({ nodeId: "lossy-compute-2", executionId: "exec2" });
    const result = await within(consume(stream), 20_000, "the stream to end");
    expect(result.violations).toEqual([]);
    expect(result.error).toMatchObject({ code: "SEQUENCE_GAP" });
    expect(result.count).toBeGreaterThan(0);
    expect(result.count).toBeLessThan(2_000);
    expect(stream.lastSeq).toBe(result.lastSeq);
  }, 30_000);
});

// Heartbeat cost grows with the (compute node, requester) pairs that have open streams, never with
// the number of streams: one heartbeat per pair per interval, listing every stream id of the pair.
// Counted with a plain NATS subscriber on the requesters' heartbeat subjects.
import {
  decodeHeartbeat,
  decodeHeartbeatV2,
  type LogEntry,
  subjects,
  subjectsV2,
} from "@tailwire/protocol";
import { type LogStream, LogStreamClient } from "@tailwire/requester";
import { NatsServer, withDeadline } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ComputeNode, connectTo } from "./harness.js";

const INTERVAL_MS = 300;
/** Observation window, in intervals. */
const INTERVALS = 8;

let server: NatsServer;
beforeAll(async () => {
  server = await NatsServer.start();
});
afterAll(async () => {
  await server?.stop();
});

interface Seen {
  /** Which compute node beat (v1: in the payload; v2: the subject's) and what it listed. */
  heartbeat: { computeNodeId: string; streamIds: string[] };
  at: number;
}

/** Opens `count` follows of `executionId` and waits until each was accepted. */
async function openFollows(
  client: LogStreamClient,
  nodeId: string,
  executionId: string,
  count: number,
): Promise<LogStream[]> {
  const streams: LogStream[] = [];
  for (let i = 0; i < count; i++)
    streams.push(client.streamLogs({ nodeId, executionId, follow: true }));
  await withDeadline(Promise.all(streams.map((s) => s.accepted)), 15_000, "acceptances");
  return streams;
}

/** Heartbeats seen on a requester's subject during the window, and the window's length. */
async function observe(
  requesterIds: string[],
): Promise<{ seen: Map<string, Seen[]>; elapsedMs: number; close: () => Promise<void> }> {
  const nc = await connectTo(server.url, "heartbeat observer");
  const seen = new Map<string, Seen[]>(requesterIds.map((id) => [id, []]));
  let recording = false;
  for (const id of requesterIds) {
    // Either version's heartbeats: two nodes of this release speak v2, whose compute id is the
    // subject's fourth token.
    nc.subscribe(subjects.heartbeat(id), {
      callback: (_err, msg) => {
        if (recording) seen.get(id)!.push({ heartbeat: decodeHeartbeat(msg.data), at: Date.now() });
      },
    });
    nc.subscribe(subjectsV2.heartbeatWildcard(id), {
      callback: (_err, msg) => {
        const computeNodeId = msg.subject.split(".")[3] ?? "";
        const heartbeat = { ...decodeHeartbeatV2(msg.data), computeNodeId };
        if (recording) seen.get(id)!.push({ heartbeat, at: Date.now() });
      },
    });
  }
  await nc.flush();
  recording = true;
  const start = Date.now();
  // The observation window itself (not a synchronisation): heartbeats are what happens in it.
  await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * INTERVALS));
  recording = false;
  return { seen, elapsedMs: Date.now() - start, close: () => nc.close() };
}

/** Idle follows never end by themselves: cancel them and wait for the consumers. */
function consumeAll(streams: LogStream[]): Promise<unknown> {
  return Promise.all(
    streams.map(async (s) => {
      const entries: LogEntry[] = [];
      for await (const entry of s) entries.push(entry as LogEntry);
      return entries;
    }),
  );
}

describe("heartbeat cost", () => {
  it("sends one heartbeat per interval for 50 streams of one requester, listing all 50", async () => {
    const computeNc = await connectTo(server.url, "compute");
    const requesterNc = await connectTo(server.url, "requester");
    const compute = new ComputeNode(computeNc, "hb-compute-1");
    await compute.store.create("e1");
    await compute.server.start();
    const client = new LogStreamClient({
      connection: requesterNc,
      nodeId: "hb-req-1",
      heartbeatIntervalMs: INTERVAL_MS,
    });
    try {
      const streams = await openFollows(client, "hb-compute-1", "e1", 50);
      const consumed = consumeAll(streams);
      const sentBefore = compute.server.stats().heartbeatsSent;
      const { seen, elapsedMs, close } = await observe(["hb-req-1"]);
      const sent = compute.server.stats().heartbeatsSent - sentBefore;
      await close();
      const beats = seen.get("hb-req-1")!;
      const intervals = elapsedMs / INTERVAL_MS;
      console.info(
        `[scale] 1 compute × 1 requester × 50 streams: ${beats.length} heartbeats in ${intervals.toFixed(1)} intervals`,
      );
      // About one per interval: never more than one per interval started, at most a few fewer
      // when timers fire late on a loaded machine. 50 per interval would be per-stream beats.
      expect(beats.length).toBeLessThanOrEqual(Math.ceil(intervals) + 1);
      expect(beats.length).toBeGreaterThanOrEqual(Math.floor(intervals * 0.6));
      expect(sent).toBeLessThanOrEqual(Math.ceil(intervals) + 1);
      const ids = new Set(streams.map((s) => s.streamId));
      for (const { heartbeat } of beats) {
        expect(heartbeat.computeNodeId).toBe("hb-compute-1");
        expect(heartbeat.streamIds).toHaveLength(50);
        expect(new Set(heartbeat.streamIds)).toEqual(ids);
      }
      expect(compute.server.stats().heartbeatsFailed).toBe(0);
      for (const s of streams) s.cancel();
      await withDeadline(consumed, 5_000, "consumers to end");
    } finally {
      await client.close();
      await compute.close();
      await requesterNc.close();
      await computeNc.close();
    }
  });

  it("sends one heartbeat per (compute node, requester) pair per interval: 2 × 2 pairs, 4 per interval", async () => {
    const computeNc = await connectTo(server.url, "compute");
    const computes = [
      new ComputeNode(computeNc, "hb-compute-a"),
      new ComputeNode(computeNc, "hb-compute-b"),
    ];
    for (const c of computes) {
      await c.store.create("e1");
      await c.server.start();
    }
    const requesterIds = ["hb-req-x", "hb-req-y"];
    const requesterNcs = await Promise.all(requesterIds.map((id) => connectTo(server.url, id)));
    const clients = requesterIds.map(
      (nodeId, i) =>
        new LogStreamClient({
          connection: requesterNcs[i]!,
          nodeId,
          heartbeatIntervalMs: INTERVAL_MS,
        }),
    );
    // Unequal stream counts per pair: 50, 20, 10, 5.
    const counts = [
      [50, 20],
      [10, 5],
    ];
    try {
      const ids = new Map<string, Set<string>>();
      const all: LogStream[] = [];
      for (const [r, client] of clients.entries()) {
        for (const [c, compute] of computes.entries()) {
          const streams = await openFollows(client, compute.server.nodeId, "e1", counts[r]![c]!);
          ids.set(
            `${compute.server.nodeId} ${client.nodeId}`,
            new Set(streams.map((s) => s.streamId)),
          );
          all.push(...streams);
        }
      }
      const consumed = consumeAll(all);
      const { seen, elapsedMs, close } = await observe(requesterIds);
      await close();
      const intervals = elapsedMs / INTERVAL_MS;
      const perPair = new Map<string, Seen[]>();
      for (const [requesterId, beats] of seen) {
        for (const beat of beats) {
          const key = `${beat.heartbeat.computeNodeId} ${requesterId}`;
          perPair.set(key, [...(perPair.get(key) ?? []), beat]);
        }
        // Two compute nodes serve each requester: two heartbeats per interval on its subject.
        expect(beats.length).toBeLessThanOrEqual(2 * (Math.ceil(intervals) + 1));
        expect(beats.length).toBeGreaterThanOrEqual(2 * Math.floor(intervals * 0.6));
      }
      const summary = [...perPair].map(([pair, beats]) => `${pair}: ${beats.length}`).join(", ");
      console.info(`[scale] 2 × 2 pairs over ${intervals.toFixed(1)} intervals: ${summary}`);
      expect([...perPair.keys()].sort()).toEqual([...ids.keys()].sort());
      for (const [pair, beats] of perPair) {
        expect(beats.length).toBeLessThanOrEqual(Math.ceil(intervals) + 1);
        expect(beats.length).toBeGreaterThanOrEqual(Math.floor(intervals * 0.6));
        // Each pair's heartbeat lists exactly that pair's streams.
        for (const { heartbeat } of beats)
          expect(new Set(heartbeat.streamIds)).toEqual(ids.get(pair));
      }
      for (const c of computes) expect(c.server.stats().heartbeatsFailed).toBe(0);
      for (const s of all) s.cancel();
      await withDeadline(consumed, 5_000, "consumers to end");
    } finally {
      for (const client of clients) await client.close();
      for (const c of computes) await c.close();
      for (const nc of requesterNcs) await nc.close();
      await computeNc.close();
    }
  });
});

// Streams of two requesters on the same compute nodes are independent: when one requester dies
// (its process killed, or its TCP connection cut), the compute nodes end only its
// streams, by missed heartbeats; the other requester's streams keep flowing and complete.
import { type LogStream, LogStreamClient } from "@tailwire/requester";
import { NatsServer, pollUntil, withDeadline } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ComputeNode,
  connectTo,
  contiguous,
  drain,
  type EndRecord,
  RequesterProcess,
  TcpRelay,
} from "./harness.js";

const TIMING = { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 250, maxMissed: 2 } as const;
/** PROTOCOL.md: a requester is given up within interval × maxMissed + timeout. */
const REQUESTER_LOST_WINDOW_MS =
  TIMING.heartbeatIntervalMs * TIMING.maxMissed + TIMING.heartbeatTimeoutMs;
/** Late timers and process scheduling on a loaded 2-core machine. */
const SLACK_MS = 750;
const EXECUTIONS = ["e1", "e2"];

let server: NatsServer;
beforeAll(async () => {
  server = await NatsServer.start();
});
afterAll(async () => {
  await server?.stop();
});

interface Scene {
  computes: ComputeNode[];
  survivor: LogStreamClient;
  survivorStreams: LogStream[];
  cleanup: () => Promise<void>;
}

/** Two compute nodes producing on two executions; the surviving requester follows all four. */
async function scene(survivorId: string, prefix: string): Promise<Scene> {
  const computeNc = await connectTo(server.url, "computes");
  const computes = [
    new ComputeNode(computeNc, `${prefix}-c1`, {
      timeoutMs: TIMING.heartbeatTimeoutMs,
      maxMissed: TIMING.maxMissed,
    }),
    new ComputeNode(computeNc, `${prefix}-c2`, {
      timeoutMs: TIMING.heartbeatTimeoutMs,
      maxMissed: TIMING.maxMissed,
    }),
  ];
  for (const c of computes) {
    for (const e of EXECUTIONS) await c.store.create(e);
    await c.server.start();
    c.tick(EXECUTIONS, 20);
  }
  const survivorNc = await connectTo(server.url, survivorId);
  const survivor = new LogStreamClient({
    connection: survivorNc,
    nodeId: survivorId,
    heartbeatIntervalMs: TIMING.heartbeatIntervalMs,
    heartbeatTimeoutMs: TIMING.heartbeatTimeoutMs,
  });
  const survivorStreams = computes.flatMap((c) =>
    EXECUTIONS.map((executionId) =>
      survivor.streamLogs({ nodeId: c.server.nodeId, executionId, follow: true }),
    ),
  );
  await withDeadline(Promise.all(survivorStreams.map((s) => s.accepted)), 10_000, "acceptance");
  return {
    computes,
    survivor,
    survivorStreams,
    cleanup: async () => {
      await survivor.close();
      for (const c of computes) await c.close();
      await survivorNc.close();
      await computeNc.close();
    },
  };
}

/**
 * After `victimId` died at `diedAt`: each compute node ends exactly its streams as requester_lost
 * within the window, none of the survivor's; then the executions complete and every surviving
 * stream delivers its whole log, in order, and ends normally.
 */
async function expectOnlyVictimReleased(s: Scene, victimId: string, diedAt: number): Promise<void> {
  const victimEnds = await pollUntil(
    () => {
      const ends = s.computes.flatMap((c) => c.endsOf(victimId));
      return ends.length >= s.computes.length * EXECUTIONS.length ? ends : undefined;
    },
    { timeoutMs: REQUESTER_LOST_WINDOW_MS + 5_000, intervalMs: 20, what: "the victim's streams" },
  );
  const releasedAfter = Math.max(...victimEnds.map((e: EndRecord) => e.at)) - diedAt;
  console.info(
    `[scale] ${victimId} released after ${releasedAfter} ms (window ${REQUESTER_LOST_WINDOW_MS} ms)`,
  );
  expect(victimEnds.map((e) => e.cause)).toEqual(victimEnds.map(() => "requester_lost"));
  expect(releasedAfter).toBeLessThanOrEqual(REQUESTER_LOST_WINDOW_MS + SLACK_MS);

  // The survivor's streams are untouched and still open on both compute nodes.
  const survivorId = s.survivor.nodeId;
  for (const c of s.computes) {
    expect(c.endsOf(survivorId)).toEqual([]);
    expect(c.server.stats().openStreamsByRequester).toEqual({ [survivorId]: EXECUTIONS.length });
    expect(c.server.stats().openStreamsByRequester[victimId]).toBeUndefined();
  }
  expect(s.survivor.stats().openStreams).toBe(s.survivorStreams.length);
  // ... and keep flowing: consume them to the end of the log.
  const consumed = s.survivorStreams.map((stream) => drain(stream));
  for (const c of s.computes) {
    c.stopTicking();
    for (const e of EXECUTIONS) await c.store.complete(e, 0);
  }
  const results = await withDeadline(Promise.all(consumed), 15_000, "surviving streams to end");
  for (const [i, { seqs, error }] of results.entries()) {
    expect(error).toBeUndefined();
    expect(seqs[0]).toBe(1);
    expect(contiguous(seqs)).toBe(true);
    expect(s.survivorStreams[i]!.exitCode).toBe(0);
  }
  for (const c of s.computes) {
    expect(c.endsOf(survivorId).map((e) => e.cause)).toEqual(EXECUTIONS.map(() => "completed"));
    expect(c.errors).toEqual([]);
  }
}

describe("many requesters on the same compute nodes", () => {
  it("a requester process killed: only its streams end on the compute nodes", async () => {
    const s = await scene("survivor-1", "mr1");
    const victim = await RequesterProcess.start({
      url: server.url,
      nodeId: "victim-1",
      heartbeatIntervalMs: TIMING.heartbeatIntervalMs,
      heartbeatTimeoutMs: TIMING.heartbeatTimeoutMs,
    });
    try {
      for (const c of s.computes) {
        for (const e of EXECUTIONS)
          await victim.follow(`${c.server.nodeId}-${e}`, c.server.nodeId, e);
      }
      for (const c of s.computes) {
        expect(c.server.stats().openStreamsByRequester).toEqual({
          "survivor-1": EXECUTIONS.length,
          "victim-1": EXECUTIONS.length,
        });
      }
      const diedAt = Date.now();
      await victim.kill();
      await expectOnlyVictimReleased(s, "victim-1", diedAt);
    } finally {
      await victim.kill();
      await s.cleanup();
    }
  });

  it("a requester's connection cut abruptly: only its streams end", async () => {
    const s = await scene("survivor-2", "mr2");
    const relay = await TcpRelay.start(server.port);
    const victimNc = await connectTo(relay.url, "victim-2");
    const victim = new LogStreamClient({
      connection: victimNc,
      nodeId: "victim-2",
      heartbeatIntervalMs: TIMING.heartbeatIntervalMs,
      heartbeatTimeoutMs: TIMING.heartbeatTimeoutMs,
    });
    try {
      const victimStreams = s.computes.flatMap((c) =>
        EXECUTIONS.map((executionId) =>
          victim.streamLogs({ nodeId: c.server.nodeId, executionId, follow: true }),
        ),
      );
      const victimConsumed = victimStreams.map((stream) => drain(stream));
      await withDeadline(Promise.all(victimStreams.map((v) => v.accepted)), 10_000, "acceptance");
      // No client.close(): the TCP connection dies under it and no cancel can get through.
      const diedAt = Date.now();
      relay.cut();
      const victimResults = await withDeadline(Promise.all(victimConsumed), 5_000, "victim ends");
      for (const { error } of victimResults) expect(error).toBeInstanceOf(Error);
      await expectOnlyVictimReleased(s, "victim-2", diedAt);
    } finally {
      await victim.close();
      await victimNc.close().catch(() => {});
      await relay.close();
      await s.cleanup();
    }
  });
});

// The liveness behaviours on a 3-node NATS cluster, with compute nodes and requesters connected
// to different servers (every frame, heartbeat and control message crosses a route). The kill
// cases run the dying side as its own OS process (fixtures/*.mjs, against the built packages).
import {
  ComputeNodeLostError,
  GoingAwayError,
  type LogEntry,
  type LogStream,
  LogStreamClient,
} from "@tailwire/requester";
import { NatsCluster, pollUntil, withDeadline } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ComputeNode,
  connectTo,
  contiguous,
  drain,
  Fleet,
  RequesterProcess,
  waitUntilReachable,
} from "./harness.js";

const TIMING = {
  heartbeatIntervalMs: 500,
  heartbeatTimeoutMs: 250,
  maxMissed: 2,
  computeLostAfterMissed: 3,
} as const;
/** PROTOCOL.md: compute gives a requester up within interval × maxMissed + timeout. */
const REQUESTER_LOST_WINDOW_MS =
  TIMING.heartbeatIntervalMs * TIMING.maxMissed + TIMING.heartbeatTimeoutMs;
/** The requester declares a node lost after lostAfterMissed silent intervals, swept every interval / 4. */
const COMPUTE_LOST_WINDOW_MS =
  TIMING.heartbeatIntervalMs * TIMING.computeLostAfterMissed + TIMING.heartbeatIntervalMs / 4;
/** Late timers, process scheduling and route hops on a loaded 2-core machine. */
const SLACK_MS = 750;
/** "At once": one control message or final frame across the cluster, far below an interval. */
const AT_ONCE_MS = 400;

let cluster: NatsCluster;
beforeAll(async () => {
  cluster = await NatsCluster.start({ size: 3 });
});
afterAll(async () => {
  await cluster?.stop();
});

/** The compute side's URL and the requester side's: never the same server. */
const computeUrl = () => cluster.server(0).url;
const requesterUrl = () => cluster.server(1).url;

/** An in-process compute node on server 0 that appends to `e1` every 20 ms. */
async function computeOnServer0(nodeId: string): Promise<{
  compute: ComputeNode;
  close: () => Promise<void>;
}> {
  const nc = await connectTo(computeUrl(), nodeId);
  const compute = new ComputeNode(nc, nodeId, {
    timeoutMs: TIMING.heartbeatTimeoutMs,
    maxMissed: TIMING.maxMissed,
  });
  await compute.store.create("e1");
  await compute.server.start();
  return {
    compute,
    close: async () => {
      await compute.close();
      await nc.close();
    },
  };
}

/** A requester client on server 1, once the compute node's subscriptions crossed the routes. */
async function clientOnServer1(
  nodeId: string,
  computeNodeId: string,
): Promise<{ client: LogStreamClient; close: () => Promise<void> }> {
  const nc = await connectTo(requesterUrl(), nodeId);
  const client = new LogStreamClient({
    connection: nc,
    nodeId,
    heartbeatIntervalMs: TIMING.heartbeatIntervalMs,
    heartbeatTimeoutMs: TIMING.heartbeatTimeoutMs,
    computeLostAfterMissed: TIMING.computeLostAfterMissed,
  });
  await waitUntilReachable(client, computeNodeId);
  return {
    client,
    close: async () => {
      await client.close();
      await nc.close();
    },
  };
}

/** Iterates a stream by hand: the first entry now, the rest (and how it ended) later. */
async function firstEntry(stream: LogStream): Promise<{
  first: LogEntry;
  rest: () => Promise<{ error: unknown; at: number }>;
}> {
  const iterator = stream[Symbol.asyncIterator]();
  const head = await withDeadline(iterator.next(), 10_000, "the first entry");
  if (head.done) throw new Error("the stream ended before its first entry");
  return {
    first: head.value as LogEntry,
    rest: async () => {
      try {
        while (!(await iterator.next()).done) {
          // the producer keeps appending
        }
        return { error: undefined, at: Date.now() };
      } catch (error) {
        return { error, at: Date.now() };
      }
    },
  };
}

/**
 * After a stream ended on the compute node: the producer keeps appending, so a pump still
 * running would publish. Watch two heartbeat intervals (an observation window, not a
 * synchronisation) and return the frames published in it.
 */
async function framesPublishedAfter(compute: ComputeNode): Promise<number> {
  const before = compute.server.stats().framesSent;
  await new Promise((resolve) => setTimeout(resolve, 2 * TIMING.heartbeatIntervalMs));
  return compute.server.stats().framesSent - before;
}

describe("on a 3-node NATS cluster, compute and requester on different servers", () => {
  it("follows a log end to end", async () => {
    const { compute, close: closeCompute } = await computeOnServer0("cl-follow");
    const { client, close: closeClient } = await clientOnServer1("cl-follow-req", "cl-follow");
    try {
      for (let i = 1; i <= 1000; i++) await compute.store.append("e1", "stdout", `before ${i}`);
      const stream = client.streamLogs({ nodeId: "cl-follow", executionId: "e1", follow: true });
      const consumed = drain(stream);
      await stream.accepted;
      for (let i = 1; i <= 1000; i++) {
        await compute.store.append("e1", i % 2 ? "stdout" : "stderr", `after ${i}`);
      }
      await compute.store.complete("e1", 7);
      const { seqs, error } = await withDeadline(consumed, 15_000, "the follow to end");
      expect(error).toBeUndefined();
      expect(seqs).toHaveLength(2000);
      expect(seqs[0]).toBe(1);
      expect(contiguous(seqs)).toBe(true);
      expect(stream.exitCode).toBe(7);
      expect(compute.ends.map((e) => e.cause)).toEqual(["completed"]);
    } finally {
      await closeClient();
      await closeCompute();
    }
  });

  it("compute node process killed: the requester gets ComputeNodeLostError within the window", async () => {
    const fleet = await Fleet.start({
      url: computeUrl(),
      prefix: "cl-dying",
      nodes: 1,
      executions: ["e1"],
      tickMs: 20,
      heartbeatTimeoutMs: TIMING.heartbeatTimeoutMs,
      maxMissed: TIMING.maxMissed,
    });
    const { client, close } = await clientOnServer1("cl-dying-req", "cl-dying-0");
    try {
      const stream = client.streamLogs({ nodeId: "cl-dying-0", executionId: "e1", follow: true });
      const { rest } = await firstEntry(stream);
      const ending = rest();
      const killedAt = Date.now();
      await fleet.kill();
      const { error, at } = await withDeadline(ending, COMPUTE_LOST_WINDOW_MS + 10_000, "the end");
      const detectedAfter = at - killedAt;
      console.info(
        `[scale] cluster: compute node lost after ${detectedAfter} ms (window ${COMPUTE_LOST_WINDOW_MS} ms)`,
      );
      expect(error).toBeInstanceOf(ComputeNodeLostError);
      expect(stream.endCause).toBe("compute_node_lost");
      // Detected by silence (frames arrived every 20 ms until the kill), not earlier.
      expect(detectedAfter).toBeGreaterThanOrEqual(
        TIMING.heartbeatIntervalMs * (TIMING.computeLostAfterMissed - 1),
      );
      expect(detectedAfter).toBeLessThanOrEqual(COMPUTE_LOST_WINDOW_MS + SLACK_MS);
    } finally {
      await fleet.kill();
      await close();
    }
  });

  it("requester process killed: the compute node releases its stream within interval × maxMissed + timeout", async () => {
    const { compute, close: closeCompute } = await computeOnServer0("cl-orphan");
    compute.tick(["e1"], 20);
    // Interest in the compute node's subjects has reached server 1 before the process asks.
    const { close: closeProbe } = await clientOnServer1("cl-orphan-probe", "cl-orphan");
    const victim = await RequesterProcess.start({
      url: requesterUrl(),
      nodeId: "cl-orphan-req",
      heartbeatIntervalMs: TIMING.heartbeatIntervalMs,
      heartbeatTimeoutMs: TIMING.heartbeatTimeoutMs,
      computeLostAfterMissed: TIMING.computeLostAfterMissed,
    });
    try {
      const streamId = await victim.follow("s1", "cl-orphan", "e1");
      expect(compute.server.stats().openStreams).toBe(1);
      const killedAt = Date.now();
      await victim.kill();
      const end = await pollUntil(() => compute.ends.find((e) => e.streamId === streamId), {
        timeoutMs: REQUESTER_LOST_WINDOW_MS + 10_000,
        intervalMs: 10,
        what: "the release",
      });
      const releasedAfter = end.at - killedAt;
      console.info(
        `[scale] cluster: requester released after ${releasedAfter} ms (window ${REQUESTER_LOST_WINDOW_MS} ms)`,
      );
      expect(end.cause).toBe("requester_lost");
      expect(releasedAfter).toBeLessThanOrEqual(REQUESTER_LOST_WINDOW_MS + SLACK_MS);
      expect(compute.server.stats().openStreams).toBe(0);
      expect(await framesPublishedAfter(compute)).toBe(0);
    } finally {
      await victim.kill();
      await closeProbe();
      await closeCompute();
    }
  });

  it("cancel stops the producer at once", async () => {
    const { compute, close: closeCompute } = await computeOnServer0("cl-cancel");
    compute.tick(["e1"], 20);
    const { client, close: closeClient } = await clientOnServer1("cl-cancel-req", "cl-cancel");
    try {
      const stream = client.streamLogs({ nodeId: "cl-cancel", executionId: "e1", follow: true });
      await firstEntry(stream);
      const cancelledAt = Date.now();
      stream.cancel();
      const end = await pollUntil(() => compute.ends.find((e) => e.streamId === stream.streamId), {
        timeoutMs: 10_000,
        intervalMs: 5,
        what: "the cancel to reach the compute node",
      });
      const stoppedAfter = end.at - cancelledAt;
      console.info(`[scale] cluster: producer stopped ${stoppedAfter} ms after cancel()`);
      expect(end.cause).toBe("cancelled");
      expect(stoppedAfter).toBeLessThan(AT_ONCE_MS);
      expect(await framesPublishedAfter(compute)).toBe(0);
      expect(compute.server.stats().openStreams).toBe(0);
    } finally {
      await closeClient();
      await closeCompute();
    }
  });

  it("graceful close of the compute node ends the stream with GOING_AWAY at once", async () => {
    const { compute, close: closeCompute } = await computeOnServer0("cl-away");
    compute.tick(["e1"], 20);
    const { client, close: closeClient } = await clientOnServer1("cl-away-req", "cl-away");
    try {
      const stream = client.streamLogs({ nodeId: "cl-away", executionId: "e1", follow: true });
      const { rest } = await firstEntry(stream);
      const ending = rest();
      const closedAt = Date.now();
      await compute.server.close();
      const { error, at } = await withDeadline(ending, 10_000, "the stream to end");
      console.info(`[scale] cluster: GOING_AWAY received ${at - closedAt} ms after close()`);
      expect(error).toBeInstanceOf(GoingAwayError);
      expect(stream.endCause).toBe("error");
      expect(at - closedAt).toBeLessThan(AT_ONCE_MS);
      expect(compute.ends.map((e) => e.cause)).toEqual(["going_away"]);
    } finally {
      await closeClient();
      await closeCompute();
    }
  });
});

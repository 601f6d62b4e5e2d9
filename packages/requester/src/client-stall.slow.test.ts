// The requester's own stall (SIGSTOP, a long GC pause, a laptop asleep) must not count as a
// compute node's silence. A stall is simulated by moving the client's monotonic clock forward:
// to the sweep that is exactly what a thaw looks like (it runs "late"), without freezing the
// test process. The chaos suite covers a real SIGSTOP.
import { ComputeNodeLostError } from "@tailwire/protocol";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { RequesterStalledError } from "./requester-errors.js";
import { collect, Rig } from "./test-helpers/rig.js";

const clock = vi.hoisted(() => ({ offsetMs: 0 }));
vi.mock("./clock.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./clock.js")>();
  return { ...actual, monotonicNow: () => actual.monotonicNow() + clock.offsetMs };
});

let rig: Rig;
beforeAll(async () => {
  rig = await Rig.start();
});
afterEach(async () => {
  await rig.cleanup();
  clock.offsetMs = 0;
});
afterAll(() => rig.stop());

const intervalMs = 100;
const missed = 3;
const silentMs = intervalMs * missed;
const periodMs = intervalMs / 4; // the sweep's period
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function acceptedStream() {
  const { client } = await rig.client({
    heartbeatIntervalMs: intervalMs,
    computeLostAfterMissed: missed,
  });
  const compute = await rig.compute();
  const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec", follow: true });
  (await compute.nextRequest()).accept();
  await stream.accepted;
  return { client, compute, stream };
}

describe("LogStreamClient: the requester's own stall", () => {
  it("is not blamed on a compute node that kept serving it", async () => {
    const { client, compute, stream } = await acceptedStream();
    const ids = () => [stream.streamId];
    let stop = compute.heartbeatEvery(client.nodeId, intervalMs, ids);
    try {
      await sleep(2 * intervalMs);
      // A 1 s stall, over three times the lost threshold. Its heartbeats "wait in the socket":
      // none is delivered until the sweep has run (late, then on time) after the thaw.
      stop();
      clock.offsetMs += 1_000;
      await sleep(3 * periodMs);
      expect(stream.endCause).toBeUndefined();
      // The node's heartbeats are read: it keeps the stream for several windows.
      stop = compute.heartbeatEvery(client.nodeId, intervalMs, ids);
      await sleep(3 * silentMs);
      expect(stream.endCause).toBeUndefined();
      expect(client.stats().streamsEnded.compute_node_lost).toBe(0);
    } finally {
      stop();
    }
    stream.cancel();
  });

  it("still detects a dead compute node one window after the thaw", async () => {
    const { client, compute, stream } = await acceptedStream();
    const result = collect(stream);
    // A one-minute stall; the node is heard once more right after the thaw, then never again.
    // Crediting the stall must not push its last-heard time into the future.
    clock.offsetMs += 60_000;
    const thawedAt = performance.now();
    await compute.heartbeat(client.nodeId, [stream.streamId]);
    const { error } = await result;
    const elapsed = performance.now() - thawedAt;
    // Silent since a stall long enough for the node to give this requester up: said so, with
    // REQUESTER_LOST, rather than blamed on the node alone.
    expect(error).toBeInstanceOf(RequesterStalledError);
    expect((error as RequesterStalledError).code).toBe("REQUESTER_LOST");
    // The stall is measured as the sweep's lateness: a timer may fire a millisecond early
    // (Node rounds timers to ms), so the minute can read as 59,999.
    expect((error as RequesterStalledError).stalledMs).toBeGreaterThanOrEqual(60_000 - 5);
    expect((error as RequesterStalledError).stalledMs).toBeLessThan(60_000 + 1_000);
    expect((error as Error).message).toMatch(/this requester was stalled .* or it died/);
    expect(elapsed).toBeGreaterThanOrEqual(silentMs - 10);
    expect(elapsed).toBeLessThan(silentMs + 1_000);
    expect(client.stats().streamsEnded.error).toBe(1);
  });

  it("a stall shorter than a heartbeat interval leaves a later silence to the node", async () => {
    const { client, compute, stream } = await acceptedStream();
    const result = collect(stream);
    clock.offsetMs += intervalMs * 0.6;
    await compute.heartbeat(client.nodeId, [stream.streamId]);
    const { error } = await result;
    expect(error).toBeInstanceOf(ComputeNodeLostError);
    expect(client.stats().streamsEnded.compute_node_lost).toBe(1);
  });
});

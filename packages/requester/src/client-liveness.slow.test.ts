import { ComputeNodeLostError, newStreamId } from "@tailwire/protocol";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { collect, Rig } from "./test-helpers/rig.js";

let rig: Rig;
beforeAll(async () => {
  rig = await Rig.start();
});
afterEach(() => rig.cleanup());
afterAll(() => rig.stop());

const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

describe("LogStreamClient: heartbeats", () => {
  it("answers a heartbeat with the listed ids it does not hold, and records the node as heard", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const other = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec", follow: true });
    const remote = await compute.nextRequest();
    remote.accept();
    await stream.accepted;
    const stranger = newStreamId();
    const response = await compute.heartbeat(client.nodeId, [stream.streamId, stranger]);
    expect(response).toEqual({
      type: "ExecutionLogs.HeartbeatResponse/v1",
      requesterNodeId: client.nodeId,
      unknownStreamIds: [stranger],
    });
    // Another node listing our stream does not own it: unknown to that node.
    expect((await other.heartbeat(client.nodeId, [stream.streamId])).unknownStreamIds).toEqual([
      stream.streamId,
    ]);
    const stats = client.stats();
    expect(stats.heartbeatsAnswered).toBe(2);
    expect(stats.computeNodes).toEqual([
      { nodeId: compute.nodeId, openStreams: 1, lastHeardAt: expect.any(Number) },
    ]);
    expect(Math.abs(stats.computeNodes[0]!.lastHeardAt! - Date.now())).toBeLessThan(5_000);
    expect(stream.endCause).toBeUndefined();
  });

  it("ends an accepted stream the heartbeat no longer lists, but only after the grace", async () => {
    const graceMs = 300;
    const { client } = await rig.client({ unlistedGraceMs: graceMs });
    const compute = await rig.compute();
    const kept = client.streamLogs({ nodeId: compute.nodeId, executionId: "kept", follow: true });
    const dropped = client.streamLogs({
      nodeId: compute.nodeId,
      executionId: "dropped",
      follow: true,
    });
    (await compute.nextRequest()).accept();
    (await compute.nextRequest()).accept();
    await Promise.all([kept.accepted, dropped.accepted]);
    const acceptedAt = performance.now();
    const result = collect(dropped);
    // Within the grace: unlisted, yet still open.
    await compute.heartbeat(client.nodeId, [kept.streamId]);
    if (performance.now() - acceptedAt < graceMs) expect(dropped.endCause).toBeUndefined();
    // Keep heartbeating without it until the requester gives up on it.
    const stop = compute.heartbeatEvery(client.nodeId, 50, () => [kept.streamId]);
    try {
      const { error } = await result;
      const elapsed = performance.now() - acceptedAt;
      expect(error).toBeInstanceOf(ComputeNodeLostError);
      expect(elapsed).toBeGreaterThanOrEqual(graceMs - 10);
      expect(elapsed).toBeLessThan(graceMs + 2_000);
    } finally {
      stop();
    }
    expect(kept.endCause).toBeUndefined();
    expect(client.stats().streamsEnded.compute_node_lost).toBe(1);
    await compute.waitForCancel(dropped.streamId);
  });

  it("ends the streams of a silent compute node within the window, and keeps those of a live one", async () => {
    const intervalMs = 100;
    const missed = 3;
    const { client } = await rig.client({
      heartbeatIntervalMs: intervalMs,
      computeLostAfterMissed: missed,
    });
    const silent = await rig.compute();
    const alive = await rig.compute();
    const lost = [1, 2].map((i) =>
      client.streamLogs({ nodeId: silent.nodeId, executionId: `lost-${i}`, follow: true }),
    );
    const live = client.streamLogs({ nodeId: alive.nodeId, executionId: "live", follow: true });
    (await silent.nextRequest()).accept();
    (await silent.nextRequest()).accept();
    const liveRemote = await alive.nextRequest();
    liveRemote.accept();
    const stop = alive.heartbeatEvery(client.nodeId, intervalMs, () => [live.streamId]);
    try {
      await Promise.all([...lost, live].map((s) => s.accepted));
      const acceptedAt = performance.now();
      const results = await Promise.all(lost.map((s) => collect(s)));
      const elapsed = performance.now() - acceptedAt;
      for (const { error } of results) expect(error).toBeInstanceOf(ComputeNodeLostError);
      // Lost after interval × missed of silence, detected at the next quarter-interval tick.
      expect(elapsed).toBeGreaterThanOrEqual(intervalMs * missed - 10);
      expect(elapsed).toBeLessThan(intervalMs * missed + 1_000);
      // The live node's stream outlives the threshold several times over.
      const until = performance.now() + intervalMs * missed * 2;
      liveRemote.data([{ seq: 1, line: "still here" }]);
      const iterator = live[Symbol.asyncIterator]();
      expect((await iterator.next()).value).toMatchObject({ line: "still here" });
      await vi.waitFor(() => expect(performance.now()).toBeGreaterThan(until), {
        timeout: 5_000,
        interval: 50,
      });
      expect(live.endCause).toBeUndefined();
      expect(client.stats().streamsEnded.compute_node_lost).toBe(2);
      expect(client.stats().computeNodes.map((n) => n.nodeId)).toEqual([alive.nodeId]);
    } finally {
      stop();
    }
  });

  it("frames count as hearing from the node", async () => {
    const intervalMs = 100;
    const { client } = await rig.client({
      heartbeatIntervalMs: intervalMs,
      computeLostAfterMissed: 2,
    });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec", follow: true });
    const remote = await compute.nextRequest();
    remote.accept();
    await stream.accepted;
    const iterator = stream[Symbol.asyncIterator]();
    // Data every half interval and no heartbeat at all, for three lost-thresholds.
    for (let seq = 1; seq <= 18; seq++) {
      remote.data([{ seq, line: `l${seq}` }]);
      const next = await iterator.next();
      expect(next.value).toMatchObject({ seq });
      await new Promise((resolve) => setTimeout(resolve, intervalMs / 2)); // pacing the producer, not syncing
    }
    expect(stream.endCause).toBeUndefined();
    stream.cancel();
  });

  it("runs no timer while no stream is open", async () => {
    const before = timers();
    const { client } = await rig.client({ heartbeatIntervalMs: 100 });
    const compute = await rig.compute();
    const baseline = timers(); // the connections' own timers
    expect(baseline).toBeGreaterThanOrEqual(before);
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec", follow: true });
    expect(timers()).toBe(baseline + 2); // accept timeout + liveness sweep
    (await compute.nextRequest()).accept();
    await stream.accepted;
    expect(timers()).toBe(baseline + 1); // the sweep only
    stream.cancel();
    expect(timers()).toBe(baseline);
    const second = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec", follow: true });
    expect(timers()).toBe(baseline + 2);
    await client.close();
    expect(second.endCause).toBe("cancelled");
    expect(timers()).toBe(baseline);
  });
});

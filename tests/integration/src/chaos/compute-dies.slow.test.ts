// Chaos, part 3: the compute node dies (SIGKILL), freezes (SIGSTOP) or shuts down gracefully.
// Every stream it served must end on the requester (ComputeNodeLostError within the documented
// bound, computeLostAfterMissed × interval + the sweep period interval / 4 (PROTOCOL.md,
// "Heartbeats"), GoingAwayError at once), never hang, and a thawed compute
// node must not get anything to the consumer of an ended stream.
import { describe, expect, it } from "vitest";
import {
  type ChaosNode,
  COMPUTE_LOST_WINDOW_MS,
  framesAfterStop,
  openFollows,
  type RequesterEndedEvent,
  ROUND_TRIP_MS,
  SLACK_MS,
  type StreamEndedEvent,
  TIMING,
  TOPOLOGIES,
  useChaosScene,
} from "./harness.js";

/**
 * Lost after lostAfterMissed silent intervals from the last thing heard: a frame (every 20 ms)
 * or a heartbeat (every interval), so never earlier than (lostAfterMissed - 1) intervals.
 */
const EARLIEST_MS = TIMING.heartbeatIntervalMs * (TIMING.computeLostAfterMissed - 1);
const LATEST_MS = COMPUTE_LOST_WINDOW_MS + SLACK_MS;

let ids = 0;

describe.each(TOPOLOGIES)("chaos: the compute node dies [%s]", (topology) => {
  // Once on one nats-server, once on a 3-node cluster with every side on its own member.
  const chaos = useChaosScene("compute dies", topology);

  async function setup(executions = ["e1"]) {
    const n = ++ids;
    const computeId = `c-cdie-${n}`;
    const requesterId = `r-cdie-${n}`;
    const observer = await chaos.observer([requesterId]);
    const compute = await chaos.compute({ nodeId: computeId, executions });
    const requester = await chaos.requester({ nodeId: requesterId });
    return { computeId, observer, compute, requester };
  }

  async function lostWithinWindow(
    requester: ChaosNode,
    tags: string[],
    stopAt: number,
    what: string,
  ): Promise<RequesterEndedEvent[]> {
    const ended: RequesterEndedEvent[] = [];
    for (const tag of tags) {
      const end = await requester.event<RequesterEndedEvent>("ended", tag);
      expect(end).toMatchObject({
        outcome: "error",
        error: "ComputeNodeLostError",
        code: "COMPUTE_NODE_LOST",
      });
      const ms = chaos.measured.add(what, end.t - stopAt, `${EARLIEST_MS}..${LATEST_MS}`);
      expect(ms).toBeGreaterThanOrEqual(EARLIEST_MS);
      expect(ms).toBeLessThanOrEqual(LATEST_MS);
      ended.push(end);
    }
    return ended;
  }

  it("SIGKILL: every stream it served ends with ComputeNodeLostError within computeLostAfterMissed × interval + interval / 4", async () => {
    const { computeId, compute, requester } = await setup(["e1", "e2"]);
    await openFollows(requester, computeId, { s1: "e1", s2: "e2", s3: "e1" });
    const killedAt = Date.now();
    await compute.proc.kill("SIGKILL");
    await lostWithinWindow(
      requester,
      ["s1", "s2", "s3"],
      killedAt,
      "SIGKILL compute → stream lost",
    );
    const stats = await requester.requesterStats();
    expect(stats.stats.openStreams).toBe(0);
    expect(stats.stats.computeNodes).toEqual([]);
    expect(stats.stats.streamsEnded.compute_node_lost).toBe(3);
    expect(await requester.closeAndExit()).toEqual({ code: 0, signal: null });
  });

  it("graceful close: the requester gets GoingAwayError at once, without a heartbeat window", async () => {
    const { computeId, observer, compute, requester } = await setup();
    const streams = await openFollows(requester, computeId, { s1: "e1", s2: "e1" });
    const exited = compute.closeAndExit();
    const closing = await compute.event("closing", compute.nodeId);
    const computeEnds: StreamEndedEvent[] = [];
    for (const [tag, streamId] of Object.entries(streams)) {
      const end = await requester.event<RequesterEndedEvent>("ended", tag);
      expect(end).toMatchObject({ outcome: "error", error: "GoingAwayError", code: "GOING_AWAY" });
      const ms = chaos.measured.add(
        "compute close → GoingAwayError",
        end.t - closing.t,
        `${ROUND_TRIP_MS}`,
      );
      expect(ms).toBeLessThanOrEqual(ROUND_TRIP_MS);
      const computeEnd = await compute.event<StreamEndedEvent>("stream-ended", streamId);
      expect(computeEnd.cause).toBe("going_away");
      computeEnds.push(computeEnd);
    }
    expect(await exited).toEqual({ code: 0, signal: null });
    // Exactly one final frame after the last data frame, an Error; then nothing.
    await observer.flush();
    for (const end of computeEnds) {
      const after = observer.framesOf(end.id).filter((f) => f.n === undefined || f.n > end.lastN);
      // Two nodes of this release speak v2: the frame is v2's Error (v1's for an older node).
      expect(after.map((f) => [f.type, f.n])).toEqual([["ExecutionLogs.Error/v2", end.lastN + 1]]);
    }
    const stats = await requester.requesterStats();
    expect(stats.stats.openStreams).toBe(0);
    expect(await requester.closeAndExit()).toEqual({ code: 0, signal: null });
  });

  it("SIGSTOP = dead: streams end with ComputeNodeLostError; thawed, the compute node stops them and nothing reaches the consumer", async () => {
    const { computeId, observer, compute, requester } = await setup();
    const streams = await openFollows(requester, computeId, { s1: "e1", s2: "e1" });
    const frozenAt = Date.now();
    compute.proc.freeze();
    const ended = await lostWithinWindow(
      requester,
      Object.keys(streams),
      frozenAt,
      "SIGSTOP compute → stream lost",
    );
    const thawedAt = Date.now();
    compute.proc.thaw();
    // The requester's cancel waited in the compute node's socket; failing that, its next
    // heartbeat lists streams the requester answers unknown.
    const window = TIMING.heartbeatIntervalMs + TIMING.heartbeatTimeoutMs + SLACK_MS;
    const computeEnds: StreamEndedEvent[] = [];
    for (const streamId of Object.values(streams)) {
      const end = await compute.event<StreamEndedEvent>("stream-ended", streamId);
      expect(["cancelled", "unknown_to_requester"]).toContain(end.cause);
      const ms = chaos.measured.add(
        `thaw → producer stopped (cause ${end.cause})`,
        end.t - thawedAt,
        `${window}`,
      );
      expect(ms).toBeLessThanOrEqual(window);
      computeEnds.push(end);
    }
    expect(await framesAfterStop(observer, compute, computeEnds)).toEqual([]);
    // Whatever the thawed node published before it stopped was dropped by the client: the
    // consumers got nothing after their streams ended.
    const stats = await requester.requesterStats();
    for (const end of ended) expect(stats.streams[end.id]!.entries).toBe(end.entries);
    expect(stats.stats.openStreams).toBe(0);
    expect(requester.events("first-entry")).toHaveLength(2);
    const computeStats = await compute.computeStats();
    expect(computeStats).toMatchObject({ openStreams: 0, requesters: [] });
    expect(await requester.closeAndExit()).toEqual({ code: 0, signal: null });
    expect(await compute.closeAndExit()).toEqual({ code: 0, signal: null });
  });
});

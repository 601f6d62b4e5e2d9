// Chaos, part 2: the requester node dies (SIGKILL) or freezes (SIGSTOP). The compute node must
// stop publishing and release the streams within interval × maxMissed + timeout, a frozen
// requester that thaws must not bring its streams back, and other requesters must not notice.
import { describe, expect, it, vi } from "vitest";
import {
  type ChaosEvent,
  type ChaosNode,
  COMPUTE_LOST_WINDOW_MS,
  framesAfterStop,
  observeFor,
  openFollows,
  REQUESTER_LOST_WINDOW_MS,
  type RequesterEndedEvent,
  SLACK_MS,
  type StreamEndedEvent,
  TIMING,
  TOPOLOGIES,
  useChaosScene,
} from "./harness.js";

/** A requester is given up after maxMissed failed beats: never before (maxMissed - 1) intervals. */
const EARLIEST_MS = TIMING.heartbeatIntervalMs * (TIMING.maxMissed - 1) - 30;
const LATEST_MS = REQUESTER_LOST_WINDOW_MS + SLACK_MS;

/** A small flow-control window (the protocol's minimum), so that a stream nobody reads stalls fast. */
const WINDOW = 1024;

let ids = 0;

describe.each(TOPOLOGIES)("chaos: the requester node dies [%s]", (topology) => {
  // Once on one nats-server, once on a 3-node cluster with every side on its own member.
  const chaos = useChaosScene("requester dies", topology);

  async function setup(
    requesterCount: number,
    executions = ["e1"],
    options: { maxMissed?: number } = {},
    windowBytes?: number,
  ) {
    const n = ++ids;
    const computeId = `c-rdie-${n}`;
    const requesterIds = Array.from({ length: requesterCount }, (_, i) => `r-rdie-${n}-${i}`);
    const observer = await chaos.observer(requesterIds);
    const compute = await chaos.compute({ nodeId: computeId, executions, ...options });
    const requesters: ChaosNode[] = [];
    for (const id of requesterIds) {
      requesters.push(
        await chaos.requester({
          nodeId: id,
          ...(windowBytes === undefined ? {} : { windowBytes }),
        }),
      );
    }
    return { computeId, observer, compute, requesters };
  }

  async function lostWithinWindow(
    compute: ChaosNode,
    streamIds: string[],
    stopAt: number,
    what: string,
  ): Promise<StreamEndedEvent[]> {
    const ended: StreamEndedEvent[] = [];
    for (const streamId of streamIds) {
      const end = await compute.event<StreamEndedEvent>("stream-ended", streamId);
      expect(end.cause).toBe("requester_lost");
      const ms = chaos.measured.add(what, end.t - stopAt, `${EARLIEST_MS}..${LATEST_MS}`);
      expect(ms).toBeGreaterThanOrEqual(EARLIEST_MS);
      expect(ms).toBeLessThanOrEqual(LATEST_MS);
      ended.push(end);
    }
    return ended;
  }

  it("SIGKILL: the compute node stops publishing and releases every stream within interval × maxMissed + timeout", async () => {
    const { computeId, observer, compute, requesters } = await setup(1, ["e1"], {}, WINDOW);
    const requester = requesters[0]!;
    const streams = await openFollows(requester, computeId, { s1: "e1", s2: "e1" });
    // A third stream nobody reads: its producer is parked on flow control when the requester dies.
    requester.send(`open held ${computeId} e1 hold`);
    const held = (await requester.event<ChaosEvent & { streamId: string }>("accepted", "held"))
      .streamId;
    await vi.waitFor(
      () => {
        const data = observer.framesOf(held).filter((f) => /^ExecutionLogs\.Data\//.test(f.type));
        expect(data.reduce((sum, f) => sum + f.bytes, 0)).toBeGreaterThan(WINDOW - 200);
      },
      { timeout: 10_000, interval: 20 },
    );
    const killedAt = Date.now();
    await requester.proc.kill("SIGKILL");
    const ended = await lostWithinWindow(
      compute,
      [...Object.values(streams), held],
      killedAt,
      "SIGKILL requester → producer released",
    );
    expect(compute.events<ChaosEvent>("requester-lost", requester.nodeId)).toHaveLength(1);
    expect(await framesAfterStop(observer, compute, ended)).toEqual([]);
    const stats = await compute.computeStats();
    expect(stats).toMatchObject({ openStreams: 0, requesters: [], openStreamsByRequester: {} });
    expect(stats.streamsEnded.requester_lost).toBe(3);
    expect(await compute.closeAndExit()).toEqual({ code: 0, signal: null });
  });

  it("SIGSTOP = dead: the compute node gives a frozen requester up; thawed, it does not get its streams back", async () => {
    const { computeId, observer, compute, requesters } = await setup(1);
    const requester = requesters[0]!;
    const streams = await openFollows(requester, computeId, { s1: "e1", s2: "e1" });
    const frozenAt = Date.now();
    requester.proc.freeze();
    const ended = await lostWithinWindow(
      compute,
      Object.values(streams),
      frozenAt,
      "SIGSTOP requester → producer released",
    );
    expect(await framesAfterStop(observer, compute, ended)).toEqual([]);
    const accepted = compute.events("stream-accepted").length;

    const thawedAt = Date.now();
    requester.proc.thaw();
    // Its iterators end with an error that says what happened: this requester was stalled and
    // the compute node gave it up (not "compute node silent": the node is healthy).
    const window = COMPUTE_LOST_WINDOW_MS + SLACK_MS;
    for (const tag of Object.keys(streams)) {
      const end = await requester.event<RequesterEndedEvent>("ended", tag);
      expect(end).toMatchObject({
        outcome: "error",
        error: "RequesterStalledError",
        code: "REQUESTER_LOST",
      });
      const ms = chaos.measured.add(
        "thaw → requester's stream ended",
        end.t - thawedAt,
        `${window}`,
      );
      expect(ms).toBeLessThanOrEqual(window);
    }
    // Nothing was resurrected: no frame, no stream, no heartbeat link on the compute node.
    expect(await framesAfterStop(observer, compute, ended)).toEqual([]);
    expect(compute.events("stream-accepted")).toHaveLength(accepted);
    const stats = await compute.computeStats();
    expect(stats).toMatchObject({ openStreams: 0, requesters: [] });
    expect(stats.streamsEnded.requester_lost).toBe(2);
    expect((await requester.requesterStats()).stats.openStreams).toBe(0);
    expect(await requester.closeAndExit()).toEqual({ code: 0, signal: null });
    expect(await compute.closeAndExit()).toEqual({ code: 0, signal: null });
  });

  // Regression (requester, client.ts #sweep): on thaw the sweep timer fires before the poll phase
  // reads the heartbeats and frames waiting in the socket; the sweep used to blame the stall on
  // the compute node (ComputeNodeLostError ~5 ms after thaw) and cancel the live stream.
  it("a requester's own stall is not blamed on a compute node that kept serving it", async () => {
    // The compute node is patient (10 missed heartbeats, 2 s); the requester stalls for 4
    // intervals, longer than its computeLostAfterMissed (3) but far shorter than that. The
    // compute node's heartbeats and frames wait in the requester's socket the whole time.
    const { computeId, compute, requesters } = await setup(1, ["e1"], { maxMissed: 10 });
    const requester = requesters[0]!;
    const streams = await openFollows(requester, computeId, { s1: "e1" });
    requester.proc.freeze();
    await observeFor(4 * TIMING.heartbeatIntervalMs);
    const thawedAt = Date.now();
    requester.proc.thaw();
    // Still streaming after the stall (it resumes with what waited in the socket), or ended.
    const before = (await requester.requesterStats()).streams["s1"]!.entries;
    await vi.waitFor(
      async () => {
        if (requester.events("ended", "s1").length > 0) return;
        const now = (await requester.requesterStats()).streams["s1"]!.entries;
        expect(now).toBeGreaterThanOrEqual(before + 10);
      },
      { timeout: 5_000, interval: 50 },
    );
    const ended = requester.events<RequesterEndedEvent>("ended", "s1");
    expect(
      ended.map((e) => ({ error: e.error, afterThawMs: e.t - thawedAt })),
      "the requester ended a live stream after its own stall",
    ).toEqual([]);
    expect(compute.events("stream-ended", streams["s1"])).toEqual([]);
    expect((await compute.computeStats()).openStreams).toBe(1);
    expect(await requester.closeAndExit()).toEqual({ code: 0, signal: null });
    expect(await compute.closeAndExit()).toEqual({ code: 0, signal: null });
  });

  it("requesters are independent: killing A ends only A's streams; B's continue and complete", async () => {
    const { computeId, observer, compute, requesters } = await setup(2, ["e1", "e2"]);
    const [a, b] = requesters as [ChaosNode, ChaosNode];
    const aStreams = await openFollows(a, computeId, { a1: "e1", a2: "e2" });
    await openFollows(b, computeId, { b1: "e1", b2: "e2" });
    const killedAt = Date.now();
    await a.proc.kill("SIGKILL");
    const ended = await lostWithinWindow(
      compute,
      Object.values(aStreams),
      killedAt,
      "SIGKILL requester A → A's streams released",
    );
    // B keeps receiving after A's streams were released.
    const before = (await b.requesterStats()).streams;
    await vi.waitFor(
      async () => {
        const now = (await b.requesterStats()).streams;
        expect(now["b1"]!.entries).toBeGreaterThanOrEqual(before["b1"]!.entries + 10);
        expect(now["b2"]!.entries).toBeGreaterThanOrEqual(before["b2"]!.entries + 10);
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(b.events("ended")).toEqual([]);
    const midStats = await compute.computeStats();
    expect(midStats.openStreams).toBe(2);
    expect(midStats.requesters.map((r) => r.requesterNodeId)).toEqual([b.nodeId]);
    expect(midStats.requesters[0]!.consecutiveFailures).toBe(0);

    compute.send("complete e1 0");
    compute.send("complete e2 3");
    expect(await b.event<RequesterEndedEvent>("ended", "b1")).toMatchObject({
      outcome: "completed",
      exitCode: 0,
    });
    expect(await b.event<RequesterEndedEvent>("ended", "b2")).toMatchObject({
      outcome: "completed",
      exitCode: 3,
    });
    expect(await framesAfterStop(observer, compute, ended)).toEqual([]);
    const stats = await compute.computeStats();
    expect(stats).toMatchObject({ openStreams: 0, requesters: [] });
    expect(stats.streamsEnded).toMatchObject({ requester_lost: 2, completed: 2 });
    expect(await b.closeAndExit()).toEqual({ code: 0, signal: null });
    expect(await compute.closeAndExit()).toEqual({ code: 0, signal: null });
  });
});

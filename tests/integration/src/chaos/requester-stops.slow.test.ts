// Chaos, part 1: the requester no longer needs the logs, shuts down, loses its connection or
// comes back under the same id. Compute node and requester are separate OS processes
// (fixtures/*.mjs); the test process watches the requester's inboxes with a plain subscriber.
import { describe, expect, it, vi } from "vitest";
import {
  type ChaosEvent,
  type ChaosNode,
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

let ids = 0;

describe.each(TOPOLOGIES)("chaos: the requester no longer needs the logs [%s]", (topology) => {
  // Once on one nats-server, once on a 3-node cluster with every side on its own member.
  const chaos = useChaosScene("requester stops", topology);

  async function setup(options: { maxMissed?: number } = {}) {
    const n = ++ids;
    const computeId = `c-stop-${n}`;
    const requesterId = `r-stop-${n}`;
    const observer = await chaos.observer([requesterId]);
    const compute = await chaos.compute({ nodeId: computeId, executions: ["e1"], ...options });
    const requester = await chaos.requester({ nodeId: requesterId });
    return { computeId, requesterId, observer, compute, requester };
  }

  async function expectReleased(compute: ChaosNode): Promise<void> {
    const stats = await compute.computeStats();
    expect(stats.openStreams).toBe(0);
    expect(stats.requesters).toEqual([]);
  }

  it("break, cancel(), abort and client.close() each stop the producer within one round trip", async () => {
    const { computeId, observer, compute, requester } = await setup();
    const streams = await openFollows(requester, computeId, {
      cancel: "e1",
      abort: "e1",
      close: "e1",
    });
    // `break` out of the loop after 3 entries (opened last: it stops on its own).
    requester.send(`open brk ${computeId} e1 3`);
    const breaking = await requester.event("breaking", "brk");
    const brkId = (await requester.event<RequesterEndedEvent>("ended", "brk")).streamId;

    const ended: StreamEndedEvent[] = [];
    const stopped = async (what: string, stopAt: number, streamId: string) => {
      const end = await compute.event<StreamEndedEvent>("stream-ended", streamId);
      expect(end.cause).toBe("cancelled");
      const ms = chaos.measured.add(
        `${what} → producer stopped`,
        end.t - stopAt,
        `${ROUND_TRIP_MS}`,
      );
      expect(ms).toBeLessThanOrEqual(ROUND_TRIP_MS);
      ended.push(end);
    };
    await stopped("break", breaking.t, brkId);

    requester.send("cancel cancel");
    await stopped(
      "cancel()",
      (await requester.event("cancelling", "cancel")).t,
      streams["cancel"]!,
    );
    const cancelEnd = await requester.event<RequesterEndedEvent>("ended", "cancel");
    expect(cancelEnd.outcome).toBe("cancelled");

    requester.send("abort abort");
    await stopped(
      "abort signal",
      (await requester.event("aborting", "abort")).t,
      streams["abort"]!,
    );
    expect(await requester.event<RequesterEndedEvent>("ended", "abort")).toMatchObject({
      outcome: "error",
      error: "CancelledError",
      code: "CANCELLED",
    });

    requester.send("close-client");
    const closing = await requester.event("closing-client", requester.nodeId);
    await stopped("client.close()", closing.t, streams["close"]!);
    expect(await requester.event<RequesterEndedEvent>("ended", "close")).toMatchObject({
      outcome: "error",
      error: "CancelledError",
    });

    expect(await framesAfterStop(observer, compute, ended)).toEqual([]);
    await expectReleased(compute);
    expect((await requester.requesterStats()).stats.openStreams).toBe(0);
    expect(await requester.closeAndExit()).toEqual({ code: 0, signal: null });
    expect(await compute.closeAndExit()).toEqual({ code: 0, signal: null });
  });

  it("a lost cancel is caught by the next heartbeat answer (unknown stream), not the lost-requester path", async () => {
    const { computeId, observer, compute, requester } = await setup();
    const { s1 } = await openFollows(requester, computeId, { s1: "e1" });
    requester.send("drop-control on");
    await requester.event("drop-control", "on");
    requester.send("cancel s1");
    const cancelling = await requester.event("cancelling", "s1");
    const end = await compute.event<StreamEndedEvent>("stream-ended", s1!);
    expect(end.cause).toBe("unknown_to_requester");
    const window = TIMING.heartbeatIntervalMs + TIMING.heartbeatTimeoutMs + SLACK_MS;
    const ms = chaos.measured.add(
      "lost cancel → producer stopped",
      end.t - cancelling.t,
      `${window}`,
    );
    expect(ms).toBeLessThanOrEqual(window);
    const stats = await requester.requesterStats();
    expect(stats.droppedControl).toBeGreaterThanOrEqual(1); // the cancel really was lost
    expect(stats.stats.heartbeatsAnswered).toBeGreaterThanOrEqual(1);
    expect(stats.stats.openStreams).toBe(0);

    expect(await framesAfterStop(observer, compute, [end])).toEqual([]);
    const computeStats = await compute.computeStats();
    expect(computeStats.streamsEnded.unknown_to_requester).toBe(1);
    expect(computeStats.heartbeatsFailed).toBe(0);
    await expectReleased(compute);
    expect(await requester.closeAndExit()).toEqual({ code: 0, signal: null });
    expect(await compute.closeAndExit()).toEqual({ code: 0, signal: null });
  });

  it("a requester that shuts down gracefully stops its streams at once, without a heartbeat window", async () => {
    const { computeId, observer, compute, requester } = await setup();
    const streams = await openFollows(requester, computeId, { s1: "e1", s2: "e1" });
    const exited = requester.closeAndExit();
    const closing = await requester.event("closing", requester.nodeId);
    const ended: StreamEndedEvent[] = [];
    for (const streamId of Object.values(streams)) {
      const end = await compute.event<StreamEndedEvent>("stream-ended", streamId);
      expect(end.cause).toBe("cancelled");
      const ms = chaos.measured.add(
        "requester close → producer stopped",
        end.t - closing.t,
        `${ROUND_TRIP_MS}`,
      );
      expect(ms).toBeLessThanOrEqual(ROUND_TRIP_MS);
      ended.push(end);
    }
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(await framesAfterStop(observer, compute, ended)).toEqual([]);
    const stats = await compute.computeStats();
    expect(stats.heartbeatsFailed).toBe(0); // it never came to heartbeats
    await expectReleased(compute);
    expect(await compute.closeAndExit()).toEqual({ code: 0, signal: null });
  });

  it("the Go system's scenario: the requester's connection closes after ~1 s of streaming; the producer stops within 0.6 s (theirs: 2.8 s)", async () => {
    const { computeId, observer, compute, requester } = await setup();
    const { s1 } = await openFollows(requester, computeId, { s1: "e1" });
    // About one second of streaming: the producer appends a line every 20 ms.
    await vi.waitFor(
      async () => {
        const stats = await requester.requesterStats();
        expect(stats.streams["s1"]!.entries).toBeGreaterThanOrEqual(50);
      },
      { timeout: 10_000, interval: 100 },
    );
    requester.send("close-nc");
    const closing = await requester.event("closing-nc", requester.nodeId);
    const end = await compute.event<StreamEndedEvent>("stream-ended", s1!);
    const ms = chaos.measured.add(
      `connection closed → producer stopped (cause ${end.cause})`,
      end.t - closing.t,
      "600",
    );
    expect(ms).toBeLessThanOrEqual(600);
    expect(["cancelled", "requester_lost"]).toContain(end.cause);
    // The consumer is not left hanging either.
    expect(await requester.event<RequesterEndedEvent>("ended", "s1")).toMatchObject({
      outcome: "error",
    });
    expect(await framesAfterStop(observer, compute, [end])).toEqual([]);
    await expectReleased(compute);
    expect(await requester.closeAndExit()).toEqual({ code: 0, signal: null });
    expect(await compute.closeAndExit()).toEqual({ code: 0, signal: null });
  });

  it("a requester restarted with the same id answers 'unknown' and the producer stops at the next heartbeat", async () => {
    // maxMissed 10: giving the requester up would take 2 s, so a fast stop can only come from
    // the new instance's answer.
    const { computeId, requesterId, observer, compute, requester } = await setup({
      maxMissed: 10,
    });
    const streams = await openFollows(requester, computeId, { s1: "e1", s2: "e1" });
    // The new instance's process is up before the old one dies; it connects on command.
    const reborn = await chaos.requester({ nodeId: requesterId, lazy: true });
    await requester.proc.kill();
    reborn.send("connect");
    const ready = await reborn.event("ready", requesterId);
    const ended: StreamEndedEvent[] = [];
    const window = TIMING.heartbeatIntervalMs + TIMING.heartbeatTimeoutMs + SLACK_MS;
    for (const streamId of Object.values(streams)) {
      const end = await compute.event<StreamEndedEvent>("stream-ended", streamId);
      expect(end.cause).toBe("unknown_to_requester");
      const ms = chaos.measured.add(
        "new instance ready → old stream stopped",
        end.t - ready.t,
        `${window}`,
      );
      expect(ms).toBeLessThanOrEqual(window);
      ended.push(end);
    }
    expect(compute.events<ChaosEvent>("requester-lost")).toEqual([]);
    const rebornStats = await reborn.requesterStats();
    expect(rebornStats.stats.heartbeatsAnswered).toBeGreaterThanOrEqual(1);
    expect(rebornStats.stats.openStreams).toBe(0);
    expect(await framesAfterStop(observer, compute, ended)).toEqual([]);
    await expectReleased(compute);
    expect(await reborn.closeAndExit()).toEqual({ code: 0, signal: null });
    expect(await compute.closeAndExit()).toEqual({ code: 0, signal: null });
  });
});

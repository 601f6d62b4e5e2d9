import { MessageType } from "@tailwire/protocol";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { addRequester, Cleanups, NODE, startFixture } from "./test-helpers/fixture.js";
import { endedRecord, RecordingLogger } from "./test-helpers/recording-logger.js";
import { quietPeriod, type TestRequester, type TestStream } from "./test-helpers/test-requester.js";

let nats: NatsServer;
const cleanups = new Cleanups();

beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(async () => {
  await nats?.stop();
});
afterEach(() => cleanups.run());

const INTERVAL = 100;

async function openFollows(
  requester: TestRequester,
  count: number,
  overrides = {},
): Promise<TestStream[]> {
  const streams = Array.from({ length: count }, () =>
    requester.open(NODE, "exec-hb", { follow: true, heartbeatIntervalMs: INTERVAL, ...overrides }),
  );
  await Promise.all(streams.map((s) => s.until(() => s.accepted !== undefined, 5000, "Accepted")));
  return streams;
}

describe("LogStreamServer heartbeats", () => {
  it("sends one heartbeat per interval listing every open stream of the requester", async () => {
    const { store, server, requester } = await startFixture(nats, cleanups);
    await store.create("exec-hb");
    const streams = await openFollows(requester, 5);
    await vi.waitFor(() => expect(requester.heartbeats.length).toBeGreaterThanOrEqual(4), {
      timeout: 3000,
    });
    const ids = streams.map((s) => s.streamId).sort();
    expect(requester.heartbeats.at(-1)).toEqual({
      type: MessageType.Heartbeat,
      computeNodeId: NODE,
      streamIds: expect.arrayContaining(ids),
    });
    expect(requester.heartbeats.at(-1)!.streamIds).toHaveLength(5);
    // One per interval for the requester, not one per stream.
    const times = requester.heartbeatTimes;
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    for (const gap of gaps) expect(gap).toBeGreaterThan(INTERVAL * 0.5);
    const stats = server.stats();
    expect(stats.requesters).toEqual([
      {
        requesterNodeId: "req-1",
        heartbeatSubject: "_TW.req-1.hb",
        openStreams: 5,
        waitingForCredit: 0,
        lastHeartbeatAt: expect.any(Number),
        consecutiveFailures: 0,
      },
    ]);
    expect(stats.heartbeatsFailed).toBe(0);
  });

  it("stops the streams a heartbeat answer reports unknown, silently", async () => {
    const logger = new RecordingLogger();
    const { store, server, requester } = await startFixture(nats, cleanups, { logger });
    await store.create("exec-hb");
    const streams = await openFollows(requester, 3);
    const [gone1, gone2, kept] = streams as [TestStream, TestStream, TestStream];
    requester.forget.add(gone1.streamId);
    requester.forget.add(gone2.streamId);
    await logger.next(endedRecord(gone1.streamId), 3000);
    await logger.next(endedRecord(gone2.streamId), 3000);
    expect(server.stats().openStreams).toBe(1);
    expect(server.stats().streamsEnded.unknown_to_requester).toBe(2);
    expect(logger.find(endedRecord(gone1.streamId))[0]!.obj["cause"]).toBe("unknown_to_requester");
    await store.append("exec-hb", "stdout", "only for the kept stream");
    await kept.until(() => kept.seqs.length === 1);
    await quietPeriod(50);
    expect(gone1.frames.map((f) => f.type)).toEqual([MessageType.Accepted]);
    expect(gone2.frames.map((f) => f.type)).toEqual([MessageType.Accepted]);
  });

  it("gives up a requester with no heartbeat subscriber within interval x maxMissed (+ timeout)", async () => {
    const logger = new RecordingLogger();
    const { store, server } = await startFixture(nats, cleanups, {
      logger,
      heartbeat: { maxMissed: 2 },
    });
    await store.create("exec-hb");
    const ghost = await addRequester(nats, cleanups, "ghost", { answerHeartbeats: false });
    const [stream] = (await openFollows(ghost, 1)) as [TestStream];
    const acceptedAt = stream.received[0]!.at;
    const ended = await logger.next(endedRecord(stream.streamId), 3000);
    expect(ended.obj["cause"]).toBe("requester_lost");
    const elapsed = ended.at - acceptedAt;
    // No responders fail at once: lost at the second beat. Beats are jittered (the first after
    // 0.5-1 interval, the next 0.9-1 interval later), so that is 1.4 to 2 intervals after the accept.
    expect(elapsed).toBeGreaterThanOrEqual(INTERVAL * 1.4 - 20);
    // The protocol's bound is interval x maxMissed + timeout (capped at 90 ms below a 100 ms interval).
    expect(elapsed).toBeLessThanOrEqual(INTERVAL * 2 + 90);
    const stats = server.stats();
    expect(stats).toMatchObject({ openStreams: 0, requesters: [], heartbeatsFailed: 2 });
    expect(stats.streamsEnded.requester_lost).toBe(1);
    // Nothing more is published on a lost requester's stream.
    await store.append("exec-hb", "stdout", "nobody listens");
    await quietPeriod(50);
    expect(stream.frames.map((f) => f.type)).toEqual([MessageType.Accepted]);
  });

  it("gives up a requester that never answers within interval x maxMissed + timeout", async () => {
    const logger = new RecordingLogger();
    const { store } = await startFixture(nats, cleanups, { logger });
    await store.create("exec-hb");
    const frozen = await addRequester(nats, cleanups, "frozen", { silentHeartbeats: true });
    const [stream] = (await openFollows(frozen, 1, { heartbeatTimeoutMs: 50 })) as [TestStream];
    const acceptedAt = stream.received[0]!.at;
    const ended = await logger.next(endedRecord(stream.streamId), 3000);
    expect(ended.obj["cause"]).toBe("requester_lost");
    const elapsed = ended.at - acceptedAt;
    expect(elapsed).toBeGreaterThanOrEqual(INTERVAL * 1.4 + 50 - 20);
    expect(elapsed).toBeLessThanOrEqual(INTERVAL * 2 + 50 + 60);
    expect(frozen.heartbeats).toHaveLength(2);
  });

  it("tolerates fewer than maxMissed failures: a requester that answers again keeps its streams", async () => {
    const { store, server, requester } = await startFixture(nats, cleanups, {
      heartbeat: { maxMissed: 4 },
    });
    await store.create("exec-hb");
    await openFollows(requester, 1);
    await vi.waitFor(() => expect(requester.heartbeats.length).toBeGreaterThanOrEqual(1), {
      timeout: 3000,
    });
    requester.silent = true;
    await vi.waitFor(() => expect(server.stats().requesters[0]?.consecutiveFailures).toBe(2), {
      timeout: 3000,
      interval: 5,
    });
    // A beat already sent while silent may still fail: at most 3 in a row, below maxMissed.
    requester.silent = false;
    await vi.waitFor(() => expect(server.stats().requesters[0]?.consecutiveFailures).toBe(0), {
      timeout: 3000,
    });
    expect(server.stats().openStreams).toBe(1);
    expect(server.stats().heartbeatsFailed).toBeGreaterThanOrEqual(2);
    expect(server.stats().heartbeatsFailed).toBeLessThanOrEqual(3);
    expect(server.stats().streamsEnded.requester_lost).toBe(0);
  });

  it("a dead requester never delays the heartbeats of another", async () => {
    const logger = new RecordingLogger();
    const { store, server, requester } = await startFixture(nats, cleanups, {
      logger,
      heartbeat: { timeoutMs: 5000, maxMissed: 4 },
    });
    await store.create("exec-hb");
    const frozen = await addRequester(nats, cleanups, "frozen", { silentHeartbeats: true });
    const [dead] = (await openFollows(frozen, 1)) as [TestStream];
    const healthy = await openFollows(requester, 2);
    await logger.next(endedRecord(dead.streamId), 5000);
    // While the dead one timed out beat after beat (each timeout ~90 ms, capped below the
    // interval), the healthy requester got its beats on time.
    const times = requester.heartbeatTimes;
    expect(times.length).toBeGreaterThanOrEqual(3);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    for (const gap of gaps) expect(gap).toBeLessThan(INTERVAL + 60);
    expect(server.stats().openStreams).toBe(2);
    expect(server.stats().requesters).toEqual([
      expect.objectContaining({ requesterNodeId: "req-1", openStreams: 2 }),
    ]);
    for (const s of healthy) expect(s.frames.map((f) => f.type)).toEqual([MessageType.Accepted]);
  });

  it("keeps no heartbeat timer once no stream is open", async () => {
    const { store, server, requester } = await startFixture(nats, cleanups);
    await store.create("exec-hb");
    const streams = await openFollows(requester, 2);
    await vi.waitFor(() => expect(requester.heartbeats.length).toBeGreaterThanOrEqual(1), {
      timeout: 3000,
    });
    requester.cancel(
      NODE,
      streams.map((s) => s.streamId),
    );
    await vi.waitFor(() => expect(server.stats().openStreams).toBe(0));
    expect(server.stats().requesters).toEqual([]);
    const sent = server.stats().heartbeatsSent;
    await quietPeriod(INTERVAL * 3);
    expect(server.stats().heartbeatsSent).toBe(sent);
  });
});

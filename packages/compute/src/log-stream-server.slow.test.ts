import { type ErrorFrame, encode, MessageType, newStreamId, subjects } from "@tailwire/protocol";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { addRequester, Cleanups, fill, NODE, startFixture } from "./test-helpers/fixture.js";
import { quietPeriod } from "./test-helpers/test-requester.js";

let nats: NatsServer;
const cleanups = new Cleanups();

beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(async () => {
  await nats?.stop();
});
afterEach(() => cleanups.run());

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("LogStreamServer reads", () => {
  it("sends the whole history, then End with lastSeq", async () => {
    const { store, requester } = await startFixture(nats, cleanups);
    await fill(store, "exec-a", 50);
    const stream = requester.open(NODE, "exec-a");
    const end = await stream.final();
    expect(stream.accepted).toMatchObject({ n: 0, computeNodeId: NODE, afterSeq: 0, lastSeq: 50 });
    expect(stream.seqs).toEqual(range(1, 50));
    expect(stream.entries[0]).toEqual({
      seq: 1,
      stream: "stdout",
      time: 1_000_001,
      line: "line 1",
    });
    expect(end).toMatchObject({ type: MessageType.End, lastSeq: 50, exitCode: null });
    expect(stream.frameNumbersAreConsecutive()).toBe(true);
  });

  it("tail N sends the last N lines", async () => {
    const { store, requester } = await startFixture(nats, cleanups);
    await fill(store, "exec-a", 50);
    await store.complete("exec-a", 7);
    const stream = requester.open(NODE, "exec-a", { tail: 5 });
    expect(await stream.final()).toMatchObject({ type: MessageType.End, lastSeq: 50, exitCode: 7 });
    expect(stream.accepted?.afterSeq).toBe(45);
    expect(stream.seqs).toEqual(range(46, 50));
  });

  it("filters by stream and since, and fromSeq wins over tail", async () => {
    const { store, requester } = await startFixture(nats, cleanups);
    await fill(store, "exec-a", 20);
    const stderr = requester.open(NODE, "exec-a", { streams: ["stderr"], tail: 3 });
    const since = requester.open(NODE, "exec-a", { since: 1_000_015 });
    const fromSeq = requester.open(NODE, "exec-a", { fromSeq: 17, tail: 1 });
    await Promise.all([stderr.final(), since.final(), fromSeq.final()]);
    expect(stderr.seqs).toEqual([16, 18, 20]);
    expect(stderr.entries.every((e) => e.stream === "stderr")).toBe(true);
    expect(since.seqs).toEqual(range(15, 20));
    expect(fromSeq.seqs).toEqual([18, 19, 20]);
    for (const s of [stderr, since, fromSeq])
      expect(s.last).toMatchObject({ type: MessageType.End, lastSeq: 20 });
  });

  it("tail 0 + follow sends only new lines and ends with the exit code at completion", async () => {
    const { store, server, requester } = await startFixture(nats, cleanups);
    await fill(store, "exec-f", 10);
    const stream = requester.open(NODE, "exec-f", { tail: 0, follow: true });
    await stream.until(() => stream.accepted !== undefined, 5000, "Accepted");
    expect(stream.accepted?.afterSeq).toBe(10);
    await store.append("exec-f", "stdout", "first new");
    await stream.until(() => stream.seqs.length === 1, 5000, "the first new line");
    await store.append("exec-f", "stderr", "second new");
    await store.complete("exec-f", 42);
    expect(await stream.final()).toMatchObject({
      type: MessageType.End,
      lastSeq: 12,
      exitCode: 42,
    });
    expect(stream.entries.map((e) => e.line)).toEqual(["first new", "second new"]);
    expect(stream.frameNumbersAreConsecutive()).toBe(true);
    await vi.waitFor(() => expect(server.stats().openStreams).toBe(0));
    expect(server.stats().streamsEnded.completed).toBe(1);
  });

  it("a follow delivers a live line within a few milliseconds", async () => {
    const { store, requester } = await startFixture(nats, cleanups);
    await store.create("exec-l");
    const stream = requester.open(NODE, "exec-l", { follow: true });
    await stream.until(() => stream.accepted !== undefined);
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await store.append("exec-l", "stdout", `live ${i}`);
      await stream.until(() => stream.seqs.length === i + 1);
      latencies.push(performance.now() - t0);
    }
    latencies.sort((a, b) => a - b);
    // Median well below a heartbeat interval: lines are not held back by batching.
    expect(latencies[10]!).toBeLessThan(50);
  });

  it("streams a big history fast, in frames no larger than maxFrameBytes", async () => {
    const { store, requester } = await startFixture(nats, cleanups);
    await store.create("exec-big");
    const line = "x".repeat(180);
    for (let i = 0; i < 100_000; i++) await store.append("exec-big", "stdout", line, 1);
    const t0 = performance.now();
    const stream = requester.open(NODE, "exec-big", { window: 64 * 1024 * 1024 });
    expect(await stream.final(20_000)).toMatchObject({ type: MessageType.End, lastSeq: 100_000 });
    const seconds = (performance.now() - t0) / 1000;
    expect(stream.seqs).toHaveLength(100_000);
    for (const r of stream.received) expect(r.bytes).toBeLessThanOrEqual(64 * 1024);
    // Batched: about 300 lines per frame, not one.
    expect(stream.dataFrames.length).toBeLessThan(100_000 / 200);
    expect(100_000 / seconds).toBeGreaterThan(50_000);
  });
});

describe("LogStreamServer concurrency", () => {
  it("serves 100 streams while one follows forever", async () => {
    const { store, server, requester } = await startFixture(nats, cleanups);
    await store.create("forever");
    await fill(store, "exec-c", 500);
    const follower = requester.open(NODE, "forever", { follow: true });
    await follower.until(() => follower.accepted !== undefined);
    const streams = Array.from({ length: 99 }, () => requester.open(NODE, "exec-c"));
    const finals = await Promise.all(streams.map((s) => s.final(15_000)));
    for (const [i, final] of finals.entries()) {
      expect(final).toMatchObject({ type: MessageType.End, lastSeq: 500 });
      expect(streams[i]!.seqs).toHaveLength(500);
    }
    expect(follower.last?.type).toBe(MessageType.Accepted);
    expect(server.stats().openStreams).toBe(1);
    await store.append("forever", "stdout", "still alive");
    await follower.until(() => follower.seqs.length === 1);
  });
});

describe("LogStreamServer rejections", () => {
  it("unknown execution: Error EXECUTION_NOT_FOUND without a frame number", async () => {
    const { server, requester } = await startFixture(nats, cleanups);
    const stream = requester.open(NODE, "nope");
    const error = (await stream.final()) as ErrorFrame;
    expect(error).toMatchObject({
      type: MessageType.Error,
      code: "EXECUTION_NOT_FOUND",
      retryable: false,
    });
    expect(error.n).toBeUndefined();
    expect(server.stats().requestsRejected.EXECUTION_NOT_FOUND).toBe(1);
    expect(server.stats().openStreams).toBe(0);
  });

  it("invalid JSON gets no reply; a wrong targetPeerId BAD_REQUEST, a v2 request UNSUPPORTED_VERSION", async () => {
    const { server, requester } = await startFixture(nats, cleanups);
    // Names no inbox of its own: counted, never answered (the reply could be anyone's inbox).
    const garbage = requester.openRaw(NODE, newStreamId(), new TextEncoder().encode("{not json"));
    const wrongTarget = requester.open(NODE, "exec-a", { targetPeerId: "someone-else" });
    const v2Id = newStreamId();
    const v2 = requester.openRaw(
      NODE,
      v2Id,
      new TextEncoder().encode(
        JSON.stringify({
          type: "ExecutionLogs.Request/v2",
          sourcePeerId: requester.id,
          streamId: v2Id,
        }),
      ),
    );
    expect(await wrongTarget.final()).toMatchObject({
      type: MessageType.Error,
      code: "BAD_REQUEST",
    });
    expect(await v2.final()).toMatchObject({
      type: MessageType.Error,
      code: "UNSUPPORTED_VERSION",
    });
    expect(server.stats().requestsRejected).toMatchObject({
      BAD_REQUEST: 2,
      UNSUPPORTED_VERSION: 1,
    });
    // Handled before the two answered requests sent after it: it would have been answered by now.
    expect(garbage.received).toEqual([]);
  });

  it("enforces the limits", async () => {
    const { store, server, requester } = await startFixture(nats, cleanups, {
      limits: {
        maxStreams: 3,
        maxStreamsPerRequester: 2,
        maxTailLines: 100,
        maxRequestsPerSecondPerRequester: 10,
      },
    });
    await store.create("exec-f");
    const a = requester.open(NODE, "exec-f", { follow: true });
    const b = requester.open(NODE, "exec-f", { follow: true });
    const duplicate = requester.open(NODE, "exec-f", { follow: true, streamId: a.streamId });
    const third = requester.open(NODE, "exec-f", { follow: true });
    const tail = requester.open(NODE, "exec-f", { tail: 101 });
    await Promise.all([a, b].map((s) => s.until(() => s.accepted !== undefined)));
    // Same stream id, so the same TestStream: the rejection is an Error frame among a's frames.
    expect(duplicate).toBe(a);
    await a.until(() => a.frames.some((f) => f.type === MessageType.Error));
    expect(a.frames.find((f) => f.type === MessageType.Error)).toMatchObject({
      code: "DUPLICATE_STREAM",
    });
    expect(await third.final()).toMatchObject({ code: "TOO_MANY_REQUESTER_STREAMS" });
    expect(await tail.final()).toMatchObject({ code: "TOO_MANY_REQUESTER_STREAMS" });

    const other = await addRequester(nats, cleanups, "req-2");
    const c = other.open(NODE, "exec-f", { follow: true });
    await c.until(() => c.accepted !== undefined);
    expect(await other.open(NODE, "exec-f").final()).toMatchObject({ code: "TOO_MANY_STREAMS" });
    requester.cancel(NODE, [a.streamId]);
    await vi.waitFor(() => expect(server.stats().openStreams).toBe(2));
    expect(await requester.open(NODE, "exec-f", { tail: 101 }).final()).toMatchObject({
      code: "TAIL_TOO_LARGE",
    });

    // 10 per second, bursts of 10: the 6 requests above used 6 tokens.
    const burst = Array.from({ length: 15 }, () => requester.open(NODE, "nope"));
    const codes = (await Promise.all(burst.map((s) => s.final()))).map(
      (f) => (f as ErrorFrame).code,
    );
    expect(codes.filter((c) => c === "RATE_LIMITED").length).toBeGreaterThanOrEqual(1);
    const stats = server.stats();
    expect(stats.requestsRejected).toMatchObject({ DUPLICATE_STREAM: 1, TAIL_TOO_LARGE: 1 });
    // The burst's requests that passed the rate limit found the node full (2 open + 1 opening).
    expect(stats.requestsRejected.TOO_MANY_STREAMS).toBeGreaterThanOrEqual(1);
    expect(stats.requestsRejected.RATE_LIMITED).toBeGreaterThanOrEqual(1);
    expect(stats.openStreamsByRequester).toEqual({ "req-1": 1, "req-2": 1 });
  });
});

describe("LogStreamServer node-wide limits", () => {
  it("a fresh requester id per request does not get past the node-wide rate limit", async () => {
    // Per-requester buckets alone let 10,000 requests at 5,000/s through, none limited.
    const { server, requester } = await startFixture(nats, cleanups, {
      limits: { maxRequestsPerSecond: 5, maxRequestsPerSecondPerRequester: 1_000 },
    });
    const total = 40;
    const started = performance.now();
    for (let i = 0; i < total; i++) {
      const sourcePeerId = `flood-${i}`;
      const streamId = newStreamId();
      requester.nc.publish(
        subjects.request(NODE),
        encode({
          type: MessageType.Request,
          sourcePeerId,
          targetPeerId: NODE,
          executionId: "nope",
          streamId,
          follow: false,
          heartbeatSubject: subjects.heartbeat(sourcePeerId),
          heartbeatIntervalMs: 5_000,
          window: 65_536,
        }),
        { reply: subjects.streamInbox(sourcePeerId, streamId) },
      );
    }
    await vi.waitFor(() => {
      const r = server.stats().requestsRejected;
      expect(r.RATE_LIMITED + r.EXECUTION_NOT_FOUND).toBe(total);
    });
    const elapsedMs = performance.now() - started;
    const rejected = server.stats().requestsRejected;
    // A burst of twice the rate, plus what refilled (5/s) while the requests arrived.
    const admitted = 10 + Math.ceil((5 * elapsedMs) / 1000);
    expect(rejected.EXECUTION_NOT_FOUND).toBeGreaterThanOrEqual(10);
    expect(rejected.EXECUTION_NOT_FOUND).toBeLessThanOrEqual(admitted);
    expect(rejected.RATE_LIMITED).toBeGreaterThanOrEqual(total - admitted);
  });
});

describe("LogStreamServer frames", () => {
  it("splits a line larger than max_payload; the parts rejoin to the original", async () => {
    const small = await NatsServer.start({ config: { max_payload: 4096 } });
    cleanups.add(() => small.stop());
    const { store, requester } = await startFixture(small, cleanups);
    const huge = 'début "quoted" \\ tab\t 😀 '.repeat(2000); // ~56 KB of JSON, multi-byte and escapes
    await store.append("exec-h", "stdout", "before");
    await store.append("exec-h", "stderr", huge);
    await store.append("exec-h", "stdout", "after");
    const stream = requester.open(NODE, "exec-h");
    expect(await stream.final()).toMatchObject({ type: MessageType.End, lastSeq: 3 });
    expect(stream.accepted?.maxFrameBytes).toBeLessThanOrEqual(4096);
    for (const r of stream.received) expect(r.bytes).toBeLessThanOrEqual(4096);
    expect(stream.dataFrames.length).toBeGreaterThan(10);
    expect(stream.entries).toEqual([
      expect.objectContaining({ seq: 1, line: "before" }),
      expect.objectContaining({ seq: 2, stream: "stderr", line: huge }),
      expect.objectContaining({ seq: 3, line: "after" }),
    ]);
  });

  it("flow control: stops after the window and continues with credit", async () => {
    const { store, server, requester } = await startFixture(nats, cleanups);
    await store.create("exec-w");
    for (let i = 0; i < 2000; i++) await store.append("exec-w", "stdout", `${i} ${"y".repeat(90)}`);
    const window = 8192;
    const stream = requester.open(NODE, "exec-w", { window });
    await stream.until(() => stream.dataBytes > window - 2048, 5000, "the first window");
    await quietPeriod(200);
    expect(stream.dataBytes).toBeLessThanOrEqual(window);
    const firstWindow = stream.dataBytes;
    expect(server.stats().openStreams).toBe(1);

    requester.credit(NODE, stream.streamId, window);
    await stream.until(
      () => stream.dataBytes > firstWindow + window - 2048,
      5000,
      "the second window",
    );
    await quietPeriod(100);
    expect(stream.dataBytes).toBeLessThanOrEqual(2 * window);

    // Credit from another requester is ignored and counted.
    requester.credit(NODE, stream.streamId, 1_000_000, "intruder");
    await vi.waitFor(() => expect(server.stats().controlRejected).toBe(1));
    expect(stream.dataBytes).toBeLessThanOrEqual(2 * window);

    requester.credit(NODE, stream.streamId, 10_000_000);
    expect(await stream.final()).toMatchObject({ type: MessageType.End, lastSeq: 2000 });
    expect(stream.seqs).toEqual(range(1, 2000));
  });

  it("cancel stops the stream at once; nothing more is sent", async () => {
    const { store, server, requester } = await startFixture(nats, cleanups);
    await store.create("exec-x");
    const stream = requester.open(NODE, "exec-x", { follow: true });
    await stream.until(() => stream.accepted !== undefined);
    await store.append("exec-x", "stdout", "one");
    await stream.until(() => stream.seqs.length === 1);

    requester.cancel(NODE, [stream.streamId], "intruder");
    await vi.waitFor(() => expect(server.stats().controlRejected).toBe(1));
    expect(server.stats().openStreams).toBe(1);

    requester.cancel(NODE, [stream.streamId]);
    await vi.waitFor(() => expect(server.stats().openStreams).toBe(0));
    const framesAtCancel = stream.received.length;
    for (let i = 0; i < 100; i++) await store.append("exec-x", "stdout", `after cancel ${i}`);
    await quietPeriod(150);
    expect(stream.received.length).toBe(framesAtCancel);
    expect(store.waitingReads("exec-x")).toBe(0);
    expect(server.stats().streamsEnded.cancelled).toBe(1);
  });

  it("close() sends GOING_AWAY on every open stream", async () => {
    const { store, server, requester } = await startFixture(nats, cleanups);
    await store.create("exec-g");
    const streams = [1, 2, 3].map(() => requester.open(NODE, "exec-g", { follow: true }));
    await Promise.all(streams.map((s) => s.until(() => s.accepted !== undefined)));
    await server.close();
    for (const s of streams) {
      expect(await s.final()).toMatchObject({
        type: MessageType.Error,
        code: "GOING_AWAY",
        retryable: true,
        n: 1,
      });
    }
    const stats = server.stats();
    expect(stats.openStreams).toBe(0);
    expect(stats.requesters).toEqual([]);
    expect(stats.streamsEnded.going_away).toBe(3);
    expect(store.waitingReads("exec-g")).toBe(0);
    // Unsubscribed: a new request finds no responder.
    const late = requester.open(NODE, "exec-g");
    await late.until(() => late.noResponders, 5000, "no responders");
    expect(late.received).toEqual([]);
  });

  it("a request without a usable reply subject is counted, not answered", async () => {
    const { server, requester } = await startFixture(nats, cleanups);
    const request = requester.request(NODE, "exec-a");
    requester.nc.publish(`node.compute.${NODE}.ExecutionLogs/v1`, encode(request));
    requester.nc.publish(`node.compute.${NODE}.ExecutionLogs/v1`, new TextEncoder().encode("[]"), {
      reply: "some.inbox.not-a-stream-id",
    });
    await vi.waitFor(() => expect(server.stats().requestsRejected.BAD_REQUEST).toBe(2));
  });
});

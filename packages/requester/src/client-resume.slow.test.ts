import {
  ExecutionNotFoundError,
  GoingAwayError,
  ResumeExhaustedError as ProtocolResumeExhaustedError,
  SequenceGapError,
} from "@tailwire/protocol";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ResumeExhaustedError } from "./index.js";
import { collect, Rig } from "./test-helpers/rig.js";

const entries = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ seq: from + i, line: `line ${from + i}` }));
const seqs = (list: { seq: number }[]) => list.map((e) => e.seq);
const range = (from: number, to: number) => seqs(entries(from, to));

describe("LogStreamClient: resume", () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await Rig.start();
  });
  afterEach(() => rig.cleanup());
  afterAll(() => rig.stop());

  it("a frame gap resumes with a new stream id from the last seq received: no loss, no duplicate", async () => {
    const { client } = await rig.client({ resume: {} });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec", tail: 100 });
    const result = collect(stream);
    const first = await compute.nextRequest();
    expect(first.request.tail).toBe(100);
    first.accept({ afterSeq: 0 });
    first.data(entries(1, 3));
    first.n++; // frame 2 lost in transit
    first.data(entries(7, 9));
    const second = await compute.nextRequest();
    expect(second.streamId).not.toBe(first.streamId);
    expect(second.request.fromSeq).toBe(3);
    expect(second.request.tail).toBeUndefined(); // fromSeq says it all
    await compute.waitForCancel(first.streamId);
    // Late frames of the broken attempt are ignored.
    first.data(entries(10, 10));
    second.accept();
    second.data(entries(4, 9));
    second.end(9, 0);
    const { entries: got, error } = await result;
    expect(error).toBeUndefined();
    expect(seqs(got)).toEqual(range(1, 9));
    expect(stream.attempts).toBe(2);
    expect(stream.streamId).toBe(second.streamId);
    expect(stream.exitCode).toBe(0);
    expect(stream.acceptedInfo?.afterSeq).toBe(0); // the first acceptance is what the consumer saw
    expect(client.stats()).toMatchObject({
      resumeAttempts: 1,
      resumesExhausted: 0,
      openStreams: 0,
      streamsEnded: { completed: 1 },
    });
  });

  it("entries still buffered are kept and the resume starts after them, with a window that counts them", async () => {
    const windowBytes = 64 * 1024;
    const { client } = await rig.client({ resume: {}, windowBytes });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec" });
    const first = await compute.nextRequest();
    expect(first.request.window).toBe(windowBytes);
    first.accept();
    const bytes = first.data(entries(1, 50));
    // Nobody reads yet: all 50 are buffered when the compute node goes away.
    first.error("GOING_AWAY", "restarting", { retryable: true });
    const second = await compute.nextRequest();
    expect(second.request.fromSeq).toBe(50);
    expect(second.request.window).toBe(windowBytes - bytes);
    second.accept();
    second.data(entries(51, 60));
    second.end(60);
    const { entries: got, error } = await collect(stream);
    expect(error).toBeUndefined();
    expect(seqs(got)).toEqual(range(1, 60));
  });

  it("a stream its compute node no longer lists is resumed, not failed", async () => {
    const { client } = await rig.client({ resume: {}, unlistedGraceMs: 0 });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec", follow: true });
    const result = collect(stream);
    const first = await compute.nextRequest();
    first.accept({ afterSeq: 5 });
    first.data(entries(6, 7));
    await compute.waitForControl(() => true).catch(() => {}); // nothing to wait for, usually
    // The compute node restarted its side of the stream (e.g. cancelled by someone else).
    await compute.heartbeat(client.nodeId, []);
    const second = await compute.nextRequest();
    expect(second.request.fromSeq).toBe(7);
    second.accept();
    second.data(entries(8, 8));
    second.end(8);
    const { entries: got, error } = await result;
    expect(error).toBeUndefined();
    expect(seqs(got)).toEqual([6, 7, 8]);
  });

  it("forged heartbeats omitting a stream cost a bounded number of resumes, not one each", async () => {
    // v1 cannot tell a forged heartbeat (another compute node claiming this one's id) from the
    // real one. Each omission used to resume the stream: 17 forgeries, 17 fresh requests.
    const { client } = await rig.client({
      resume: {},
      unlistedGraceMs: 0,
      heartbeatIntervalMs: 60_000,
    });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec", follow: true });
    const result = collect(stream);
    const first = await compute.nextRequest();
    first.accept();
    first.data(entries(1, 3));
    // The first omission is believed: the node may really have lost the stream.
    await compute.heartbeat(client.nodeId, []);
    await compute.waitForCancel(first.streamId);
    const second = await compute.nextRequest();
    expect(second.request.fromSeq).toBe(3);
    second.accept();
    second.data(entries(4, 5));
    // Twenty more right away: within the grown grace (one interval), none breaks the stream.
    for (let i = 0; i < 20; i++) await compute.heartbeat(client.nodeId, []);
    // The genuine heartbeat after them is answered only once every forged one was handled; a
    // break would have sent its cancel before that answer.
    const answer = await compute.heartbeat(client.nodeId, [second.streamId]);
    expect(answer.unknownStreamIds).toEqual([]);
    expect(compute.cancelled().has(second.streamId)).toBe(false);
    expect(compute.requests).toHaveLength(2);
    expect(client.stats().resumeAttempts).toBe(1);
    second.data(entries(6, 6));
    second.end(6);
    const { entries: got, error } = await result;
    expect(error).toBeUndefined();
    expect(seqs(got)).toEqual(range(1, 6));
  });

  it("nothing received yet: the resume re-sends the original request, or asks after the accepted afterSeq", async () => {
    const { client } = await rig.client({ resume: {} });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec", tail: 0 });
    const result = collect(stream);
    const first = await compute.nextRequest();
    first.error("TOO_MANY_STREAMS", "busy", { retryable: true, numbered: false });
    const second = await compute.nextRequest();
    expect(second.request.tail).toBe(0);
    expect(second.request.fromSeq).toBeUndefined();
    second.accept({ afterSeq: 41 });
    second.error("GOING_AWAY", "bye", { retryable: true });
    const third = await compute.nextRequest();
    expect(third.request.fromSeq).toBe(41);
    third.accept();
    third.end(41);
    expect((await result).error).toBeUndefined();
    expect(stream.attempts).toBe(3);
  });

  it("gives up after maxAttempts with ResumeExhaustedError saying the last sequence delivered", async () => {
    const { client } = await rig.client({
      resume: { maxAttempts: 3, initialBackoffMs: 1, maxBackoffMs: 5 },
    });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec" });
    const result = collect(stream);
    const first = await compute.nextRequest();
    first.accept();
    first.data(entries(1, 41));
    first.error("INTERNAL", "disk on fire", { retryable: true });
    for (let i = 0; i < 3; i++) {
      const next = await compute.nextRequest();
      expect(next.request.fromSeq).toBe(41);
      next.error("INTERNAL", `still on fire ${i}`, { retryable: true, numbered: false });
    }
    const { entries: got, error } = await result;
    expect(seqs(got)).toEqual(range(1, 41));
    expect(error).toBeInstanceOf(ResumeExhaustedError);
    expect(error).toBeInstanceOf(ProtocolResumeExhaustedError);
    expect(error).toMatchObject({ code: "RESUME_EXHAUSTED", lastSeq: 41, attempts: 3 });
    expect((error as Error).message).toMatch(/last sequence delivered: 41/);
    expect((error as Error).message).toMatch(/still on fire 2/);
    expect(stream.lastSeq).toBe(41);
    expect(stream.attempts).toBe(4);
    expect(compute.requests).toHaveLength(4);
    expect(client.stats()).toMatchObject({ resumeAttempts: 3, resumesExhausted: 1 });
  });

  it("never resumes a non-retryable error", async () => {
    const { client } = await rig.client({ resume: {} });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec" });
    const first = await compute.nextRequest();
    first.accept();
    first.data(entries(1, 2));
    first.error("EXECUTION_NOT_FOUND", "gone", { retryable: false });
    const { entries: got, error } = await collect(stream);
    expect(seqs(got)).toEqual([1, 2]);
    expect(error).toBeInstanceOf(ExecutionNotFoundError);
    expect(compute.requests).toHaveLength(1);
    expect(stream.attempts).toBe(1);
  });

  it("a resume the log store can no longer serve from the right seq ends with a non-retryable gap, never hands one out", async () => {
    const { client } = await rig.client({ resume: {} });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec" });
    const first = await compute.nextRequest();
    first.accept();
    first.data(entries(1, 10));
    first.n++;
    first.data(entries(20, 21));
    const second = await compute.nextRequest();
    expect(second.request.fromSeq).toBe(10);
    // The store dropped its oldest entries meanwhile: it can serve only seq > 15.
    second.accept({ afterSeq: 15 });
    second.data(entries(16, 21));
    const { entries: got, error } = await collect(stream);
    expect(seqs(got)).toEqual(range(1, 10));
    expect(error).toBeInstanceOf(SequenceGapError);
    expect(error).toMatchObject({ retryable: false });
    expect((error as Error).message).toMatch(/5 entries are no longer/);
    await compute.waitForCancel(second.streamId);
    expect(compute.requests).toHaveLength(2);
  });

  it("GOING_AWAY and then nobody answers: ends at once with GoingAwayError", async () => {
    const { client } = await rig.client({ resume: {} });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec", follow: true });
    const first = await compute.nextRequest();
    first.accept();
    first.data(entries(1, 3));
    await compute.nc.flush();
    await expect.poll(() => client.stats().framesReceived).toBe(2); // Accepted and the data
    await compute.nc.close(); // unsubscribed: the next request gets "no responders"
    const { nc } = await rig.client(); // any connection will do to send the last frame
    const { encode, MessageType } = await import("@tailwire/protocol");
    nc.publish(
      first.reply,
      encode({
        type: MessageType.Error,
        streamId: first.streamId,
        n: 2,
        code: "GOING_AWAY",
        message: "shutting down",
        retryable: true,
      }),
    );
    const start = performance.now();
    const { entries: got, error } = await collect(stream);
    expect(performance.now() - start).toBeLessThan(2_000);
    expect(seqs(got)).toEqual([1, 2, 3]);
    expect(error).toBeInstanceOf(GoingAwayError);
    expect(stream.attempts).toBe(2);
  });

  it("resume: false keeps the old behaviour: the first failure ends the stream", async () => {
    const { client } = await rig.client({ resume: false });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec" });
    const first = await compute.nextRequest();
    first.accept();
    first.error("GOING_AWAY", "bye", { retryable: true });
    expect((await collect(stream)).error).toBeInstanceOf(GoingAwayError);
    expect(compute.requests).toHaveLength(1);
  });

  it("cancel() during the backoff ends the stream and sends nothing more", async () => {
    const { client } = await rig.client({
      resume: { initialBackoffMs: 60_000, maxBackoffMs: 60_000 },
    });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec" });
    const first = await compute.nextRequest();
    first.accept();
    first.error("INTERNAL", "x", { retryable: true });
    const second = await compute.nextRequest();
    second.error("INTERNAL", "y", { retryable: true, numbered: false });
    // Now waiting ~30-60 s before the third attempt.
    await expect.poll(() => client.stats().resumeAttempts).toBe(1);
    expect(client.stats().openStreams).toBe(1);
    stream.cancel();
    expect((await collect(stream)).error).toBeUndefined();
    expect(client.stats().openStreams).toBe(0);
    expect(compute.requests).toHaveLength(2);
  });

  it("rejects invalid resume options at construction", async () => {
    await expect(rig.client({ resume: { maxAttempts: 0 } })).rejects.toThrow(RangeError);
    await expect(
      rig.client({ resume: { maxBackoffMs: 10, initialBackoffMs: 20 } }),
    ).rejects.toThrow(RangeError);
    await expect(rig.client({ resumeAfterComputeLost: { forMs: 0 } })).rejects.toThrow(RangeError);
    await expect(
      rig.client({ resume: false, resumeAfterComputeLost: { forMs: 1000 } }),
    ).rejects.toThrow(TypeError);
  });
});

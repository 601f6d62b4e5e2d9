import {
  type AcceptedFrame,
  ComputeNodeLostError,
  type LogEntry,
  newStreamId,
} from "@tailwire/protocol";
import { describe, expect, it } from "vitest";
import { Attempt } from "./attempt.js";
import { ClientStream, type StreamOwner } from "./log-stream.js";
import { ResumeBudget } from "./resume-policy.js";

function setup() {
  const events: string[] = [];
  const owner: StreamOwner = {
    released: (_s, bytes) => events.push(`released ${bytes}`),
    cancelledByConsumer: (s) => {
      events.push("cancel");
      s.finish("cancelled", undefined, true);
    },
  };
  const attempt = new Attempt(newStreamId(), "c1", 4096, 4096);
  const stream = new ClientStream(
    { computeNodeId: "c1", executionId: "e1", follow: true },
    attempt,
    owner,
    new ResumeBudget(undefined),
  );
  const accepted: AcceptedFrame = {
    type: "ExecutionLogs.Accepted/v1",
    streamId: attempt.streamId,
    n: 0,
    computeNodeId: "c1",
    afterSeq: 3,
    lastSeq: 9,
    maxFrameBytes: 100,
  };
  const entry = (seq: number) => ({ seq, stream: "stdout" as const, time: 1, line: `l${seq}` });
  return { stream, events, accepted, entry };
}

describe("ClientStream", () => {
  it("wakes a pending next() when entries arrive, and tracks lastSeq", async () => {
    const { stream, events, accepted, entry } = setup();
    stream.markAccepted(accepted, 0);
    expect(stream.lastSeq).toBe(3);
    await expect(stream.accepted).resolves.toMatchObject({ afterSeq: 3, lastSeq: 9 });
    const it = stream[Symbol.asyncIterator]();
    const pending = it.next();
    stream.push([entry(4), entry(5)], 70);
    await expect(pending).resolves.toEqual({ done: false, value: entry(4) });
    expect(events).toEqual([]);
    await expect(it.next()).resolves.toEqual({ done: false, value: entry(5) });
    expect(events).toEqual(["released 70"]);
    expect(stream.lastSeq).toBe(5);
  });

  it("delivers buffered entries before the error, then throws it once", async () => {
    const { stream, accepted, entry } = setup();
    stream.markAccepted(accepted, 0);
    stream.push([entry(4)], 10);
    const error = new ComputeNodeLostError("gone");
    stream.finish("compute_node_lost", error, false);
    const it = stream[Symbol.asyncIterator]();
    await expect(it.next()).resolves.toEqual({ done: false, value: entry(4) });
    await expect(it.next()).rejects.toBe(error);
    await expect(it.next()).resolves.toEqual({ done: true, value: undefined });
  });

  it("cancel() makes a pending next() end quietly and drops buffered entries", async () => {
    const { stream, events, accepted } = setup();
    stream.markAccepted(accepted, 0);
    const it = stream[Symbol.asyncIterator]();
    const pending = it.next();
    stream.cancel();
    await expect(pending).resolves.toEqual({ done: true, value: undefined });
    expect(events).toEqual(["cancel"]);
    stream.cancel();
    expect(events).toEqual(["cancel"]);
  });

  it("leaving a for-await loop cancels", async () => {
    const { stream, events, entry } = setup();
    stream.push([entry(1), entry(2)], 10);
    for await (const e of stream) {
      expect((e as LogEntry).seq).toBe(1);
      break;
    }
    expect(events).toEqual(["cancel"]);
    expect(stream.endCause).toBe("cancelled");
  });

  it("rejects `accepted` when the stream ends first, without an unhandled rejection", async () => {
    const { stream } = setup();
    const error = new ComputeNodeLostError("x");
    stream.finish("error", error, false);
    await expect(stream.accepted).rejects.toBe(error);
  });

  it("can be iterated only once, by entries or by batches", () => {
    const { stream } = setup();
    stream[Symbol.asyncIterator]();
    expect(() => stream[Symbol.asyncIterator]()).toThrow(TypeError);
    const other = setup().stream;
    other.batches()[Symbol.asyncIterator]();
    expect(() => other[Symbol.asyncIterator]()).toThrow(TypeError);
    expect(() => other.batches()[Symbol.asyncIterator]()).toThrow(TypeError);
  });

  it("batches() hands out frames' entries whole, releases credit per batch and tracks lastSeq", async () => {
    const { stream, events, accepted, entry } = setup();
    stream.markAccepted(accepted, 0);
    const it = stream.batches()[Symbol.asyncIterator]();
    const pending = it.next();
    stream.push([entry(4), entry(5)], 70);
    stream.push([entry(6)], 30);
    await expect(pending).resolves.toEqual({ done: false, value: [entry(4), entry(5)] });
    expect(events).toEqual(["released 70"]);
    expect(stream.lastSeq).toBe(5);
    const error = new ComputeNodeLostError("gone");
    stream.finish("compute_node_lost", error, false);
    await expect(it.next()).resolves.toEqual({ done: false, value: [entry(6)] });
    expect(stream.lastSeq).toBe(6);
    await expect(it.next()).rejects.toBe(error);
    await expect(it.next()).resolves.toEqual({ done: true, value: undefined });
  });

  it("leaving a for-await loop over batches() cancels", async () => {
    const { stream, events, entry } = setup();
    stream.push([entry(1), entry(2)], 10);
    stream.push([entry(3)], 10);
    for await (const batch of stream.batches()) {
      expect((batch as LogEntry[]).map((e) => e.seq)).toEqual([1, 2]);
      break;
    }
    expect(events).toEqual(["released 10", "cancel"]);
    expect(stream.endCause).toBe("cancelled");
  });

  it("hands out a removal notice in order, counts it in lastSeq and resumes after it", async () => {
    const { stream, entry } = setup();
    const notice = { kind: "removed", reason: "retention", fromSeq: 2, toSeq: 40 } as const;
    stream.push([entry(1)], 10);
    stream.pushNotice(notice);
    stream.push([entry(41)], 10);
    // A resume asks for what comes after the notice, not for the removed lines again.
    expect(stream.receivedSeq).toBe(41);
    const it = stream[Symbol.asyncIterator]();
    await expect(it.next()).resolves.toEqual({ done: false, value: entry(1) });
    await expect(it.next()).resolves.toEqual({ done: false, value: notice });
    expect(stream.lastSeq).toBe(40);
    await expect(it.next()).resolves.toEqual({ done: false, value: entry(41) });
    expect(stream.lastSeq).toBe(41);
  });

  it("batches() hands a notice out as its own step", async () => {
    const { stream, entry } = setup();
    const notice = { kind: "removed", reason: "retention", fromSeq: 1, toSeq: 5 } as const;
    stream.pushNotice(notice);
    stream.push([entry(6), entry(7)], 10);
    const it = stream.batches()[Symbol.asyncIterator]();
    await expect(it.next()).resolves.toEqual({ done: false, value: notice });
    expect(stream.lastSeq).toBe(5);
    await expect(it.next()).resolves.toEqual({ done: false, value: [entry(6), entry(7)] });
  });
});

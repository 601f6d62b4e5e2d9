import {
  AcceptTimeoutError,
  CancelledError,
  ExecutionNotFoundError,
  encode,
  GoingAwayError,
  InternalError,
  type LogEntry,
  MessageType,
  NodeUnreachableError,
  newStreamId,
  ProtocolError,
  SequenceGapError,
  subjects,
} from "@tailwire/protocol";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { collect, Rig, uniqueId } from "./test-helpers/rig.js";

let rig: Rig;
beforeAll(async () => {
  rig = await Rig.start();
});
afterEach(() => rig.cleanup());
afterAll(() => rig.stop());

describe("LogStreamClient: a stream from request to end", () => {
  it("sends the request as PROTOCOL.md says and delivers every entry of several frames", async () => {
    const { client } = await rig.client({
      heartbeatIntervalMs: 1234,
      heartbeatTimeoutMs: 321,
      windowBytes: 8192,
    });
    const compute = await rig.compute();
    const since = new Date(1_700_000_000_000);
    const stream = client.streamLogs({
      nodeId: compute.nodeId,
      executionId: "exec-1",
      tail: 10,
      follow: true,
      since,
      streams: ["stdout"],
    });
    const remote = await compute.nextRequest();
    expect(remote.reply).toBe(subjects.streamInbox(client.nodeId, stream.streamId));
    expect(remote.request).toEqual({
      type: MessageType.Request,
      sourcePeerId: client.nodeId,
      targetPeerId: compute.nodeId,
      executionId: "exec-1",
      streamId: stream.streamId,
      tail: 10,
      follow: true,
      since: since.getTime(),
      streams: ["stdout"],
      heartbeatSubject: subjects.heartbeat(client.nodeId),
      heartbeatIntervalMs: 1234,
      heartbeatTimeoutMs: 321,
      window: 8192,
      notices: ["removed"],
      // No compression offer: it is opt-in (client-compression.slow.test.ts).
    });
    remote.accept({ afterSeq: 2, lastSeq: 9 });
    remote.data([{ seq: 3, line: "three" }]);
    remote.data([
      { seq: 4, line: "four", stream: "stderr" },
      { seq: 5, line: "five" },
    ]);
    remote.data([{ seq: 9, line: "nine" }]);
    remote.end(9, 0);
    const { entries, error } = await collect(stream);
    expect(error).toBeUndefined();
    expect(entries.map((e) => [e.seq, e.stream, e.line])).toEqual([
      [3, "stdout", "three"],
      [4, "stderr", "four"],
      [5, "stdout", "five"],
      [9, "stdout", "nine"],
    ]);
    expect(entries[0]).toEqual({
      seq: 3,
      stream: "stdout",
      time: 1_700_000_000_003,
      line: "three",
    });
    expect(stream.lastSeq).toBe(9);
    expect(stream.exitCode).toBe(0);
    expect(stream.endCause).toBe("completed");
    await expect(stream.accepted).resolves.toMatchObject({
      computeNodeId: compute.nodeId,
      afterSeq: 2,
      lastSeq: 9,
    });
    const stats = client.stats();
    expect(stats.openStreams).toBe(0);
    expect(stats.computeNodes).toEqual([]);
    expect(stats.streamsEnded.completed).toBe(1);
    expect(stats.framesReceived).toBe(5);
    expect(stats.framesRejected).toBe(0);
  });

  it("joins partial entries back into one line", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec-partial" });
    const remote = await compute.nextRequest();
    remote.accept();
    remote.data(
      [
        { seq: 1, line: "short" },
        { seq: 2, line: "aaaa" },
      ],
      true,
    );
    remote.data([{ seq: 2, line: "bbbb" }], true);
    remote.data([
      { seq: 2, line: "cc" },
      { seq: 3, line: "after" },
    ]);
    remote.end(3);
    const { entries, error } = await collect(stream);
    expect(error).toBeUndefined();
    expect(entries.map((e) => e.line)).toEqual(["short", "aaaabbbbcc", "after"]);
    expect(entries.every((e) => !("partial" in e))).toBe(true);
  });

  it("batches() delivers the same entries, a frame's whole lines at a time, joined lines included", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec-batches" });
    const remote = await compute.nextRequest();
    remote.accept();
    remote.data([
      { seq: 1, line: "one" },
      { seq: 2, line: "two" },
    ]);
    remote.data([{ seq: 3, line: "thr" }], true);
    remote.data([
      { seq: 3, line: "ee" },
      { seq: 4, line: "four" },
    ]);
    remote.end(4, 0);
    const batches: string[][] = [];
    for await (const batch of stream.batches())
      batches.push((batch as LogEntry[]).map((e) => e.line));
    expect(batches).toEqual([
      ["one", "two"],
      ["three", "four"],
    ]);
    expect(stream.lastSeq).toBe(4);
    expect(stream.exitCode).toBe(0);
  });

  it("an End before any data ends iteration at once, and late frames are ignored and counted", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec-empty" });
    const remote = await compute.nextRequest();
    remote.accept();
    remote.end(0, null);
    expect(await collect(stream)).toEqual({ entries: [], error: undefined });
    expect(stream.exitCode).toBeNull();
    remote.data([{ seq: 1, line: "late" }]);
    await vi.waitFor(() => expect(client.stats().framesIgnored).toBe(1));
  });

  it("an error frame ends the stream with the class of its code; unknown codes become InternalError", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const rejected = client.streamLogs({ nodeId: compute.nodeId, executionId: "missing" });
    const later = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec-2" });
    const future = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec-3" });
    (await compute.nextRequest()).error("EXECUTION_NOT_FOUND", "no logs for missing", {
      numbered: false,
    });
    const second = await compute.nextRequest();
    second.accept();
    second.data([{ seq: 1, line: "x" }]);
    second.error("GOING_AWAY", "shutting down", { retryable: true });
    (await compute.nextRequest()).error("NOT_A_CODE_YET", "from the future", {
      numbered: false,
      retryable: true,
    });

    const a = await collect(rejected);
    expect(a.error).toBeInstanceOf(ExecutionNotFoundError);
    expect(a.error).toMatchObject({
      code: "EXECUTION_NOT_FOUND",
      retryable: false,
      message: "no logs for missing",
    });
    await expect(rejected.accepted).rejects.toBeInstanceOf(ExecutionNotFoundError);
    const b = await collect(later);
    expect(b.entries.map((e) => e.line)).toEqual(["x"]); // what arrived before the error is delivered
    expect(b.error).toBeInstanceOf(GoingAwayError);
    expect(b.error).toMatchObject({ retryable: true });
    const c = await collect(future);
    expect(c.error).toBeInstanceOf(InternalError);
    expect(c.error).toMatchObject({ code: "INTERNAL", message: "NOT_A_CODE_YET: from the future" });
    expect(client.stats().streamsEnded.error).toBe(3);
    // The compute node ended these streams itself: no cancel goes back for them.
    expect(compute.controls).toEqual([]);
  });

  it("fails fast with NodeUnreachableError when no compute node listens", async () => {
    const { client } = await rig.client({ acceptTimeoutMs: 5_000 });
    const started = performance.now();
    const stream = client.streamLogs({ nodeId: uniqueId("nobody"), executionId: "exec" });
    const { error } = await collect(stream);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(NodeUnreachableError);
    expect(elapsed).toBeLessThan(1_000);
    expect(client.stats().openStreams).toBe(0);
  });

  it("fails with AcceptTimeoutError when the compute node never answers, and cancels it", async () => {
    const { client } = await rig.client({ acceptTimeoutMs: 300 });
    const compute = await rig.compute();
    const started = performance.now();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec" });
    await compute.nextRequest();
    const { error } = await collect(stream);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(AcceptTimeoutError);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2_000);
    await compute.waitForCancel(stream.streamId);
  });
});

describe("LogStreamClient: broken frames end only their stream", () => {
  it("a corrupted frame ends its stream with ProtocolError while another stream carries on", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const bad = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec-bad" });
    const good = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec-good" });
    const badRemote = await compute.nextRequest();
    const goodRemote = await compute.nextRequest();
    badRemote.accept();
    goodRemote.accept();
    goodRemote.data([{ seq: 1, line: "g1" }]);
    badRemote.raw('{"type":"ExecutionLogs.Data/v1","streamId":');
    goodRemote.data([{ seq: 2, line: "g2" }]);
    const badResult = await collect(bad);
    expect(badResult.error).toBeInstanceOf(ProtocolError);
    expect(badResult.error).toMatchObject({ code: "PROTOCOL_ERROR" });
    await compute.waitForCancel(bad.streamId);
    goodRemote.data([{ seq: 3, line: "g3" }]);
    goodRemote.end(3);
    const goodResult = await collect(good);
    expect(goodResult.error).toBeUndefined();
    expect(goodResult.entries.map((e) => e.line)).toEqual(["g1", "g2", "g3"]);
    expect(compute.cancelled().has(good.streamId)).toBe(false);
    const stats = client.stats();
    expect(stats.framesRejected).toBe(1);
    expect(stats.streamsEnded).toMatchObject({ protocol_error: 1, completed: 1 });
  });

  it("a frame that does not match the schema is a protocol error too", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec" });
    const remote = await compute.nextRequest();
    remote.accept();
    remote.raw(
      JSON.stringify({ type: MessageType.Data, streamId: remote.streamId, n: 1, entries: [] }),
    );
    const { error } = await collect(stream);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as Error).message).toMatch(/invalid frame/);
  });

  it("a missing frame ends the stream with SEQUENCE_GAP, after delivering what came before", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec" });
    const remote = await compute.nextRequest();
    remote.accept();
    remote.data([{ seq: 1, line: "one" }]);
    remote.n++; // frame 2 "lost in transit"
    remote.data([{ seq: 3, line: "three" }]);
    const { entries, error } = await collect(stream);
    expect(entries.map((e) => e.line)).toEqual(["one"]);
    expect(error).toBeInstanceOf(SequenceGapError);
    expect(error).toMatchObject({ code: "SEQUENCE_GAP" });
    expect(stream.lastSeq).toBe(1); // where a resume would start
    await compute.waitForCancel(stream.streamId);
    expect(client.stats().streamsEnded.protocol_error).toBe(1);
  });

  it("seq going backwards is a ProtocolError", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec" });
    const remote = await compute.nextRequest();
    remote.accept();
    remote.data([{ seq: 5, line: "five" }]);
    remote.data([{ seq: 4, line: "four" }]);
    const { error } = await collect(stream);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as Error).message).toMatch(/seq went back/);
  });

  it("frames for unknown stream ids are ignored and counted", async () => {
    const { client, nc } = await rig.client();
    nc.publish(
      subjects.streamInbox(client.nodeId, newStreamId()),
      encode({ type: MessageType.End, streamId: newStreamId(), n: 1, lastSeq: 0 }),
    );
    await vi.waitFor(() => expect(client.stats().framesIgnored).toBe(1));
    expect(client.stats().framesRejected).toBe(0);
  });
});

describe("LogStreamClient: cancel", () => {
  it("breaking out of for-await sends a cancel to the compute node", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec", follow: true });
    const remote = await compute.nextRequest();
    remote.accept();
    remote.data([
      { seq: 1, line: "a" },
      { seq: 2, line: "b" },
    ]);
    for await (const entry of stream) {
      expect((entry as LogEntry).line).toBe("a");
      break;
    }
    await compute.waitForCancel(stream.streamId);
    expect(compute.controls.at(-1)).toMatchObject({
      sourcePeerId: client.nodeId,
      cancel: [stream.streamId],
    });
    expect(stream.endCause).toBe("cancelled");
    expect(client.stats().openStreams).toBe(0);
  });

  it("breaking out of a loop over batches() sends a cancel to the compute node", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec", follow: true });
    const remote = await compute.nextRequest();
    remote.accept();
    remote.data([{ seq: 1, line: "a" }]);
    for await (const batch of stream.batches()) {
      expect((batch as LogEntry[]).map((e) => e.line)).toEqual(["a"]);
      break;
    }
    await compute.waitForCancel(stream.streamId);
    expect(stream.endCause).toBe("cancelled");
    expect(client.stats().openStreams).toBe(0);
  });

  it("cancel() ends a pending iteration quietly and sends a cancel", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec", follow: true });
    const remote = await compute.nextRequest();
    remote.accept();
    const iterator = stream[Symbol.asyncIterator]();
    const pending = iterator.next();
    await stream.accepted;
    stream.cancel();
    await expect(pending).resolves.toEqual({ done: true, value: undefined });
    await compute.waitForCancel(stream.streamId);
    expect(client.stats().streamsEnded.cancelled).toBe(1);
  });

  it("aborting the signal makes a pending iteration throw CancelledError and sends a cancel", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const controller = new AbortController();
    const stream = client.streamLogs({
      nodeId: compute.nodeId,
      executionId: "exec",
      follow: true,
      signal: controller.signal,
    });
    const remote = await compute.nextRequest();
    remote.accept();
    await stream.accepted;
    const result = collect(stream);
    const reason = new Error("user pressed ctrl-c");
    controller.abort(reason);
    const { error } = await result;
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as Error).cause).toBe(reason);
    await compute.waitForCancel(stream.streamId);
  });

  it("an already aborted signal sends no request at all", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const stream = client.streamLogs({
      nodeId: compute.nodeId,
      executionId: "exec",
      signal: AbortSignal.abort(),
    });
    const { error } = await collect(stream);
    expect(error).toBeInstanceOf(CancelledError);
    await expect(compute.nextRequest(300)).rejects.toThrow(/timed out/);
  });

  it("close() cancels every stream with one control message per compute node", async () => {
    const { client } = await rig.client();
    const computes = [await rig.compute(), await rig.compute()];
    const streams = computes.flatMap((compute) =>
      [1, 2, 3].map((i) =>
        client.streamLogs({ nodeId: compute.nodeId, executionId: `exec-${i}`, follow: true }),
      ),
    );
    for (const compute of computes)
      for (let i = 0; i < 3; i++) (await compute.nextRequest()).accept();
    await Promise.all(streams.map((s) => s.accepted));
    const results = streams.map((s) => collect(s));
    await client.close();
    for (const { error } of await Promise.all(results))
      expect(error).toBeInstanceOf(CancelledError);
    for (const [i, compute] of computes.entries()) {
      const mine = streams.slice(i * 3, i * 3 + 3).map((s) => s.streamId);
      await compute.waitForCancel(mine[2]!);
      expect(compute.controls).toHaveLength(1);
      expect(new Set(compute.controls[0]!.cancel)).toEqual(new Set(mine));
    }
    expect(client.stats()).toMatchObject({
      openStreams: 0,
      computeNodes: [],
      streamsEnded: { cancelled: 6 },
    });
    expect(() => client.streamLogs({ nodeId: computes[0]!.nodeId, executionId: "x" })).toThrow(
      CancelledError,
    );
  });
});

describe("LogStreamClient: flow control", () => {
  it("grants credit as the consumer reads, and none while it does not", async () => {
    const windowBytes = 4096;
    const { client, nc } = await rig.client({ windowBytes });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec", follow: true });
    const remote = await compute.nextRequest();
    expect(remote.request.window).toBe(windowBytes);
    remote.accept();
    // A full window of frames, as a compute node that respects credit would send.
    const line = "x".repeat(300);
    let sent = 0;
    let seq = 0;
    const frameSizes: number[] = [];
    while (sent + 400 <= windowBytes) {
      const size = remote.data([{ seq: ++seq, line }]);
      frameSizes.push(size);
      sent += size;
    }
    await vi.waitFor(() => expect(client.stats().framesReceived).toBe(1 + frameSizes.length));
    // Round trips on both connections: a grant sent by now would have reached the compute node.
    await nc.flush();
    await compute.nc.flush();
    expect(compute.credit(stream.streamId)).toBe(0);
    expect(client.stats().creditsSent).toBe(0);

    const iterator = stream[Symbol.asyncIterator]();
    let consumed = 0;
    for (const size of frameSizes) {
      await iterator.next();
      consumed += size;
      if (consumed >= windowBytes / 2) break;
    }
    await compute.waitForControl(
      () => compute.credit(stream.streamId) > 0,
      5_000,
      "a credit grant",
    );
    expect(compute.credit(stream.streamId)).toBe(consumed);
    expect(client.stats().creditsSent).toBe(1);
    stream.cancel();
  });

  it("ends a stream whose compute node sends more than its credit", async () => {
    const windowBytes = 2048;
    const { client } = await rig.client({ windowBytes });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "exec", follow: true });
    const remote = await compute.nextRequest();
    remote.accept();
    let sent = 0;
    for (let seq = 1; sent <= windowBytes; seq++)
      sent += remote.data([{ seq, line: "y".repeat(500) }]);
    // Nobody reads yet, so no credit was granted and the last frame overran the window.
    await vi.waitFor(() => expect(stream.endCause).toBe("protocol_error"));
    const { entries, error } = await collect(stream);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as Error).message).toMatch(/credit/);
    expect(entries.length).toBeGreaterThan(0); // what fitted in the window was delivered
    await compute.waitForCancel(stream.streamId);
  });
});

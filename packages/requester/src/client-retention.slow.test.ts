// The requester's side of retention, against a scripted compute node: Notice frames become typed
// RemovedNotice items in order (iteration and batches()), count in lastSeq so that a resume
// starts after them, and a compute node cannot make the client hold unbounded notices.
import { type LogEntry, ProtocolError } from "@tailwire/protocol";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { isRemovedNotice, MAX_BUFFERED_NOTICES } from "./notices.js";
import { Rig } from "./test-helpers/rig.js";

let rig: Rig;
beforeAll(async () => {
  rig = await Rig.start();
});
afterEach(() => rig.cleanup());
afterAll(() => rig.stop());

describe("LogStreamClient: lines removed by retention", () => {
  it("asks for notices and hands them out in order, typed, counted in lastSeq", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "e", fromSeq: 3 });
    const remote = await compute.nextRequest();
    expect(remote.request.notices).toEqual(["removed"]);
    remote.accept({ afterSeq: 3, lastSeq: 50 });
    remote.notice(4, 40);
    remote.data([
      { seq: 41, line: "a" },
      { seq: 42, line: "b" },
    ]);
    remote.notice(43, 49);
    remote.data([{ seq: 50, line: "c" }]);
    remote.end(50, 0);
    const seen: (string | number)[] = [];
    const lastSeqs: (number | undefined)[] = [];
    for await (const item of stream) {
      seen.push(isRemovedNotice(item) ? `removed ${item.fromSeq}..${item.toSeq}` : item.seq);
      lastSeqs.push(stream.lastSeq);
    }
    expect(seen).toEqual(["removed 4..40", 41, 42, "removed 43..49", 50]);
    expect(lastSeqs).toEqual([40, 41, 42, 49, 50]);
    expect(stream.exitCode).toBe(0);
  });

  it("batches() gives a notice its own step", async () => {
    const { client } = await rig.client();
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "e" });
    const remote = await compute.nextRequest();
    remote.accept({ afterSeq: 0, lastSeq: 12 });
    remote.notice(1, 10);
    remote.data([
      { seq: 11, line: "x" },
      { seq: 12, line: "y" },
    ]);
    remote.end(12, 0);
    const steps: unknown[] = [];
    for await (const batch of stream.batches()) {
      steps.push(isRemovedNotice(batch) ? batch : (batch as LogEntry[]).map((e) => e.line));
    }
    expect(steps).toEqual([
      { kind: "removed", reason: "retention", fromSeq: 1, toSeq: 10 },
      ["x", "y"],
    ]);
  });

  it(`ends a stream whose compute node piles up more than ${MAX_BUFFERED_NOTICES} unread notices`, async () => {
    // The scripted node sends no heartbeats: a loaded machine must not make it "lost" first.
    const { client } = await rig.client({ heartbeatIntervalMs: 20_000 });
    const compute = await rig.compute();
    const stream = client.streamLogs({ nodeId: compute.nodeId, executionId: "e", follow: true });
    const remote = await compute.nextRequest();
    remote.accept();
    // Not adjacent (one seq apart, as if filtered), so they cannot be merged; nobody reads.
    for (let i = 0; i <= MAX_BUFFERED_NOTICES; i++) remote.notice(2 * i + 1, 2 * i + 1);
    await compute.nc.flush();
    // Nobody reads until the client has given up on the stream (reading would drain the pile).
    await vi.waitFor(() => expect(stream.endCause).toBe("protocol_error"), {
      timeout: 30_000,
      interval: 50,
    });
    const iterator = stream[Symbol.asyncIterator]();
    let error: unknown;
    try {
      for (;;) if ((await iterator.next()).done) break;
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as Error).message).toMatch(/removal notices/);
  }, 60_000);
});

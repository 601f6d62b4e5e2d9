// The wire side of retention: a requester that asks for "removed" notices gets Accepted with
// firstSeq and its own afterSeq, then Notice frames in order; an older requester (no notices in
// its request) gets the old Accepted afterSeq and, when a follow falls behind retention, an
// explicit SEQUENCE_GAP instead of a silent gap.
import { connect } from "@nats-io/transport-node";
import type {
  AcceptedFrame,
  DataFrame,
  ErrorFrame,
  NoticeFrame,
  StreamFrame,
} from "@tailwire/protocol";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LogStreamServer } from "./log-stream-server.js";
import { MemoryLogStore } from "./stores/memory-log-store.js";
import { addRequester, Cleanups, NODE } from "./test-helpers/fixture.js";

let nats: NatsServer;
const cleanups = new Cleanups();

beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(async () => {
  await nats?.stop();
});
afterEach(async () => {
  await cleanups.run();
});

async function serve(store: MemoryLogStore): Promise<void> {
  const connection = await connect({ servers: nats.url });
  cleanups.add(() => connection.close());
  const server = new LogStreamServer({
    connection,
    nodeId: NODE,
    source: store,
    batching: { lingerMs: 0 },
  });
  await server.start();
  cleanups.add(() => server.close());
}

async function storeWith(lines: number, maxEntriesPerExecution = 10): Promise<MemoryLogStore> {
  const store = new MemoryLogStore({ maxEntriesPerExecution });
  await store.create("job");
  for (let i = 1; i <= lines; i++) await store.append("job", "stdout", `line ${i}`, 1000 + i);
  return store;
}

const frames = (received: { frame: StreamFrame }[]) => received.map((r) => r.frame);
const dataSeqs = (list: StreamFrame[]) =>
  list
    .filter((f): f is DataFrame => f.type === "ExecutionLogs.Data/v1")
    .flatMap((f) => f.line.map((_, i) => (f.firstSeq ?? 0) + i));

describe("LogStreamServer: lines removed by retention", () => {
  it("tells a requester that asked: Accepted with firstSeq and notices, then a Notice for the removed range", async () => {
    const store = await storeWith(30);
    await serve(store);
    const requester = await addRequester(nats, cleanups, "req-new");
    const stream = requester.open(NODE, "job", { fromSeq: 5, notices: ["removed", "later"] });
    const end = await stream.final();
    expect(end.type).toBe("ExecutionLogs.End/v1");
    const list = frames(stream.received);
    expect(list[0]).toMatchObject({
      type: "ExecutionLogs.Accepted/v1",
      afterSeq: 5,
      firstSeq: 21,
      lastSeq: 30,
      notices: ["removed"],
    } satisfies Partial<AcceptedFrame>);
    expect(list[1]).toEqual({
      type: "ExecutionLogs.Notice/v1",
      streamId: stream.streamId,
      n: 1,
      notice: "removed",
      reason: "retention",
      fromSeq: 6,
      toSeq: 20,
    } satisfies NoticeFrame);
    expect(dataSeqs(list)).toEqual(Array.from({ length: 10 }, (_, i) => 21 + i));
    expect(stream.frameNumbersAreConsecutive()).toBe(true);
  });

  it("keeps the old Accepted afterSeq for a requester that did not ask, and sends it no Notice", async () => {
    const store = await storeWith(30);
    await serve(store);
    const requester = await addRequester(nats, cleanups, "req-old");
    const stream = requester.open(NODE, "job", {});
    await stream.final();
    const list = frames(stream.received);
    expect(list[0]).toMatchObject({ afterSeq: 20, firstSeq: 21 });
    expect((list[0] as AcceptedFrame).notices).toBeUndefined();
    expect(list.some((f) => f.type === "ExecutionLogs.Notice/v1")).toBe(false);
    expect(dataSeqs(list)).toEqual(Array.from({ length: 10 }, (_, i) => 21 + i));
  });

  it("a follow that falls behind: a Notice for exactly what it missed, or SEQUENCE_GAP for an older requester", async () => {
    for (const notices of [true, false]) {
      const store = await storeWith(0, 5);
      await serve(store);
      const requester = await addRequester(nats, cleanups, `req-${notices}`);
      const stream = requester.open(NODE, "job", {
        follow: true,
        window: 1024,
        ...(notices ? { notices: ["removed"] } : {}),
      });
      await stream.until(() => stream.received.length >= 1, 5000, "Accepted");
      // One frame's worth fits the window; the rest waits for credit while retention drops it.
      for (let i = 1; i <= 40; i++) await store.append("job", "stdout", `${i} ${"x".repeat(200)}`);
      await stream.until(() => stream.received.length >= 2, 5000, "the first data frame");
      for (let i = 41; i <= 60; i++) await store.append("job", "stdout", `${i} ${"x".repeat(200)}`);
      await store.complete("job", 0);
      const granted = stream.received.slice(1).reduce((sum, r) => sum + r.bytes, 0);
      requester.credit(NODE, stream.streamId, Math.max(granted, 1) * 100);
      const end = await stream.final();
      const list = frames(stream.received);
      if (notices) {
        expect(end.type).toBe("ExecutionLogs.End/v1");
        const seen: number[] = [];
        for (const f of list) {
          if (f.type === "ExecutionLogs.Notice/v1") {
            for (let s = f.fromSeq; s <= f.toSeq; s++) seen.push(s);
          } else if (f.type === "ExecutionLogs.Data/v1") {
            seen.push(...f.line.map((_, i) => (f.firstSeq ?? 0) + i));
          }
        }
        expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
        expect(list.some((f) => f.type === "ExecutionLogs.Notice/v1")).toBe(true);
      } else {
        expect(end).toMatchObject({
          type: "ExecutionLogs.Error/v1",
          code: "SEQUENCE_GAP",
        } satisfies Partial<ErrorFrame>);
        expect((end as ErrorFrame).message).toMatch(/removed by retention/);
        // What was read before the gap was delivered before the error, in order.
        const before = dataSeqs(list);
        expect(before.length).toBeGreaterThan(0);
        expect(before).toEqual(Array.from({ length: before.length }, (_, i) => i + 1));
      }
      await cleanups.run();
    }
  });
});

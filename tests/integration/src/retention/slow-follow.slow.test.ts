// Retention end to end: a requester (LogStreamClient) follows a FileLogStore execution whose
// writer outruns both the follow and a small per-execution cap. The follow gets a typed
// RemovedNotice for each range it missed and goes on: every notice's range plus every line
// delivered covers 1..last exactly once, in order, with no SequenceGapError. A resume after a
// notice starts after it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { FileLogStore, LogStreamServer } from "@tailwire/compute";
import { isRemovedNotice, LogStreamClient } from "@tailwire/requester";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let nats: NatsServer;
let dir: string;
let computeNc: NatsConnection;
let requesterNc: NatsConnection;
let store: FileLogStore;
let server: LogStreamServer;
let client: LogStreamClient;

beforeAll(async () => {
  nats = await NatsServer.start();
  dir = await mkdtemp(join(tmpdir(), "tailwire-retention-e2e-"));
  store = new FileLogStore({ dir, maxLogBytes: 64 * 1024, pollIntervalMs: 20, sweepIntervalMs: 0 });
  computeNc = await connect({ servers: nats.url });
  server = new LogStreamServer({ connection: computeNc, nodeId: "ret-compute", source: store });
  await server.start();
  requesterNc = await connect({ servers: nats.url });
  client = new LogStreamClient({
    connection: requesterNc,
    nodeId: "ret-req",
    windowBytes: 16 * 1024,
  });
}, 30_000);

afterAll(async () => {
  await client?.close();
  await server?.close();
  await store?.close();
  await requesterNc?.close();
  await computeNc?.close();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("retention end to end", () => {
  it("a slow follow while the writer outruns retention: notices plus lines cover 1..last exactly once", async () => {
    const id = "runaway";
    const TOTAL = 30_000;
    await store.create(id);
    let written = 0;
    const pad = "w".repeat(90);
    const writer = (async () => {
      while (written < TOTAL) {
        const batch = [];
        for (let i = 0; i < 250; i++)
          batch.push(store.append(id, "stdout", `${written + i + 1} ${pad}`));
        await Promise.all(batch);
        written += 250;
      }
      await store.complete(id, 0);
    })();
    const stream = client.streamLogs({ nodeId: "ret-compute", executionId: id, follow: true });
    const covered: number[] = [];
    let notices = 0;
    let firstNoticeAt = -1;
    for await (const item of stream) {
      if (isRemovedNotice(item)) {
        notices++;
        if (firstNoticeAt < 0) firstNoticeAt = covered.length;
        for (let s = item.fromSeq; s <= item.toSeq; s++) covered.push(s);
        expect(stream.lastSeq).toBe(item.toSeq);
      } else {
        covered.push(item.seq);
      }
      // Slow: every 100 items, let the writer get 1000 lines further (the cap holds ~500).
      if (covered.length % 100 === 0) {
        const target = Math.min(TOTAL, written + 1000);
        while (written < target) await new Promise((r) => setImmediate(r));
      }
    }
    await writer;
    expect(stream.exitCode).toBe(0);
    expect(stream.endCause).toBe("completed");
    expect(notices).toBeGreaterThan(1);
    expect(firstNoticeAt).toBeGreaterThan(0); // it fell behind mid-stream, not only at the start
    expect(covered.length).toBe(TOTAL);
    expect(covered).toEqual(range(1, TOTAL));
  }, 120_000);

  it("a resume from a seq that retention removed gets the notice, not a SequenceGapError", async () => {
    const id = "resumed";
    for (let i = 1; i <= 5000; i++) await store.append(id, "stderr", `line ${i} ${"q".repeat(90)}`);
    await store.complete(id, 3);
    const stream = client.streamLogs({ nodeId: "ret-compute", executionId: id, fromSeq: 100 });
    const items = [];
    for await (const item of stream) items.push(item);
    const info = await stream.accepted;
    expect(info.afterSeq).toBe(100);
    expect(info.firstSeq).toBeGreaterThan(101);
    expect(items[0]).toEqual({
      kind: "removed",
      reason: "retention",
      fromSeq: 101,
      toSeq: info.firstSeq! - 1,
    });
    expect(items.slice(1).map((e) => (isRemovedNotice(e) ? -1 : e.seq))).toEqual(
      range(info.firstSeq!, 5000),
    );
    expect(stream.exitCode).toBe(3);
  });
});

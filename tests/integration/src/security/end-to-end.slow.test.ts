// LogStreamServer and LogStreamClient under the permissions of SECURITY.md, over TLS: a full
// follow, a cancel, forged controls and a compute node that vanishes. Each role connects with
// its own user, so any subject the implementation uses beyond its role shows up here as a
// permission violation (asserted absent) or a broken stream.
import type { NatsConnection } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import {
  encode,
  encodeV2,
  type LogEntry,
  MessageType,
  MessageTypeV2,
  newStreamId,
  subjects,
  subjectsV2,
} from "@tailwire/protocol";
import { ComputeNodeLostError, type LogStream, LogStreamClient } from "@tailwire/requester";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  type ComputeId,
  inbox,
  type RequesterId,
  SecureNats,
  TcpCut,
  type Watched,
} from "./cluster.js";

let nats: SecureNats;
beforeAll(async () => {
  // This release's nodes run under the rolling upgrade's table (SECURITY.md, VERSIONING.md).
  nats = await SecureNats.start("v1+v2");
});
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await nats.closeConnections();
});
afterAll(() => nats.stop());

// Short, but with room for a busy 2-core machine: a node counts as lost after 4 silent
// intervals (2 s), and a heartbeat has 400 ms to be answered.
const TIMING = { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 400, computeLostAfterMissed: 4 };
const WAIT = { timeout: 15_000, interval: 20 };

async function startCompute(
  id: ComputeId,
  store: MemoryLogStore,
  connection?: Watched,
): Promise<{ server: LogStreamServer; conn: Watched }> {
  const conn = connection ?? (await nats.compute(id));
  const server = new LogStreamServer({ connection: conn.nc, nodeId: id, source: store });
  await server.start();
  cleanups.push(() => server.close());
  return { server, conn };
}

async function startClient(
  id: RequesterId,
  protocol: "auto" | "v1" = "auto",
): Promise<{ client: LogStreamClient; conn: Watched }> {
  const conn = await nats.requester(id);
  const client = new LogStreamClient({ connection: conn.nc, nodeId: id, protocol, ...TIMING });
  cleanups.push(() => client.close());
  return { client, conn };
}

/** Everything the stream yields, and how it ended. */
async function drain(stream: LogStream): Promise<{ entries: LogEntry[]; error?: unknown }> {
  const entries: LogEntry[] = [];
  try {
    for await (const entry of stream) entries.push(entry as LogEntry);
    return { entries };
  } catch (error) {
    return { entries, error };
  }
}

async function fill(store: MemoryLogStore, executionId: string, from: number, to: number) {
  for (let i = from; i <= to; i++) {
    await store.append(executionId, i % 2 ? "stdout" : "stderr", `line ${i}`);
  }
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

function sendControl(nc: NatsConnection, computeId: string, sourcePeerId: string, ids: string[]) {
  nc.publish(
    subjects.control(computeId),
    encode({ type: MessageType.Control, sourcePeerId, cancel: ids }),
  );
}

describe("LogStreamServer and LogStreamClient under least-privilege users", () => {
  it("follows an execution to its end, heartbeats included, without a permission violation", async () => {
    const store = new MemoryLogStore();
    await store.create("exec-1");
    await fill(store, "exec-1", 1, 3);
    const compute = await startCompute("compute-a", store);
    const { client, conn } = await startClient("req-1");

    const stream = client.streamLogs({ nodeId: "compute-a", executionId: "exec-1", follow: true });
    const result = drain(stream);
    expect((await stream.accepted).computeNodeId).toBe("compute-a");
    // Heartbeat requests reach the requester (compute publish `_TW.*.hb`), its answers come
    // back (requester allow_responses, compute subscribe `_INBOX_compute-a.>`).
    await vi.waitFor(() => {
      expect(client.stats().heartbeatsAnswered).toBeGreaterThanOrEqual(2);
      expect(compute.server.stats().requesters[0]?.lastHeartbeatAt).not.toBeNull();
    }, WAIT);
    await fill(store, "exec-1", 4, 2_000);
    await store.complete("exec-1", 0);

    const { entries, error } = await result;
    expect(error).toBeUndefined();
    expect(entries.map((e) => e.seq)).toEqual(range(1, 2_000));
    expect(entries.at(-1)?.line).toBe("line 2000");
    expect(stream.exitCode).toBe(0);
    expect(stream.endCause).toBe("completed");
    expect([...compute.conn.violations, ...conn.violations]).toEqual([]);
  });

  it("a cancel reaches the compute node and releases the stream there", async () => {
    const store = new MemoryLogStore();
    await store.create("exec-2");
    await fill(store, "exec-2", 1, 5);
    const compute = await startCompute("compute-a", store);
    const { client, conn } = await startClient("req-1");

    const stream = client.streamLogs({ nodeId: "compute-a", executionId: "exec-2", follow: true });
    const seen: number[] = [];
    for await (const entry of stream) {
      seen.push((entry as LogEntry).seq);
      if (seen.length === 5) break; // leaving the loop cancels the stream
    }
    expect(seen).toEqual(range(1, 5));
    await vi.waitFor(() => {
      const stats = compute.server.stats();
      expect(stats.streamsEnded.cancelled).toBe(1);
      expect(stats.openStreams).toBe(0);
      expect(store.waitingReads("exec-2")).toBe(0);
    }, WAIT);
    expect([...compute.conn.violations, ...conn.violations]).toEqual([]);
  });

  it("forged controls under v1: the stream id is the capability, the claimed sourcePeerId is not proof", async () => {
    const store = new MemoryLogStore();
    await store.create("exec-3");
    const compute = await startCompute("compute-a", store);
    const { client } = await startClient("req-1", "v1");
    const intruder = await nats.requester("req-2");

    const stream = client.streamLogs({ nodeId: "compute-a", executionId: "exec-3", follow: true });
    const result = drain(stream);
    await stream.accepted;
    // Under its own id: not its stream, ignored and counted.
    sendControl(intruder.nc, "compute-a", "req-2", [stream.streamId]);
    // Claiming req-1's id without knowing the stream id: finds nothing.
    sendControl(intruder.nc, "compute-a", "req-1", [newStreamId()]);
    await vi.waitFor(() => expect(compute.server.stats().controlRejected).toBe(2), WAIT);
    expect(compute.server.stats().openStreams).toBe(1);
    expect(stream.endCause).toBeUndefined();
    // Documented limit of v1 (SECURITY.md): NATS cannot bind sourcePeerId to the login, so
    // whoever learns a stream id can cancel it by claiming its owner's id. The permissions keep
    // the id secret: only req-1 and compute-a ever see it. v2 closes it (next test).
    sendControl(intruder.nc, "compute-a", "req-1", [stream.streamId]);
    await vi.waitFor(() => expect(compute.server.stats().streamsEnded.cancelled).toBe(1), WAIT);
    expect(intruder.violations).toEqual([]);
    // The requester learns it on the next heartbeat, which no longer lists the stream.
    const { error } = await result;
    expect(error).toBeInstanceOf(ComputeNodeLostError);
  });

  it("forged controls under v2: even with the real stream id nobody cancels or credits as another requester", async () => {
    const store = new MemoryLogStore();
    await store.create("exec-3");
    const compute = await startCompute("compute-a", store);
    const { client } = await startClient("req-1");
    const intruder = await nats.requester("req-2");
    const stream = client.streamLogs({ nodeId: "compute-a", executionId: "exec-3", follow: true });
    const result = drain(stream);
    await stream.accepted;
    expect(compute.server.stats().versions.v2.recentRequesters).toEqual(["req-1"]);
    const forged = encodeV2({
      type: MessageTypeV2.Control,
      cancel: [stream.streamId],
      credit: [{ streamId: stream.streamId, bytes: 1 << 20 }],
    });
    // As req-1 on v2's subject: the server refuses the publish (the subject is req-1's).
    const asOwner = subjectsV2.control("compute-a", "req-1");
    intruder.nc.publish(asOwner, forged);
    expect((await intruder.violation("publish", asOwner)).subject).toBe(asOwner);
    // Under its own id: the stream is not req-2's. And v1's claimed id does not reach a v2
    // stream either, with the real stream id (the v1+v2 table lets req-2 publish v1).
    intruder.nc.publish(subjectsV2.control("compute-a", "req-2"), forged);
    sendControl(intruder.nc, "compute-a", "req-1", [stream.streamId]);
    await vi.waitFor(() => expect(compute.server.stats().controlRejected).toBe(3), WAIT);
    expect(compute.server.stats().openStreams).toBe(1);
    expect(compute.server.stats().streamsEnded.cancelled).toBe(0);
    expect(stream.endCause).toBeUndefined();
    // Its owner still can.
    stream.cancel();
    await vi.waitFor(() => expect(compute.server.stats().streamsEnded.cancelled).toBe(1), WAIT);
    expect((await result).error).toBeUndefined();
  });

  it("a forged reply or heartbeat subject cannot make a compute node publish to another node", async () => {
    const store = new MemoryLogStore();
    await store.create("exec-5");
    const compute = await startCompute("compute-a", store);
    const victim = await nats.compute("compute-b");
    const victimRequests = inbox(victim.nc, subjects.request("compute-b"));
    const victimControls = inbox(victim.nc, subjects.control("compute-b"));
    await victim.nc.flush();
    const intruder = await nats.requester("req-2");
    const request = (streamId: string, heartbeatSubject: string) =>
      encode({
        type: MessageType.Request,
        sourcePeerId: "req-2",
        targetPeerId: "compute-a",
        executionId: "exec-5",
        streamId,
        follow: true,
        heartbeatSubject,
        heartbeatIntervalMs: 100,
        window: 64 * 1024,
      });
    // LogStreamServer publishes only to the requester's own inbox and heartbeat subject, so a
    // request that points elsewhere is dropped before anything is sent (the compute user's
    // publish allow-list, proven in permissions.slow.test.ts, is the second wall).
    intruder.nc.publish(
      subjects.request("compute-a"),
      request(newStreamId(), subjects.heartbeat("req-2")),
      {
        reply: subjects.control("compute-b"),
      },
    );
    await vi.waitFor(
      () => expect(compute.server.stats().requestsRejected.BAD_REQUEST).toBe(1),
      WAIT,
    );
    // A forged heartbeat subject with a genuine inbox is answered there, with BAD_REQUEST.
    const streamId = newStreamId();
    const own = inbox(intruder.nc, subjects.streamInbox("req-2", streamId));
    await intruder.nc.flush();
    intruder.nc.publish(
      subjects.request("compute-a"),
      request(streamId, subjects.request("compute-b")),
      {
        reply: subjects.streamInbox("req-2", streamId),
      },
    );
    const [answer] = await own.next(1);
    expect(answer?.data).toContain('"code":"BAD_REQUEST"');
    expect(compute.server.stats().requestsRejected.BAD_REQUEST).toBe(2);
    expect(compute.server.stats().openStreams).toBe(0);
    intruder.nc.publish(subjects.request("compute-b"), "marker");
    intruder.nc.publish(subjects.control("compute-b"), "marker");
    expect((await victimRequests.next(1)).map((m) => m.data)).toEqual(["marker"]);
    expect((await victimControls.next(1)).map((m) => m.data)).toEqual(["marker"]);
  });

  it("a compute node whose connection dies abruptly is detected as lost", async () => {
    const store = new MemoryLogStore();
    await store.create("exec-4");
    await fill(store, "exec-4", 1, 10);
    const relay = await TcpCut.start(nats.server.port);
    cleanups.push(async () => relay.cut());
    const conn = await nats.compute("compute-b", { servers: relay.url });
    await startCompute("compute-b", store, conn);
    const { client, conn: requesterConn } = await startClient("req-2");

    const stream = client.streamLogs({ nodeId: "compute-b", executionId: "exec-4", follow: true });
    const result = drain(stream);
    await stream.accepted;
    await vi.waitFor(() => expect(stream.lastSeq).toBe(10), WAIT);
    const cutAt = performance.now();
    relay.cut();
    const { entries, error } = await result;
    expect(error).toBeInstanceOf(ComputeNodeLostError);
    expect(entries.map((e) => e.seq)).toEqual(range(1, 10));
    // Bounded detection: interval × missed (2 s) plus generous slack for a loaded machine.
    expect(performance.now() - cutAt).toBeLessThan(15_000);
    expect(client.stats().streamsEnded.compute_node_lost).toBe(1);
    expect(requesterConn.violations).toEqual([]);
  });
});

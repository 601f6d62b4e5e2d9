// Streaming an execution without naming its compute node, against real nats-servers and real
// LogStreamServers: one holder (found, streamed), none (EXECUTION_NOT_FOUND at once), two
// (EXECUTION_AMBIGUOUS naming both), and hostile answers (a stranger claiming the execution, an
// answer about another execution, garbage) that cannot make the requester read from anyone
// without that node being asked.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import {
  ExecutionAmbiguousError,
  ExecutionNotFoundError,
  encode,
  locateSubjects,
  MessageType,
} from "@tailwire/protocol";
import { LogStreamClient } from "@tailwire/requester";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let nats: NatsServer;
const opened: { close(): Promise<unknown> }[] = [];
let client: LogStreamClient;
const stores: Record<string, MemoryLogStore> = {};
const servers: Record<string, LogStreamServer> = {};

async function nc(): Promise<NatsConnection> {
  const c = await connect({ servers: nats.url });
  opened.push(c);
  return c;
}

async function computeNode(
  id: string,
): Promise<{ store: MemoryLogStore; server: LogStreamServer }> {
  const store = new MemoryLogStore();
  const server = new LogStreamServer({ connection: await nc(), nodeId: id, source: store });
  await server.start();
  opened.push(server);
  stores[id] = store;
  servers[id] = server;
  return { store, server };
}

async function lines(stream: AsyncIterable<unknown>): Promise<string[]> {
  const out: string[] = [];
  for await (const item of stream) out.push((item as { line: string }).line);
  return out;
}

beforeAll(async () => {
  nats = await NatsServer.start();
  const [a, b] = await Promise.all([computeNode("compute-a"), computeNode("compute-b")]);
  await computeNode("compute-c"); // holds nothing: must never be asked
  await a.store.append("only-a", "stdout", "from a");
  await a.store.complete("only-a", 0);
  await a.store.append("twice", "stdout", "a's copy");
  await b.store.append("twice", "stdout", "b's copy");
  // v1 lookups: this file pins their wire cost (one message per lookup). A requester with
  // protocol "auto" asks in both versions (tests/integration/src/upgrade/v2-end-to-end).
  client = new LogStreamClient({ connection: await nc(), nodeId: "requester-1", protocol: "v1" });
  opened.push(client);
});

afterAll(async () => {
  for (const o of opened.reverse()) await o.close().catch(() => undefined);
  await nats.stop();
});

describe("streamLogs without a compute node", () => {
  it("finds the one node holding the execution and streams it", async () => {
    const stream = client.streamLogs({ executionId: "only-a" });
    expect(await lines(stream)).toEqual(["from a"]);
    expect(stream.nodeId).toBe("compute-a");
    expect(stream.exitCode).toBe(0);
  });

  it("an execution nobody holds: EXECUTION_NOT_FOUND at once (NATS no responders)", async () => {
    const t0 = performance.now();
    const stream = client.streamLogs({ executionId: "nowhere" });
    await expect(lines(stream)).rejects.toBeInstanceOf(ExecutionNotFoundError);
    // Far below the locator's 2 s timeout: nobody was subscribed, and NATS said so.
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(stream.endCause).toBe("error");
  });

  it("two nodes holding the same id: EXECUTION_AMBIGUOUS naming both", async () => {
    const stream = client.streamLogs({ executionId: "twice" });
    const error = await lines(stream).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutionAmbiguousError);
    expect((error as Error).message).toMatch(/compute-a/);
    expect((error as Error).message).toMatch(/compute-b/);
    // Naming the node still works.
    expect(
      await lines(client.streamLogs({ executionId: "twice", computeNodeId: "compute-b", tail: 1 })),
    ).toEqual(["b's copy"]);
  });

  it("an invalid execution id throws at once; computeNodeId and nodeId must agree", () => {
    expect(() => client.streamLogs({ executionId: "../etc" })).toThrow(/invalid execution id/);
    expect(() =>
      client.streamLogs({ executionId: "only-a", computeNodeId: "compute-a", nodeId: "compute-b" }),
    ).toThrow(TypeError);
  });

  it("a stranger claiming an execution makes it ambiguous, never silently read from", async () => {
    await stores["compute-a"]!.append("claimed", "stdout", "the real one");
    const stranger = await nc();
    // A hostile subscriber answering the lookup as if it held the execution.
    stranger.subscribe(locateSubjects.execution("claimed"), {
      callback: (_e, msg) => {
        msg.respond(
          encode({
            type: MessageType.Located,
            computeNodeId: "evil",
            executions: [{ executionId: "claimed", lastSeq: 1, completed: true }],
          }),
        );
      },
    });
    // And one answering about another execution, and one with garbage: both ignored.
    stranger.subscribe(locateSubjects.execution("claimed"), {
      callback: (_e, msg) => {
        msg.respond(
          encode({
            type: MessageType.Located,
            computeNodeId: "evil-2",
            executions: [{ executionId: "something-else", lastSeq: 1, completed: true }],
          }),
        );
        msg.respond("{not json");
      },
    });
    await stranger.flush();
    const error = await lines(client.streamLogs({ executionId: "claimed" })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ExecutionAmbiguousError);
    expect((error as Error).message).toMatch(/compute-a, evil|evil, compute-a/);
    expect((error as Error).message).not.toMatch(/evil-2/);
    await stranger.close();
  });

  it("a node holding nothing of a lookup never receives it", async () => {
    const watcher = await nc();
    let seen = 0;
    watcher.subscribe("node.locate.>", {
      callback: () => {
        seen++;
      },
    });
    await watcher.flush();
    const before = servers["compute-a"]!.stats().locate!;
    client.locator.forget?.("only-a");
    await lines(client.streamLogs({ executionId: "only-a" }));
    await watcher.flush();
    // One lookup on the bus, answered by compute-a; compute-c holds nothing, so it is not
    // subscribed to any locate subject and the server never sends it one.
    expect(seen).toBe(1);
    expect(servers["compute-a"]!.stats().locate!.answered).toBe(before.answered + 1);
    expect(servers["compute-c"]!.stats().locate).toEqual({
      subscriptions: 0,
      answered: 0,
      rejected: 0,
    });
    await watcher.close();
  });

  it("a cached location is used again; a cancel before locating ends the stream quietly", async () => {
    const before = servers["compute-a"]!.stats().locate!.answered;
    expect(await lines(client.streamLogs({ executionId: "only-a" }))).toEqual(["from a"]);
    expect(servers["compute-a"]!.stats().locate!.answered).toBe(before);
    const stream = client.streamLogs({ executionId: "nowhere-2", follow: true });
    stream.cancel();
    expect(await lines(stream)).toEqual([]);
    expect(stream.endCause).toBe("cancelled");
  });
});

describe("the compute node's side of lookups", () => {
  it("answers only on the asking requester's own lookup inbox, only for its subject's id, within its rate", async () => {
    const store = new MemoryLogStore();
    await store.create("rated", { jobId: "job-r" });
    const server = new LogStreamServer({
      connection: await nc(),
      nodeId: "compute-r",
      source: store,
      locate: { maxLookupsPerSecond: 5 },
    });
    await server.start();
    opened.push(server);
    const raw = await nc();
    const lookup = (body: object, reply: string) =>
      raw.publish(
        locateSubjects.execution("rated"),
        encode({ type: MessageType.Locate, sourcePeerId: "req-x", ...body } as never),
        { reply },
      );
    const stats = () => server.stats().locate!;
    // Another requester's inbox, another execution's id on this subject, a malformed body.
    lookup({ executionId: "rated" }, locateSubjects.reply("victim", "A".repeat(22)));
    lookup({ executionId: "only-a" }, locateSubjects.reply("req-x", "B".repeat(22)));
    raw.publish(locateSubjects.execution("rated"), "garbage", {
      reply: locateSubjects.reply("req-x", "C".repeat(22)),
    });
    await raw.flush();
    await expect.poll(() => stats().rejected, { timeout: 5_000 }).toBe(3);
    expect(stats().answered).toBe(0);
    // A flood of valid lookups: bursts of twice the rate, then the rate.
    const started = performance.now();
    for (let i = 0; i < 40; i++) {
      lookup({ executionId: "rated" }, locateSubjects.reply("req-x", `${i}`.padStart(22, "D")));
    }
    await raw.flush();
    await expect.poll(() => stats().answered + stats().rejected, { timeout: 5_000 }).toBe(43);
    const admitted = 10 + Math.ceil((5 * (performance.now() - started)) / 1000);
    expect(stats().answered).toBeGreaterThanOrEqual(10);
    expect(stats().answered).toBeLessThanOrEqual(admitted);
    // One subscription for the execution, one for its job.
    expect(stats().subscriptions).toBe(2);
    await store.create("rated-2", { jobId: "job-r" });
    expect(stats().subscriptions).toBe(3);
    store.delete("rated");
    store.delete("rated-2");
    expect(stats().subscriptions).toBe(0);
  });
});

// A whole job's logs from several compute nodes at once (real nats-server, real
// LogStreamServers): merged in capture-time order, each line with its execution and node,
// "started" / "ended" per execution with its exit code, later executions joining a follow,
// one execution's failure reported for it alone.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import { ExecutionNotFoundError } from "@tailwire/protocol";
import { type JobLogItem, LogStreamClient } from "@tailwire/requester";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let nats: NatsServer;
const opened: { close(): Promise<unknown> }[] = [];
let client: LogStreamClient;
const stores: Record<string, MemoryLogStore> = {};
const servers: Record<string, LogStreamServer> = {};
const T0 = 1_750_000_000_000;

async function nc(): Promise<NatsConnection> {
  const c = await connect({ servers: nats.url });
  opened.push(c);
  return c;
}

beforeAll(async () => {
  nats = await NatsServer.start();
  for (const id of ["node-1", "node-2", "node-3"]) {
    const store = new MemoryLogStore();
    const server = new LogStreamServer({ connection: await nc(), nodeId: id, source: store });
    await server.start();
    opened.push(server);
    stores[id] = store;
    servers[id] = server;
  }
  client = new LogStreamClient({
    connection: await nc(),
    nodeId: "requester-j",
    heartbeatIntervalMs: 200,
  });
  opened.push(client);
});

afterAll(async () => {
  for (const o of opened.reverse()) await o.close().catch(() => undefined);
  await nats.stop();
});

async function collect(stream: AsyncIterable<JobLogItem>): Promise<JobLogItem[]> {
  const out: JobLogItem[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

const entries = (items: JobLogItem[]) =>
  items.filter((i): i is Extract<JobLogItem, { type: "entry" }> => i.type === "entry");

describe("streamJobLogs", () => {
  it("merges the executions of a job on three nodes in capture-time order", async () => {
    // Interleaved capture times across executions; each execution's own times increase.
    const plan: [string, string, number[]][] = [
      ["node-1", "e1", [1, 4, 7, 10]],
      ["node-2", "e2", [2, 5, 8]],
      ["node-3", "e3", [3, 6, 9, 11, 12]],
    ];
    for (const [node, exec, times] of plan) {
      await stores[node]!.create(exec, { jobId: "job-m" });
      for (const t of times) await stores[node]!.append(exec, "stdout", `${exec}@${t}`, T0 + t);
      await stores[node]!.complete(exec, exec === "e2" ? 4 : 0);
    }
    // An execution of another job on the same node is not part of it.
    await stores["node-1"]!.create("other", { jobId: "job-other" });
    // A new execution is locatable once its node's subscription reached the server (a round
    // trip after its creation): wait for that, as a person typing the command always does.
    await expect
      .poll(async () => (await client.locator.locateJob("job-m")).length, { timeout: 5_000 })
      .toBe(3);
    const items = await collect(client.streamJobLogs({ jobId: "job-m" }));
    expect(entries(items).map((e) => e.line)).toEqual(
      Array.from({ length: 12 }, (_, i) => i + 1).map((t) => {
        const exec = plan.find(([, , times]) => times.includes(t))![1];
        return `${exec}@${t}`;
      }),
    );
    expect(
      entries(items)
        .map((e) => `${e.computeNodeId}/${e.executionId}`)
        .slice(0, 3),
    ).toEqual(["node-1/e1", "node-2/e2", "node-3/e3"]);
    const ended = items.filter((i) => i.type === "ended");
    expect(ended.map((e) => [e.executionId, e.type === "ended" ? e.exitCode : 0]).sort()).toEqual([
      ["e1", 0],
      ["e2", 4],
      ["e3", 0],
    ]);
    expect(items.filter((i) => i.type === "started")).toHaveLength(3);
  });

  it("a job nobody holds ends with EXECUTION_NOT_FOUND", async () => {
    await expect(collect(client.streamJobLogs({ jobId: "job-none" }))).rejects.toBeInstanceOf(
      ExecutionNotFoundError,
    );
  });

  it("follow: a retry on another node joins, a failed execution is reported, the job ends after the last", async () => {
    await stores["node-1"]!.create("f1", { jobId: "job-f" });
    await stores["node-1"]!.append("f1", "stdout", "f1 first");
    const stream = client.streamJobLogs({
      jobId: "job-f",
      follow: true,
      rediscoverMs: 50,
      settleMs: 400,
      reorderWindowMs: 20,
    });
    const items: JobLogItem[] = [];
    const done = (async () => {
      for await (const item of stream) {
        items.push(item);
        if (item.type === "entry" && item.line === "f1 first") {
          // The first attempt fails; the orchestrator retries it on another node.
          await stores["node-1"]!.append("f1", "stderr", "f1 crashed");
          await stores["node-1"]!.complete("f1", 137);
          await stores["node-2"]!.create("f1-retry", { jobId: "job-f" });
          await stores["node-2"]!.append("f1-retry", "stdout", "retry first");
        }
        if (item.type === "entry" && item.line === "retry first") {
          await stores["node-2"]!.append("f1-retry", "stdout", "retry done");
          await stores["node-2"]!.complete("f1-retry", 0);
        }
      }
    })();
    await done;
    expect(entries(items).map((e) => `${e.executionId}: ${e.line}`)).toEqual([
      "f1: f1 first",
      "f1: f1 crashed",
      "f1-retry: retry first",
      "f1-retry: retry done",
    ]);
    const ended = items.filter((i) => i.type === "ended");
    expect(ended.map((e) => (e.type === "ended" ? [e.executionId, e.exitCode] : []))).toEqual([
      ["f1", 137],
      ["f1-retry", 0],
    ]);
  });

  it("maxStreams bounds the executions streamed at once; every line still arrives once", async () => {
    for (let i = 0; i < 6; i++) {
      const node = `node-${(i % 3) + 1}`;
      await stores[node]!.create(`c${i}`, { jobId: "job-cap" });
      for (let k = 0; k < 50; k++)
        await stores[node]!.append(`c${i}`, "stdout", `c${i} ${k}`, T0 + k);
      await stores[node]!.complete(`c${i}`, 0);
    }
    await expect
      .poll(async () => (await client.locator.locateJob("job-cap")).length, { timeout: 5_000 })
      .toBe(6);
    const stream = client.streamJobLogs({ jobId: "job-cap", maxStreams: 2 });
    let maxOpen = 0;
    const items: JobLogItem[] = [];
    for await (const item of stream) {
      items.push(item);
      maxOpen = Math.max(maxOpen, stream.executions.filter((e) => e.state === "streaming").length);
    }
    expect(maxOpen).toBeLessThanOrEqual(2);
    expect(entries(items)).toHaveLength(300);
    for (let i = 0; i < 6; i++) {
      expect(
        entries(items)
          .filter((e) => e.executionId === `c${i}`)
          .map((e) => e.seq),
      ).toEqual(Array.from({ length: 50 }, (_, k) => k + 1));
    }
  });

  it("says where retention removed an execution's lines, in order, and fromSeqs resumes each execution after its seq", async () => {
    // A node whose store keeps 5 lines per execution: the first 15 of 20 are gone.
    const small = new MemoryLogStore({ maxEntriesPerExecution: 5 });
    const server = new LogStreamServer({
      connection: await nc(),
      nodeId: "node-small",
      source: small,
    });
    await server.start();
    opened.push(server);
    await small.create("r1", { jobId: "job-r" });
    for (let k = 1; k <= 20; k++) await small.append("r1", "stdout", `r1 ${k}`, T0 + 100 + k);
    await small.complete("r1", 0);
    await stores["node-1"]!.create("r2", { jobId: "job-r" });
    for (let k = 1; k <= 4; k++) await stores["node-1"]!.append("r2", "stdout", `r2 ${k}`, T0 + k);
    await stores["node-1"]!.complete("r2", 0);
    await expect
      .poll(async () => (await client.locator.locateJob("job-r")).length, { timeout: 5_000 })
      .toBe(2);

    const items = await collect(client.streamJobLogs({ jobId: "job-r" }));
    const r1 = items.filter(
      (i) => i.type !== "started" && i.type !== "ended" && i.executionId === "r1",
    );
    expect(r1[0]).toEqual({
      type: "removed",
      executionId: "r1",
      computeNodeId: "node-small",
      fromSeq: 1,
      toSeq: 15,
      reason: "retention",
    });
    expect(r1.slice(1).map((i) => (i.type === "entry" ? i.seq : -1))).toEqual([16, 17, 18, 19, 20]);
    // r2's lines were captured before r1's surviving ones, so they come first.
    expect(
      entries(items)
        .map((e) => e.line)
        .slice(0, 4),
    ).toEqual(["r2 1", "r2 2", "r2 3", "r2 4"]);

    const resumed = await collect(
      client.streamJobLogs({ jobId: "job-r", fromSeqs: { r1: 18, r2: 2 } }),
    );
    expect(entries(resumed).map((e) => e.line)).toEqual(["r2 3", "r2 4", "r1 19", "r1 20"]);
    expect(resumed.some((i) => i.type === "removed")).toBe(false);
  });
});

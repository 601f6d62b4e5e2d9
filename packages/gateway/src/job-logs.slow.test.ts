// GET /v1/jobs/{jobId}/logs over real sockets against a real nats-server and two compute nodes:
// the merged lines of every execution, each naming its execution and node, per-execution
// started/removed/ended events, exact resume by the job cursor (Last-Event-ID), statuses before
// the first byte, authorization by job, and a client that leaves stopping every upstream stream.
import type { MemoryLogStore } from "@tailwire/compute";
import { pollUntil } from "@tailwire/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Compute, Rig, uniqueId } from "./test-helpers/rig.js";
import { readSse, type SseEvent } from "./test-helpers/sse.js";

let rig: Rig;
beforeAll(async () => {
  rig = await Rig.start();
});
afterEach(async () => rig.cleanup());
afterAll(async () => rig?.stop());

const T0 = 1_760_000_000_000;
const jobUrl = (base: string, jobId: string, query: Record<string, string> = {}) =>
  `${base}/v1/jobs/${jobId}/logs?${new URLSearchParams(query)}`;

/** Lines `<exec> <k>` at capture times T0 + times[k-1]; then the exit code, if given. */
async function execution(
  store: MemoryLogStore,
  jobId: string,
  executionId: string,
  times: number[],
  exitCode?: number,
) {
  await store.create(executionId, { jobId });
  for (let k = 1; k <= times.length; k++) {
    await store.append(executionId, "stdout", `${executionId} ${k}`, T0 + times[k - 1]!);
  }
  if (exitCode !== undefined) await store.complete(executionId, exitCode);
}

/** Waits until the job's executions can be located (their nodes' subscriptions are in). */
async function located(computes: Compute[]) {
  await Promise.all(computes.map((c) => c.nc.flush()));
}

const lines = (events: SseEvent[]) =>
  events
    .filter((e) => e.event === "message")
    .map(
      (e) =>
        JSON.parse(e.data) as {
          executionId: string;
          computeNodeId: string;
          seq: number;
          line: string;
        },
    );

describe("GET /v1/jobs/{jobId}/logs", () => {
  it("merges a job's executions on two nodes as SSE: started, lines naming execution and node, ended, end", async () => {
    const a = await rig.compute();
    const b = await rig.compute();
    const jobId = uniqueId("job");
    await execution(a.store, jobId, "ja", [1, 3, 5], 0);
    await execution(b.store, jobId, "jb", [2, 4], 3);
    await located([a, b]);
    const { url } = await rig.gateway();
    const response = await fetch(jobUrl(url, jobId), { headers: { accept: "text/event-stream" } });
    expect(response.status).toBe(200);
    const { events } = await readSse(response);
    expect(lines(events).map((l) => l.line)).toEqual(["ja 1", "jb 1", "ja 2", "jb 2", "ja 3"]);
    expect(lines(events)[1]).toMatchObject({ executionId: "jb", computeNodeId: b.nodeId, seq: 1 });
    // Every line's id is the job's cursor after it: each execution's last seq so far.
    const ids = events.filter((e) => e.event === "message").map((e) => e.id);
    expect(ids.at(-1)!.split(",").sort()).toEqual(["ja:3", "jb:2"]);
    expect(
      events
        .filter((e) => e.event === "started")
        .map((e) => JSON.parse(e.data).executionId)
        .sort(),
    ).toEqual(["ja", "jb"]);
    const ended = events.filter((e) => e.event === "ended").map((e) => JSON.parse(e.data));
    expect(ended).toContainEqual({ executionId: "jb", computeNodeId: b.nodeId, exitCode: 3 });
    expect(ended).toContainEqual({ executionId: "ja", computeNodeId: a.nodeId, exitCode: 0 });
    expect(events.at(-1)!.event).toBe("end");
    expect(JSON.parse(events.at(-1)!.data)).toEqual({ executions: 2, failed: 0, exitCode: 3 });
  });

  it("resumes exactly where a reconnect's Last-Event-ID says, in every execution", async () => {
    const a = await rig.compute();
    const b = await rig.compute();
    const jobId = uniqueId("job");
    const times = Array.from({ length: 40 }, (_, i) => 2 * i);
    await execution(a.store, jobId, "ra", times, 0);
    await execution(
      b.store,
      jobId,
      "rb",
      times.map((t) => t + 1),
      0,
    );
    await located([a, b]);
    const { url } = await rig.gateway();
    const all = lines((await readSse(await fetch(jobUrl(url, jobId, { format: "sse" })))).events);
    expect(all).toHaveLength(80);

    // The first connection stops after 25 lines (a network drop, as the browser sees it).
    const first = await readSse(
      await fetch(jobUrl(url, jobId, { format: "sse" })),
      (read) => read.events.filter((e) => e.event === "message").length >= 25,
    );
    const seen = first.events.filter((e) => e.event === "message");
    const lastId = seen.at(-1)!.id!;
    const rest = await readSse(
      await fetch(jobUrl(url, jobId, { format: "sse" }), { headers: { "last-event-id": lastId } }),
    );
    const got = [...lines(seen), ...lines(rest.events)].map((l) => `${l.executionId}:${l.seq}`);
    expect(got).toEqual(all.map((l) => `${l.executionId}:${l.seq}`));
  });

  it("answers before the first byte: 404 for a job nobody holds, 400 for what does not apply, 403 when not allowed", async () => {
    const a = await rig.compute();
    const jobId = uniqueId("job");
    await execution(a.store, jobId, "only", [1], 0);
    await located([a]);
    const { url } = await rig.gateway({
      authorize: (_request, target) => target.jobId !== "secret-job",
    });
    const missing = await fetch(jobUrl(url, uniqueId("nobody")));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: "EXECUTION_NOT_FOUND" });
    for (const query of [
      { node: a.nodeId },
      { fromSeq: "3" },
      { maxStreams: "0" },
      { maxStreams: "33" },
    ]) {
      const response = await fetch(jobUrl(url, jobId, query));
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ code: "BAD_REQUEST" });
    }
    const badCursor = await fetch(jobUrl(url, jobId), { headers: { "last-event-id": "only:x" } });
    expect(badCursor.status).toBe(400);
    const forbidden = await fetch(jobUrl(url, "secret-job"));
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ code: "FORBIDDEN" });
  });

  it("serves ndjson records and prefixed plain text, and says where retention removed lines", async () => {
    const a = await rig.compute({ maxEntries: 3 });
    const jobId = uniqueId("job");
    await execution(a.store, jobId, "nx", [1, 2, 3, 4, 5, 6], 0);
    await located([a]);
    const { url } = await rig.gateway();
    const records = (await (await fetch(jobUrl(url, jobId, { format: "ndjson" }))).text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(records[0]).toEqual({ started: { executionId: "nx", computeNodeId: a.nodeId } });
    expect(records[1]).toEqual({
      removed: {
        executionId: "nx",
        computeNodeId: a.nodeId,
        fromSeq: 1,
        toSeq: 3,
        reason: "retention",
      },
    });
    expect(records.slice(2, 5).map((r) => r.seq)).toEqual([4, 5, 6]);
    expect(records.at(-1)).toEqual({ end: { executions: 1, failed: 0, exitCode: 0 } });
    const text = await (await fetch(jobUrl(url, jobId, { format: "text", prefix: "true" }))).text();
    expect(text).toBe(
      `[tailwire: lines 1..3 of nx were removed by retention]\n` +
        [4, 5, 6].map((k) => `[${a.nodeId}/nx] nx ${k}\n`).join(""),
    );
  });

  it("a client that leaves a follow stops every execution's upstream stream", async () => {
    const a = await rig.compute();
    const b = await rig.compute();
    const jobId = uniqueId("job");
    await execution(a.store, jobId, "fa", [1]);
    await execution(b.store, jobId, "fb", [2]);
    await located([a, b]);
    const { url } = await rig.gateway();
    const controller = new AbortController();
    const response = await fetch(jobUrl(url, jobId, { follow: "true", format: "sse" }), {
      signal: controller.signal,
    });
    await readSse(response, (read) => read.events.filter((e) => e.event === "message").length >= 2);
    expect(a.server.stats().openStreams + b.server.stats().openStreams).toBe(2);
    controller.abort();
    await pollUntil(
      () => (a.server.stats().openStreams + b.server.stats().openStreams === 0 ? true : undefined),
      { timeoutMs: 5_000, what: "both upstream streams to close" },
    );
    expect(a.server.stats().openStreams + b.server.stats().openStreams).toBe(0);
  });
});

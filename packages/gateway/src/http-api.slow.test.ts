// The logs route over real sockets against a real nats-server and compute node: the three
// formats, SSE end/error/ping and exact Last-Event-ID resume, and error statuses before the
// first byte.
import { pollUntil } from "@tailwire/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { appendLines, Rig } from "./test-helpers/rig.js";
import { dataOf, readSse } from "./test-helpers/sse.js";

let rig: Rig;
beforeAll(async () => {
  rig = await Rig.start();
});
afterEach(async () => rig.cleanup());
afterAll(async () => rig?.stop());

const logsUrl = (base: string, executionId: string, query: Record<string, string>) =>
  `${base}/v1/executions/${executionId}/logs?${new URLSearchParams(query)}`;

describe("GET /v1/executions/{id}/logs", () => {
  it("streams a completed log as SSE: id = seq, JSON data, then an end event with the exit code", async () => {
    const compute = await rig.compute();
    await appendLines(compute.store, "e1", 25);
    await compute.store.complete("e1", 3);
    const { url } = await rig.gateway();
    const response = await fetch(logsUrl(url, "e1", { node: compute.nodeId }), {
      headers: { accept: "text/event-stream" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const { events } = await readSse(response);
    const data = dataOf(events);
    expect(data.map((d) => d.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(events.filter((e) => e.event === "message").map((e) => e.id)).toEqual(
      data.map((d) => String(d.seq)),
    );
    expect(data[9]).toMatchObject({ seq: 10, stream: "stderr", line: "line 10" });
    expect(typeof data[0]!.time).toBe("number");
    const end = events.at(-1)!;
    expect(end.event).toBe("end");
    expect(JSON.parse(end.data)).toEqual({ exitCode: 3, lastSeq: 25 });
  });

  it("finds the compute node itself when `node` is not given, and says so when two hold the id", async () => {
    const compute = await rig.compute();
    const other = await rig.compute();
    await appendLines(compute.store, "located-1", 3);
    await compute.store.complete("located-1", 0);
    await appendLines(compute.store, "twice-1", 1);
    await appendLines(other.store, "twice-1", 1);
    // An execution is locatable once its node's subscription reached the server: a round trip.
    await Promise.all([compute.nc.flush(), other.nc.flush()]);
    const { url } = await rig.gateway();
    const response = await fetch(logsUrl(url, "located-1", {}), {
      headers: { accept: "text/event-stream" },
    });
    expect(response.status).toBe(200);
    const { events } = await readSse(response);
    expect(dataOf(events).map((d) => d.line)).toEqual(["line 1", "line 2", "line 3"]);
    const ambiguous = await fetch(logsUrl(url, "twice-1", {}));
    expect(ambiguous.status).toBe(409);
    expect(await ambiguous.json()).toMatchObject({ code: "EXECUTION_AMBIGUOUS" });
  });

  it("honours tail, stream and since, and serves ndjson and text/plain", async () => {
    const compute = await rig.compute();
    await appendLines(compute.store, "e2", 30);
    await compute.store.complete("e2", 0);
    const { url } = await rig.gateway();

    const tail = await fetch(logsUrl(url, "e2", { node: compute.nodeId, tail: "5" }), {
      headers: { accept: "application/x-ndjson" },
    });
    expect(tail.headers.get("content-type")).toBe("application/x-ndjson; charset=utf-8");
    const records = (await tail.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(records.slice(0, -1).map((r) => r.seq)).toEqual([26, 27, 28, 29, 30]);
    expect(records.at(-1)).toEqual({ end: { exitCode: 0, lastSeq: 30 } });

    const stderr = await fetch(logsUrl(url, "e2", { node: compute.nodeId, stream: "stderr" }));
    expect(stderr.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(await stderr.text()).toBe("line 10\nline 20\nline 30\n");

    const future = await fetch(
      logsUrl(url, "e2", {
        node: compute.nodeId,
        since: new Date(Date.now() + 60_000).toISOString(),
        format: "ndjson",
      }),
    );
    expect((await future.text()).trim()).toBe('{"end":{"exitCode":0,"lastSeq":0}}');
  });

  it("escapes lines exactly in SSE and ndjson (quotes, backslashes, control characters, non-ASCII)", async () => {
    const compute = await rig.compute();
    const tricky = [
      'he said "hi"',
      "back\\slash \\n",
      "tab\there\u0000nul",
      "\u001b[31mred\u001b[0m",
      "emoji 😀 é ü 中文",
      "line\u2028separator",
      "plain ascii line",
      "",
    ];
    for (const line of tricky) await compute.store.append("esc", "stdout", line);
    await compute.store.complete("esc", 0);
    const { url } = await rig.gateway();
    const sse = await fetch(logsUrl(url, "esc", { node: compute.nodeId, format: "sse" }));
    expect(dataOf((await readSse(sse)).events).map((d) => d.line)).toEqual(tricky);
    const ndjson = await fetch(logsUrl(url, "esc", { node: compute.nodeId, format: "ndjson" }));
    const records = (await ndjson.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(records.slice(0, -1).map((r) => r.line)).toEqual(tricky);
  });

  it("follows live lines, pings an idle stream, and resumes after Last-Event-ID exactly", async () => {
    const compute = await rig.compute();
    await appendLines(compute.store, "e3", 10);
    const { url } = await rig.gateway({ pingIntervalMs: 100 });
    const query = { node: compute.nodeId, follow: "true" };
    const first = await fetch(logsUrl(url, "e3", query), {
      headers: { accept: "text/event-stream" },
    });
    // Read the history, wait for a ping while idle, then drop the connection after line 15.
    let appended = false;
    const read = await readSse(first, (r) => {
      if (
        !appended &&
        r.comments.some((c) => c.trim() === "ping") &&
        dataOf(r.events).length === 10
      ) {
        appended = true;
        void appendLines(compute.store, "e3", 10, 11);
      }
      return dataOf(r.events).some((d) => d.seq === 15);
    });
    const seen = dataOf(read.events).map((d) => d.seq);
    expect(read.comments.map((c) => c.trim())).toContain("ping");
    const lastId = read.events.filter((e) => e.event === "message").at(-1)!.id!;
    // The upstream stream of the dropped connection is cancelled on the compute node.
    await pollUntil(() => compute.server.stats().streamsEnded.cancelled === 1 || undefined, {
      timeoutMs: 2_000,
      what: "the upstream stream cancelled",
    });

    const second = await fetch(logsUrl(url, "e3", { ...query, tail: "2" }), {
      headers: { accept: "text/event-stream", "last-event-id": lastId },
    });
    void compute.store.complete("e3", 7);
    const rest = await readSse(second);
    const resumed = dataOf(rest.events).map((d) => d.seq);
    // tail is ignored on resume: the stream continues right after Last-Event-ID.
    expect([...seen, ...resumed]).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(JSON.parse(rest.events.at(-1)!.data)).toEqual({ exitCode: 7, lastSeq: 20 });
  });

  it("a compute node's own limit is a 429 with its code, after the requester's quick retries", async () => {
    const compute = await rig.compute({ limits: { maxStreamsPerRequester: 1 } });
    await appendLines(compute.store, "lim", 1);
    const { url } = await rig.gateway({
      clientOptions: { resume: { maxAttempts: 2, initialBackoffMs: 10, maxBackoffMs: 20 } },
    });
    const held = await fetch(logsUrl(url, "lim", { node: compute.nodeId, follow: "true" }));
    expect(held.status).toBe(200);
    const refused = await fetch(logsUrl(url, "lim", { node: compute.nodeId, follow: "true" }));
    const body = await refused.json();
    expect([refused.status, body.code, body.retryable]).toEqual([
      429,
      "TOO_MANY_REQUESTER_STREAMS",
      true,
    ]);
    await held.body?.cancel();
  });

  it("a failure after the first byte: an ndjson error record, a cut text/plain connection", async () => {
    const compute = await rig.compute();
    await appendLines(compute.store, "cut", 2);
    const { url } = await rig.gateway({ clientOptions: { resume: false } });
    const ndjson = await fetch(
      logsUrl(url, "cut", { node: compute.nodeId, follow: "true", format: "ndjson" }),
    );
    const text = await fetch(logsUrl(url, "cut", { node: compute.nodeId, follow: "true" }));
    // Both streams are open (accepted) once their first bytes are here; then the node goes away.
    const ndjsonReader = ndjson.body!.getReader();
    const first = new TextDecoder().decode((await ndjsonReader.read()).value);
    expect(first).toContain('"line":"line 1"');
    await compute.server.close();
    let rest = first;
    for (;;) {
      const { done, value } = await ndjsonReader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    const last = JSON.parse(rest.trim().split("\n").at(-1)!);
    expect(last).toEqual({
      error: {
        code: "GOING_AWAY",
        message: "the compute node is shutting down",
        retryable: true,
        lastSeq: 2,
      },
    });
    // text/plain cannot carry the error: the body ends abnormally (curl exits non-zero).
    await expect(text.text()).rejects.toThrow();
  });

  it("maps failures before the first byte to statuses with a JSON code, never internals", async () => {
    const compute = await rig.compute();
    await compute.store.create("e4");
    const { url } = await rig.gateway();
    const cases: Array<[string, string, Record<string, string>, number, string]> = [
      ["no node, and no compute node holds it", "nope", {}, 404, "EXECUTION_NOT_FOUND"],
      ["unknown execution", "nope", { node: compute.nodeId }, 404, "EXECUTION_NOT_FOUND"],
      ["no such node", "e4", { node: "ghost-node" }, 503, "NODE_UNREACHABLE"],
      ["tail not a number", "e4", { node: compute.nodeId, tail: "1e3" }, 400, "BAD_REQUEST"],
      ["negative fromSeq", "e4", { node: compute.nodeId, fromSeq: "-1" }, 400, "BAD_REQUEST"],
      [
        "huge tail",
        "e4",
        { node: compute.nodeId, tail: "99999999999999999999" },
        400,
        "BAD_REQUEST",
      ],
      ["bad node id", "e4", { node: "a.b.>" }, 400, "BAD_REQUEST"],
      ["bad stream", "e4", { node: compute.nodeId, stream: "stdin" }, 400, "BAD_REQUEST"],
      ["bad since", "e4", { node: compute.nodeId, since: "yesterday" }, 400, "BAD_REQUEST"],
      ["typo", "e4", { node: compute.nodeId, folow: "true" }, 400, "BAD_REQUEST"],
      ["bad execution id", "-e4", { node: compute.nodeId }, 400, "BAD_REQUEST"],
      [
        "longest execution id",
        "a".repeat(200),
        { node: compute.nodeId },
        404,
        "EXECUTION_NOT_FOUND",
      ],
      ["execution id too long", "a".repeat(201), { node: compute.nodeId }, 400, "BAD_REQUEST"],
      ["non-ASCII execution id", "é1", { node: compute.nodeId }, 400, "BAD_REQUEST"],
    ];
    for (const [name, executionId, query, status, code] of cases) {
      const response = await fetch(logsUrl(url, encodeURIComponent(executionId), query));
      expect({ name, status: response.status }).toEqual({ name, status });
      expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
      const body = await response.json();
      expect({ name, code: body.code }).toEqual({ name, code });
      expect(typeof body.message).toBe("string");
      expect(JSON.stringify(body)).not.toMatch(/at .*\.(ts|js):\d+|Error:/);
    }
    const repeated = await fetch(
      `${url}/v1/executions/e4/logs?node=${compute.nodeId}&tail=1&tail=2`,
    );
    expect(repeated.status).toBe(400);
    const badLastEventId = await fetch(logsUrl(url, "e4", { node: compute.nodeId }), {
      headers: { "last-event-id": "abc" },
    });
    expect((await badLastEventId.json()).code).toBe("BAD_REQUEST");
    const notAcceptable = await fetch(logsUrl(url, "e4", { node: compute.nodeId }), {
      headers: { accept: "image/png" },
    });
    expect(notAcceptable.status).toBe(406);
    const route = await fetch(`${url}/v1/nothing`);
    expect([route.status, (await route.json()).code]).toEqual([404, "NOT_FOUND"]);
  });
});

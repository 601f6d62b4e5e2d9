// /healthz and new streams follow the gateway's NATS connection; a gateway shutting down ends
// open streams with a retryable GOING_AWAY so clients resume elsewhere.
import { pollUntil } from "@tailwire/testkit";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendLines, Rig } from "./test-helpers/rig.js";
import { dataOf, readSse } from "./test-helpers/sse.js";

let rig: Rig;
beforeAll(async () => {
  rig = await Rig.start();
});
afterAll(async () => rig?.stop());

describe("health and shutdown", () => {
  it("an open SSE follow ends with a retryable GOING_AWAY error event when the gateway closes", async () => {
    const compute = await rig.compute();
    await appendLines(compute.store, "bye", 3);
    const { url, client } = await rig.gateway();
    const response = await fetch(
      `${url}/v1/executions/bye/logs?node=${compute.nodeId}&follow=true`,
      {
        headers: { accept: "text/event-stream" },
      },
    );
    let closing = false;
    const read = await readSse(response, (r) => {
      if (!closing && dataOf(r.events).length === 3) {
        closing = true;
        void client.close(); // what RunningGateway.close() does first
      }
      return false;
    });
    const last = read.events.at(-1)!;
    expect(last.event).toBe("error");
    expect(JSON.parse(last.data)).toEqual({
      code: "GOING_AWAY",
      message: "the gateway is shutting down; reconnect to resume",
      retryable: true,
      lastSeq: 3,
    });
    await rig.cleanup();
  });

  it("logs each stream as structured pino records carrying the request id", async () => {
    const records: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: "info" },
      { write: (line: string) => records.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const compute = await rig.compute();
    await appendLines(compute.store, "logged", 4);
    await compute.store.complete("logged", 2);
    const { url } = await rig.gateway({ logger });
    const response = await fetch(`${url}/v1/executions/logged/logs?node=${compute.nodeId}`, {
      headers: { accept: "application/x-ndjson" },
    });
    await response.text();
    const requestId = response.headers.get("x-request-id");
    await pollUntil(() => records.find((r) => r.msg === "log stream completed"), {
      timeoutMs: 2_000,
      what: "the completion record",
    });
    const mine = records.filter((r) => r.reqId === requestId);
    expect(mine.map((r) => r.msg)).toEqual(
      expect.arrayContaining(["log stream accepted", "log stream completed"]),
    );
    expect(mine.find((r) => r.msg === "log stream completed")).toMatchObject({
      executionId: "logged",
      principal: "anonymous",
      lines: 4,
      lastSeq: 4,
      exitCode: 2,
      streamId: expect.any(String),
    });
    await rig.cleanup();
  });

  it("/healthz is 503 and new streams get 503 NATS_DISCONNECTED while NATS is down, and recover", async () => {
    const { url } = await rig.gateway();
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await rig.nats.kill();
    const down = await pollUntil(
      async () => {
        const response = await fetch(`${url}/healthz`);
        return response.status === 503 ? response.json() : undefined;
      },
      { timeoutMs: 10_000, what: "healthz to say disconnected" },
    );
    expect(down).toEqual({ status: "unavailable", nats: "disconnected", streams: 0 });
    const refused = await fetch(`${url}/v1/executions/x/logs?node=somewhere`);
    expect([refused.status, (await refused.json()).code]).toEqual([503, "NATS_DISCONNECTED"]);
    await rig.nats.restart();
    await pollUntil(
      async () => ((await fetch(`${url}/healthz`)).status === 200 ? true : undefined),
      {
        timeoutMs: 15_000,
        what: "healthz to recover",
      },
    );
    await rig.cleanup();
  });
});

// The protocol package's transcripts are not fiction: their request/response exchanges are
// replayed against our LogStreamServer (a real nats-server) and what it answers is compared with
// the transcript, loosely where a step says what may vary.
import { readFileSync } from "node:fs";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import {
  dataFrameEntries,
  decodeFrame,
  encode,
  type LogEntry,
  type LogRequest,
  MessageType,
  type StreamFrame,
} from "@tailwire/protocol";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXPECTED_TRANSCRIPT_FAILURES } from "./test-helpers/expected-failures.js";
import { Changes, windowOf } from "./waiter.js";

interface Step {
  from: string;
  subject: string;
  reply?: string;
  payload?: string;
  expect?: "nothing";
  vary?: string[];
}
interface Transcript {
  variables: Record<string, string>;
  exchanges: { title: string; steps: Step[] }[];
}

const read = (name: string): Transcript =>
  JSON.parse(
    readFileSync(new URL(`../../protocol/conformance/v1/${name}.json`, import.meta.url), "utf8"),
  ) as Transcript;

let nats: NatsServer;
let nodeConnection: NatsConnection;
let nc: NatsConnection;
let server: LogStreamServer;
const vars = read("whole-read").variables;
const fill = (text: string) => text.replace(/\{(\w+)\}/g, (_m, name: string) => vars[name] ?? name);
const received = new Map<string, Uint8Array[]>();
const changes = new Changes();

beforeAll(async () => {
  nats = await NatsServer.start();
  // The log of the whole-read transcript, taken from its own data frames.
  const entries: LogEntry[] = read("whole-read")
    .exchanges[0]!.steps.filter((s) => s.payload?.startsWith(`{"type":"${MessageType.Data}"`))
    .flatMap((s) => dataFrameEntries(decodeFrame(new TextEncoder().encode(s.payload)) as never));
  const store = new MemoryLogStore();
  await store.create("conformance-basic");
  for (const e of entries) await store.append("conformance-basic", e.stream, e.line, e.time);
  await store.complete("conformance-basic", 3);
  nodeConnection = await connect({ servers: nats.url });
  server = new LogStreamServer({
    connection: nodeConnection,
    nodeId: vars.computeNodeId!,
    source: store,
    limits: { maxTailLines: 1000 },
  });
  await server.start();
  nc = await connect({ servers: nats.url });
  // The requester of the transcripts: every inbox of its id, heartbeats answered "all known".
  nc.subscribe(`_TW.*.s.*`, {
    callback: (_e, msg) => {
      received.set(msg.subject, [...(received.get(msg.subject) ?? []), msg.data]);
      changes.notify();
    },
  });
  nc.subscribe(fill("_TW.{requesterNodeId}.hb"), {
    callback: (_e, msg) => {
      msg.respond(
        encode({
          type: MessageType.HeartbeatResponse,
          requesterNodeId: vars.requesterNodeId!,
          unknownStreamIds: [],
        }),
      );
    },
  });
  await nc.flush();
});
afterAll(async () => {
  await server?.close();
  await nodeConnection?.close();
  await nc?.close();
  await nats?.stop();
});

const without = (value: unknown, fields: string[] = []) =>
  Object.fromEntries(Object.entries(value as object).filter(([k]) => !fields.includes(k)));

/** Sends the exchange's request, then compares what arrives with the compute steps. */
async function replay(steps: Step[]): Promise<string[]> {
  const [request, ...answers] = steps as [Step, ...Step[]];
  const inbox = fill(request.reply!);
  received.delete(inbox);
  nc.publish(fill(request.subject), new TextEncoder().encode(request.payload), { reply: inbox });
  const problems: string[] = [];
  if (answers.every((s) => s.expect === "nothing")) {
    // Silence, proven by a later request's answer: the node takes its requests in order.
    const sentinel = fill("_TW.{requesterNodeId}.s.c2VudGluZWwtc3RyZWFtLWlk");
    received.delete(sentinel);
    // The first rejection's request (an unknown execution), under a stream id of its own.
    const probe = JSON.parse(read("rejections").exchanges[0]!.steps[0]!.payload!) as LogRequest;
    nc.publish(fill(request.subject), encode({ ...probe, streamId: "c2VudGluZWwtc3RyZWFtLWlk" }), {
      reply: sentinel,
    });
    await changes.until(() => (received.get(sentinel) ?? []).length > 0, 5000);
    await windowOf(50);
    const got = received.get(inbox) ?? [];
    if (got.length > 0) problems.push(`expected nothing, got ${new TextDecoder().decode(got[0])}`);
    return problems;
  }
  const last = answers.filter((s) => s.from === "compute→requester").at(-1)!;
  const lastType = (JSON.parse(last.payload!.split("\n")[0]!) as { type: string }).type;
  await changes.until(
    () => (received.get(inbox) ?? []).some((m) => decodeFrame(m).type === lastType),
    5000,
  );
  const got = (received.get(inbox) ?? []).map((m) => decodeFrame(m));
  const wantFrames = answers.map((s) => decodeFrame(new TextEncoder().encode(s.payload)));
  // Frames compared as a sequence of entries (framing may vary), the others field by field.
  const entriesOf = (frames: StreamFrame[]) =>
    frames.flatMap((f) => (f.type === MessageType.Data ? dataFrameEntries(f) : []));
  expect(entriesOf(got)).toEqual(entriesOf(wantFrames));
  const others = (frames: StreamFrame[]) => frames.filter((f) => f.type !== MessageType.Data);
  const gotOthers = others(got);
  const wantSteps = answers.filter((s) => !s.payload!.startsWith(`{"type":"${MessageType.Data}"`));
  wantSteps.forEach((step, i) => {
    const want = decodeFrame(new TextEncoder().encode(step.payload));
    const have = gotOthers[i];
    const ignore = ["n", ...(step.vary ?? [])]; // a different framing renumbers End
    if (!have) problems.push(`missing ${want.type}`);
    else if (JSON.stringify(without(have, ignore)) !== JSON.stringify(without(want, ignore)))
      problems.push(`${want.type}: got ${JSON.stringify(have)}, transcript ${step.payload}`);
  });
  return problems;
}

describe("transcripts replayed against LogStreamServer", () => {
  it.each(read("whole-read").exchanges.map((e) => [e.title, e] as const))(
    "whole-read: %s",
    async (_title, exchange) => {
      expect(await replay(exchange.steps)).toEqual([]);
    },
  );

  // Stateless rejections only: the limits, a duplicate and a shutdown need a setup of their own
  // (compute mode checks those live).
  const stateless = read("rejections").exchanges.filter(
    (e) =>
      !/already open|stream limit|rate limit|shutting down/.test(e.title) &&
      !EXPECTED_TRANSCRIPT_FAILURES.includes(e.title),
  );
  it.each(stateless.map((e) => [e.title, e] as const))("rejections: %s", async (_t, exchange) => {
    expect(await replay(exchange.steps)).toEqual([]);
  });

  it.each(EXPECTED_TRANSCRIPT_FAILURES.map((t) => [t] as const))(
    "rejections: %s (expected to differ until issue 15's fix)",
    async (title) => {
      const exchange = read("rejections").exchanges.find((e) => e.title === title)!;
      expect(await replay(exchange.steps)).not.toEqual([]);
    },
  );
});

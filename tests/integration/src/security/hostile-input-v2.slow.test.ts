// The hostile-input suite against ExecutionLogs/v2 (the v1 suite is hostile-input.slow.test.ts):
// garbage, schema violations, another version, oversized and misdirected messages on every v2
// subject each side listens to, and messages that name the right ids from the wrong sender.
// After each case: no exception escaped, nothing was logged at error, every healthy stream
// (v2, between a real LogStreamServer and a real LogStreamClient) is still open and flowing,
// and what the case said is answered only where the protocol says (or nowhere).
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import {
  type ErrorCode,
  encodeV2,
  MessageTypeV2,
  newStreamId,
  subjectsV2,
} from "@tailwire/protocol";
import { type LogStream, LogStreamClient } from "@tailwire/requester";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  Collector,
  type Drained,
  drain,
  ExceptionTrap,
  GARBAGE,
  json,
  RecordingLogger,
  text,
} from "./hostile-input.support.js";

const COMPUTE = "compute-v2";
const OTHER = "compute-other";
const REQ = "req-v2";
const ATTACKER = "attacker-v2";
const EXEC = "exec-healthy";
const TIMING = { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 100 } as const;
const WAIT = { timeout: 10_000, interval: 10 };

const trap = new ExceptionTrap();
const serverLog = new RecordingLogger();
const clientLog = new RecordingLogger();
let nats: NatsServer;
let computeNc: NatsConnection;
let clientNc: NatsConnection;
let attacker: NatsConnection;
let store: MemoryLogStore;
let server: LogStreamServer;
let client: LogStreamClient;
let healthy: LogStream;
let drained: Drained;
let tw: Collector;
let writer: NodeJS.Timeout | undefined;
let written = 0;

beforeAll(async () => {
  trap.install();
  nats = await NatsServer.start();
  [computeNc, clientNc, attacker] = await Promise.all([
    connect({ servers: nats.url }),
    connect({ servers: nats.url }),
    connect({ servers: nats.url }),
  ]);
  store = new MemoryLogStore();
  await store.create(EXEC);
  server = new LogStreamServer({
    connection: computeNc,
    nodeId: COMPUTE,
    source: store,
    logger: serverLog,
  });
  await server.start();
  client = new LogStreamClient({
    connection: clientNc,
    nodeId: REQ,
    logger: clientLog,
    protocol: "v2",
    ...TIMING,
  });
  tw = new Collector(attacker, "_TW.>");
  await Promise.all([attacker.flush(), clientNc.flush()]);
  healthy = client.streamLogs({ computeNodeId: COMPUTE, executionId: EXEC, follow: true });
  drained = drain(healthy);
  await healthy.accepted;
  writer = setInterval(() => void store.append(EXEC, "stdout", `line ${++written}`), 10);
  await vi.waitFor(() => expect(drained.entries.length).toBeGreaterThan(3), WAIT);
  expect(server.stats().versions.v2.recentRequesters).toEqual([REQ]);
});

afterAll(async () => {
  if (writer) clearInterval(writer);
  await client?.close();
  await server?.close();
  for (const nc of [attacker, clientNc, computeNc]) await nc?.close();
  await nats?.stop();
  trap.uninstall();
});

afterEach(async () => {
  expect(trap.caught).toEqual([]);
  for (const log of [serverLog, clientLog]) {
    expect(log.records.filter((r) => r.level === "error")).toEqual([]);
  }
  expect(healthy.endCause).toBeUndefined();
  expect(healthy.attempts).toBe(1);
  const before = drained.entries.length;
  await vi.waitFor(() => expect(drained.entries.length).toBeGreaterThan(before + 1), WAIT);
  // Every seq once, in order: nothing hostile got into the stream.
  expect(drained.entries.map((e) => e.seq)).toEqual(drained.entries.map((_, i) => i + 1));
});

/** A v2 request valid but for its (absent) execution, with changes. */
function request(sid: string, overrides: Record<string, unknown> = {}, drop?: string) {
  const body: Record<string, unknown> = {
    type: MessageTypeV2.Request,
    executionId: "no-such-execution",
    streamId: sid,
    follow: false,
    heartbeatIntervalMs: 500,
    window: 64 * 1024,
    ...overrides,
  };
  if (drop !== undefined) delete body[drop];
  return json(body);
}

/** Publishes as the attacker (whose own id is in the subject) and fences on the server. */
async function ask(payload: Uint8Array, reply: string | undefined): Promise<void> {
  attacker.publish(subjectsV2.request(COMPUTE, ATTACKER), payload, reply ? { reply } : undefined);
  await attacker.flush();
}

const ownInbox = (sid: string) => subjectsV2.streamInbox(ATTACKER, COMPUTE, sid);

/** Waits until the compute node counted one more rejection with `code`. */
async function rejected(code: ErrorCode, before: number): Promise<void> {
  await vi.waitFor(
    () => expect(server.stats().requestsRejected[code]).toBeGreaterThan(before),
    WAIT,
  );
}

describe("compute request subject node.compute.<id>.ExecutionLogs/v2.<requester>", () => {
  it.each(GARBAGE)(
    "%s: no reply anywhere (no stream id to derive an inbox from)",
    async (_n, p) => {
      const before = server.stats().requestsRejected;
      const total = Object.values(before).reduce((a, b) => a + b, 0);
      const sid = newStreamId();
      await ask(p, ownInbox(sid));
      await vi.waitFor(() => {
        const now = Object.values(server.stats().requestsRejected).reduce((a, b) => a + b, 0);
        expect(now).toBe(total + 1);
      }, WAIT);
      expect(tw.subjectsEndingWith(sid)).toEqual([]);
    },
  );

  it.each([
    ["window below 1024", { window: 1 }, undefined, "BAD_REQUEST", "/window"],
    ["a missing executionId", {}, "executionId", "BAD_REQUEST", "executionId"],
    ["tail not an integer", { tail: 1.5 }, undefined, "BAD_REQUEST", "/tail"],
    ["an unknown execution", {}, undefined, "EXECUTION_NOT_FOUND", "no-such-execution"],
    [
      "a v1 request on the v2 subject",
      { type: "ExecutionLogs.Request/v1" },
      undefined,
      "UNSUPPORTED_VERSION",
      "v2",
    ],
    [
      "a future version",
      { type: "ExecutionLogs.Request/v3" },
      undefined,
      "UNSUPPORTED_VERSION",
      "v3",
    ],
    [
      "a v2 control on the request subject",
      { type: MessageTypeV2.Control },
      undefined,
      "BAD_REQUEST",
      "unexpected",
    ],
  ] as const)("%s: Error on the derived inbox only", async (_name, overrides, drop, code, says) => {
    const before = server.stats().requestsRejected[code];
    const sid = newStreamId();
    await ask(request(sid, overrides, drop), ownInbox(sid));
    await rejected(code, before);
    await vi.waitFor(() => expect(tw.on(ownInbox(sid))).toHaveLength(1), WAIT);
    const frame = JSON.parse(tw.on(ownInbox(sid))[0]!.string()) as Record<string, unknown>;
    expect(frame).toMatchObject({ type: MessageTypeV2.Error, streamId: sid, code });
    expect(String(frame.message)).toContain(says);
    expect(tw.subjectsEndingWith(sid)).toEqual([ownInbox(sid)]);
  });

  it.each([
    ["the healthy requester's inbox", (sid: string) => subjectsV2.streamInbox(REQ, COMPUTE, sid)],
    [
      "another compute node's position",
      (sid: string) => subjectsV2.streamInbox(ATTACKER, OTHER, sid),
    ],
    ["a v1 inbox", (sid: string) => `_TW.${ATTACKER}.s.${sid}`],
    ["another stream id's inbox", () => ownInbox(newStreamId())],
    ["a control subject", () => subjectsV2.control(OTHER, ATTACKER)],
    ["no reply subject", () => undefined],
  ] as const)("a valid request naming %s: dropped, no reply anywhere", async (_name, replyOf) => {
    const before = server.stats().requestsRejected.BAD_REQUEST;
    const sid = newStreamId();
    const reply = replyOf(sid);
    await ask(request(sid, {}, undefined), reply);
    await rejected("BAD_REQUEST", before);
    expect(tw.subjectsEndingWith(sid)).toEqual([]);
    if (reply) expect(tw.on(reply)).toEqual([]);
  });

  it("an oversized request: counted, no reply", async () => {
    const before = server.stats().requestsRejected.PAYLOAD_TOO_LARGE;
    const sid = newStreamId();
    await ask(request(sid, { pad: "x".repeat(17_000) }), ownInbox(sid));
    await rejected("PAYLOAD_TOO_LARGE", before);
    expect(tw.subjectsEndingWith(sid)).toEqual([]);
  });

  it("the healthy stream's own id, under the attacker's subject, is a stream of the attacker's", async () => {
    // Not a duplicate of the healthy stream (that is REQ's): an unknown execution for the attacker.
    const before = server.stats().requestsRejected.EXECUTION_NOT_FOUND;
    await ask(request(healthy.streamId), ownInbox(healthy.streamId));
    await rejected("EXECUTION_NOT_FOUND", before);
    // Answered on the attacker's own inbox of that id, and nowhere else; the healthy stream
    // (REQ's, under the same id) goes on (checked after each case).
    await vi.waitFor(() => expect(tw.on(ownInbox(healthy.streamId))).toHaveLength(1), WAIT);
  });
});

describe("compute control subject node.compute.<id>.ExecutionLogsControl/v2.<requester>", () => {
  const cancelAndCredit = () =>
    encodeV2({
      type: MessageTypeV2.Control,
      cancel: [healthy.streamId],
      credit: [{ streamId: healthy.streamId, bytes: 1 << 30 }],
    });

  it.each([
    ...GARBAGE,
    ["a v1 control", json({ type: "ExecutionLogs.Control/v1", sourcePeerId: REQ, cancel: [] })],
    ["a cancel with an invalid id", json({ type: MessageTypeV2.Control, cancel: ["x"] })],
    [
      "credit of 0 bytes",
      json({ type: MessageTypeV2.Control, credit: [{ streamId: newStreamId(), bytes: 0 }] }),
    ],
  ] as const)("%s: counted, the healthy stream untouched", async (_name, payload) => {
    const before = server.stats().controlRejected;
    attacker.publish(subjectsV2.control(COMPUTE, ATTACKER), payload);
    await attacker.flush();
    await vi.waitFor(() => expect(server.stats().controlRejected).toBeGreaterThan(before), WAIT);
    expect(server.stats().openStreams).toBe(1);
  });

  it("the healthy stream's cancel and credit, as the attacker: both items ignored", async () => {
    const before = server.stats().controlRejected;
    attacker.publish(subjectsV2.control(COMPUTE, ATTACKER), cancelAndCredit());
    await attacker.flush();
    await vi.waitFor(() => expect(server.stats().controlRejected).toBe(before + 2), WAIT);
    expect(server.stats().openStreams).toBe(1);
  });
});

describe("requester v2 inbox _TW.<id>.v2.<compute>.s.<streamId>", () => {
  const frame = (n: number) =>
    encodeV2({ type: MessageTypeV2.End, streamId: healthy.streamId, n, lastSeq: 1, exitCode: 0 });

  it.each([
    [
      "another compute node's subject, the healthy stream's id",
      () => subjectsV2.streamInbox(REQ, OTHER, healthy.streamId),
    ],
    ["NATS's own position", () => `_TW.${REQ}.v2.$.s.${healthy.streamId}`],
    ["the v1 inbox of the same id", () => `_TW.${REQ}.s.${healthy.streamId}`],
    ["an unknown stream id", () => subjectsV2.streamInbox(REQ, COMPUTE, newStreamId())],
  ] as const)("an End on %s: ignored", async (_name, subject) => {
    const before = client.stats().framesIgnored;
    attacker.publish(subject(), frame(10_000));
    await attacker.flush();
    await vi.waitFor(() => expect(client.stats().framesIgnored).toBeGreaterThan(before), WAIT);
  });

  it.each(GARBAGE)("%s on an unknown stream's inbox: ignored", async (_name, payload) => {
    const before = client.stats().framesIgnored;
    attacker.publish(subjectsV2.streamInbox(REQ, COMPUTE, newStreamId()), payload);
    await attacker.flush();
    await vi.waitFor(() => expect(client.stats().framesIgnored).toBeGreaterThan(before), WAIT);
  });
});

describe("requester v2 heartbeat subject _TW.<id>.v2.<compute>.hb", () => {
  it.each([
    ...GARBAGE,
    [
      "a v1 heartbeat",
      json({ type: "ExecutionLogs.Heartbeat/v1", computeNodeId: COMPUTE, streamIds: [] }),
    ],
  ] as const)("%s: rejected, not answered", async (_name, payload) => {
    const before = client.stats().heartbeatsRejected;
    const replies = new Collector(attacker, "hbreply-v2.*");
    await attacker.flush();
    attacker.publish(subjectsV2.heartbeat(REQ, COMPUTE), payload, { reply: "hbreply-v2.1" });
    await attacker.flush();
    await vi.waitFor(() => expect(client.stats().heartbeatsRejected).toBeGreaterThan(before), WAIT);
    await clientNc.flush();
    await attacker.flush();
    expect(replies.on("hbreply-v2.1")).toEqual([]);
    replies.stop();
  });

  it("another node's heartbeat omitting the healthy stream speaks only for that node", async () => {
    const answered = client.stats().heartbeatsAnswered;
    const replies = new Collector(attacker, "hbreply-v2.*");
    await attacker.flush();
    // Under v2 permissions this subject is only the other node's; here it is the attacker's test.
    for (let i = 0; i < 5; i++) {
      attacker.publish(
        subjectsV2.heartbeat(REQ, OTHER),
        encodeV2({ type: MessageTypeV2.Heartbeat, streamIds: [healthy.streamId] }),
        { reply: `hbreply-v2.${i}` },
      );
    }
    // At least: the real compute node's own heartbeats are answered meanwhile too.
    await vi.waitFor(
      () => expect(client.stats().heartbeatsAnswered).toBeGreaterThanOrEqual(answered + 5),
      WAIT,
    );
    // Each answer disowns the listed id: it is not a stream of that node's.
    await vi.waitFor(() => expect(replies.on("hbreply-v2.4")).toHaveLength(1), WAIT);
    expect(JSON.parse(replies.on("hbreply-v2.4")[0]!.string())).toEqual({
      type: MessageTypeV2.HeartbeatResponse,
      unknownStreamIds: [healthy.streamId],
    });
    replies.stop();
  });

  it("a heartbeat under NATS's own position is not a compute node's", async () => {
    const before = client.stats().heartbeatsRejected;
    attacker.publish(
      `_TW.${REQ}.v2.$.hb`,
      encodeV2({ type: MessageTypeV2.Heartbeat, streamIds: [] }),
    );
    await attacker.flush();
    await vi.waitFor(() => expect(client.stats().heartbeatsRejected).toBeGreaterThan(before), WAIT);
  });

  it("text that is no message at all on the v2 request subject of another node: nobody answers", async () => {
    attacker.publish(subjectsV2.request(OTHER, ATTACKER), text("hello"));
    await attacker.flush();
    expect(server.stats().openStreams).toBe(1);
  });
});

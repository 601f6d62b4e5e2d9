// Hostile input on every subject tailwire listens to, against a real nats-server, a real
// LogStreamServer (MemoryLogStore) and two real LogStreamClients (resume on, resume off).
//
// Healthy follow streams run through the whole file while a writer appends lines; every case
// below must leave them alone. At the end they must have received every line exactly once, in
// order, and complete normally. No case may throw anywhere (an uncaught exception or unhandled
// rejection trap, and no `error`-level log on either side).
//
// Expected outcomes are derived from PROTOCOL.md / SECURITY.md and the code:
// - request subject: decodeRequest (size 16 KiB -> PAYLOAD_TOO_LARGE; UTF-8, JSON, shape,
//   schema, known v1 type on the wrong subject -> BAD_REQUEST; unknown type or version ->
//   UNSUPPORTED_VERSION), answered only on the stream inbox the payload names itself (a JSON
//   object whose sourcePeerId and streamId are valid and give exactly the reply subject
//   `_TW.<sourcePeerId>.s.<streamId>`; otherwise counted, logged, no reply), then admission (heartbeat subject, target, rate,
//   DUPLICATE_STREAM, limits, TAIL_TOO_LARGE only for tails the schema allows).
// - control subject: no reply; invalid messages and foreign/unknown items count in
//   controlRejected.
// - stream inbox: unknown ids are ignored (framesIgnored); an invalid frame ends only its own
//   stream (PROTOCOL_ERROR / SEQUENCE_GAP, framesRejected), or is resumed transparently.
// - heartbeat subject: invalid heartbeats are counted (heartbeatsRejected) and not answered;
//   ids not held from the claimed node are answered as unknown and nothing else changes.
import { headers } from "@nats-io/nats-core";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import {
  decodeFrame,
  decodeHeartbeatResponse,
  ERROR_CODES,
  type ErrorCode,
  type ErrorFrame,
  encode,
  encodeDataFrame,
  LIMITS,
  MessageType,
  newStreamId,
  subjects,
  TailwireError,
} from "@tailwire/protocol";
import { type LogStream, LogStreamClient, type LogStreamClientStats } from "@tailwire/requester";
import { NatsServer } from "@tailwire/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  Collector,
  type Drained,
  drain,
  ExceptionTrap,
  GARBAGE,
  json,
  type LogRecord,
  RecordingLogger,
  range,
  text,
} from "./hostile-input.support.js";

const COMPUTE = "compute-h";
/** The requester with resume on (the default). */
const REQ = "req-h";
/** The requester with resume off. */
const REQ_NR = "req-n";
/** A raw NATS connection sending hostile input; also a requester id of its own. */
const ATTACKER = "req-x";

const EXEC_A = "healthy-a";
const EXEC_R = "healthy-r";
const EXEC_N = "healthy-n";
const HEALTHY = [EXEC_A, EXEC_R, EXEC_N] as const;
/** Followed by the short-lived victim streams; holds 3 lines, so a tail-0 follow starts after 3. */
const EXEC_VICTIM = "victim";
/** Execution of the duplicate-stream cases. */
const EXEC_DUP = "dup";

// Heartbeats short enough that a stream the compute node dropped would be noticed (heartbeat
// reconciliation) within the file, with room for a busy 2-core machine.
const TIMING = { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 400, computeLostAfterMissed: 4 };
const WAIT = { timeout: 10_000, interval: 5 };
/** The resume-off client's window: small, so a frame overrunning it is easy to forge. */
const NR_WINDOW = 64 * 1024;

const trap = new ExceptionTrap();
const serverLog = new RecordingLogger();
const clientLog = new RecordingLogger();
const clientNrLog = new RecordingLogger();

let nats: NatsServer;
let computeNc: NatsConnection;
let clientNc: NatsConnection;
let clientNrNc: NatsConnection;
let attacker: NatsConnection;
let store: MemoryLogStore;
let server: LogStreamServer;
let client: LogStreamClient;
let clientNr: LogStreamClient;
/** Everything published under `_TW.>` (frames and heartbeats of every requester). */
let tw: Collector;
/** Replies that must never be sent: outside every protocol subject. */
let elsewhere: Collector;
/** Answers to the heartbeats the attacker sends. */
let hbReplies: Collector;

let healthyA: LogStream;
let healthyR: LogStream;
let healthyN: LogStream;
const drains = new Map<LogStream, Drained>();
const written: Record<string, number> = { [EXEC_A]: 0, [EXEC_R]: 0, [EXEC_N]: 0 };
let writer: NodeJS.Timeout | undefined;

function writeOneEach(): void {
  for (const exec of HEALTHY) {
    const seq = (written[exec] ?? 0) + 1;
    written[exec] = seq;
    void store.append(exec, seq % 2 ? "stdout" : "stderr", `line ${seq}`);
  }
}

beforeAll(async () => {
  trap.install();
  nats = await NatsServer.start();
  const url = nats.url;
  [computeNc, clientNc, clientNrNc, attacker] = await Promise.all([
    connect({ servers: url }),
    connect({ servers: url }),
    connect({ servers: url }),
    connect({ servers: url }),
  ]);
  store = new MemoryLogStore();
  for (const exec of [...HEALTHY, EXEC_VICTIM, EXEC_DUP]) await store.create(exec);
  for (let i = 1; i <= 3; i++) await store.append(EXEC_VICTIM, "stdout", `victim ${i}`);
  server = new LogStreamServer({
    connection: computeNc,
    nodeId: COMPUTE,
    source: store,
    logger: serverLog,
  });
  await server.start();
  // The v1 suite: these requesters speak v1 (hostile-input-v2.slow.test.ts is v2's).
  client = new LogStreamClient({
    connection: clientNc,
    nodeId: REQ,
    logger: clientLog,
    protocol: "v1",
    ...TIMING,
  });
  clientNr = new LogStreamClient({
    connection: clientNrNc,
    nodeId: REQ_NR,
    logger: clientNrLog,
    protocol: "v1",
    resume: false,
    windowBytes: NR_WINDOW,
    ...TIMING,
  });
  tw = new Collector(attacker, "_TW.>");
  elsewhere = new Collector(attacker, "elsewhere.>");
  hbReplies = new Collector(attacker, "hbreply.*");
  await Promise.all([attacker.flush(), clientNc.flush(), clientNrNc.flush()]);

  healthyA = client.streamLogs({ nodeId: COMPUTE, executionId: EXEC_A, follow: true });
  healthyR = client.streamLogs({ nodeId: COMPUTE, executionId: EXEC_R, follow: true });
  healthyN = clientNr.streamLogs({ nodeId: COMPUTE, executionId: EXEC_N, follow: true });
  for (const stream of [healthyA, healthyR, healthyN]) drains.set(stream, drain(stream));
  await Promise.all([healthyA.accepted, healthyR.accepted, healthyN.accepted]);
  writer = setInterval(writeOneEach, 10);
  // The healthy streams flow before any hostile message.
  await vi.waitFor(() => {
    for (const stream of [healthyA, healthyR, healthyN])
      expect(drains.get(stream)!.entries.length).toBeGreaterThan(3);
  }, WAIT);
});

afterAll(async () => {
  if (writer) clearInterval(writer);
  await client?.close();
  await clientNr?.close();
  await server?.close();
  for (const nc of [attacker, clientNc, clientNrNc, computeNc]) await nc?.close();
  await nats?.stop();
  trap.uninstall();
});

// What every case must leave as it was, checked after each one.
/** Set once the healthy streams were completed on purpose (the last test). */
let finished = false;

afterEach(() => {
  expect(trap.caught).toEqual([]);
  for (const log of [serverLog, clientLog, clientNrLog]) {
    expect(log.records.filter((r) => r.level === "error")).toEqual([]);
  }
  if (!finished) {
    for (const stream of [healthyA, healthyR, healthyN]) expect(stream.endCause).toBeUndefined();
  }
  expect(healthyA.attempts).toBe(1);
  expect(healthyN.attempts).toBe(1);
  for (const nc of [computeNc, clientNc, clientNrNc]) expect(nc.isClosed()).toBe(false);
});

/** The healthy streams keep receiving new lines. */
async function expectFlowing(): Promise<void> {
  const before = [healthyA, healthyR, healthyN].map((s) => drains.get(s)!.entries.length);
  await vi.waitFor(() => {
    [healthyA, healthyR, healthyN].forEach((s, i) => {
      expect(drains.get(s)!.entries.length).toBeGreaterThan(before[i]! + 1);
    });
  }, WAIT);
}

const attackerInbox = (sid: string) => subjects.streamInbox(ATTACKER, sid);

// ---- compute request subject ----------------------------------------------------------------

/** A request that is valid in every respect but its (absent) execution, with changes. */
function requestBody(
  sid: string,
  overrides: Record<string, unknown> = {},
  drop?: string,
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    type: MessageType.Request,
    sourcePeerId: ATTACKER,
    targetPeerId: COMPUTE,
    executionId: "no-such-execution",
    streamId: sid,
    follow: false,
    heartbeatSubject: subjects.heartbeat(ATTACKER),
    heartbeatIntervalMs: 500,
    window: 64 * 1024,
    ...overrides,
  };
  if (drop !== undefined) delete body[drop];
  return body;
}

const withFields = (overrides: Record<string, unknown>) => (sid: string) =>
  json(requestBody(sid, overrides));

/** A request whose JSON text ends with `tail` spliced in (values JSON.stringify cannot write). */
const withRawField = (field: string, literal: string) => (sid: string) =>
  text(`${JSON.stringify(requestBody(sid)).slice(0, -1)},"${field}":${literal}}`);

interface RequestCase {
  name: string;
  payload: (sid: string) => Uint8Array;
  /** Reply subject; default the attacker's own stream inbox for the case's stream id. */
  reply?: (sid: string) => string | undefined;
  code: ErrorCode;
  /** An Error frame comes back on the reply subject (else: counted and logged, no reply). */
  answered: boolean;
  /** Part of the Error frame's message (which field failed). */
  says?: string;
}

const REQUIRED = [
  "sourcePeerId",
  "targetPeerId",
  "executionId",
  "streamId",
  "follow",
  "heartbeatSubject",
  "heartbeatIntervalMs",
  "window",
] as const;

/** The fields that say where a rejection may go: without them valid, a request gets no reply. */
const IDENTITY: readonly string[] = ["sourcePeerId", "streamId"];

const WRONG_TYPES: [string, unknown][] = [
  ["sourcePeerId", 7],
  ["sourcePeerId", "req.x"],
  ["sourcePeerId", ""],
  ["targetPeerId", true],
  ["targetPeerId", "compute.*"],
  ["executionId", {}],
  ["streamId", []],
  ["streamId", "too-short"],
  ["follow", "yes"],
  ["follow", 1],
  ["heartbeatSubject", 1],
  ["heartbeatSubject", "_TW.req-x.>"],
  ["heartbeatIntervalMs", "500"],
  ["heartbeatTimeoutMs", "400"],
  ["window", "65536"],
  ["window", null],
  ["tail", "5"],
  ["tail", true],
  ["fromSeq", "1"],
  ["since", false],
  ["streams", "stdout"],
  ["streams", ["stdin"]],
  ["streams", []],
  ["streams", ["stdout", "stdout"]],
];

const OUT_OF_RANGE: [string, number][] = [
  ["tail", 1e12],
  ["tail", 2 ** 31],
  ["tail", -1],
  ["tail", 1.5],
  ["fromSeq", -1],
  ["fromSeq", 0.5],
  ["fromSeq", 2 ** 53],
  ["since", -1],
  ["since", 1.5],
  ["window", -1],
  ["window", 1.5],
  ["window", 0],
  ["window", LIMITS.minWindowBytes - 1],
  ["window", LIMITS.maxWindowBytes + 1],
  ["heartbeatIntervalMs", -1],
  ["heartbeatIntervalMs", 0.5],
  ["heartbeatIntervalMs", LIMITS.minHeartbeatIntervalMs - 1],
  ["heartbeatIntervalMs", LIMITS.maxHeartbeatIntervalMs + 1],
  ["heartbeatTimeoutMs", 0],
  ["heartbeatTimeoutMs", 1.5],
];

const BAD_EXECUTION_IDS: [string, string][] = [
  ["a slash", "exec/1"],
  ["a path traversal", "../../etc/passwd"],
  ["'..'", ".."],
  ["a NUL byte", "exec\u00001"],
  ["a newline", "exec\n1"],
  ["10 KB of characters", "x".repeat(10_000)],
  ["a leading dash", "-rf"],
];

const REQUEST_CASES: RequestCase[] = [
  // The baseline every other row differs from by one thing: valid, execution unknown.
  {
    name: "baseline: a valid request for an execution the node lacks",
    payload: withFields({}),
    code: "EXECUTION_NOT_FOUND",
    answered: true,
  },
  ...GARBAGE.map(
    ([name, payload]): RequestCase => ({
      name,
      payload: () => payload,
      code:
        name === "an unknown message type" || name === "a future version"
          ? "UNSUPPORTED_VERSION"
          : "BAD_REQUEST",
      // Names no stream inbox of its own: a reply would go where the sender merely pointed it.
      answered: false,
    }),
  ),
  {
    name: "a known v1 message of another kind (Control, no streamId)",
    payload: () => json({ type: MessageType.Control, sourcePeerId: ATTACKER }),
    code: "BAD_REQUEST",
    answered: false,
  },
  {
    name: "a future version of the request (ExecutionLogs.Request/v2, all fields)",
    payload: withFields({ type: "ExecutionLogs.Request/v2" }),
    code: "UNSUPPORTED_VERSION",
    answered: true,
  },
  {
    name: "a 10 KB message type",
    payload: withFields({ type: "T".repeat(10_000) }),
    code: "UNSUPPORTED_VERSION",
    answered: true,
  },
  {
    name: "type missing",
    payload: (sid) => json(requestBody(sid, {}, "type")),
    code: "BAD_REQUEST",
    answered: true,
  },
  ...REQUIRED.map(
    (field): RequestCase => ({
      name: `required field ${field} missing`,
      payload: (sid) => json(requestBody(sid, {}, field)),
      code: "BAD_REQUEST",
      answered: !IDENTITY.includes(field),
      says: `/${field}`,
    }),
  ),
  ...WRONG_TYPES.map(
    ([field, value]): RequestCase => ({
      name: `${field} = ${JSON.stringify(value)}`,
      payload: withFields({ [field]: value }),
      code: "BAD_REQUEST",
      answered: !IDENTITY.includes(field),
      says: `/${field}`,
    }),
  ),
  ...OUT_OF_RANGE.map(
    ([field, value]): RequestCase => ({
      name: `${field} = ${value}`,
      payload: withFields({ [field]: value }),
      code: "BAD_REQUEST",
      answered: true,
      says: `/${field}`,
    }),
  ),
  {
    name: "tail = 1e400 (JSON for Infinity)",
    payload: withRawField("tail", "1e400"),
    code: "BAD_REQUEST",
    answered: true,
    says: "/tail",
  },
  {
    name: "fromSeq = -0.0000001e-400 (JSON for -0)",
    // -0 is an integer >= 0 for the schema: a legal (if odd) resume from the start.
    payload: withRawField("fromSeq", "-0.0000001e-400"),
    code: "EXECUTION_NOT_FOUND",
    answered: true,
  },
  {
    name: "tail = 2^31-1 (schema allows it, the node's limit does not)",
    payload: withFields({ tail: LIMITS.maxInt }),
    code: "TAIL_TOO_LARGE",
    answered: true,
  },
  {
    name: "tail = 1 000 001 (one over the default limit)",
    payload: withFields({ tail: 1_000_001 }),
    code: "TAIL_TOO_LARGE",
    answered: true,
  },
  {
    name: "tail = 2^31-1 with fromSeq (fromSeq wins: no tail limit applies)",
    payload: withFields({ tail: LIMITS.maxInt, fromSeq: 0 }),
    code: "EXECUTION_NOT_FOUND",
    answered: true,
  },
  ...BAD_EXECUTION_IDS.map(
    ([what, id]): RequestCase => ({
      name: `executionId with ${what}`,
      payload: withFields({ executionId: id }),
      code: "BAD_REQUEST",
      answered: true,
      says: "/executionId",
    }),
  ),
  {
    name: "executionId 'x..' (legal by the pattern: no traversal, just unknown)",
    payload: withFields({ executionId: "x.." }),
    code: "EXECUTION_NOT_FOUND",
    answered: true,
  },
  {
    name: "executionId of 10 000 three-byte characters (30 KB message)",
    payload: withFields({ executionId: "€".repeat(10_000) }),
    code: "PAYLOAD_TOO_LARGE",
    // Over the request bound, it is not read for an identity (no valid request is near it).
    answered: false,
  },
  {
    name: "an oversized valid request (> 16 KiB with an unknown field)",
    payload: withFields({ padding: "p".repeat(17 * 1024) }),
    code: "PAYLOAD_TOO_LARGE",
    answered: false,
  },
  {
    name: "oversized garbage (17 KiB of 0xff)",
    payload: () => new Uint8Array(17 * 1024).fill(0xff),
    code: "PAYLOAD_TOO_LARGE",
    answered: false,
  },
  {
    name: "__proto__ carrying a missing required field",
    payload: (sid) =>
      text(
        JSON.stringify(requestBody(sid, {}, "follow")).replace(
          "{",
          '{"__proto__":{"follow":true},',
        ),
      ),
    code: "BAD_REQUEST",
    answered: true,
    says: "/follow",
  },
  {
    name: "targetPeerId is another compute node",
    payload: withFields({ targetPeerId: "compute-other" }),
    code: "BAD_REQUEST",
    answered: true,
    says: "targetPeerId",
  },
  {
    name: "heartbeatSubject is another requester's",
    payload: withFields({ heartbeatSubject: subjects.heartbeat(REQ) }),
    code: "BAD_REQUEST",
    answered: true,
    says: "heartbeat subject",
  },
  // Reply subject unusable: counted and logged, no reply anywhere.
  {
    name: "a valid request without a reply subject",
    payload: withFields({}),
    reply: () => undefined,
    code: "BAD_REQUEST",
    answered: false,
  },
  {
    name: "garbage without a reply subject",
    payload: () => text("not json"),
    reply: () => undefined,
    code: "BAD_REQUEST",
    answered: false,
  },
  {
    // Was a bug: answered with BAD_REQUEST on that inbox, which the victim then received.
    name: "garbage whose reply is another requester's stream inbox",
    payload: () => text("not json"),
    reply: (sid) => subjects.streamInbox(REQ, sid),
    code: "BAD_REQUEST",
    answered: false,
  },
  {
    name: "a JSON array whose reply is another requester's stream inbox",
    payload: () => text("[1,2,3]"),
    reply: (sid) => subjects.streamInbox(REQ, sid),
    code: "BAD_REQUEST",
    answered: false,
  },
  {
    name: "an invalid request naming the victim's id and stream as its own",
    // Claims the victim's identity, as any client with publish rights may (SECURITY.md): the
    // rejection goes to the inbox the request names, as it would for a valid request.
    payload: (sid) => json(requestBody(sid, { sourcePeerId: REQ, follow: "yes" })),
    reply: (sid) => subjects.streamInbox(REQ, sid),
    code: "BAD_REQUEST",
    answered: true,
    says: "/follow",
  },
  {
    name: "garbage whose reply's last token is no stream id (a heartbeat subject)",
    payload: () => text("not json"),
    reply: () => subjects.heartbeat(ATTACKER),
    code: "BAD_REQUEST",
    answered: false,
  },
  {
    name: "a valid request whose reply is another requester's stream inbox",
    payload: withFields({}),
    reply: (sid) => subjects.streamInbox(REQ, sid),
    code: "BAD_REQUEST",
    answered: false,
  },
  {
    name: "a valid request whose body streamId differs from its reply's",
    payload: withFields({ streamId: newStreamId() }),
    code: "BAD_REQUEST",
    answered: false,
  },
  {
    name: "a valid request whose reply is the compute node's own control subject",
    payload: withFields({}),
    reply: () => subjects.control(COMPUTE),
    code: "BAD_REQUEST",
    answered: false,
  },
];

function rejectedDelta(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [code, n] of Object.entries(after)) {
    if (n !== before[code]) delta[code] = n - (before[code] ?? 0);
  }
  return delta;
}

const rejectionLogged = (code: ErrorCode) => (r: LogRecord) =>
  r.msg === "log request rejected" && r.obj["code"] === code;

/** Every message anyone received on a subject that ends with this stream id. */
function anythingFor(sid: string): string[] {
  return [...tw.subjectsEndingWith(sid), ...elsewhere.subjectsEndingWith(sid)];
}

/** A request answered for sure; once its answer is here, everything sent before was handled. */
async function requestBarrier(): Promise<void> {
  const sid = newStreamId();
  attacker.publish(subjects.request(COMPUTE), withFields({ targetPeerId: "compute-other" })(sid), {
    reply: attackerInbox(sid),
  });
  await vi.waitFor(() => expect(tw.on(attackerInbox(sid))).toHaveLength(1), WAIT);
}

async function runRequestCase(c: RequestCase): Promise<void> {
  const sid = newStreamId();
  const reply = c.reply ? c.reply(sid) : attackerInbox(sid);
  const before = server.stats();
  const logged = serverLog.count(rejectionLogged(c.code));
  attacker.publish(subjects.request(COMPUTE), c.payload(sid), reply ? { reply } : undefined);
  if (c.answered) {
    await vi.waitFor(() => expect(tw.on(reply!)).toHaveLength(1), WAIT);
    const frame = decodeFrame(tw.on(reply!)[0]!.data) as ErrorFrame;
    expect(frame).toMatchObject({
      type: MessageType.Error,
      streamId: sid,
      code: c.code,
      retryable: ERROR_CODES[c.code].retryable,
    });
    expect(frame.n).toBeUndefined();
    if (c.says) expect(frame.message).toContain(c.says);
  }
  await vi.waitFor(
    () =>
      expect(rejectedDelta(before.requestsRejected, server.stats().requestsRejected)).toEqual({
        [c.code]: 1,
      }),
    WAIT,
  );
  expect(serverLog.count(rejectionLogged(c.code))).toBe(logged + 1);
  if (!c.answered) {
    await requestBarrier();
    expect(anythingFor(sid)).toEqual([]);
    if (reply) expect(tw.on(reply)).toEqual([]);
  }
  const after = server.stats();
  expect(after.openStreams).toBe(before.openStreams);
  expect(after.streamsEnded).toEqual(before.streamsEnded);
  // Nothing was published on the node's own control subject either.
  expect(after.controlRejected).toBe(before.controlRejected);
}

describe("compute request subject node.compute.<id>.ExecutionLogs/v1", () => {
  it.each(REQUEST_CASES)("$name -> $code", runRequestCase);

  it("a duplicate stream id (same requester, open stream): DUPLICATE_STREAM, the original goes on", async () => {
    // The original: a raw requester's follow; its heartbeats are far enough away not to matter.
    const sid = newStreamId();
    const inbox = attackerInbox(sid);
    const original = requestBody(sid, {
      executionId: EXEC_DUP,
      follow: true,
      tail: 0,
      heartbeatIntervalMs: 60_000,
    });
    attacker.publish(subjects.request(COMPUTE), json(original), { reply: inbox });
    await vi.waitFor(() => expect(tw.on(inbox)).toHaveLength(1), WAIT);
    expect(decodeFrame(tw.on(inbox)[0]!.data)).toMatchObject({ type: MessageType.Accepted, n: 0 });
    const before = server.stats();

    attacker.publish(subjects.request(COMPUTE), json({ ...original, tail: 5 }), { reply: inbox });
    await vi.waitFor(() => expect(tw.on(inbox)).toHaveLength(2), WAIT);
    expect(decodeFrame(tw.on(inbox)[1]!.data)).toMatchObject({
      type: MessageType.Error,
      streamId: sid,
      code: "DUPLICATE_STREAM",
      retryable: false,
    });
    expect((decodeFrame(tw.on(inbox)[1]!.data) as ErrorFrame).n).toBeUndefined();
    expect(rejectedDelta(before.requestsRejected, server.stats().requestsRejected)).toEqual({
      DUPLICATE_STREAM: 1,
    });
    // The original stream is still served: the next line arrives on it as frame 1.
    await store.append(EXEC_DUP, "stdout", "after the duplicate");
    await vi.waitFor(() => expect(tw.on(inbox)).toHaveLength(3), WAIT);
    expect(decodeFrame(tw.on(inbox)[2]!.data)).toMatchObject({
      type: MessageType.Data,
      n: 1,
      line: ["after the duplicate"],
    });
    expect(server.stats().openStreams).toBe(before.openStreams);
    expect(server.stats().streamsEnded).toEqual(before.streamsEnded);
    // Its owner cancels it.
    attacker.publish(
      subjects.control(COMPUTE),
      encode({ type: MessageType.Control, sourcePeerId: ATTACKER, cancel: [sid] }),
    );
    await vi.waitFor(
      () => expect(server.stats().streamsEnded.cancelled).toBe(before.streamsEnded.cancelled + 1),
      WAIT,
    );
  });

  it("the healthy streams kept flowing", expectFlowing);
});

// ---- compute control subject ----------------------------------------------------------------

interface ControlCase {
  name: string;
  payload: () => Uint8Array;
  /** Added to controlRejected. */
  rejected: number;
  /** How it is logged: "invalid" (info, whole message), "ignored" (debug, items), or nothing. */
  logged: "invalid" | "ignored" | "none";
}

const control = (body: Record<string, unknown>) => () =>
  json({ type: MessageType.Control, sourcePeerId: REQ, ...body });

const invalidControl = (name: string, body: Record<string, unknown>): ControlCase => ({
  name,
  payload: control(body),
  rejected: 1,
  logged: "invalid",
});

const CONTROL_CASES: ControlCase[] = [
  ...GARBAGE.map(
    ([name, payload]): ControlCase => ({
      name,
      payload: () => payload,
      rejected: 1,
      logged: "invalid",
    }),
  ),
  {
    name: "a future version (ExecutionLogs.Control/v2)",
    payload: () =>
      json({ type: "ExecutionLogs.Control/v2", sourcePeerId: REQ, cancel: [healthyA.streamId] }),
    rejected: 1,
    logged: "invalid",
  },
  {
    name: "a request on the control subject",
    payload: () => json(requestBody(newStreamId())),
    rejected: 1,
    logged: "invalid",
  },
  {
    name: "sourcePeerId missing",
    payload: () => json({ type: MessageType.Control, cancel: [healthyA.streamId] }),
    rejected: 1,
    logged: "invalid",
  },
  invalidControl("sourcePeerId with a dot", { sourcePeerId: "req.h" }),
  invalidControl("sourcePeerId a number", { sourcePeerId: 7 }),
  invalidControl("cancel not an array", { cancel: "all" }),
  invalidControl("cancel with a short id", { cancel: ["short"] }),
  invalidControl("cancel with a wildcard id", { cancel: [">".repeat(22)] }),
  invalidControl("cancel of 20 001 ids", {
    cancel: Array.from({ length: LIMITS.maxIdsPerMessage + 1 }, () => newStreamId()),
  }),
  // Was processed (a 475 KB control): control messages are now bounded at 256 KiB.
  invalidControl("a 470 KB control message (valid but for its size)", {
    cancel: Array.from({ length: 10_000 }, () => newStreamId() + newStreamId()),
  }),
  invalidControl("credit not an array", { credit: { streamId: newStreamId(), bytes: 1 } }),
  invalidControl("credit without streamId", { credit: [{ bytes: 1024 }] }),
  invalidControl("credit of -1 bytes", { credit: [{ streamId: newStreamId(), bytes: -1 }] }),
  invalidControl("credit of 0 bytes", { credit: [{ streamId: newStreamId(), bytes: 0 }] }),
  invalidControl("credit of 1.5 bytes", { credit: [{ streamId: newStreamId(), bytes: 1.5 }] }),
  invalidControl("credit of 1 GiB + 1 bytes", {
    credit: [{ streamId: newStreamId(), bytes: LIMITS.maxWindowBytes + 1 }],
  }),
  {
    name: "cancel of a healthy stream from another sourcePeerId",
    payload: () =>
      json({ type: MessageType.Control, sourcePeerId: ATTACKER, cancel: [healthyA.streamId] }),
    rejected: 1,
    logged: "ignored",
  },
  {
    name: "credit for a healthy stream from another sourcePeerId",
    payload: () =>
      json({
        type: MessageType.Control,
        sourcePeerId: ATTACKER,
        credit: [{ streamId: healthyA.streamId, bytes: LIMITS.maxWindowBytes }],
      }),
    rejected: 1,
    logged: "ignored",
  },
  {
    name: "cancel of req-n's healthy stream in req-h's name (another real requester)",
    payload: () =>
      json({ type: MessageType.Control, sourcePeerId: REQ, cancel: [healthyN.streamId] }),
    rejected: 1,
    logged: "ignored",
  },
  {
    name: "cancel and credit of unknown stream ids in the owner's name (3 + 2 items)",
    payload: control({
      cancel: [newStreamId(), newStreamId(), newStreamId()],
      credit: [
        { streamId: newStreamId(), bytes: 1024 },
        { streamId: newStreamId(), bytes: 1024 },
      ],
    }),
    rejected: 5,
    logged: "ignored",
  },
  {
    name: "cancel of every healthy stream from another sourcePeerId, plus an unknown id",
    payload: () =>
      json({
        type: MessageType.Control,
        sourcePeerId: ATTACKER,
        cancel: [healthyA.streamId, healthyR.streamId, healthyN.streamId, newStreamId()],
      }),
    rejected: 4,
    logged: "ignored",
  },
  {
    name: "an empty control (neither cancel nor credit)",
    payload: control({}),
    rejected: 0,
    logged: "none",
  },
];

const controlInvalidLogged = (r: LogRecord) =>
  r.level === "info" && r.msg === "control message rejected";
const controlIgnoredLogged = (r: LogRecord) =>
  r.level === "debug" && r.msg === "control items for unknown streams ignored";

async function runControlCase(c: ControlCase): Promise<void> {
  const before = server.stats();
  const invalid = serverLog.count(controlInvalidLogged);
  const ignored = serverLog.count(controlIgnoredLogged);
  attacker.publish(subjects.control(COMPUTE), c.payload());
  // Sentinel: an invalid control sent after the case; once it is counted the case was handled.
  attacker.publish(subjects.control(COMPUTE), text("sentinel"));
  await vi.waitFor(
    () => expect(server.stats().controlRejected).toBe(before.controlRejected + c.rejected + 1),
    WAIT,
  );
  expect(serverLog.count(controlInvalidLogged)).toBe(
    invalid + 1 + (c.logged === "invalid" ? 1 : 0),
  );
  expect(serverLog.count(controlIgnoredLogged)).toBe(ignored + (c.logged === "ignored" ? 1 : 0));
  const after = server.stats();
  expect(after.openStreams).toBe(before.openStreams);
  expect(after.openStreamsByRequester).toEqual(before.openStreamsByRequester);
  expect(after.streamsEnded).toEqual(before.streamsEnded);
  expect(after.requestsRejected).toEqual(before.requestsRejected);
}

describe("compute control subject node.compute.<id>.ExecutionLogsControl/v1", () => {
  it.each(CONTROL_CASES)("$name -> controlRejected +$rejected", runControlCase);

  it("the healthy streams kept flowing", expectFlowing);
});

// ---- requester heartbeat subject -------------------------------------------------------------

type HeartbeatOutcome =
  | { kind: "rejected" }
  | { kind: "answered"; unknown: () => string[] }
  | { kind: "unanswered" };

interface HeartbeatCase {
  name: string;
  to: typeof REQ | typeof REQ_NR;
  payload: () => Uint8Array;
  /** Sent with a reply subject (default true). */
  withReply?: boolean;
  outcome: HeartbeatOutcome;
}

const heartbeat = (computeNodeId: string, streamIds: () => string[]) => () =>
  json({ type: MessageType.Heartbeat, computeNodeId, streamIds: streamIds() });
const REJECTED: HeartbeatOutcome = { kind: "rejected" };
const unknownIds = [newStreamId(), newStreamId()];

const HEARTBEAT_CASES: HeartbeatCase[] = [
  ...GARBAGE.map(
    ([name, payload]): HeartbeatCase => ({
      name,
      to: REQ,
      payload: () => payload,
      outcome: REJECTED,
    }),
  ),
  {
    name: "a heartbeat-response-shaped message",
    to: REQ,
    payload: () =>
      json({ type: MessageType.HeartbeatResponse, requesterNodeId: REQ, unknownStreamIds: [] }),
    outcome: REJECTED,
  },
  {
    name: "a future version (ExecutionLogs.Heartbeat/v2)",
    to: REQ,
    payload: () =>
      json({ type: "ExecutionLogs.Heartbeat/v2", computeNodeId: COMPUTE, streamIds: [] }),
    outcome: REJECTED,
  },
  {
    name: "computeNodeId missing",
    to: REQ,
    payload: () => json({ type: MessageType.Heartbeat, streamIds: [] }),
    outcome: REJECTED,
  },
  {
    name: "streamIds missing",
    to: REQ,
    payload: () => json({ type: MessageType.Heartbeat, computeNodeId: COMPUTE }),
    outcome: REJECTED,
  },
  {
    name: "computeNodeId not a node id",
    to: REQ,
    payload: heartbeat("compute.*", () => []),
    outcome: REJECTED,
  },
  {
    name: "streamIds not an array",
    to: REQ,
    payload: () =>
      json({ type: MessageType.Heartbeat, computeNodeId: COMPUTE, streamIds: healthyA.streamId }),
    outcome: REJECTED,
  },
  {
    name: "a short stream id in streamIds",
    to: REQ,
    payload: heartbeat(COMPUTE, () => [healthyA.streamId, "short"]),
    outcome: REJECTED,
  },
  {
    name: "20 001 stream ids",
    to: REQ,
    payload: heartbeat("compute-fake", () =>
      Array.from({ length: LIMITS.maxIdsPerMessage + 1 }, () => newStreamId()),
    ),
    outcome: REJECTED,
  },
  {
    name: "a fake compute id listing req-h's streams (which belong to compute-h)",
    to: REQ,
    payload: heartbeat("compute-fake", () => [healthyA.streamId, healthyR.streamId]),
    outcome: { kind: "answered", unknown: () => [healthyA.streamId, healthyR.streamId] },
  },
  {
    name: "a fake compute id listing req-n's stream (which belongs to compute-h)",
    to: REQ_NR,
    payload: heartbeat("compute-fake", () => [healthyN.streamId]),
    outcome: { kind: "answered", unknown: () => [healthyN.streamId] },
  },
  {
    name: "compute-h's id listing another requester's stream",
    to: REQ,
    payload: heartbeat(COMPUTE, () => [healthyA.streamId, healthyR.streamId, healthyN.streamId]),
    outcome: { kind: "answered", unknown: () => [healthyN.streamId] },
  },
  {
    name: "compute-h's id listing all its streams plus unknown ones",
    to: REQ,
    payload: heartbeat(COMPUTE, () => [healthyA.streamId, ...unknownIds, healthyR.streamId]),
    outcome: { kind: "answered", unknown: () => unknownIds },
  },
  {
    name: "a fake compute id listing random stream ids",
    to: REQ,
    payload: heartbeat("compute-fake", () => unknownIds),
    outcome: { kind: "answered", unknown: () => unknownIds },
  },
  {
    name: "a valid heartbeat without a reply subject",
    to: REQ,
    payload: heartbeat("compute-fake", () => [healthyA.streamId]),
    withReply: false,
    outcome: { kind: "unanswered" },
  },
];

let hbReplyCount = 0;

async function runHeartbeatCase(c: HeartbeatCase): Promise<void> {
  const target = c.to === REQ ? client : clientNr;
  const log = c.to === REQ ? clientLog : clientNrLog;
  const before = target.stats();
  const warned = log.count((r) => r.msg === "rejected a heartbeat");
  const reply = `hbreply.${++hbReplyCount}`;
  const barrier = `hbreply.${++hbReplyCount}`;
  attacker.publish(
    subjects.heartbeat(c.to),
    c.payload(),
    c.withReply === false ? undefined : { reply },
  );
  // Barrier: a heartbeat answered for sure; its answer comes after any answer to the case.
  attacker.publish(
    subjects.heartbeat(c.to),
    json({ type: MessageType.Heartbeat, computeNodeId: "compute-fake", streamIds: [] }),
    { reply: barrier },
  );
  await vi.waitFor(() => expect(hbReplies.on(barrier)).toHaveLength(1), WAIT);
  const after = target.stats();
  const answers = hbReplies.on(reply);
  switch (c.outcome.kind) {
    case "rejected":
      expect(answers).toEqual([]);
      expect(after.heartbeatsRejected).toBe(before.heartbeatsRejected + 1);
      expect(log.count((r) => r.msg === "rejected a heartbeat" && r.level === "warn")).toBe(
        warned + 1,
      );
      break;
    case "answered": {
      expect(answers).toHaveLength(1);
      expect(decodeHeartbeatResponse(answers[0]!.data)).toEqual({
        type: MessageType.HeartbeatResponse,
        requesterNodeId: c.to,
        unknownStreamIds: c.outcome.unknown(),
      });
      expect(after.heartbeatsRejected).toBe(before.heartbeatsRejected);
      break;
    }
    case "unanswered":
      expect(answers).toEqual([]);
      expect(after.heartbeatsRejected).toBe(before.heartbeatsRejected);
      break;
  }
  expect(after.streamsEnded).toEqual(before.streamsEnded);
  expect(after.openStreams).toBe(before.openStreams);
  expect(after.resumeAttempts).toBe(before.resumeAttempts);
  // No record was made for a node nobody asked: only compute-h is known.
  expect(after.computeNodes.map((n) => n.nodeId)).toEqual([COMPUTE]);
}

describe("requester heartbeat subject _TW.<rid>.hb", () => {
  it.each(HEARTBEAT_CASES)("$name -> $outcome.kind", runHeartbeatCase);

  it("the healthy streams kept flowing, and compute-h still serves them all", async () => {
    await expectFlowing();
    // The forged answers went to the attacker, not to compute-h: nothing was stopped there.
    expect(server.stats().streamsEnded.unknown_to_requester).toBe(0);
    expect(server.stats().openStreamsByRequester).toEqual({ [REQ]: 2, [REQ_NR]: 1 });
  });
});

// ---- requester stream inbox -------------------------------------------------------------------

const entryAt = (seq: number, line = `forged ${seq}`) => ({
  seq,
  stream: "stdout" as const,
  time: Date.now(),
  line,
});

/** Frames for a stream id, each invalid for an open, accepted stream of that id. */
interface InboxCase {
  name: string;
  payload: (sid: string, afterSeq: number) => Uint8Array;
  /** Published with a NATS status header instead of a payload. */
  status?: number;
  /** What ends a resume-off stream: its error code and end cause. */
  code: ErrorCode;
  cause: "protocol_error" | "error";
}

const INBOX_CASES: InboxCase[] = [
  ...GARBAGE.map(
    ([name, payload]): InboxCase => ({
      name,
      payload: () => payload,
      code: "PROTOCOL_ERROR",
      cause: "protocol_error",
    }),
  ),
  {
    name: "a data frame without seq",
    payload: (sid) =>
      text(
        `{"type":"${MessageType.Data}","streamId":"${sid}","n":1,"stream":"o","timeBase":1,"timeDelta":"A"}\nx`,
      ),
    code: "PROTOCOL_ERROR",
    cause: "protocol_error",
  },
  {
    name: "a data frame whose body has more lines than seq",
    payload: (sid, after) =>
      new Uint8Array([...encodeDataFrame(sid, 1, [entryAt(after + 1)]), ...text("\nextra")]),
    code: "PROTOCOL_ERROR",
    cause: "protocol_error",
  },
  {
    name: "a data frame with decreasing seq",
    payload: (sid, after) =>
      text(
        `{"type":"${MessageType.Data}","streamId":"${sid}","n":1,"seq":[${after + 2},${after + 1}],"stream":"oo","timeBase":1,"timeDelta":"AA"}\na\nb`,
      ),
    code: "PROTOCOL_ERROR",
    cause: "protocol_error",
  },
  {
    name: "a data frame with a time beyond 2^53",
    payload: (sid, after) =>
      text(
        `{"type":"${MessageType.Data}","streamId":"${sid}","n":1,"seq":[${after + 1}],"stream":"o","timeBase":${Number.MAX_SAFE_INTEGER},"timeDelta":"C"}\na`,
      ),
    code: "PROTOCOL_ERROR",
    cause: "protocol_error",
  },
  {
    name: "a data frame with seq going back (at or before afterSeq)",
    payload: (sid, after) => encodeDataFrame(sid, 1, [entryAt(after)]),
    code: "PROTOCOL_ERROR",
    cause: "protocol_error",
  },
  {
    name: "a valid frame naming another stream id",
    payload: (_sid, after) => encodeDataFrame(newStreamId(), 1, [entryAt(after + 1)]),
    code: "PROTOCOL_ERROR",
    cause: "protocol_error",
  },
  {
    name: "a data frame larger than the granted window",
    payload: (sid, after) =>
      encodeDataFrame(sid, 1, [entryAt(after + 1, "w".repeat(NR_WINDOW + 1024))]),
    code: "PROTOCOL_ERROR",
    cause: "protocol_error",
  },
  {
    name: "a data frame skipping frame numbers (n = 2^40)",
    payload: (sid, after) => encodeDataFrame(sid, 2 ** 40, [entryAt(after + 1)]),
    code: "SEQUENCE_GAP",
    cause: "protocol_error",
  },
  {
    name: "a second Accepted (frame 0 again)",
    payload: (sid, after) =>
      encode({
        type: MessageType.Accepted,
        streamId: sid,
        n: 0,
        computeNodeId: COMPUTE,
        afterSeq: after,
        lastSeq: after,
        maxFrameBytes: NR_WINDOW,
      }),
    code: "SEQUENCE_GAP",
    cause: "protocol_error",
  },
  // An un-numbered forged Error frame and a forged 503 status are ignored once the stream is
  // accepted (they answer requests, not streams); a numbered frame would have to guess the next
  // frame number. See the regression tests below.
];

/** On an unknown stream id any message is only counted. */
type UnknownIdCase = Pick<InboxCase, "name" | "payload" | "status">;

function publishOnInbox(requester: string, sid: string, c: UnknownIdCase, afterSeq: number): void {
  const subject = subjects.streamInbox(requester, sid);
  if (c.status === undefined) attacker.publish(subject, c.payload(sid, afterSeq));
  else attacker.publish(subject, new Uint8Array(0), { headers: headers(c.status, "forged") });
}

const clientCounters = (s: LogStreamClientStats) => ({
  framesRejected: s.framesRejected,
  framesIgnored: s.framesIgnored,
  resumeAttempts: s.resumeAttempts,
  streamsEnded: s.streamsEnded,
});

describe("requester stream inbox _TW.<rid>.s.<sid>", () => {
  it.each<UnknownIdCase>([
    ...INBOX_CASES,
    {
      name: "a valid data frame",
      payload: (sid: string) => encodeDataFrame(sid, 1, [entryAt(1)]),
    },
    {
      name: "a valid End frame",
      payload: (sid: string) =>
        encode({ type: MessageType.End, streamId: sid, n: 1, lastSeq: 1, exitCode: 0 }),
    },
    {
      name: "900 KB of garbage",
      payload: () => new Uint8Array(900 * 1024).fill(0x7b),
    },
  ])("unknown stream id, $name -> ignored and counted", async (c) => {
    const before = client.stats();
    publishOnInbox(REQ, newStreamId(), c, 0);
    await vi.waitFor(
      () => expect(client.stats().framesIgnored).toBe(before.framesIgnored + 1),
      WAIT,
    );
    expect(clientCounters(client.stats())).toEqual({
      ...clientCounters(before),
      framesIgnored: before.framesIgnored + 1,
    });
  });

  it("a subject whose last token is no stream id -> ignored and counted", async () => {
    const before = client.stats();
    attacker.publish(`${subjects.requesterPrefix(REQ)}.s.x`, text("{}"));
    await vi.waitFor(
      () => expect(client.stats().framesIgnored).toBe(before.framesIgnored + 1),
      WAIT,
    );
    expect(clientCounters(client.stats())).toEqual({
      ...clientCounters(before),
      framesIgnored: before.framesIgnored + 1,
    });
  });

  it.each(INBOX_CASES)(
    "resume off, the victim's own id, $name -> only the victim ends ($code)",
    async (c) => {
      const victim = clientNr.streamLogs({
        nodeId: COMPUTE,
        executionId: EXEC_VICTIM,
        follow: true,
        tail: 0,
      });
      const drained = drain(victim);
      const accepted = await victim.accepted;
      expect(accepted.afterSeq).toBe(3);
      const before = clientNr.stats();
      publishOnInbox(REQ_NR, victim.streamId, c, accepted.afterSeq);
      const { error } = await drained.done;
      expect(error).toBeInstanceOf(TailwireError);
      expect((error as TailwireError).code).toBe(c.code);
      expect(victim.endCause).toBe(c.cause);
      expect(drained.entries).toEqual([]);
      const after = clientNr.stats();
      expect(after.framesRejected).toBe(
        before.framesRejected + (c.cause === "protocol_error" ? 1 : 0),
      );
      expect(after.streamsEnded[c.cause]).toBe(before.streamsEnded[c.cause] + 1);
      expect(after.openStreams).toBe(before.openStreams - 1);
      // The compute node lets go of it (a cancel, or the next heartbeat's "unknown"), and only it.
      await vi.waitFor(
        () => expect(server.stats().openStreamsByRequester).toEqual({ [REQ]: 2, [REQ_NR]: 1 }),
        WAIT,
      );
    },
  );

  it.each([
    INBOX_CASES.find((c) => c.name === "invalid JSON")!,
    INBOX_CASES.find((c) => c.code === "SEQUENCE_GAP")!,
    INBOX_CASES.find((c) => c.name === "a valid frame naming another stream id")!,
  ])("resume on, a healthy stream's own id, $name -> it resumes transparently", async (c) => {
    const before = client.stats();
    const attempts = healthyR.attempts;
    const oldId = healthyR.streamId;
    const cancelled = server.stats().streamsEnded.cancelled;
    const entries = drains.get(healthyR)!.entries;
    publishOnInbox(REQ, oldId, c, entries.at(-1)?.seq ?? 0);
    await vi.waitFor(() => expect(healthyR.attempts).toBe(attempts + 1), WAIT);
    // The new attempt delivers lines (checked exactly-once at the end of the file).
    const seen = entries.length;
    await vi.waitFor(() => expect(entries.length).toBeGreaterThan(seen + 2), WAIT);
    expect(healthyR.streamId).not.toBe(oldId);
    expect(healthyR.endCause).toBeUndefined();
    const after = client.stats();
    expect(after.framesRejected).toBe(before.framesRejected + 1);
    expect(after.resumeAttempts).toBe(before.resumeAttempts + 1);
    expect(after.streamsEnded).toEqual(before.streamsEnded);
    // The broken attempt was cancelled on the compute node.
    await vi.waitFor(() => expect(server.stats().streamsEnded.cancelled).toBe(cancelled + 1), WAIT);
  });

  it("a valid request in req-h's name for a stream it never opened: frames ignored, stopped by heartbeat", async () => {
    const before = client.stats();
    const unknownBefore = server.stats().streamsEnded.unknown_to_requester;
    const sid = newStreamId();
    attacker.publish(
      subjects.request(COMPUTE),
      json(
        requestBody(sid, {
          sourcePeerId: REQ,
          heartbeatSubject: subjects.heartbeat(REQ),
          executionId: EXEC_A,
          follow: true,
          tail: 0,
        }),
      ),
      { reply: subjects.streamInbox(REQ, sid) },
    );
    // Documented (SECURITY.md): the requester drops the frames and answers "unknown".
    await vi.waitFor(
      () => expect(server.stats().streamsEnded.unknown_to_requester).toBe(unknownBefore + 1),
      WAIT,
    );
    const after = client.stats();
    expect(after.framesIgnored).toBeGreaterThan(before.framesIgnored);
    expect(after.framesRejected).toBe(before.framesRejected);
    expect(after.streamsEnded).toEqual(before.streamsEnded);
    expect(server.stats().openStreamsByRequester).toEqual({ [REQ]: 2, [REQ_NR]: 1 });
  });

  it("the healthy streams kept flowing", expectFlowing);
});

// ---- regressions: bugs this suite found, fixed ----------------------------------------------------

/**
 * Opens a live follow, runs `attack` against it, then proves the stream still delivers a line
 * appended afterwards, and releases it on the compute node before the next case counts streams.
 */
async function expectLiveStreamSurvives(
  attack: (victim: ReturnType<typeof client.streamLogs>) => Promise<void>,
): Promise<void> {
  const open = server.stats().openStreams;
  const victim = client.streamLogs({ nodeId: COMPUTE, executionId: EXEC_DUP, follow: true });
  const drained = drain(victim);
  await victim.accepted;
  try {
    await attack(victim);
    const marker = `marker ${newStreamId()}`;
    await store.append(EXEC_DUP, "stdout", marker);
    await vi.waitFor(
      () =>
        expect(
          victim.endCause !== undefined || drained.entries.some((e) => e.line === marker),
        ).toBe(true),
      WAIT,
    );
    expect(victim.endCause).toBeUndefined();
  } finally {
    victim.cancel();
    await vi.waitFor(() => expect(server.stats().openStreams).toBe(open), WAIT);
  }
}

describe("regressions of bugs this suite found", () => {
  // Was a bug (requester, frame-reader.ts): an Error frame without `n` was accepted at any time,
  // although the protocol sends un-numbered Error frames only before acceptance. The compute
  // node's DUPLICATE_STREAM rejection of a second request with the same (requester, stream id)
  // goes, by construction, to the inbox of the ORIGINAL stream (the reply must be exactly
  // `_TW.<sourcePeerId>.s.<streamId>`), and the client ends the original stream with it.
  // Observed: the victim ends with DuplicateStreamError (endCause "error", not resumed: the code
  // is not retryable); the compute node, not told, keeps serving it until the next heartbeat
  // answers "unknown". Fix: FrameReader ignores (framesIgnored) an Error frame without `n` once
  // the stream is accepted; optionally the server drops a DUPLICATE_STREAM answer (no reply).
  // Fixed: FrameReader ignores it (framesIgnored).
  it("a duplicate request for a live LogStreamClient stream leaves that stream open", async () => {
    await expectLiveStreamSurvives(async (victim) => {
      const rejected = server.stats().requestsRejected.DUPLICATE_STREAM;
      attacker.publish(
        subjects.request(COMPUTE),
        json(
          requestBody(victim.streamId, {
            sourcePeerId: REQ,
            heartbeatSubject: subjects.heartbeat(REQ),
            executionId: EXEC_DUP,
            follow: true,
          }),
        ),
        { reply: subjects.streamInbox(REQ, victim.streamId) },
      );
      // Documented: "DUPLICATE_STREAM ... the original stream continues".
      await vi.waitFor(
        () => expect(server.stats().requestsRejected.DUPLICATE_STREAM).toBe(rejected + 1),
        WAIT,
      );
    });
  });

  // A forged 503 "no responders" status on a live stream's inbox ended that stream with
  // NodeUnreachableError; a 503 answers a request, so once accepted it is ignored (counted).
  it("a forged 503 status on a live stream's inbox leaves that stream open", async () => {
    await expectLiveStreamSurvives(async (victim) => {
      const ignored = client.stats().framesIgnored;
      attacker.publish(subjects.streamInbox(REQ, victim.streamId), new Uint8Array(0), {
        headers: headers(503, "forged"),
      });
      await vi.waitFor(() => expect(client.stats().framesIgnored).toBe(ignored + 1), WAIT);
    });
  });

  // Same root cause: a garbage request naming a live stream's inbox as reply gets a BAD_REQUEST
  // Error frame (no n) on that inbox, which ended the live stream at the requester (observed:
  // BadRequestError, endCause "error"). Same fix.
  it("a garbage request replying to a live stream's inbox leaves that stream open", async () => {
    await expectLiveStreamSurvives(async (victim) => {
      const rejected = server.stats().requestsRejected.BAD_REQUEST;
      attacker.publish(subjects.request(COMPUTE), text("not json"), {
        reply: subjects.streamInbox(REQ, victim.streamId),
      });
      await vi.waitFor(
        () => expect(server.stats().requestsRejected.BAD_REQUEST).toBe(rejected + 1),
        WAIT,
      );
    });
  });

  // Was a bug (compute, log-stream-server.ts #onRequest): for a request that failed to decode, the
  // rejection is published to ANY reply subject whose last token looks like a stream id, e.g.
  // `elsewhere.<sid>` or `_TW.<rid>.x.<sid>`. PROTOCOL.md: "a request pointing anywhere else is
  // dropped without a reply, so no request can make a compute node publish on someone else's
  // subjects". Under SECURITY.md's permissions each such reply is a Publish Violation that a
  // hostile requester can make a legitimate compute node commit at will (alerting noise).
  // Fixed twice: first a rejection went only to replies shaped `_TW.<id>.s.<sid>`, but that
  // still let garbage aim one at any other requester's inbox. Now (rejectionInbox) a request is
  // answered only on the stream inbox its own valid sourcePeerId and streamId name.
  it.each([
    ["outside the protocol", (sid: string) => `elsewhere.${sid}`],
    ["a non-inbox subject under _TW", (sid: string) => `_TW.${ATTACKER}.x.${sid}`],
  ])("garbage whose reply is %s -> counted, logged, no reply", async (_what, reply) => {
    await runRequestCase({
      name: "garbage with a foreign reply",
      payload: () => text("not json"),
      reply,
      code: "BAD_REQUEST",
      answered: false,
    });
  });
});

// ---- the healthy streams, after everything ----------------------------------------------------

describe("after every hostile message", () => {
  it("the healthy streams received every line exactly once, in order, and complete normally", async () => {
    clearInterval(writer);
    writer = undefined;
    finished = true;
    writeOneEach(); // one more line after the last hostile message
    for (const exec of HEALTHY) await store.complete(exec, 0);
    const streams: [LogStream, string][] = [
      [healthyA, EXEC_A],
      [healthyR, EXEC_R],
      [healthyN, EXEC_N],
    ];
    for (const [stream, exec] of streams) {
      const drained = drains.get(stream)!;
      const { error } = await drained.done;
      expect(error).toBeUndefined();
      const count = written[exec]!;
      expect(count).toBeGreaterThan(100);
      expect(drained.entries.map((e) => e.seq)).toEqual(range(1, count));
      expect(drained.entries.map((e) => e.line)).toEqual(range(1, count).map((i) => `line ${i}`));
      expect(stream.endCause).toBe("completed");
      expect(stream.exitCode).toBe(0);
    }
    expect(healthyA.attempts).toBe(1);
    expect(healthyN.attempts).toBe(1);
    expect(healthyR.attempts).toBe(4); // 3 resumes (inbox cases above), invisible to its consumer
    expect(server.stats().streamsEnded.completed).toBeGreaterThanOrEqual(3);
    expect(trap.caught).toEqual([]);
  });
});

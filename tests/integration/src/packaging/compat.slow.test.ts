// Wire compatibility (VERSIONING.md): what a v1 node does with messages from a newer peer.
// - A compute node (LogStreamServer) serves a v1 request that carries fields it does not know
//   (optional fields a later v1 revision may add), and answers a message type it does not speak
//   (ExecutionLogs.Request/v2, a future kind) sent on its v1 subject with an Error frame
//   UNSUPPORTED_VERSION: no crash, and it keeps serving v1 requests.
// - A requester (LogStreamClient) accepts frames with extra fields, and a frame type it does not
//   speak ends only that stream with a typed error.
// Requests and frames are written by hand on a raw NATS connection, as a newer peer would send
// them; data frames are built with the protocol's own encoder and then extended, so the test
// holds whatever the data-frame layout is.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { LogStreamServer, MemoryLogStore } from "@tailwire/compute";
import {
  type DataFrame,
  dataFrameEntries,
  decodeFrame,
  decodeRequest,
  encode,
  encodeDataFrame,
  type LogEntry,
  MessageType,
  newStreamId,
  type StreamFrame,
  subjects,
  TailwireError,
} from "@tailwire/protocol";
import { LogStreamClient } from "@tailwire/requester";
import { NatsServer, withDeadline } from "@tailwire/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const COMPUTE = "compat-compute";
const REQUESTER = "compat-requester";
const text = new TextEncoder();
const json = (value: unknown): Uint8Array => text.encode(JSON.stringify(value));

let server: NatsServer;
const connections: NatsConnection[] = [];
async function connection(): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url });
  connections.push(nc);
  return nc;
}

beforeAll(async () => {
  server = await NatsServer.start();
});
afterAll(async () => {
  for (const nc of connections) await nc.close().catch(() => undefined);
  await server?.stop();
});

describe("a v1 compute node and messages from a newer requester", () => {
  let requester: NatsConnection;
  let compute: LogStreamServer;

  beforeAll(async () => {
    const store = new MemoryLogStore();
    await store.create("exec-1");
    for (const line of ["one", "two", "three"]) await store.append("exec-1", "stdout", line);
    await store.complete("exec-1", 0);
    compute = new LogStreamServer({
      connection: await connection(),
      nodeId: COMPUTE,
      source: store,
    });
    await compute.start();
    requester = await connection();
  });
  afterAll(() => compute?.close());

  /** A valid v1 request for exec-1 (heartbeats far apart: these streams end in milliseconds). */
  const v1Request = (streamId: string) => ({
    type: MessageType.Request,
    sourcePeerId: REQUESTER,
    targetPeerId: COMPUTE,
    executionId: "exec-1",
    streamId,
    follow: false,
    heartbeatSubject: subjects.heartbeat(REQUESTER),
    heartbeatIntervalMs: 60_000,
    window: 1024 * 1024,
  });

  /** Sends a request as raw JSON; resolves with every frame up to the End or Error frame. */
  async function send(body: Record<string, unknown>, streamId: string): Promise<StreamFrame[]> {
    const inbox = subjects.streamInbox(REQUESTER, streamId);
    const sub = requester.subscribe(inbox);
    await requester.flush();
    requester.publish(subjects.request(COMPUTE), json(body), { reply: inbox });
    const frames: StreamFrame[] = [];
    await withDeadline(
      (async () => {
        for await (const msg of sub) {
          const frame = decodeFrame(msg.data); // every frame the node sends is valid v1
          frames.push(frame);
          if (frame.type === MessageType.End || frame.type === MessageType.Error) break;
        }
      })(),
      5_000,
      `the frames of ${streamId}`,
    );
    sub.unsubscribe();
    return frames;
  }

  function servedNormally(frames: StreamFrame[], streamId: string): void {
    expect(frames.map((f) => f.type)).toEqual([
      MessageType.Accepted,
      ...frames.slice(1, -1).map(() => MessageType.Data),
      MessageType.End,
    ]);
    expect(frames.every((f) => f.streamId === streamId)).toBe(true);
    const entries = frames.flatMap((f) => (f.type === MessageType.Data ? dataFrameEntries(f) : []));
    expect(entries.map((e) => e.line)).toEqual(["one", "two", "three"]);
    expect(frames.at(-1)).toMatchObject({ type: MessageType.End, lastSeq: 3, exitCode: 0 });
  }

  it("serves a request carrying optional fields it does not know", async () => {
    const streamId = newStreamId();
    const frames = await send(
      {
        ...v1Request(streamId),
        // What a later v1 revision might add: unknown to this node, ignored.
        checksum: "crc32c",
        priority: 7,
        resumeToken: { epoch: 2, token: "abc" },
      },
      streamId,
    );
    servedNormally(frames, streamId);
  });

  it.each([
    [
      "ExecutionLogs.Request/v2 on the v1 subject",
      (streamId: string) => ({
        // A v2 request need not look like v1 at all: only `type` is read.
        type: "ExecutionLogs.Request/v2",
        sourcePeerId: REQUESTER,
        targetPeerId: COMPUTE,
        executions: [{ id: "exec-1", tail: 10 }],
        streamId,
        window: { bytes: 1024 * 1024, frames: 16 },
      }),
    ],
    [
      "a future message kind",
      (streamId: string) => ({ ...v1Request(streamId), type: "ExecutionLogs.Subscribe/v1" }),
    ],
  ])("answers %s with Error UNSUPPORTED_VERSION and keeps serving v1", async (_what, body) => {
    const before = compute.stats().requestsRejected.UNSUPPORTED_VERSION;
    const streamId = newStreamId();
    const frames = await send(body(streamId), streamId);
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({
      type: MessageType.Error,
      streamId, // taken from the reply subject: the node could not read the message's own
      code: "UNSUPPORTED_VERSION",
      retryable: false,
    });
    expect(frames[0]).not.toHaveProperty("n"); // rejected before acceptance
    // Without a reply subject there is nobody to tell: counted, nothing sent, no crash.
    requester.publish(subjects.request(COMPUTE), json(body(newStreamId())));
    await requester.flush();

    const next = newStreamId();
    servedNormally(await send(v1Request(next), next), next);
    expect(compute.stats().requestsRejected.UNSUPPORTED_VERSION).toBe(before + 2);
  });
});

describe("a v1 requester and frames from a newer compute node", () => {
  const NEWER = "compat-newer-compute";
  const ENTRIES: LogEntry[] = [
    { seq: 1, stream: "stdout", time: 1_700_000_000_000, line: "alpha" },
    { seq: 2, stream: "stderr", time: 1_700_000_000_005, line: "beta" },
  ];

  /** The Data frame this library would send, with `extra` fields added as a newer node might. */
  function dataFrame(streamId: string, n: number, extra: Record<string, unknown>): Uint8Array {
    // Decoded (from the body form the library sends) and re-sent as one JSON object, the form
    // a newer node may also use, with the extra fields.
    const frame = decodeFrame(encodeDataFrame(streamId, n, ENTRIES)) as DataFrame;
    return json({ ...frame, ...extra });
  }

  let client: LogStreamClient;
  beforeAll(async () => {
    const nc = await connection();
    // A fake compute node of a later revision: valid v1 frames plus fields v1 does not define;
    // for exec-future, a frame of a type v1 does not define.
    nc.subscribe(subjects.request(NEWER), {
      callback: (_error, msg) => {
        const request = decodeRequest(msg.data);
        const reply = msg.reply!;
        const { streamId } = request;
        const accepted = encode({
          type: MessageType.Accepted,
          streamId,
          n: 0,
          computeNodeId: NEWER,
          afterSeq: 0,
          lastSeq: 2,
          maxFrameBytes: 65_536,
        });
        nc.publish(
          reply,
          json({ ...(decodeFrame(accepted) as object), codecs: ["json", "cbor"], region: "eu" }),
        );
        if (request.executionId === "exec-future") {
          nc.publish(reply, json({ type: "ExecutionLogs.Data/v2", streamId, n: 1, blob: "AAEC" }));
          return;
        }
        nc.publish(reply, dataFrame(streamId, 1, { compression: "none", checksum: "c0ffee" }));
        nc.publish(
          reply,
          json({
            type: MessageType.End,
            streamId,
            n: 2,
            lastSeq: 2,
            exitCode: 0,
            stats: { bytes: 123, lines: 2 },
          }),
        );
      },
    });
    await nc.flush();
    client = new LogStreamClient({ connection: await connection(), nodeId: REQUESTER });
  });
  afterAll(() => client?.close());

  async function read(executionId: string) {
    const stream = client.streamLogs({ nodeId: NEWER, executionId });
    const entries: LogEntry[] = [];
    try {
      for await (const entry of stream) entries.push(entry as LogEntry);
      return { stream, entries, error: undefined };
    } catch (error) {
      return { stream, entries, error };
    }
  }

  it("reads frames that carry fields it does not know", async () => {
    const { stream, entries, error } = await read("exec-1");
    expect(error).toBeUndefined();
    expect(entries).toEqual(ENTRIES);
    expect(stream.exitCode).toBe(0);
    expect(stream.endCause).toBe("completed");
    expect(stream.acceptedInfo?.computeNodeId).toBe(NEWER);
  });

  it("ends only that stream, with a typed error, on a frame type it does not speak", async () => {
    const { error } = await read("exec-future");
    expect(error).toBeInstanceOf(TailwireError);
    // A protocol error (or, where resume retries it, the resume giving up).
    expect(["PROTOCOL_ERROR", "RESUME_EXHAUSTED"]).toContain((error as TailwireError).code);
    // The client itself is unaffected: the next stream is read normally.
    const next = await read("exec-1");
    expect(next.error).toBeUndefined();
    expect(next.entries).toEqual(ENTRIES);
  });
});

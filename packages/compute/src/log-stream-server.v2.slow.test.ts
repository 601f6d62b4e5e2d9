// The compute node's ExecutionLogs/v2 against a raw NATS requester: served next to v1, the
// requester id taken from the subject only, every frame and heartbeat on the derived v2 subjects
// and in v2's bytes, controls honoured for the subject's requester only, and the version census.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  decodeFrameV2,
  decodeHeartbeatV2,
  encode,
  encodeV2,
  MessageType,
  MessageTypeV2,
  newStreamId,
  type StreamFrameV2,
  subjects,
  subjectsV2,
} from "@tailwire/protocol";
import { NatsServer, pollUntil } from "@tailwire/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Cleanups, fill, NODE, startFixture } from "./test-helpers/fixture.js";
import { RecordingLogger } from "./test-helpers/recording-logger.js";

let nats: NatsServer;
const cleanups = new Cleanups();
beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(() => nats?.stop());
afterEach(() => cleanups.run());

/** A requester speaking raw v2: frames by stream id, heartbeats answered with `unknown`. */
async function rawV2(requesterNodeId: string) {
  const nc: NatsConnection = await connect({ servers: nats.url });
  cleanups.add(() => nc.close());
  const frames = new Map<string, { subject: string; frame: StreamFrameV2 }[]>();
  const beats: { subject: string; streamIds: string[] }[] = [];
  const unknown = new Set<string>();
  nc.subscribe(subjectsV2.streamInboxWildcard(requesterNodeId), {
    callback: (_e, msg) => {
      const sid = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
      const list = frames.get(sid) ?? [];
      list.push({ subject: msg.subject, frame: decodeFrameV2(msg.data) });
      frames.set(sid, list);
    },
  });
  nc.subscribe(subjectsV2.heartbeatWildcard(requesterNodeId), {
    callback: (_e, msg) => {
      const hb = decodeHeartbeatV2(msg.data);
      beats.push({ subject: msg.subject, streamIds: hb.streamIds });
      msg.respond(
        encodeV2({
          type: MessageTypeV2.HeartbeatResponse,
          unknownStreamIds: hb.streamIds.filter((id) => unknown.has(id)),
        }),
      );
    },
  });
  await nc.flush();
  const open = (executionId: string, fields: Record<string, unknown> = {}, reply?: string) => {
    const streamId = newStreamId();
    nc.publish(
      subjectsV2.request(NODE, requesterNodeId),
      encodeV2({
        type: MessageTypeV2.Request,
        executionId,
        streamId,
        follow: false,
        heartbeatIntervalMs: 100,
        heartbeatTimeoutMs: 50,
        window: 65536,
        ...fields,
      } as never),
      { reply: reply ?? subjectsV2.streamInbox(requesterNodeId, NODE, streamId) },
    );
    return streamId;
  };
  const framesOf = (sid: string) => (frames.get(sid) ?? []).map((f) => f.frame);
  const last = (sid: string) =>
    pollUntil(
      () => {
        const list = framesOf(sid);
        const end = list.at(-1);
        return end && (end.type === MessageTypeV2.End || end.type === MessageTypeV2.Error)
          ? end
          : undefined;
      },
      { timeoutMs: 5000, intervalMs: 5, what: `the last frame of ${sid}` },
    );
  return { nc, frames, framesOf, beats, unknown, open, last };
}

describe("LogStreamServer, ExecutionLogs/v2", () => {
  it("serves a v2 read on the derived inbox, in v2 bytes, next to a v1 read", async () => {
    const { store, server, requester } = await startFixture(nats, cleanups);
    await fill(store, "exec-a", 30);
    await store.complete("exec-a", 3);
    const r2 = await rawV2("req-2");
    const sid = r2.open("exec-a");
    const v1 = requester.open(NODE, "exec-a");
    expect(await r2.last(sid)).toMatchObject({ type: MessageTypeV2.End, lastSeq: 30, exitCode: 3 });
    await v1.final();
    const frames = r2.framesOf(sid);
    expect(frames[0]).toEqual({
      type: MessageTypeV2.Accepted,
      streamId: sid,
      n: 0,
      afterSeq: 0,
      lastSeq: 30,
      maxFrameBytes: 32768,
      firstSeq: 1,
    });
    expect(frames.map((f) => f.n)).toEqual(frames.map((_, i) => i));
    expect(new Set(r2.frames.get(sid)!.map((f) => f.subject))).toEqual(
      new Set([`_TW.req-2.v2.${NODE}.s.${sid}`]),
    );
    expect(v1.seqs).toHaveLength(30);
    expect(v1.accepted).toMatchObject({ type: MessageType.Accepted, computeNodeId: NODE });
    const versions = server.stats().versions;
    expect(versions.v2).toEqual({ requests: 1, openStreams: 0, recentRequesters: ["req-2"] });
    expect(versions.v1).toMatchObject({ requests: 1, recentRequesters: ["req-1"] });
  });

  it("heartbeats a v2 requester on its v2 subject, apart from its v1 streams, and stops what it disowns", async () => {
    const { store, server } = await startFixture(nats, cleanups);
    await store.create("exec-f");
    const r2 = await rawV2("req-2");
    const kept = r2.open("exec-f", { follow: true });
    const disowned = r2.open("exec-f", { follow: true });
    r2.unknown.add(disowned);
    await pollUntil(() => (server.stats().openStreams === 1 ? true : undefined), {
      timeoutMs: 5000,
      intervalMs: 10,
      what: "the disowned stream stopped",
    });
    expect(r2.beats[0]?.subject).toBe(`_TW.req-2.v2.${NODE}.hb`);
    expect(r2.beats[0]?.streamIds.sort()).toEqual([kept, disowned].sort());
    expect(server.stats().streamsEnded.unknown_to_requester).toBe(1);
    expect(server.stats().requesters).toEqual([
      expect.objectContaining({
        requesterNodeId: "req-2",
        heartbeatSubject: `_TW.req-2.v2.${NODE}.hb`,
        openStreams: 1,
      }),
    ]);
  });

  it("honours a v2 cancel only from the subject's requester", async () => {
    const { store, server } = await startFixture(nats, cleanups);
    await store.create("exec-f");
    const r2 = await rawV2("req-2");
    const sid = r2.open("exec-f", { follow: true });
    await pollUntil(() => (r2.framesOf(sid).length > 0 ? true : undefined), {
      timeoutMs: 5000,
      what: "Accepted",
    });
    const cancel = encodeV2({ type: MessageTypeV2.Control, cancel: [sid] });
    // Another requester's subject, with the right stream id: not its stream.
    r2.nc.publish(subjectsV2.control(NODE, "req-3"), cancel);
    await r2.nc.flush();
    await pollUntil(() => (server.stats().controlRejected === 1 ? true : undefined), {
      timeoutMs: 5000,
      what: "the foreign cancel counted",
    });
    expect(server.stats().openStreams).toBe(1);
    r2.nc.publish(subjectsV2.control(NODE, "req-2"), cancel);
    await pollUntil(() => (server.stats().openStreams === 0 ? true : undefined), {
      timeoutMs: 5000,
      what: "the cancel",
    });
    expect(server.stats().streamsEnded.cancelled).toBe(1);
  });

  it("answers only on the derived inbox: another reply gets nothing, a v1 request UNSUPPORTED_VERSION", async () => {
    const { store, server } = await startFixture(nats, cleanups);
    await fill(store, "exec-a", 3);
    const r2 = await rawV2("req-2");
    const victim = newStreamId();
    r2.open("exec-a", {}, subjectsV2.streamInbox("req-2", NODE, victim));
    // A v1 request on the v2 subject, naming the derived inbox of its stream id.
    const sid = newStreamId();
    r2.nc.publish(
      subjectsV2.request(NODE, "req-2"),
      encode({
        type: MessageType.Request,
        sourcePeerId: "req-2",
        targetPeerId: NODE,
        executionId: "exec-a",
        streamId: sid,
        follow: false,
        heartbeatSubject: subjects.heartbeat("req-2"),
        heartbeatIntervalMs: 100,
        window: 65536,
      }),
      { reply: subjectsV2.streamInbox("req-2", NODE, sid) },
    );
    expect(await r2.last(sid)).toMatchObject({
      type: MessageTypeV2.Error,
      code: "UNSUPPORTED_VERSION",
    });
    // The node handles one connection's requests in order and answers on one connection: an
    // answer to the first would have arrived before the answer to the second.
    expect(r2.framesOf(victim)).toEqual([]);
    expect(server.stats().requestsRejected).toMatchObject({
      BAD_REQUEST: 1,
      UNSUPPORTED_VERSION: 1,
    });
  });

  it("logs the first v1 request of a requester, and serves v2 only when told", async () => {
    const logger = new RecordingLogger();
    const { store, requester } = await startFixture(nats, cleanups, { logger });
    await fill(store, "exec-a", 2);
    await requester.open(NODE, "exec-a").final();
    await requester.open(NODE, "exec-a").final();
    expect(logger.find((r) => r.msg === "requester uses ExecutionLogs/v1")).toEqual([
      expect.objectContaining({ level: "info", obj: { requesterNodeId: "req-1", version: "v1" } }),
    ]);
    await cleanups.run();
    const only = await startFixture(nats, cleanups, { versions: ["v2"] });
    await fill(only.store, "exec-a", 2);
    // Nobody serves v1 on this node now: NATS answers the v1 request with "no responders".
    const reply = await only.requester.nc
      .request(subjects.request(NODE), new Uint8Array(1), { timeout: 2000 })
      .catch((error: unknown) => error);
    expect(String(reply)).toMatch(/no responders/i);
    const r2 = await rawV2("req-2");
    const sid = r2.open("exec-a");
    expect(await r2.last(sid)).toMatchObject({ type: MessageTypeV2.End, lastSeq: 2 });
  });
});

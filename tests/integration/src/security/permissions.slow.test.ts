// The NATS permissions of SECURITY.md, enforced by a real nats-server (over TLS): every denial
// a role relies on, and every path the protocol needs, with raw NATS clients.
import {
  AuthorizationError,
  connect,
  type NatsConnection,
  PermissionViolationError,
  RequestError,
} from "@nats-io/transport-node";
import { newStreamId, subjects } from "@tailwire/protocol";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { closedWith, inbox, SecureNats } from "./cluster.js";

let nats: SecureNats;
beforeAll(async () => {
  nats = await SecureNats.start();
});
afterEach(() => nats.closeConnections());
afterAll(() => nats.stop());

/** Resolves once the server has processed everything `nc` sent so far (PING/PONG). */
const settled = (nc: NatsConnection) => nc.flush();

async function connectError(options: Parameters<typeof connect>[0]): Promise<unknown> {
  try {
    const nc = await connect(options);
    await nc.close();
  } catch (error) {
    return error;
  }
  throw new Error("the connection was unexpectedly accepted");
}

describe("who may connect", () => {
  it("refuses a client without credentials, with a wrong password, or without TLS trust", async () => {
    expect(await connectError(nats.options(undefined))).toBeInstanceOf(AuthorizationError);
    const compute = nats.computes["compute-a"];
    expect(
      await connectError(nats.options({ ...compute, password: `${compute.password}x` })),
    ).toBeInstanceOf(AuthorizationError);
    // The right login, but the client does not trust the server's certificate.
    const noTrust = nats.options(compute);
    delete noTrust.tls;
    expect(String(await connectError(noTrust))).toMatch(/certificate/i);
    // Everyone with a login gets in, over TLS.
    const ok = await nats.compute("compute-a");
    expect(ok.nc.info?.tls_required).toBe(true);
  });
});

describe("compute node permissions", () => {
  it("compute A cannot subscribe to compute B's subjects: the subscription closes with a violation", async () => {
    const a = await nats.compute("compute-a");
    for (const subject of [
      subjects.request("compute-b"),
      subjects.control("compute-b"),
      "node.compute.compute-b.>",
      "node.compute.*.ExecutionLogs/v1",
      "node.compute.>",
    ]) {
      let callbackError: Error | null = null;
      const sub = a.nc.subscribe(subject, {
        callback: (err) => {
          callbackError = err;
        },
      });
      const closed = await closedWith(sub);
      expect(closed, subject).toBeInstanceOf(PermissionViolationError);
      expect(closed).toMatchObject({ operation: "subscription", subject });
      expect(callbackError).toBe(closed);
      // ... and the connection's status stream reports it too.
      expect((await a.violation("subscription", subject)).subject).toBe(subject);
    }
    expect(a.nc.isClosed()).toBe(false);
  });

  it("compute A cannot read requester inboxes, other nodes' replies or default inboxes", async () => {
    const a = await nats.compute("compute-a");
    for (const subject of ["_TW.req-1.>", "_TW.req-1.hb", "_INBOX_compute-b.>", "_INBOX.>", ">"]) {
      const sub = a.nc.subscribe(subject);
      expect(await closedWith(sub), subject).toBeInstanceOf(PermissionViolationError);
    }
  });

  it("compute A cannot publish on compute B's request or control subject: B receives nothing", async () => {
    const a = await nats.compute("compute-a");
    const b = await nats.compute("compute-b");
    const requester = await nats.requester("req-1");
    const requests = inbox(b.nc, subjects.request("compute-b"));
    const controls = inbox(b.nc, subjects.control("compute-b"));
    await settled(b.nc);
    a.nc.publish(subjects.request("compute-b"), "forged request", {
      reply: subjects.streamInbox("req-1", newStreamId()),
    });
    a.nc.publish(subjects.control("compute-b"), "forged cancel");
    await a.violation("publish", subjects.request("compute-b"));
    await a.violation("publish", subjects.control("compute-b"));
    // The server processed (and dropped) both before answering with the violations, so a
    // marker sent now is what B receives first.
    requester.nc.publish(subjects.request("compute-b"), "marker");
    requester.nc.publish(subjects.control("compute-b"), "marker");
    expect((await requests.next(1)).map((m) => m.data)).toEqual(["marker"]);
    expect((await controls.next(1)).map((m) => m.data)).toEqual(["marker"]);
  });

  it("compute A may publish only frames and heartbeats to requesters", async () => {
    const a = await nats.compute("compute-a");
    for (const subject of [
      subjects.request("compute-a"), // not even its own: requests come from requesters
      "node.compute.compute-b.ExecutionLogs/v2",
      "_TW.req-1.other",
      "_TW.req-1.s.x.y",
      "_INBOX_compute-b.x.y",
      "_INBOX.x.y",
      "anything",
    ]) {
      a.nc.publish(subject, "x");
      expect((await a.violation("publish", subject)).operation).toBe("publish");
    }
  });
});

describe("requester permissions", () => {
  it("a requester cannot subscribe to another requester's inbox or heartbeats", async () => {
    const r2 = await nats.requester("req-2");
    for (const subject of [
      "_TW.req-1.>",
      subjects.streamInboxWildcard("req-1"),
      subjects.heartbeat("req-1"),
      "_TW.*.s.*",
      "_TW.>",
      "node.compute.compute-a.>",
      "_INBOX_compute-a.>",
    ]) {
      const sub = r2.nc.subscribe(subject);
      const closed = await closedWith(sub);
      expect(closed, subject).toBeInstanceOf(PermissionViolationError);
      expect(closed).toMatchObject({ operation: "subscription", subject });
    }
  });

  it("a requester cannot publish frames or heartbeats, nor requests of another protocol version", async () => {
    const r2 = await nats.requester("req-2");
    const r1 = await nats.requester("req-1");
    const frames = inbox(r1.nc, subjects.streamInboxWildcard("req-1"));
    await settled(r1.nc);
    const forged = subjects.streamInbox("req-1", newStreamId());
    for (const subject of [
      forged,
      subjects.heartbeat("req-1"),
      "node.compute.compute-a.ExecutionLogs/v2",
      "node.compute.compute-a.Other/v1",
      "_INBOX_compute-a.x.y",
    ]) {
      r2.nc.publish(subject, "x");
      await r2.violation("publish", subject);
    }
    const compute = await nats.compute("compute-a");
    compute.nc.publish(subjects.streamInbox("req-1", "marker"), "marker");
    expect((await frames.next(1)).map((m) => m.data)).toEqual(["marker"]);
  });
});

describe("the protocol's paths", () => {
  it("request -> compute X, several frames -> the requester's stream inbox, and control", async () => {
    const r1 = await nats.requester("req-1");
    const x = await nats.compute("compute-a");
    const requests = inbox(x.nc, subjects.request("compute-a"));
    const controls = inbox(x.nc, subjects.control("compute-a"));
    const frames = inbox(r1.nc, subjects.streamInboxWildcard("req-1"));
    await Promise.all([settled(x.nc), settled(r1.nc)]);

    const streamId = newStreamId();
    r1.nc.publish(subjects.request("compute-a"), "request", {
      reply: subjects.streamInbox("req-1", streamId),
    });
    const [request] = await requests.next(1);
    expect(request).toEqual({
      subject: subjects.request("compute-a"),
      data: "request",
      reply: subjects.streamInbox("req-1", streamId),
    });
    // Many frames on the one reply subject: explicit publish permission, not allow_responses.
    for (let n = 0; n < 20; n++) x.nc.publish(request!.reply!, `frame ${n}`);
    const got = await frames.next(20);
    expect(got.map((m) => m.data)).toEqual(Array.from({ length: 20 }, (_, n) => `frame ${n}`));
    expect(new Set(got.map((m) => m.subject))).toEqual(
      new Set([subjects.streamInbox("req-1", streamId)]),
    );
    r1.nc.publish(subjects.control("compute-a"), "cancel");
    expect((await controls.next(1)).map((m) => m.data)).toEqual(["cancel"]);
    expect([...x.violations, ...r1.violations]).toEqual([]);
  });

  it("compute X heartbeats the requester with a NATS request, and the requester answers", async () => {
    const r1 = await nats.requester("req-1");
    const x = await nats.compute("compute-a");
    r1.nc.subscribe(subjects.heartbeat("req-1"), {
      callback: (_err, msg) => {
        msg.respond(`answer to ${msg.string()}`);
      },
    });
    await settled(r1.nc);
    const reply = await x.nc.request(subjects.heartbeat("req-1"), "hb-1", { timeout: 5_000 });
    expect(reply.string()).toBe("answer to hb-1");
    // The reply travelled on the per-node inbox prefix its subscribe permission allows.
    expect(reply.subject.startsWith("_INBOX_compute-a.")).toBe(true);
    expect([...x.violations, ...r1.violations]).toEqual([]);
  });

  it("allow_responses grants a requester exactly one reply per heartbeat request", async () => {
    const r1 = await nats.requester("req-1");
    const x = await nats.compute("compute-a");
    const replyTo = "_INBOX_compute-a.manual.1";
    const replies = inbox(x.nc, replyTo);
    r1.nc.subscribe(subjects.heartbeat("req-1"), {
      callback: (_err, msg) => {
        msg.respond(`first ${msg.string()}`);
        msg.respond(`second ${msg.string()}`);
      },
    });
    await Promise.all([settled(r1.nc), settled(x.nc)]);
    x.nc.publish(subjects.heartbeat("req-1"), "hb-1", { reply: replyTo });
    await r1.violation("publish", replyTo);
    // A second request re-grants one reply on the same subject: its first answer is the
    // next message, so the denied "second hb-1" was never delivered.
    x.nc.publish(subjects.heartbeat("req-1"), "hb-2", { reply: replyTo });
    expect((await replies.next(2)).map((m) => m.data)).toEqual(["first hb-1", "first hb-2"]);
    // Without a request to answer, the requester cannot publish there at all.
    r1.nc.publish("_INBOX_compute-a.manual.2", "unsolicited");
    await r1.violation("publish", "_INBOX_compute-a.manual.2");
  });

  it("a compute connection without its inbox prefix cannot receive heartbeat replies", async () => {
    const r1 = await nats.requester("req-1");
    r1.nc.subscribe(subjects.heartbeat("req-1"), {
      callback: (_err, msg) => {
        msg.respond("ok");
      },
    });
    await settled(r1.nc);
    const x = await nats.compute("compute-a", { inboxPrefix: "_INBOX" });
    const error = await x.nc.request(subjects.heartbeat("req-1"), "hb", { timeout: 10_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // nats.js rejects the request with a RequestError caused by the violation of its muxed
    // `_INBOX.<nuid>.*` subscription (the heartbeat counts as failed, not as timed out).
    expect(error).toBeInstanceOf(RequestError);
    const cause = (error as RequestError).cause;
    expect(cause).toBeInstanceOf(PermissionViolationError);
    expect(cause).toMatchObject({ operation: "subscription" });
    expect((cause as PermissionViolationError).subject).toMatch(/^_INBOX\.[A-Za-z0-9]+\.\*$/);
  });

  it("documented limit: NATS does not check reply subjects, so a requester can name another's inbox", async () => {
    const r2 = await nats.requester("req-2");
    const x = await nats.compute("compute-a");
    const requests = inbox(x.nc, subjects.request("compute-a"));
    await settled(x.nc);
    const foreign = subjects.streamInbox("req-1", newStreamId());
    r2.nc.publish(subjects.request("compute-a"), "request", { reply: foreign });
    expect((await requests.next(1))[0]?.reply).toBe(foreign);
    expect(r2.violations).toEqual([]);
    // What protects req-1 is that req-2 cannot read what goes there (tested above) and that
    // req-1 drops frames of streams it did not open.
  });
});

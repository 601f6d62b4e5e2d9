// The v2 permission table of SECURITY.md, enforced by a real nats-server (over TLS), with raw
// NATS clients: each node can publish only under its own id. A requester cannot open, cancel or
// credit as another requester id; a compute node cannot heartbeat, send frames or answer lookups
// as another compute node; nobody can speak v1 any more. The allowed paths work.
import { newStreamId, subjects, subjectsV2 } from "@tailwire/protocol";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { inbox, SecureNats } from "./cluster.js";

let nats: SecureNats;
beforeAll(async () => {
  nats = await SecureNats.start("v2");
});
afterEach(() => nats.closeConnections());
afterAll(() => nats.stop());

const payload = (value: unknown) => JSON.stringify(value);

describe("v2 table: a requester publishes only as itself", () => {
  it("req-1 reaches compute-a's v2 request and control subjects under its own id", async () => {
    const compute = await nats.compute("compute-a");
    const requests = inbox(compute.nc, subjectsV2.requestWildcard("compute-a"));
    const controls = inbox(compute.nc, subjectsV2.controlWildcard("compute-a"));
    await compute.nc.flush();
    const r1 = await nats.requester("req-1");
    const sid = newStreamId();
    r1.nc.publish(subjectsV2.request("compute-a", "req-1"), payload({ open: sid }), {
      reply: subjectsV2.streamInbox("req-1", "compute-a", sid),
    });
    r1.nc.publish(subjectsV2.control("compute-a", "req-1"), payload({ cancel: [sid] }));
    const [request] = await requests.next(1);
    const [control] = await controls.next(1);
    // The compute node reads the requester id from where only req-1 can publish.
    expect(request?.subject).toBe("node.compute.compute-a.ExecutionLogs/v2.req-1");
    expect(control?.subject).toBe("node.compute.compute-a.ExecutionLogsControl/v2.req-1");
    expect(r1.violations).toEqual([]);
  });

  it("req-1 cannot open, cancel, credit or look up as req-2: each publish is refused", async () => {
    const compute = await nats.compute("compute-a");
    const requests = inbox(compute.nc, subjectsV2.requestWildcard("compute-a"));
    const controls = inbox(compute.nc, subjectsV2.controlWildcard("compute-a"));
    const lookups = inbox(compute.nc, subjectsV2.locateWildcard("e", "e-1"));
    await compute.nc.flush();
    const r1 = await nats.requester("req-1");
    const sid = newStreamId();
    const forged = [
      subjectsV2.request("compute-a", "req-2"),
      subjectsV2.control("compute-a", "req-2"),
      subjectsV2.locateExecution("req-2", "e-1"),
    ];
    for (const subject of forged) {
      r1.nc.publish(subject, payload({ cancel: [sid], credit: [{ streamId: sid, bytes: 1 }] }));
      expect((await r1.violation("publish", subject)).subject).toBe(subject);
    }
    // A fence: req-1's own request reaches the compute node after the forged ones would have.
    r1.nc.publish(subjectsV2.request("compute-a", "req-1"), payload({ fence: true }));
    await requests.next(1);
    await compute.nc.flush();
    expect(requests.received.map((m) => m.subject)).toEqual([
      subjectsV2.request("compute-a", "req-1"),
    ]);
    expect(controls.received).toEqual([]);
    expect(lookups.received).toEqual([]);
    expect(nats.server.logTail(200)).toMatch(
      /Publish Violation - User "requester-req-1", Subject "node\.compute\.compute-a\.ExecutionLogs\/v2\.req-2"/,
    );
  });

  it("nobody speaks v1 under the v2 table: v1 requests and controls are refused", async () => {
    const r1 = await nats.requester("req-1");
    for (const subject of [subjects.request("compute-a"), subjects.control("compute-a")]) {
      r1.nc.publish(subject, payload({}));
      expect((await r1.violation("publish", subject)).subject).toBe(subject);
    }
    const a = await nats.compute("compute-a");
    const sid = newStreamId();
    for (const subject of [subjects.streamInbox("req-1", sid), subjects.heartbeat("req-1")]) {
      a.nc.publish(subject, payload({}));
      expect((await a.violation("publish", subject)).subject).toBe(subject);
    }
  });
});

describe("v2 table: a compute node sends only as itself", () => {
  it("compute-a heartbeats, streams and answers req-1 under its own id; req-1 answers once", async () => {
    const r1 = await nats.requester("req-1");
    const beats = inbox(r1.nc, subjectsV2.heartbeatWildcard("req-1"));
    const frames = inbox(r1.nc, subjectsV2.streamInboxWildcard("req-1"));
    const answers = inbox(r1.nc, subjectsV2.locateAnswerWildcard("req-1"));
    await r1.nc.flush();
    const a = await nats.compute("compute-a");
    const sid = newStreamId();
    a.nc.publish(subjectsV2.streamInbox("req-1", "compute-a", sid), payload({ frame: 0 }));
    a.nc.publish(subjectsV2.locateAnswer("req-1", "compute-a", sid), payload({ located: [] }));
    const reply = a.nc.request(subjectsV2.heartbeat("req-1", "compute-a"), payload({ hb: 1 }), {
      timeout: 5_000,
    });
    const [beat] = await beats.next(1);
    expect(beat?.reply).toMatch(/^_INBOX_compute-a\./);
    r1.nc.publish(beat!.reply!, payload({ unknownStreamIds: [] }));
    expect((await reply).string()).toBe(payload({ unknownStreamIds: [] }));
    expect((await frames.next(1))[0]?.subject).toBe(`_TW.req-1.v2.compute-a.s.${sid}`);
    expect((await answers.next(1))[0]?.subject).toBe(`_TW.req-1.v2.compute-a.l.${sid}`);
    expect([...a.violations, ...r1.violations]).toEqual([]);
  });

  it("compute-b cannot heartbeat, stream or answer a lookup as compute-a", async () => {
    const r1 = await nats.requester("req-1");
    const seen = inbox(r1.nc, "_TW.req-1.>");
    await r1.nc.flush();
    const b = await nats.compute("compute-b");
    const sid = newStreamId();
    const forged = [
      subjectsV2.heartbeat("req-1", "compute-a"),
      subjectsV2.streamInbox("req-1", "compute-a", sid),
      subjectsV2.locateAnswer("req-1", "compute-a", sid),
      // NATS's own "no responders" position of a lookup reply: no compute node may use it.
      subjectsV2.locateReply("req-1", sid),
    ];
    for (const subject of forged) {
      b.nc.publish(subject, payload({ forged: true }));
      expect((await b.violation("publish", subject)).subject).toBe(subject);
    }
    // A fence: compute-b's own heartbeat arrives; nothing forged came before it.
    b.nc.publish(subjectsV2.heartbeat("req-1", "compute-b"), payload({ fence: true }));
    const [first] = await seen.next(1);
    expect(first?.subject).toBe("_TW.req-1.v2.compute-b.hb");
    expect(seen.received).toHaveLength(1);
    expect(nats.server.logTail(200)).toMatch(
      /Publish Violation - User "compute-compute-b", Subject "_TW\.req-1\.v2\.compute-a\.hb"/,
    );
  });
});

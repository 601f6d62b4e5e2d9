import { type HeartbeatRequest, newStreamId } from "@tailwire/protocol";
import { describe, expect, it } from "vitest";
import {
  type HeartbeatStream,
  unknownStreamIds,
  unlistedGraceMs,
  unlistedStreams,
} from "./heartbeat.js";
import { NodeRegistry } from "./node-registry.js";

interface S extends HeartbeatStream {
  acceptedAt: number | undefined;
}

const stream = (computeNodeId: string, acceptedAt: number | undefined): S => ({
  streamId: newStreamId(),
  computeNodeId,
  acceptedAt,
});
const hb = (computeNodeId: string, streamIds: string[]): HeartbeatRequest => ({
  type: "ExecutionLogs.Heartbeat/v1",
  computeNodeId,
  streamIds,
});

describe("heartbeat reconciliation", () => {
  it("reports ids we do not hold, or hold from another node", () => {
    const mine = stream("a", 0);
    const others = stream("b", 0);
    const byId = new Map([mine, others].map((s) => [s.streamId, s]));
    const stranger = newStreamId();
    expect(
      unknownStreamIds(hb("a", [mine.streamId, others.streamId, stranger]), (id) => byId.get(id)),
    ).toEqual([others.streamId, stranger]);
  });

  it("finds accepted, unlisted streams past the grace only", () => {
    const registry = new NodeRegistry<S>();
    const listed = stream("a", 0);
    const old = stream("a", 0);
    const fresh = stream("a", 950);
    const pending = stream("a", undefined);
    for (const s of [listed, old, fresh, pending]) {
      registry.add("a", s);
      if (s.acceptedAt !== undefined) registry.accepted("a", s.acceptedAt);
    }
    const record = registry.get("a")!;
    expect(unlistedStreams(record, hb("a", [listed.streamId]), 1000, () => 100)).toEqual([old]);
  });
});

describe("unlistedGraceMs", () => {
  it("is the grace the first time, then doubles from one interval up to 64 intervals", () => {
    expect(unlistedGraceMs(1000, 5000, 0)).toBe(1000);
    expect([1, 2, 3, 7, 8, 50].map((k) => unlistedGraceMs(1000, 5000, k))).toEqual([
      5000, 10_000, 20_000, 320_000, 320_000, 320_000,
    ]);
    // A grace longer than the interval stays the base.
    expect(unlistedGraceMs(8000, 5000, 2)).toBe(16_000);
    expect(unlistedGraceMs(0, 200, 1)).toBe(200);
  });
});

describe("NodeRegistry", () => {
  it("keeps a record only while its node has streams, and finds silent nodes", () => {
    const registry = new NodeRegistry<S>();
    const a = stream("a", 10);
    const b = stream("b", undefined);
    registry.add("a", a);
    registry.accepted("a", 10);
    registry.add("b", b);
    expect(registry.silent(100, 50).map((r) => r.nodeId)).toEqual(["a"]);
    registry.heard("a", 90);
    expect(registry.silent(100, 50)).toEqual([]);
    registry.remove("a", a);
    registry.remove("b", b);
    expect(registry.size).toBe(0);
  });
});

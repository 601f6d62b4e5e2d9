// Each dialect writes exactly the protocol's wire-exact fixtures of its version, sends to its
// version's subjects, and reads its version's heartbeat answers only.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { WIRE_V1, WIRE_V2, type WireDialect } from "./wire-dialect.js";

const fixture = (version: string, name: string): Buffer =>
  readFileSync(new URL(`../../../protocol/fixtures/${version}/wire/${name}.wire`, import.meta.url));
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8");

const ORANGE = "b3JhbmdlLXN0cmVhbS1pZA";
const FOLLOW = "Zm9sbG93LXN0cmVhbS1pZDI";
const RETENTION = "cmV0ZW50aW9uLXN0cmVhbS1pZA";

describe.each([
  ["v1", WIRE_V1],
  ["v2", WIRE_V2],
] as [string, WireDialect][])("the %s dialect", (version, wire) => {
  it("writes the fixtures' bytes", () => {
    const cases: [string, Uint8Array][] = [
      ["end", wire.end(ORANGE, 5, { position: 1200, exitCode: 0 })],
      [
        "error-going-away",
        wire.error(ORANGE, "GOING_AWAY", "compute node node-3 is shutting down", 12),
      ],
      [
        "error-rejection",
        wire.error(
          ORANGE,
          "EXECUTION_NOT_FOUND",
          "no logs for execution e-404 on node-3",
          undefined,
        ),
      ],
      ["notice-removed", wire.removed(RETENTION, 1, "retention", 41873, 118000)],
      ["heartbeat-credit-wait", wire.heartbeat("node-3", [ORANGE, FOLLOW], [FOLLOW])],
    ];
    for (const [name, bytes] of cases) expect(text(bytes), name).toBe(text(fixture(version, name)));
    expect(wire.unknownStreamIds(fixture(version, "heartbeat-response"))).toEqual([FOLLOW]);
  });

  it("refuses the other version's heartbeat answer", () => {
    const other = version === "v1" ? "v2" : "v1";
    expect(() => wire.unknownStreamIds(fixture(other, "heartbeat-response"))).toThrow(
      /unsupported message type/,
    );
  });
});

describe("what differs", () => {
  it("v1 states the node and the notices in Accepted; v2 has them in the subject and always on", () => {
    const fields = { afterSeq: 41872, lastSeq: 250000, maxFrameBytes: 32768, firstSeq: 118001 };
    expect(text(WIRE_V1.accepted(RETENTION, "node-3", { ...fields, notices: ["removed"] }))).toBe(
      text(fixture("v1", "accepted-retention")),
    );
    expect(text(WIRE_V2.accepted(RETENTION, "node-3", { ...fields, notices: ["removed"] }))).toBe(
      text(fixture("v2", "accepted-after-removal")),
    );
    // A store that does not say where it starts: everything after afterSeq is held.
    expect(
      text(
        WIRE_V2.accepted(ORANGE, "node-3", { afterSeq: 0, lastSeq: 1200, maxFrameBytes: 32768 }),
      ),
    ).toBe(text(fixture("v2", "accepted")));
  });

  it("sends to each version's subjects", () => {
    expect(WIRE_V1.streamInbox("r1", "c1", ORANGE)).toBe(`_TW.r1.s.${ORANGE}`);
    expect(WIRE_V2.streamInbox("r1", "c1", ORANGE)).toBe(`_TW.r1.v2.c1.s.${ORANGE}`);
    expect(WIRE_V1.heartbeatSubject("r1", "c1")).toBe("_TW.r1.hb");
    expect(WIRE_V2.heartbeatSubject("r1", "c1")).toBe("_TW.r1.v2.c1.hb");
  });

  it("writes data frames of its version", () => {
    const entries = [{ seq: 1, stream: "stdout" as const, time: 1, line: "x" }];
    expect(text(WIRE_V1.data(ORANGE, 1, entries, false))).toMatch(
      /^\{"type":"ExecutionLogs\.Data\/v1"/,
    );
    expect(text(WIRE_V2.data(ORANGE, 1, entries, false))).toMatch(
      /^\{"type":"ExecutionLogs\.Data\/v2"/,
    );
  });
});

import { describe, expect, it } from "vitest";
import { isExecutionId, isStreamId, newStreamId } from "./ids.js";
import { parseStreamInbox, streamIdOfInbox, subjects } from "./subjects.js";

describe("subjects", () => {
  it("builds the v1 subjects", () => {
    expect(subjects.request("node-3")).toBe("node.compute.node-3.ExecutionLogs/v1");
    expect(subjects.control("node-3")).toBe("node.compute.node-3.ExecutionLogsControl/v1");
    expect(subjects.streamInboxWildcard("req-0")).toBe("_TW.req-0.s.*");
    expect(subjects.heartbeat("req-0")).toBe("_TW.req-0.hb");
    const inbox = subjects.streamInbox("req-0", "abc");
    expect(inbox).toBe("_TW.req-0.s.abc");
    expect(streamIdOfInbox(inbox)).toBe("abc");
  });

  it("recognises exactly the stream inboxes", () => {
    const sid = "b3JhbmdlLXN0cmVhbS1pZA";
    expect(parseStreamInbox(`_TW.req-0.s.${sid}`)).toEqual({
      requesterNodeId: "req-0",
      streamId: sid,
    });
    for (const other of [
      `elsewhere.${sid}`,
      `_TW.req-0.x.${sid}`,
      `_TW.req-0.s.short`,
      `_TW.*.s.${sid}`,
      `x._TW.req-0.s.${sid}`,
      `_TW.req-0.s.${sid}.x`,
    ]) {
      expect(parseStreamInbox(other)).toBeUndefined();
    }
  });

  it.each(["a.b", "*", ">", "a b", "", "x".repeat(129)])(
    "refuses node id %j, which would break the subject",
    (id) => {
      expect(() => subjects.request(id)).toThrow(/invalid node id/);
    },
  );
});

describe("ids", () => {
  it("makes unguessable stream ids: 128 bits, all distinct, all valid", () => {
    const ids = new Set(Array.from({ length: 10_000 }, newStreamId));
    expect(ids.size).toBe(10_000);
    for (const id of ids) {
      expect(isStreamId(id)).toBe(true);
      expect(Buffer.from(id, "base64url")).toHaveLength(16);
    }
  });

  it.each(["e-1d4c360f-549b-42d1-9034-31bc390cb68", "job_1.attempt-2", "A"])(
    "accepts execution id %j",
    (id) => {
      expect(isExecutionId(id)).toBe(true);
    },
  );

  it.each(["..", ".", "../x", "a/b", "a\\b", "/abs", "e\u0000", "", "x".repeat(201), ".hidden"])(
    "rejects execution id %j",
    (id) => {
      expect(isExecutionId(id)).toBe(false);
    },
  );
});

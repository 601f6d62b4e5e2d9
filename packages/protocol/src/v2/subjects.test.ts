import { describe, expect, it } from "vitest";
import { parseRequesterSubjectV2, requesterOfSubjectV2, subjectsV2 } from "./subjects.js";

const sid = "Zm9sbG93LXN0cmVhbS1pZDI";

describe("v2 subjects", () => {
  it("put the sender's id where its NATS permission checks it", () => {
    expect(subjectsV2.request("gpu-7", "ui_1")).toBe("node.compute.gpu-7.ExecutionLogs/v2.ui_1");
    expect(subjectsV2.control("gpu-7", "ui_1")).toBe(
      "node.compute.gpu-7.ExecutionLogsControl/v2.ui_1",
    );
    expect(subjectsV2.streamInbox("ui_1", "gpu-7", sid)).toBe(`_TW.ui_1.v2.gpu-7.s.${sid}`);
    expect(subjectsV2.heartbeat("ui_1", "gpu-7")).toBe("_TW.ui_1.v2.gpu-7.hb");
    expect(subjectsV2.locateAnswer("ui_1", "gpu-7", sid)).toBe(`_TW.ui_1.v2.gpu-7.l.${sid}`);
    expect(subjectsV2.locateReply("ui_1", sid)).toBe(`_TW.ui_1.v2.$.l.${sid}`);
    expect(subjectsV2.locateExecution("ui_1", "e-1")).toMatch(
      /^node\.locate\.ExecutionLocate\/v2\.ui_1\.e\.[A-Za-z0-9_-]{22}$/,
    );
    expect(subjectsV2.locateWildcard("e", "e-1")).toBe(
      subjectsV2.locateExecution("ui_1", "e-1").replace(".ui_1.", ".*."),
    );
  });

  it.each(["", "a.b", "*", ">", "$"])("refuses the node id %j", (id) => {
    expect(() => subjectsV2.request(id, "r")).toThrow(TypeError);
    expect(() => subjectsV2.request("c", id)).toThrow(TypeError);
    expect(() => subjectsV2.heartbeat("r", id)).toThrow(TypeError);
  });

  it("reads the requester from a request or control subject of this node only", () => {
    expect(requesterOfSubjectV2(subjectsV2.request("c1", "r1"), "c1", "request")).toBe("r1");
    expect(requesterOfSubjectV2(subjectsV2.control("c1", "r1"), "c1", "control")).toBe("r1");
    expect(requesterOfSubjectV2(subjectsV2.control("c1", "r1"), "c1", "request")).toBeUndefined();
    expect(requesterOfSubjectV2(subjectsV2.request("c2", "r1"), "c1", "request")).toBeUndefined();
    expect(
      requesterOfSubjectV2("node.compute.c1.ExecutionLogs/v2.r1.x", "c1", "request"),
    ).toBeUndefined();
  });

  it("reads who sent what from a subject in a requester's namespace", () => {
    expect(parseRequesterSubjectV2(subjectsV2.streamInbox("r1", "c1", sid))).toEqual({
      requesterNodeId: "r1",
      computeNodeId: "c1",
      kind: "s",
      id: sid,
    });
    expect(parseRequesterSubjectV2(subjectsV2.heartbeat("r1", "c1"))).toMatchObject({
      computeNodeId: "c1",
      kind: "hb",
    });
    expect(parseRequesterSubjectV2(subjectsV2.locateReply("r1", sid))).toMatchObject({
      computeNodeId: "$",
      kind: "l",
    });
    for (const bad of [
      `_TW.r1.s.${sid}`,
      "_TW.r1.hb",
      `_TW.r1.v2.$.s.${sid}`,
      "_TW.r1.v2.$.hb",
      "_TW.r1.v2.c1.s.short",
      `_TW.r1.v2.c1.x.${sid}`,
    ]) {
      expect(parseRequesterSubjectV2(bad), bad).toBeUndefined();
    }
  });
});

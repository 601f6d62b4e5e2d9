import { describe, expect, it } from "vitest";
import {
  authorizationConfig,
  computeInboxPrefix,
  computePermissions,
  requesterPermissions,
} from "./nats-auth.js";
import { renderNatsConfig } from "./nats-config.js";

describe("role permissions", () => {
  it("gives a compute node its own subjects to receive and requester subjects to send to", () => {
    expect(computePermissions("gpu-7")).toEqual({
      publish: { allow: ["_TW.*.s.*", "_TW.*.hb", "_TW.*.l.*"] },
      subscribe: {
        allow: ["node.compute.gpu-7.>", "_INBOX_gpu-7.>", "node.locate.ExecutionLocate/v1.>"],
      },
    });
    expect(computeInboxPrefix("gpu-7")).toBe("_INBOX_gpu-7");
  });

  it("gives a requester its own inbox, v1 requests, controls and lookups, and one reply per heartbeat", () => {
    expect(requesterPermissions("ui_1")).toEqual({
      publish: {
        allow: [
          "node.compute.*.ExecutionLogs/v1",
          "node.compute.*.ExecutionLogsControl/v1",
          "node.locate.ExecutionLocate/v1.>",
        ],
      },
      subscribe: { allow: ["_TW.ui_1.>"] },
      allow_responses: true,
    });
  });

  it("v2: a requester sends only under its own id, a compute node only under its own", () => {
    expect(requesterPermissions("ui_1", "v2")).toEqual({
      publish: {
        allow: [
          "node.compute.*.ExecutionLogs/v2.ui_1",
          "node.compute.*.ExecutionLogsControl/v2.ui_1",
          "node.locate.ExecutionLocate/v2.ui_1.>",
        ],
      },
      subscribe: { allow: ["_TW.ui_1.>"] },
      allow_responses: true,
    });
    expect(computePermissions("gpu-7", "v2")).toEqual({
      publish: { allow: ["_TW.*.v2.gpu-7.>"] },
      subscribe: {
        allow: ["node.compute.gpu-7.>", "_INBOX_gpu-7.>", "node.locate.ExecutionLocate/v2.*.>"],
      },
    });
  });

  it("v1+v2 (the rolling upgrade) is exactly the union of the two tables", () => {
    for (const build of [computePermissions, requesterPermissions]) {
      const both = build("n1", "v1+v2");
      const v1 = build("n1", "v1");
      const v2 = build("n1", "v2");
      expect(both.publish.allow).toEqual([
        ...(v1.publish.allow ?? []),
        ...(v2.publish.allow ?? []),
      ]);
      expect(new Set(both.subscribe.allow)).toEqual(
        new Set([...(v1.subscribe.allow ?? []), ...(v2.subscribe.allow ?? [])]),
      );
    }
    expect(
      renderNatsConfig(
        authorizationConfig({ computes: [{ id: "c1", user: "c", password: "p" }], table: "v2" }),
      ),
    ).toContain('"_TW.*.v2.c1.>"');
  });

  it.each(["", "a.b", "*", ">", "a b", "x".repeat(129)])(
    "refuses the node id %j, which would widen or break a permission subject",
    (id) => {
      expect(() => computePermissions(id)).toThrow(TypeError);
      expect(() => requesterPermissions(id)).toThrow(TypeError);
      expect(() => computeInboxPrefix(id)).toThrow(TypeError);
    },
  );
});

describe("authorizationConfig", () => {
  it("renders one user per node with its role's permissions", () => {
    const config = authorizationConfig({
      requesters: [{ id: "r1", user: "requester-r1", password: "p1" }],
      computes: [{ id: "c1", user: "compute-c1", password: "p2" }],
      extraUsers: [{ user: "admin", password: "p3" }],
    });
    expect(renderNatsConfig(config)).toBe(
      [
        "authorization: {",
        "  users: [",
        "    {",
        '      user: "requester-r1"',
        '      password: "p1"',
        "      permissions: {",
        "        publish: {",
        "          allow: [",
        '            "node.compute.*.ExecutionLogs/v1",',
        '            "node.compute.*.ExecutionLogsControl/v1",',
        '            "node.locate.ExecutionLocate/v1.>"',
        "          ]",
        "        }",
        "        subscribe: {",
        "          allow: [",
        '            "_TW.r1.>"',
        "          ]",
        "        }",
        "        allow_responses: true",
        "      }",
        "    },",
        "    {",
        '      user: "compute-c1"',
        '      password: "p2"',
        "      permissions: {",
        "        publish: {",
        "          allow: [",
        '            "_TW.*.s.*",',
        '            "_TW.*.hb",',
        '            "_TW.*.l.*"',
        "          ]",
        "        }",
        "        subscribe: {",
        "          allow: [",
        '            "node.compute.c1.>",',
        '            "_INBOX_c1.>",',
        '            "node.locate.ExecutionLocate/v1.>"',
        "          ]",
        "        }",
        "      }",
        "    },",
        "    {",
        '      user: "admin"',
        '      password: "p3"',
        "    }",
        "  ]",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("refuses duplicate logins and an empty user list", () => {
    const same = { user: "u", password: "p" };
    expect(() =>
      authorizationConfig({
        requesters: [{ id: "r1", ...same }],
        computes: [{ id: "c1", ...same }],
      }),
    ).toThrow(/duplicate NATS user "u"/);
    expect(() => authorizationConfig({})).toThrow(/no users/);
  });

  it("sets the CONNECT timeout when asked", () => {
    const config = authorizationConfig({
      computes: [{ id: "c1", user: "c", password: "p" }],
      timeoutSeconds: 5,
    });
    expect(renderNatsConfig(config)).toContain("authorization: {\n  timeout: 5\n");
  });
});

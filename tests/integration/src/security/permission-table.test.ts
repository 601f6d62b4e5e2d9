// SECURITY.md quotes the permissions that @tailwire/testkit's builders configure: this test
// re-renders them and fails when the document and the code drift apart. It also checks that
// every subject the protocol builds for a role is covered by that role's permissions, and
// by no other node's.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { newStreamId, subjects, subjectsV2 } from "@tailwire/protocol";
import {
  authorizationConfig,
  computeInboxPrefix,
  computePermissions,
  type NatsPermissions,
  PERMISSION_TABLES,
  type PermissionTable,
  renderNatsConfig,
  requesterPermissions,
} from "@tailwire/testkit";
import { describe, expect, it } from "vitest";

const SECURITY_MD = fileURLToPath(new URL("../../../../SECURITY.md", import.meta.url));
const PLACEHOLDER = "NODEIDPLACEHOLDER";

function code(subjectList: readonly string[] | undefined): string {
  if (!subjectList || subjectList.length === 0) return "(nothing)";
  return subjectList.map((s) => `\`${s.replaceAll(PLACEHOLDER, "<id>")}\``).join(", ");
}

function responses(p: NatsPermissions): string {
  if (p.allow_responses === undefined || p.allow_responses === false) return "no";
  if (p.allow_responses === true) return "`true`: 1 reply per received request, within 2 min";
  return `\`${JSON.stringify(p.allow_responses)}\``;
}

/** The table between one table's markers of SECURITY.md, rendered from the builders. */
function renderTable(table: PermissionTable): string {
  const rows = [
    ["compute node `<id>`", computePermissions(PLACEHOLDER, table)],
    ["requester `<id>`", requesterPermissions(PLACEHOLDER, table)],
  ] as const;
  const lines = [
    "| NATS user of | publish (allow) | subscribe (allow) | allow_responses |",
    "| --- | --- | --- | --- |",
    ...rows.map(
      ([who, p]) =>
        `| ${who} | ${code(p.publish.allow)} | ${code(p.subscribe.allow)} | ${responses(p)} |`,
    ),
  ];
  return lines.join("\n");
}

/** A markdown table with its cells trimmed, so column padding by a formatter does not matter. */
function normalise(table: string): string {
  return table
    .trim()
    .split("\n")
    .map((line) =>
      line
        .split("|")
        .map((cell) => (/^\s*:?-+:?\s*$/.test(cell) ? "---" : cell.trim()))
        .join("|"),
    )
    .join("\n");
}

/** NATS subject matching: does `pattern` (with * and >) cover every subject `subject` can be? */
function covers(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i && s[i] !== undefined;
    if (i >= s.length) return false;
    if (s[i] === ">") return false; // a narrower pattern cannot cover a full wildcard
    if (p[i] === "*") continue;
    if (p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

const allowed = (list: readonly string[] | undefined, subject: string) =>
  (list ?? []).some((pattern) => covers(pattern, subject));

describe("SECURITY.md", () => {
  it.each(PERMISSION_TABLES)(
    "quotes exactly the permissions the testkit configures (%s)",
    (table) => {
      const doc = readFileSync(SECURITY_MD, "utf8");
      // The v1 table has the original markers; the others name their table.
      const marker = (table === "v1" ? "permissions" : `permissions-${table}`).replace("+", "\\+");
      const match = new RegExp(
        `<!-- ${marker}:start -->\\n([\\s\\S]*?)\\n<!-- ${marker}:end -->`,
      ).exec(doc);
      expect(match, `SECURITY.md has no ${marker} markers`).not.toBeNull();
      expect(normalise(match![1]!)).toBe(normalise(renderTable(table)));
      expect(doc).toContain(`\`${computeInboxPrefix(PLACEHOLDER).replace(PLACEHOLDER, "<id>")}\``);
    },
  );

  it("shows the server configuration authorizationConfig renders", () => {
    const doc = readFileSync(SECURITY_MD, "utf8");
    const match =
      /<!-- permissions-conf:start -->\n```\n([\s\S]*?)```\n<!-- permissions-conf:end -->/.exec(
        doc,
      );
    expect(match, "SECURITY.md has no permissions-conf markers").not.toBeNull();
    const rendered = renderNatsConfig(
      authorizationConfig({
        requesters: [{ id: "req-1", user: "requester-req-1", password: "<bcrypt hash>" }],
        computes: [{ id: "gpu-7", user: "compute-gpu-7", password: "<bcrypt hash>" }],
      }),
    );
    expect(match![1]).toBe(rendered);
  });
});

describe("the permissions cover the protocol's subjects, for the right node only", () => {
  const sid = newStreamId();
  const a = computePermissions("compute-a");
  const r1 = requesterPermissions("req-1");

  it("compute node", () => {
    expect(allowed(a.subscribe.allow, subjects.request("compute-a"))).toBe(true);
    expect(allowed(a.subscribe.allow, subjects.control("compute-a"))).toBe(true);
    expect(allowed(a.subscribe.allow, "node.compute.compute-a.ExecutionLogs/v2")).toBe(true);
    expect(allowed(a.subscribe.allow, `${computeInboxPrefix("compute-a")}.nuid.*`)).toBe(true);
    expect(allowed(a.subscribe.allow, subjects.request("compute-b"))).toBe(false);
    expect(allowed(a.subscribe.allow, `${computeInboxPrefix("compute-b")}.nuid.*`)).toBe(false);
    expect(allowed(a.subscribe.allow, "node.compute.*.ExecutionLogs/v1")).toBe(false);
    expect(allowed(a.publish.allow, subjects.streamInbox("req-1", sid))).toBe(true);
    expect(allowed(a.publish.allow, subjects.heartbeat("req-1"))).toBe(true);
    expect(allowed(a.publish.allow, subjects.request("compute-b"))).toBe(false);
    expect(allowed(a.publish.allow, subjects.control("compute-b"))).toBe(false);
  });

  it("requester", () => {
    expect(allowed(r1.publish.allow, subjects.request("compute-a"))).toBe(true);
    expect(allowed(r1.publish.allow, subjects.control("compute-a"))).toBe(true);
    expect(allowed(r1.publish.allow, "node.compute.compute-a.ExecutionLogs/v2")).toBe(false);
    expect(allowed(r1.publish.allow, subjects.streamInbox("req-1", sid))).toBe(false);
    expect(allowed(r1.publish.allow, subjects.heartbeat("req-2"))).toBe(false);
    expect(allowed(r1.subscribe.allow, subjects.streamInboxWildcard("req-1"))).toBe(true);
    expect(allowed(r1.subscribe.allow, subjects.heartbeat("req-1"))).toBe(true);
    expect(allowed(r1.subscribe.allow, subjects.streamInboxWildcard("req-2"))).toBe(false);
    expect(allowed(r1.subscribe.allow, subjects.heartbeat("req-2"))).toBe(false);
    expect(allowed(r1.subscribe.allow, "_TW.*.s.*")).toBe(false);
  });

  it("v2: each node sends only under its own id, and the v2 table grants nothing of v1", () => {
    const a2 = computePermissions("compute-a", "v2");
    const r2 = requesterPermissions("req-1", "v2");
    const pub = (p: NatsPermissions, subject: string) => allowed(p.publish.allow, subject);
    expect(pub(r2, subjectsV2.request("compute-a", "req-1"))).toBe(true);
    expect(pub(r2, subjectsV2.control("compute-a", "req-1"))).toBe(true);
    expect(pub(r2, subjectsV2.locateExecution("req-1", "e-1"))).toBe(true);
    expect(pub(r2, subjectsV2.request("compute-a", "req-2"))).toBe(false);
    expect(pub(r2, subjectsV2.control("compute-a", "req-2"))).toBe(false);
    expect(pub(r2, subjectsV2.locateExecution("req-2", "e-1"))).toBe(false);
    expect(pub(r2, subjects.request("compute-a"))).toBe(false);
    expect(pub(r2, subjectsV2.heartbeat("req-2", "compute-a"))).toBe(false);
    expect(allowed(r2.subscribe.allow, subjectsV2.streamInboxWildcard("req-1"))).toBe(true);
    expect(allowed(r2.subscribe.allow, subjectsV2.heartbeatWildcard("req-1"))).toBe(true);
    expect(allowed(r2.subscribe.allow, subjectsV2.locateAnswerWildcard("req-1"))).toBe(true);
    expect(allowed(r2.subscribe.allow, subjectsV2.streamInboxWildcard("req-2"))).toBe(false);

    expect(pub(a2, subjectsV2.streamInbox("req-1", "compute-a", sid))).toBe(true);
    expect(pub(a2, subjectsV2.heartbeat("req-1", "compute-a"))).toBe(true);
    expect(pub(a2, subjectsV2.locateAnswer("req-1", "compute-a", sid))).toBe(true);
    expect(pub(a2, subjectsV2.streamInbox("req-1", "compute-b", sid))).toBe(false);
    expect(pub(a2, subjectsV2.heartbeat("req-1", "compute-b"))).toBe(false);
    expect(pub(a2, subjectsV2.locateReply("req-1", sid))).toBe(false);
    expect(pub(a2, subjects.streamInbox("req-1", sid))).toBe(false);
    expect(pub(a2, subjects.heartbeat("req-1"))).toBe(false);
    const sub = (subject: string) => allowed(a2.subscribe.allow, subject);
    expect(sub(subjectsV2.requestWildcard("compute-a"))).toBe(true);
    expect(sub(subjectsV2.controlWildcard("compute-a"))).toBe(true);
    expect(sub(subjectsV2.locateWildcard("e", "e-1"))).toBe(true);
    expect(sub(subjectsV2.requestWildcard("compute-b"))).toBe(false);
    // A compute node of the v1 table already receives v2 requests: it upgrades first.
    expect(allowed(a.subscribe.allow, subjectsV2.requestWildcard("compute-a"))).toBe(true);
  });

  it("the matcher itself", () => {
    expect(covers("a.>", "a.b.c")).toBe(true);
    expect(covers("a.>", "a")).toBe(false);
    expect(covers("a.*", "a.b")).toBe(true);
    expect(covers("a.*", "a.b.c")).toBe(false);
    expect(covers("a.*", "a.*")).toBe(true);
    expect(covers("a.b", "a.*")).toBe(false);
    expect(covers("a.*", "a.>")).toBe(false);
  });
});

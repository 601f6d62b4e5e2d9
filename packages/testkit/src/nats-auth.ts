/**
 * NATS users and least-privilege permissions for tailwire's two roles, as SECURITY.md (repo
 * root) specifies them. These builders are the single source of truth: SECURITY.md's
 * permission table is checked against them by tests/integration/src/security.
 *
 * The subjects are spelled out here rather than imported from @tailwire/protocol (testkit
 * does not depend on it); the integration tests check that every subject the protocol
 * builds for a role is matched by that role's permissions, and no other role's.
 */
import type { NatsConfig } from "./nats-config.js";

/** The node id pattern of PROTOCOL.md: a single subject token, never a wildcard. */
const NODE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** A subject permission block: `allow` / `deny` lists of subjects (wildcards allowed). */
export interface NatsSubjectPermission {
  allow?: readonly string[];
  deny?: readonly string[];
}

/** What nats-server's `permissions` block of one user holds. */
export interface NatsPermissions {
  publish: NatsSubjectPermission;
  subscribe: NatsSubjectPermission;
  /**
   * May publish to the reply subject of a message it received: `true` = one reply within
   * two minutes (nats-server's defaults); a block sets `max` replies and `expires`.
   */
  allow_responses?: boolean | { max?: number; expires?: string };
}

/** One NATS user of a tailwire role: `id` is the node id, `user` / `password` its login. */
export interface RoleUser {
  id: string;
  user: string;
  password: string;
}

export interface AuthorizationOptions {
  requesters?: readonly RoleUser[];
  computes?: readonly RoleUser[];
  /** Further `users` entries, verbatim (e.g. an operator or a monitoring user). */
  extraUsers?: readonly NatsConfig[];
  /** Seconds a client has to send CONNECT (nats-server's `authorization.timeout`). */
  timeoutSeconds?: number;
  /** Which wire versions the nodes may speak (default `"v1"`). */
  table?: PermissionTable;
}

function checkNodeId(id: string, role: string): string {
  // An id is pasted into permission subjects: a '.', '*' or '>' in it would widen them.
  if (!NODE_ID.test(id)) {
    throw new TypeError(
      `invalid ${role} node id ${JSON.stringify(id)}: use 1-128 letters, digits, '-' and '_'`,
    );
  }
  return id;
}

/**
 * The inbox prefix a compute node's connection must use (`connect({ inboxPrefix })`): the
 * heartbeat is a NATS request, and nats.js receives every reply of a connection on one
 * muxed subscription `<inboxPrefix>.<nuid>.*` (`_INBOX.<nuid>.*` by default). With a
 * per-node prefix the node needs `_INBOX_<id>.>` instead of `_INBOX.>`, so it cannot read
 * the replies sent to anyone else.
 */
export function computeInboxPrefix(computeNodeId: string): string {
  return `_INBOX_${checkNodeId(computeNodeId, "compute")}`;
}

/**
 * Which wire versions a fleet's permissions allow (SECURITY.md, "Permission tables"):
 * - `"v1"`: ExecutionLogs/v1 only, identities in payloads (today's deployments);
 * - `"v1+v2"`: the rolling upgrade, both versions side by side;
 * - `"v2"`: v1 turned off; every identity a node sends under is its login's.
 */
export type PermissionTable = "v1" | "v1+v2" | "v2";
export const PERMISSION_TABLES: readonly PermissionTable[] = ["v1", "v1+v2", "v2"];

const speaks = (table: PermissionTable, version: "v1" | "v2"): boolean =>
  table === "v1+v2" || table === version;

/**
 * Compute node `<id>`: receives its own request and control subjects (every version) and the
 * lookups of what it holds, sends stream frames, heartbeat requests and lookup answers to
 * requesters, receives its heartbeat replies. In v2 everything it sends a requester is under
 * `_TW.<requester>.v2.<id>.`, so its permission binds the compute id a requester sees to its
 * login.
 */
export function computePermissions(
  computeNodeId: string,
  table: PermissionTable = "v1",
): NatsPermissions {
  const id = checkNodeId(computeNodeId, "compute");
  const publish: string[] = [];
  const subscribe = [`node.compute.${id}.>`, `${computeInboxPrefix(id)}.>`];
  if (speaks(table, "v1")) {
    publish.push("_TW.*.s.*", "_TW.*.hb", "_TW.*.l.*");
    subscribe.push("node.locate.ExecutionLocate/v1.>");
  }
  if (speaks(table, "v2")) {
    publish.push(`_TW.*.v2.${id}.>`);
    subscribe.push("node.locate.ExecutionLocate/v2.*.>");
  }
  return { publish: { allow: publish }, subscribe: { allow: subscribe } };
}

/**
 * Requester `<id>`: sends requests, control messages and lookups to any compute node, receives
 * on its own `_TW.<id>` subjects only, and answers heartbeats through `allow_responses` (one
 * reply per heartbeat request it received, nothing else). In v2 its id is the last token of
 * every subject it sends on, so it can only ask, cancel, credit and look up as itself.
 */
export function requesterPermissions(
  requesterNodeId: string,
  table: PermissionTable = "v1",
): NatsPermissions {
  const id = checkNodeId(requesterNodeId, "requester");
  const publish: string[] = [];
  if (speaks(table, "v1")) {
    publish.push(
      "node.compute.*.ExecutionLogs/v1",
      "node.compute.*.ExecutionLogsControl/v1",
      "node.locate.ExecutionLocate/v1.>",
    );
  }
  if (speaks(table, "v2")) {
    publish.push(
      `node.compute.*.ExecutionLogs/v2.${id}`,
      `node.compute.*.ExecutionLogsControl/v2.${id}`,
      `node.locate.ExecutionLocate/v2.${id}.>`,
    );
  }
  return {
    publish: { allow: publish },
    subscribe: { allow: [`_TW.${id}.>`] },
    allow_responses: true,
  };
}

function permissionsConfig(permissions: NatsPermissions): NatsConfig {
  const block = (p: NatsSubjectPermission): NatsConfig => ({
    allow: p.allow === undefined ? undefined : [...p.allow],
    deny: p.deny === undefined ? undefined : [...p.deny],
  });
  const responses = permissions.allow_responses;
  return {
    publish: block(permissions.publish),
    subscribe: block(permissions.subscribe),
    allow_responses:
      responses === undefined || typeof responses === "boolean"
        ? responses
        : { max: responses.max, expires: responses.expires },
  };
}

/** One `users` entry: login plus the permissions of the role. */
export function userConfig(user: RoleUser, permissions: NatsPermissions): NatsConfig {
  return { user: user.user, password: user.password, permissions: permissionsConfig(permissions) };
}

/**
 * `{ authorization: { users: [...] } }` with one user per requester and compute node, each
 * with exactly its role's permissions. Merge it into a server config:
 * `NatsServer.start({ config: { ...authorizationConfig({...}), ...tlsConfig(ca) } })`.
 * A client without valid credentials cannot connect at all.
 */
export function authorizationConfig(options: AuthorizationOptions): NatsConfig {
  const users: NatsConfig[] = [
    ...(options.requesters ?? []).map((u) =>
      userConfig(u, requesterPermissions(u.id, options.table)),
    ),
    ...(options.computes ?? []).map((u) => userConfig(u, computePermissions(u.id, options.table))),
    ...(options.extraUsers ?? []),
  ];
  const logins = users.map((u) => u["user"]);
  const duplicate = logins.find((login, i) => logins.indexOf(login) !== i);
  if (duplicate !== undefined) {
    throw new TypeError(`duplicate NATS user ${JSON.stringify(duplicate)}`);
  }
  if (users.length === 0) throw new TypeError("authorizationConfig: no users");
  return { authorization: { timeout: options.timeoutSeconds, users } };
}

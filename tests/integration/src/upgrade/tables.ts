// The NATS servers the rolling-upgrade tests run on: an open one (no users) and one per
// permission table of SECURITY.md, each with a user for every node id the tests use.
import {
  authorizationConfig,
  type NatsConfig,
  type PermissionTable,
  type RoleUser,
} from "@tailwire/testkit";

export type PermissionMode = "open" | `table ${PermissionTable}`;

/** Enough node ids for every test of one server: one compute and one requester per test. */
const IDS = 16;
const users = (role: "compute" | "requester", prefix: string): RoleUser[] =>
  Array.from({ length: IDS }, (_, i) => ({
    id: `${prefix}-${i + 1}`,
    user: `${role}-${prefix}-${i + 1}`,
    password: `secret-${prefix}-${i + 1}`,
  }));

export const USERS = { computes: users("compute", "cup"), requesters: users("requester", "rup") };

export function serverConfig(mode: PermissionMode): NatsConfig | undefined {
  if (mode === "open") return undefined;
  return authorizationConfig({
    computes: USERS.computes,
    requesters: USERS.requesters,
    table: mode.slice("table ".length) as PermissionTable,
  });
}

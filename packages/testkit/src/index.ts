// The public API of @tailwire/testkit: real nats-server fixtures (one server, a cluster, auth,
// TLS), separate Node processes, and the waits and errors they use.
// The polyfill comes first so Symbol.asyncDispose exists before any class declares it.
import "./dispose-polyfill.js";

export type { ExitStatus } from "./child-exit.js";
export { type PollOptions, pollUntil, withDeadline } from "./deadline.js";
export { DelayRelay, type DelayRelayOptions } from "./delay-relay.js";
export {
  NatsServerNotFoundError,
  ProcessExitedError,
  ProcessOutputError,
  ProcessStartError,
  TimeoutError,
} from "./errors.js";
export { type FindNatsServerOptions, findNatsServerBinary } from "./find-binary.js";
export { LogTextGenerator, type LogTextOptions } from "./log-text.js";
export {
  type AuthorizationOptions,
  authorizationConfig,
  computeInboxPrefix,
  computePermissions,
  type NatsPermissions,
  type NatsSubjectPermission,
  PERMISSION_TABLES,
  type PermissionTable,
  type RoleUser,
  requesterPermissions,
  userConfig,
} from "./nats-auth.js";
export { NatsCluster, type NatsClusterOptions } from "./nats-cluster.js";
export {
  mergeNatsConfig,
  type NatsConfig,
  type NatsConfigValue,
  renderNatsConfig,
  UnquotedValue,
  unquoted,
} from "./nats-config.js";
export { NatsServer, type NatsServerOptions } from "./nats-server.js";
export { type LinePattern, NodeProcess, type NodeProcessOptions } from "./node-process.js";
export {
  OldRelease,
  type OldReleaseOptions,
  type OldReleaseProjectOptions,
} from "./old-release.js";
export type { NatsPorts } from "./ports-file.js";
export {
  createTestCA,
  type TestCA,
  type TestCAOptions,
  type TlsConfigOptions,
  tlsConfig,
} from "./test-ca.js";

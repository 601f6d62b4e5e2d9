// The NATS subjects of ExecutionLogs/v1: request, control, stream inbox and heartbeat.
import { isNodeId, isStreamId } from "./ids.js";

/**
 * Subjects of protocol v1. The version is part of every subject a node subscribes to, so a v2
 * can be served next to v1 on the same connection.
 *
 * - requests:   node.compute.<computeNodeId>.ExecutionLogs/v1          (requester -> compute)
 * - control:    node.compute.<computeNodeId>.ExecutionLogsControl/v1   (requester -> compute)
 * - frames:     _TW.<requesterNodeId>.s.<streamId>                     (compute -> requester)
 * - heartbeat:  _TW.<requesterNodeId>.hb                               (compute -> requester, request/reply)
 */
export const SUBJECT_PREFIX_COMPUTE = "node.compute";
export const SUBJECT_PREFIX_REQUESTER = "_TW";

function checkNodeId(nodeId: string): string {
  if (!isNodeId(nodeId)) {
    throw new TypeError(
      `invalid node id ${JSON.stringify(nodeId)}: use letters, digits, '-' and '_' only`,
    );
  }
  return nodeId;
}

export const subjects = {
  request: (computeNodeId: string) =>
    `${SUBJECT_PREFIX_COMPUTE}.${checkNodeId(computeNodeId)}.ExecutionLogs/v1`,
  control: (computeNodeId: string) =>
    `${SUBJECT_PREFIX_COMPUTE}.${checkNodeId(computeNodeId)}.ExecutionLogsControl/v1`,
  /** Prefix of every subject a requester receives on; it subscribes to `${prefix}.>` at most. */
  requesterPrefix: (requesterNodeId: string) =>
    `${SUBJECT_PREFIX_REQUESTER}.${checkNodeId(requesterNodeId)}`,
  /** Wildcard that carries every stream's frames for one requester: one subscription for all. */
  streamInboxWildcard: (requesterNodeId: string) =>
    `${subjects.requesterPrefix(requesterNodeId)}.s.*`,
  streamInbox: (requesterNodeId: string, streamId: string) =>
    `${subjects.requesterPrefix(requesterNodeId)}.s.${streamId}`,
  heartbeat: (requesterNodeId: string) => `${subjects.requesterPrefix(requesterNodeId)}.hb`,
  /**
   * The inbox prefix a compute node's connection uses (nats.js `inboxPrefix`), so that the
   * replies to its heartbeats arrive where SECURITY.md's permissions let only it subscribe
   * (`_INBOX_<id>.>`), instead of the shared `_INBOX.>`.
   */
  computeInboxPrefix: (computeNodeId: string) => `_INBOX_${checkNodeId(computeNodeId)}`,
} as const;

/**
 * The requester and stream of a subject that is exactly a stream inbox
 * (`_TW.<requesterNodeId>.s.<streamId>`), else undefined: a compute node answers nowhere else.
 */
export function parseStreamInbox(
  subject: string,
): { requesterNodeId: string; streamId: string } | undefined {
  const parts = subject.split(".");
  if (parts.length !== 4 || parts[0] !== SUBJECT_PREFIX_REQUESTER || parts[2] !== "s")
    return undefined;
  const [, requesterNodeId, , streamId] = parts as [string, string, string, string];
  return isNodeId(requesterNodeId) && isStreamId(streamId)
    ? { requesterNodeId, streamId }
    : undefined;
}

/** The stream id of a frame subject built by `subjects.streamInbox` (its last token). */
export function streamIdOfInbox(subject: string): string {
  return subject.slice(subject.lastIndexOf(".") + 1);
}

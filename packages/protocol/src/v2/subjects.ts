/**
 * Subjects of ExecutionLogs/v2: every identity a message is sent under is a subject token, where
 * per-user NATS permissions check it (SECURITY.md, "Permission tables"):
 *
 * - request:    node.compute.<computeNodeId>.ExecutionLogs/v2.<requesterNodeId>
 * - control:    node.compute.<computeNodeId>.ExecutionLogsControl/v2.<requesterNodeId>
 * - lookup:     node.locate.ExecutionLocate/v2.<requesterNodeId>.e|j.<key>
 * - frames:     _TW.<requesterNodeId>.v2.<computeNodeId>.s.<streamId>
 * - heartbeat:  _TW.<requesterNodeId>.v2.<computeNodeId>.hb            (request/reply)
 * - answers:    _TW.<requesterNodeId>.v2.<computeNodeId>.l.<lookupId>
 *
 * A requester's user may publish only subjects that end with (or, for lookups, hold) its own id;
 * a compute node's only under `_TW.*.v2.<its id>.>`. So the requester id a compute node reads
 * from a request or control subject, and the compute id a requester reads from a frame,
 * heartbeat or answer subject, are those of the sender's login.
 */
import { isNodeId, isStreamId } from "../ids.js";
import { locateKey } from "../locate-subjects.js";
import { SUBJECT_PREFIX_COMPUTE, SUBJECT_PREFIX_REQUESTER } from "../subjects.js";

export const REQUEST_TOKEN_V2 = "ExecutionLogs/v2";
export const CONTROL_TOKEN_V2 = "ExecutionLogsControl/v2";
export const LOCATE_SUBJECT_PREFIX_V2 = "node.locate.ExecutionLocate/v2";
/** The version token after the requester id in everything a compute node sends a requester. */
const V2 = "v2";
/**
 * The compute-id position of a lookup's reply subject, where NATS's own "no responders" arrives:
 * `$` is never a node id, so no compute node's permission (`_TW.*.v2.<id>.>`) covers it.
 */
export const NO_RESPONDERS_TOKEN = "$";

function id(nodeId: string, role: string): string {
  if (!isNodeId(nodeId)) {
    throw new TypeError(
      `invalid ${role} node id ${JSON.stringify(nodeId)}: use letters, digits, '-' and '_' only`,
    );
  }
  return nodeId;
}
const cid = (computeNodeId: string) => id(computeNodeId, "compute");
const rid = (requesterNodeId: string) => id(requesterNodeId, "requester");

/** `_TW.<requesterNodeId>.v2.<computeNodeId>`: the prefix of everything one sends the other. */
const toRequester = (requesterNodeId: string, computeNodeId: string) =>
  `${SUBJECT_PREFIX_REQUESTER}.${rid(requesterNodeId)}.${V2}.${computeNodeId}`;

export const subjectsV2 = {
  request: (computeNodeId: string, requesterNodeId: string) =>
    `${SUBJECT_PREFIX_COMPUTE}.${cid(computeNodeId)}.${REQUEST_TOKEN_V2}.${rid(requesterNodeId)}`,
  /** What a compute node subscribes to: the requests of every requester. */
  requestWildcard: (computeNodeId: string) =>
    `${SUBJECT_PREFIX_COMPUTE}.${cid(computeNodeId)}.${REQUEST_TOKEN_V2}.*`,
  control: (computeNodeId: string, requesterNodeId: string) =>
    `${SUBJECT_PREFIX_COMPUTE}.${cid(computeNodeId)}.${CONTROL_TOKEN_V2}.${rid(requesterNodeId)}`,
  controlWildcard: (computeNodeId: string) =>
    `${SUBJECT_PREFIX_COMPUTE}.${cid(computeNodeId)}.${CONTROL_TOKEN_V2}.*`,
  streamInbox: (requesterNodeId: string, computeNodeId: string, streamId: string) =>
    `${toRequester(requesterNodeId, cid(computeNodeId))}.s.${streamId}`,
  /** One subscription carries every stream of a requester, from every compute node. */
  streamInboxWildcard: (requesterNodeId: string) =>
    `${SUBJECT_PREFIX_REQUESTER}.${rid(requesterNodeId)}.${V2}.*.s.*`,
  heartbeat: (requesterNodeId: string, computeNodeId: string) =>
    `${toRequester(requesterNodeId, cid(computeNodeId))}.hb`,
  heartbeatWildcard: (requesterNodeId: string) =>
    `${SUBJECT_PREFIX_REQUESTER}.${rid(requesterNodeId)}.${V2}.*.hb`,
  /** Where a requester publishes a lookup of an execution (as itself). */
  locateExecution: (requesterNodeId: string, executionId: string) =>
    `${LOCATE_SUBJECT_PREFIX_V2}.${rid(requesterNodeId)}.e.${locateKey("e", executionId)}`,
  locateJob: (requesterNodeId: string, jobId: string) =>
    `${LOCATE_SUBJECT_PREFIX_V2}.${rid(requesterNodeId)}.j.${locateKey("j", jobId)}`,
  /** What a compute node holding the execution (or a job's) subscribes to: every requester. */
  locateWildcard: (kind: "e" | "j", id: string) =>
    `${LOCATE_SUBJECT_PREFIX_V2}.*.${kind}.${locateKey(kind, id)}`,
  locateAnswer: (requesterNodeId: string, computeNodeId: string, lookupId: string) =>
    `${toRequester(requesterNodeId, cid(computeNodeId))}.l.${lookupId}`,
  /** The reply subject of a lookup request: NATS's "no responders" comes back there. */
  locateReply: (requesterNodeId: string, lookupId: string) =>
    `${toRequester(requesterNodeId, NO_RESPONDERS_TOKEN)}.l.${lookupId}`,
  /** Answers from every compute node, and the no-responders status. */
  locateAnswerWildcard: (requesterNodeId: string) =>
    `${SUBJECT_PREFIX_REQUESTER}.${rid(requesterNodeId)}.${V2}.*.l.*`,
} as const;

/** The requester of a v2 request or control subject of `computeNodeId`, else undefined. */
export function requesterOfSubjectV2(
  subject: string,
  computeNodeId: string,
  kind: "request" | "control",
): string | undefined {
  const token = kind === "request" ? REQUEST_TOKEN_V2 : CONTROL_TOKEN_V2;
  const prefix = `${SUBJECT_PREFIX_COMPUTE}.${computeNodeId}.${token}.`;
  if (!subject.startsWith(prefix)) return undefined;
  const requesterNodeId = subject.slice(prefix.length);
  return isNodeId(requesterNodeId) ? requesterNodeId : undefined;
}

/** What a v2 subject in a requester's namespace says: who sent it, and which kind it is. */
export interface RequesterSubjectV2 {
  requesterNodeId: string;
  /** The sender's compute id, or `$` on a lookup reply where NATS said "no responders". */
  computeNodeId: string;
  kind: "s" | "hb" | "l";
  /** The stream id (`s`) or lookup id (`l`); empty for a heartbeat. */
  id: string;
}

/** Parses `_TW.<rid>.v2.<cid>.s.<sid>`, `….hb` and `….l.<lookupId>`; undefined for anything else. */
export function parseRequesterSubjectV2(subject: string): RequesterSubjectV2 | undefined {
  const parts = subject.split(".");
  if (parts[0] !== SUBJECT_PREFIX_REQUESTER || parts[2] !== V2) return undefined;
  const [, requesterNodeId = "", , computeNodeId = "", kind, token] = parts;
  if (!isNodeId(requesterNodeId)) return undefined;
  const fromCompute = isNodeId(computeNodeId);
  if (parts.length === 5 && kind === "hb" && fromCompute) {
    return { requesterNodeId, computeNodeId, kind, id: "" };
  }
  if (parts.length !== 6 || token === undefined || !isStreamId(token)) return undefined;
  if (kind === "s" && fromCompute) return { requesterNodeId, computeNodeId, kind, id: token };
  if (kind === "l" && (fromCompute || computeNodeId === NO_RESPONDERS_TOKEN)) {
    return { requesterNodeId, computeNodeId, kind, id: token };
  }
  return undefined;
}

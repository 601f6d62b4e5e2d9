// Subjects of execution lookup (PROTOCOL.md, "Locating executions"): where a requester asks
// which compute node holds an execution or a job's executions, and where the answers come back.
import { createHash } from "node:crypto";
import { isExecutionId, isJobId, isNodeId, isStreamId } from "./ids.js";
import { SUBJECT_PREFIX_REQUESTER } from "./subjects.js";

/** Every locate subject starts with this; compute nodes subscribe below it. */
export const LOCATE_SUBJECT_PREFIX = "node.locate.ExecutionLocate/v1";

/**
 * The subject token of an execution or job id: the first 132 bits of its SHA-256 in base64url.
 * Ids may hold dots (token separators) and be 200 characters long; a digest is always one
 * short token. A compute node subscribes to the key of every execution and job it holds, so a
 * lookup reaches only the nodes that hold it (and NATS answers "no responders" when none does).
 */
export function locateKey(kind: "e" | "j", id: string): string {
  return createHash("sha256").update(`${kind}:${id}`).digest("base64url").slice(0, 22);
}

export const locateSubjects = {
  execution: (executionId: string): string => {
    if (!isExecutionId(executionId))
      throw new TypeError(`invalid execution id ${JSON.stringify(executionId)}`);
    return `${LOCATE_SUBJECT_PREFIX}.e.${locateKey("e", executionId)}`;
  },
  job: (jobId: string): string => {
    if (!isJobId(jobId)) throw new TypeError(`invalid job id ${JSON.stringify(jobId)}`);
    return `${LOCATE_SUBJECT_PREFIX}.j.${locateKey("j", jobId)}`;
  },
  /** Where one lookup's answers arrive: the requester's own namespace, one token per lookup. */
  reply: (requesterNodeId: string, lookupId: string): string => {
    if (!isNodeId(requesterNodeId) || !isStreamId(lookupId))
      throw new TypeError("invalid requester id or lookup id");
    return `${SUBJECT_PREFIX_REQUESTER}.${requesterNodeId}.l.${lookupId}`;
  },
  /** One subscription carries the answers of every lookup of a requester. */
  replyWildcard: (requesterNodeId: string): string => {
    if (!isNodeId(requesterNodeId)) throw new TypeError("invalid requester id");
    return `${SUBJECT_PREFIX_REQUESTER}.${requesterNodeId}.l.*`;
  },
} as const;

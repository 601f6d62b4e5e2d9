// Identifier rules (node, execution, job and stream ids) and new stream ids.
import { randomBytes } from "node:crypto";

/**
 * Node ids (compute and requester) become NATS subject tokens, so they may not contain dots,
 * wildcards or white space.
 */
export const NODE_ID_PATTERN = "^[A-Za-z0-9_-]{1,128}$";

/**
 * Execution ids also become file names in a FileLogStore: they must start with a letter or
 * digit (so never "." or "..") and may not contain path separators, NUL or other control bytes.
 */
export const EXECUTION_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$";

/** Job ids group executions (retries, fan-out); same alphabet as execution ids. */
export const JOB_ID_PATTERN = EXECUTION_ID_PATTERN;

/** Stream ids are chosen by the requester: at least 128 random bits, subject-token safe. */
export const STREAM_ID_PATTERN = "^[A-Za-z0-9_-]{22,64}$";

const nodeIdRe = new RegExp(NODE_ID_PATTERN);
const executionIdRe = new RegExp(EXECUTION_ID_PATTERN);
const streamIdRe = new RegExp(STREAM_ID_PATTERN);

export const isNodeId = (value: string): boolean => nodeIdRe.test(value);
export const isExecutionId = (value: string): boolean => executionIdRe.test(value);
export const isStreamId = (value: string): boolean => streamIdRe.test(value);
export const isJobId = (value: string): boolean => executionIdRe.test(value);

/** A new unguessable stream id: 128 random bits, base64url (22 characters). */
export function newStreamId(): string {
  return randomBytes(16).toString("base64url");
}

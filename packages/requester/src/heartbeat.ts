// What a compute node's heartbeat says about our streams: ids to answer as unknown, streams it
// no longer lists, and the grace before an unlisted stream is broken.
import type { HeartbeatRequest } from "@tailwire/protocol";
import type { ComputeNodeRecord, NodeStream } from "./node-registry.js";

export interface HeartbeatStream extends NodeStream {
  readonly computeNodeId: string;
}

/**
 * The listed ids the compute node should stop: ids we have no open stream for, or that belong
 * to a stream we opened with another node (a confused or hostile sender must not keep it alive).
 */
export function unknownStreamIds(
  heartbeat: HeartbeatRequest,
  lookup: (streamId: string) => HeartbeatStream | undefined,
): string[] {
  const unknown: string[] = [];
  for (const id of heartbeat.streamIds) {
    const stream = lookup(id);
    if (!stream || stream.computeNodeId !== heartbeat.computeNodeId) unknown.push(id);
  }
  return unknown;
}

/** Doublings of the grace after repeated reconciliation breaks: 64 intervals at most. */
const MAX_GRACE_DOUBLINGS = 6;

/**
 * How long after its acceptance a stream may go unlisted before it is broken, given how often
 * this stream was already broken that way. The first time: the grace. After that the wait
 * doubles from one heartbeat interval up to 64 of them, so a run of forged heartbeats (v1 cannot
 * tell them from the node's own, SECURITY.md) costs a bounded number of resumes: at most 8 in
 * the first 10 minutes at the default 5 s interval, then one per 5 min 20 s, instead of one per
 * forgery. A genuine loss repeated on the same stream is rare and is still resumed, later.
 */
export function unlistedGraceMs(
  graceMs: number,
  heartbeatIntervalMs: number,
  priorBreaks: number,
): number {
  if (priorBreaks <= 0) return graceMs;
  const doublings = Math.min(priorBreaks - 1, MAX_GRACE_DOUBLINGS);
  return Math.max(graceMs, heartbeatIntervalMs) * 2 ** doublings;
}

/**
 * Accepted streams of the node that its heartbeat does not list: the node no longer serves
 * them (it restarted, or dropped them), so waiting would hang forever. Streams accepted within
 * their grace (`graceOf`, see unlistedGraceMs) are spared: the heartbeat may have been composed
 * before they were registered. Costs O(listed + streams of this node), never a scan of all streams.
 */
export function unlistedStreams<S extends NodeStream>(
  record: ComputeNodeRecord<S>,
  heartbeat: HeartbeatRequest,
  now: number,
  graceOf: (stream: S) => number,
): S[] {
  if (record.acceptedCount === 0) return [];
  const listed = new Set(heartbeat.streamIds);
  const unlisted: S[] = [];
  for (const stream of record.streams) {
    if (
      stream.acceptedAt !== undefined &&
      !listed.has(stream.streamId) &&
      now - stream.acceptedAt > graceOf(stream)
    ) {
      unlisted.push(stream);
    }
  }
  return unlisted;
}

import type { HeartbeatRequest } from "@tailwire/protocol";
import type { ComputeNodeRecord, NodeStream } from "./node-registry.js";

export interface HeartbeatStream extends NodeStream {
  readonly nodeId: string;
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
    if (!stream || stream.nodeId !== heartbeat.computeNodeId) unknown.push(id);
  }
  return unknown;
}

/**
 * Accepted streams of the node that its heartbeat does not list: the node no longer serves
 * them (it restarted, or dropped them), so waiting would hang forever. Streams accepted within
 * the grace are spared: the heartbeat may have been composed before they were registered.
 * Costs O(listed + streams of this node), never a scan of all streams.
 */
export function unlistedStreams<S extends NodeStream>(
  record: ComputeNodeRecord<S>,
  heartbeat: HeartbeatRequest,
  now: number,
  graceMs: number,
): S[] {
  if (record.acceptedCount === 0) return [];
  const listed = new Set(heartbeat.streamIds);
  const unlisted: S[] = [];
  for (const stream of record.streams) {
    if (
      stream.acceptedAt !== undefined &&
      now - stream.acceptedAt > graceMs &&
      !listed.has(stream.streamId)
    ) {
      unlisted.push(stream);
    }
  }
  return unlisted;
}

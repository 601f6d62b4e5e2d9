// Notices another live requester using this requester's node id. A compute node heartbeats one
// subject per requester id; every process subscribed there answers, the compute node takes the
// first answer, and drops the streams it names as unknown: each twin's answers drop the other's
// streams. What a twin sees: heartbeats listing stream ids it never opened (the other twin's),
// that stay listed after it answered them as unknown (the other twin's answer came first), and
// its own streams vanishing without an End or Error frame. A requester that restarted under the
// same id also sees foreign ids (its previous life's), but only until its first answer drops
// them, and then its streams stay listed: it is never told it has a twin for that alone.
// One entry per compute node that listed foreign ids: bounded by the nodes, not by streams.

export class TwinWatch {
  /** Per compute node: when it last listed foreign ids, and the ids of its last heartbeat. */
  readonly #nodes = new Map<string, { foreignAt: number; lastForeign: ReadonlySet<string> }>();

  /**
   * Records a heartbeat's foreign ids (those this requester answers as unknown). True when one
   * of them was foreign in the node's previous heartbeat too: someone else keeps it alive.
   */
  heartbeat(computeNodeId: string, foreignIds: readonly string[], now: number): boolean {
    const entry = this.#nodes.get(computeNodeId);
    if (foreignIds.length === 0) {
      if (entry) entry.lastForeign = new Set();
      return false;
    }
    const repeated = entry !== undefined && foreignIds.some((id) => entry.lastForeign.has(id));
    this.#nodes.set(computeNodeId, { foreignAt: now, lastForeign: new Set(foreignIds) });
    return repeated;
  }

  /** Whether the node listed foreign ids at or after `since` (monotonic ms). */
  foreignSince(computeNodeId: string, since: number): boolean {
    const entry = this.#nodes.get(computeNodeId);
    return entry !== undefined && entry.foreignAt >= since;
  }
}

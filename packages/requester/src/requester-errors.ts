// The errors a requester raises when it lost its streams by its own side's doing, not the
// compute node's: it was stalled (SIGSTOP, a laptop asleep, a long pause) for longer than the
// compute node waits for heartbeat answers, or another live requester uses the same node id.
// Both carry the protocol's REQUESTER_LOST code (the compute node released the streams, cause
// requester_lost / unknown_to_requester), so code-based handling stays simple, and a class of
// their own with the facts, so a message never blames a compute node that was healthy.
import { RequesterLostError } from "@tailwire/protocol";

/**
 * This requester was stalled for at least a heartbeat interval (long enough for a compute node to
 * give it up) and the compute node has been silent since: from here the two cannot be told
 * apart, but a released stream is by far the likelier, so the message says so first.
 */
export class RequesterStalledError extends RequesterLostError {
  readonly computeNodeId: string;
  /** How long this process was stalled (its timers ran that late). */
  readonly stalledMs: number;

  constructor(computeNodeId: string, stalledMs: number, silentMs: number) {
    super(
      `this requester was stalled for ${stalledMs} ms (SIGSTOP, sleep, a long pause) and compute node ${computeNodeId} has not been heard from since (${silentMs} ms): it most likely gave this requester up during the stall and released the stream (requester_lost), or it died; ask again from the last sequence delivered`,
    );
    this.computeNodeId = computeNodeId;
    this.stalledMs = stalledMs;
  }
}

/**
 * Another live requester answers heartbeats under this requester's node id (TwinWatch): a compute
 * node then drops the streams each one does not know (unknown_to_requester), and both lose
 * streams. `evidence` says what was seen, for the message.
 */
export class DuplicateRequesterIdError extends RequesterLostError {
  readonly requesterNodeId: string;
  readonly computeNodeId: string;

  constructor(requesterNodeId: string, computeNodeId: string, evidence: string) {
    super(
      `another requester is most likely using requester id ${JSON.stringify(requesterNodeId)}: ${evidence}; two live requesters with one id make compute nodes drop each other's streams: give every requester process its own id`,
    );
    this.requesterNodeId = requesterNodeId;
    this.computeNodeId = computeNodeId;
  }
}

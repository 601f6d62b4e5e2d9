// Before a requester starts, asks whether another live requester already answers heartbeats under
// its node id: one heartbeat request, with no streams, to its own heartbeat subject. Any
// LogStreamClient subscribed there answers it (that is how compute nodes reach it), so an answer
// means the id is taken, and two requesters sharing it would have a compute node drop each one's
// streams on the other's heartbeat answers. "No responders" (or no answer in time, or a subject
// this requester may not publish to) means nobody answered: the id is free as far as we can tell.
// No wire change: the probe is a valid v1 heartbeat from a compute node id no node uses.
import type { NatsConnection } from "@nats-io/nats-core";
import {
  decodeHeartbeatResponse,
  encode,
  MessageType,
  subjects,
  tryDecode,
} from "@tailwire/protocol";
import { DuplicateRequesterIdError } from "./requester-errors.js";

export interface RequesterIdProbeOptions {
  /** How long to wait for an answer (default 500 ms); a live requester answers in one round trip. */
  timeoutMs?: number;
}

/** The compute node id the probe claims: not a valid id for a real node to pick by accident. */
export const PROBE_COMPUTE_NODE_ID = "tailwire-requester-id-probe";

/**
 * Resolves when no live requester answers heartbeats as `requesterNodeId`; rejects with a
 * DuplicateRequesterIdError naming the id when one does. Call it before creating the
 * LogStreamClient (the client itself would answer the probe).
 */
export async function assertRequesterIdFree(
  connection: NatsConnection,
  requesterNodeId: string,
  options: RequesterIdProbeOptions = {},
): Promise<void> {
  const probe = encode({
    type: MessageType.Heartbeat,
    computeNodeId: PROBE_COMPUTE_NODE_ID,
    streamIds: [],
  });
  let answer: Uint8Array;
  try {
    const msg = await connection.request(subjects.heartbeat(requesterNodeId), probe, {
      timeout: options.timeoutMs ?? 500,
    });
    answer = msg.data;
  } catch {
    return; // no responders, timeout, permission denied: nobody answered
  }
  // Only a requester's heartbeat answer counts (anything else on that subject is not a twin).
  if (!tryDecode(decodeHeartbeatResponse, answer).ok) return;
  throw new DuplicateRequesterIdError(requesterNodeId);
}

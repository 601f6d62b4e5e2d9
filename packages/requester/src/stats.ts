// The client's counters and the shape of its stats() snapshot.
/** Why a stream ended; one counter each in `stats().streamsEnded`. */
export type EndCause = "completed" | "cancelled" | "compute_node_lost" | "error" | "protocol_error";

export const END_CAUSES: readonly EndCause[] = [
  "completed",
  "cancelled",
  "compute_node_lost",
  "error",
  "protocol_error",
];

export interface ComputeNodeStats {
  nodeId: string;
  /** Streams requested from this node and not ended (pending and accepted). */
  openStreams: number;
  /** Epoch ms of the last heartbeat or frame from the node; null if none arrived yet. */
  lastHeardAt: number | null;
}

export interface LogStreamClientStats {
  openStreams: number;
  /** Open streams whose compute node's last heartbeat said they wait for credit (slow consumers). */
  streamsWaitingForCredit: number;
  computeNodes: ComputeNodeStats[];
  heartbeatsAnswered: number;
  /** Heartbeat requests that failed to decode (not answered). */
  heartbeatsRejected: number;
  /** Every message on the stream inbox, including ignored and rejected ones. */
  framesReceived: number;
  /** Frames that ended their stream for failing validation or order checks. */
  framesRejected: number;
  /** Frames for stream ids this client has no open stream for (late frames after an end). */
  framesIgnored: number;
  /** Credit grants sent (one per stream per grant, however they were batched into messages). */
  creditsSent: number;
  /** Resume attempts started (new requests for broken streams). */
  resumeAttempts: number;
  /** Streams that ended with ResumeExhaustedError. */
  resumesExhausted: number;
  streamsEnded: Record<EndCause, number>;
  /**
   * Compute nodes asked in v1 now because they did not answer v2 (protocol "auto"), sorted: the
   * nodes still to upgrade (VERSIONING.md).
   */
  computeNodesOnV1: string[];
}

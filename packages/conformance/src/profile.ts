// The settings a compute node under test must run with, so that the limits' rules can be checked
// exactly (the kit cannot guess a node's limits from outside).

/**
 * Limits the compute node under test is configured with for a run of compute mode. The names
 * are those of PROTOCOL.md and SECURITY.md; in @tailwire/compute they are
 * `LogStreamServerOptions.limits`.
 */
export interface ConformanceLimits {
  /** Open streams on the node, all requesters together. */
  maxStreams: number;
  /** Open streams of one requester. */
  maxStreamsPerRequester: number;
  /** Largest `tail` a request may ask for. */
  maxTailLines: number;
  /** Requests per second one requester may send (bursts up to the same number). */
  maxRequestsPerSecondPerRequester: number;
  /** Requests per second the node takes from all requesters together (bursts up to the same number). */
  maxRequestsPerSecond: number;
  /** Consecutive failed heartbeats after which a requester is given up. */
  maxMissedHeartbeats: number;
}

export const CONFORMANCE_LIMITS: ConformanceLimits = {
  maxStreams: 16,
  maxStreamsPerRequester: 8,
  maxTailLines: 1000,
  maxRequestsPerSecondPerRequester: 50,
  maxRequestsPerSecond: 200,
  maxMissedHeartbeats: 2,
};

/**
 * Execution ids the requester mode serves (the runner plays a compute node holding them): the
 * three seeds, and scenarios that serve the basic seed with a twist.
 */
export const REQUESTER_EXECUTIONS = {
  basic: "conformance-basic",
  longLine: "conformance-long-line",
  credit: "conformance-credit",
  /** Served with a missing frame number after two frames. */
  gap: "conformance-gap",
  /** Served with a frame number repeated after two frames. */
  duplicate: "conformance-duplicate",
  /** Held open (no End) while heartbeats list it and an id the requester does not hold. */
  heartbeat: "conformance-heartbeat",
  /** Held open, then heartbeats stop listing it. */
  reconcile: "conformance-reconcile",
  /** A follow that writes a line every 20 ms and never ends by itself: stop reading it. */
  cancel: "conformance-cancel",
  /**
   * A follow of three lines that stays open; every attempt is left out of the heartbeats once its
   * grace has passed (a forged heartbeat, again and again): the requester must stop resuming.
   */
  resumeStorm: "conformance-resume-storm",
} as const;

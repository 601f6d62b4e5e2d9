// The heartbeat timeout rule both sides apply (PROTOCOL.md, "Heartbeats"): one place, so the
// requester never asks for a timeout the compute node would silently change.

/** The share of the interval a heartbeat may wait for its answer: beats never overlap. */
const TIMEOUT_SHARE_OF_INTERVAL = 0.9;
/** The timeout when none is asked for (ms), below the cap for every interval of 2.3 s and more. */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 2_000;

/** The longest heartbeat timeout allowed for an interval: `max(1, floor(0.9 × interval))`. */
export const maxHeartbeatTimeoutMs = (intervalMs: number): number =>
  Math.max(1, Math.floor(intervalMs * TIMEOUT_SHARE_OF_INTERVAL));

/**
 * The timeout a compute node uses: the one asked for (the request's `heartbeatTimeoutMs`, else
 * its own default), capped for the interval. Requester-lost detection is then bounded by
 * `interval × maxMissed + this`.
 */
export const effectiveHeartbeatTimeoutMs = (intervalMs: number, askedMs: number): number =>
  Math.min(askedMs, maxHeartbeatTimeoutMs(intervalMs));

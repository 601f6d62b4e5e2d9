// Which wire version each requester speaks to this compute node: requests and open streams per
// version, and the requester ids seen lately, so an operator can tell when no requester sends v1
// any more and v1 serving may be turned off (VERSIONING.md). Bounded: at most MAX_TRACKED ids per
// version are remembered (the oldest go first).
import { type Logger, type ProtocolVersion, SUPPORTED_VERSIONS } from "@tailwire/protocol";

/** How long a requester id stays in `recentRequesters` after its last request. */
export const RECENT_WINDOW_MS = 60 * 60 * 1000;
const MAX_TRACKED = 10_000;

export interface VersionStats {
  /** Requests received in this version (valid or not, once their requester was known). */
  requests: number;
  /** Streams open in this version now. */
  openStreams: number;
  /** Requester ids that sent a request in this version within the last hour, sorted. */
  recentRequesters: string[];
}

export class VersionCensus {
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #byVersion = new Map<ProtocolVersion, { requests: number; seen: Map<string, number> }>();

  constructor(windowMs = RECENT_WINDOW_MS, now: () => number = Date.now) {
    this.#windowMs = windowMs;
    this.#now = now;
    for (const version of SUPPORTED_VERSIONS) {
      this.#byVersion.set(version, { requests: 0, seen: new Map() });
    }
  }

  /**
   * Counts a request of `requesterNodeId` in `version`. True when that requester had not used
   * this version within the window: the moment to log it (once an hour per requester at most).
   */
  /** Counts a request (see request()); the first v1 one of a requester in the window is logged. */
  noteRequest(version: ProtocolVersion, requesterNodeId: string, log: Logger): void {
    if (!this.request(version, requesterNodeId)) return;
    if (version === "v1") log.info({ requesterNodeId, version }, "requester uses ExecutionLogs/v1");
    else log.debug({ requesterNodeId, version }, "requester uses ExecutionLogs/v2");
  }

  request(version: ProtocolVersion, requesterNodeId: string): boolean {
    const entry = this.#entry(version);
    entry.requests++;
    const now = this.#now();
    const last = entry.seen.get(requesterNodeId);
    // Re-inserted so that the map's order is by last use (the oldest are dropped first).
    entry.seen.delete(requesterNodeId);
    entry.seen.set(requesterNodeId, now);
    if (entry.seen.size > MAX_TRACKED) {
      const oldest = entry.seen.keys().next().value;
      if (oldest !== undefined) entry.seen.delete(oldest);
    }
    return last === undefined || now - last >= this.#windowMs;
  }

  /** `open`: the version of every stream open now (the registry owns them, not the census). */
  stats(open: readonly ProtocolVersion[] = []): Record<ProtocolVersion, VersionStats> {
    const since = this.#now() - this.#windowMs;
    const out = {} as Record<ProtocolVersion, VersionStats>;
    for (const [version, entry] of this.#byVersion) {
      for (const [id, at] of entry.seen) {
        if (at > since) break; // ordered by last use: the rest is newer
        entry.seen.delete(id);
      }
      out[version] = {
        requests: entry.requests,
        openStreams: open.filter((v) => v === version).length,
        recentRequesters: [...entry.seen.keys()].sort(),
      };
    }
    return out;
  }

  #entry(version: ProtocolVersion) {
    const entry = this.#byVersion.get(version);
    if (!entry) throw new TypeError(`unknown wire version ${version}`);
    return entry;
  }
}

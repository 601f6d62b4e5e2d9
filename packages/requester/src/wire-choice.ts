// Which wire version the requester asks each compute node in (PROTOCOL.md, "Which version a
// requester uses"). "auto" asks v2 first; a node that does not answer v2 (no responders, or
// silence) is asked in v1 at once and remembered for a while, then v2 is tried again, so a node
// upgraded in place is picked up without a restart. Bounded: the oldest of MAX_NODES
// remembered nodes is forgotten first (it is then simply asked v2 again).
import type { ProtocolVersion } from "@tailwire/protocol";

/** `LogStreamClientOptions.protocol`: which versions the requester may use. */
export type ProtocolOption = "auto" | ProtocolVersion;
export const PROTOCOL_OPTIONS: readonly ProtocolOption[] = ["auto", "v1", "v2"];

/** How long a node that did not answer v2 is asked in v1 before v2 is tried again. */
export const V1_FALLBACK_MS = 60_000;
const MAX_NODES = 10_000;

export class WireChoice {
  readonly option: ProtocolOption;
  readonly #fallbackMs: number;
  readonly #now: () => number;
  /** Compute node id -> when it last did not answer v2 (ordered by that time). */
  readonly #onV1 = new Map<string, number>();

  constructor(option: ProtocolOption = "auto", fallbackMs = V1_FALLBACK_MS, now = Date.now) {
    if (!PROTOCOL_OPTIONS.includes(option)) {
      throw new RangeError(`protocol must be one of ${PROTOCOL_OPTIONS.join(", ")}: got ${option}`);
    }
    this.option = option;
    this.#fallbackMs = fallbackMs;
    this.#now = now;
  }

  /** The version of the next request to `computeNodeId`. */
  versionFor(computeNodeId: string): ProtocolVersion {
    if (this.option !== "auto") return this.option;
    const since = this.#onV1.get(computeNodeId);
    if (since === undefined) return "v2";
    if (this.#now() - since < this.#fallbackMs) return "v1";
    this.#onV1.delete(computeNodeId);
    return "v2";
  }

  /**
   * A v2 request to `computeNodeId` got no answer that proves it serves v2. True when the
   * request should be made again at once in v1 (auto); false when v2 was all it may use. The
   * first fallback to a node (not a renewal) is worth a log line: `first` says so.
   */
  v2Unanswered(computeNodeId: string): { retryInV1: boolean; first: boolean } {
    if (this.option !== "auto") return { retryInV1: false, first: false };
    const first = !this.#onV1.has(computeNodeId);
    this.#onV1.delete(computeNodeId);
    this.#onV1.set(computeNodeId, this.#now());
    if (this.#onV1.size > MAX_NODES) {
      const oldest = this.#onV1.keys().next().value;
      if (oldest !== undefined) this.#onV1.delete(oldest);
    }
    return { retryInV1: true, first };
  }

  /** The compute nodes asked in v1 now because they did not answer v2 (stats), sorted. */
  nodesOnV1(): string[] {
    const since = this.#now() - this.#fallbackMs;
    return [...this.#onV1]
      .filter(([, at]) => at > since)
      .map(([id]) => id)
      .sort();
  }
}

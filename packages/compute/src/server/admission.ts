// Admission: the rules a log request must pass before a stream is opened for it (where it asks
// to be answered, whom it names, how often its requester and all requesters together may ask,
// how many streams may be open, how long a tail may be), each refusal a wire error code and a
// message.
import { type ErrorCode, type LogRequest, subjects } from "@tailwire/protocol";
import type { ResolvedOptions } from "./options.js";
import { RateLimiter } from "./rate-limiter.js";
import type { StreamRegistry } from "./stream-registry.js";
import { WIRE_V1, type WireDialect } from "./wire-dialect.js";

/** Worst-case bytes one stream id adds to a heartbeat: 64 characters, quotes and a comma. */
const HEARTBEAT_BYTES_PER_STREAM = 64 + 3;
/** The node-wide rate limiter's one key. */
const NODE_WIDE = "";

export type Refusal = [code: ErrorCode, message: string];

/**
 * Why a request's reply subject is refused, if it is. The server publishes only where the
 * protocol says this requester listens: a request that names another subject (someone else's
 * inbox, another node's subjects) gets no reply at all.
 */
export function replyRefusal(request: LogRequest, reply: string): string | undefined {
  if (reply !== subjects.streamInbox(request.sourcePeerId, request.streamId))
    return `reply subject ${reply} is not the requester's stream inbox`;
  return undefined;
}

export class Admission {
  readonly #computeNodeId: string;
  readonly #options: ResolvedOptions;
  readonly #registry: StreamRegistry;
  readonly #maxPayload: () => number;
  readonly #rate: RateLimiter;
  readonly #nodeRate: RateLimiter;

  /** `maxPayload`: the connection's max_payload now (it may change with a reconnect). */
  constructor(
    computeNodeId: string,
    options: ResolvedOptions,
    registry: StreamRegistry,
    maxPayload: () => number,
  ) {
    this.#computeNodeId = computeNodeId;
    this.#options = options;
    this.#registry = registry;
    this.#maxPayload = maxPayload;
    this.#rate = new RateLimiter(options.maxRequestsPerSecondPerRequester);
    const nodeRate = options.maxRequestsPerSecond;
    this.#nodeRate = new RateLimiter(nodeRate, undefined, nodeRate * 2);
  }

  /**
   * Why this request is refused, if it is; a request that passes has taken its share of the rate
   * limits. Checked synchronously, before anything is awaited, so that limits and duplicate
   * checks cannot race with the registration that follows.
   */
  refusal(request: LogRequest, running: boolean, wire: WireDialect = WIRE_V1): Refusal | undefined {
    const o = this.#options;
    if (!running) return ["GOING_AWAY", "compute node is shutting down"];
    // v1: as the request says it (checked); v2: derived from the subject (always equal).
    const heartbeatSubject = wire.heartbeatSubject(request.sourcePeerId, this.#computeNodeId);
    if (request.heartbeatSubject !== heartbeatSubject) {
      return [
        "BAD_REQUEST",
        `heartbeat subject ${request.heartbeatSubject} is not the requester's`,
      ];
    }
    if (request.targetPeerId !== this.#computeNodeId) {
      return [
        "BAD_REQUEST",
        `targetPeerId ${request.targetPeerId} is not this node (${this.#computeNodeId})`,
      ];
    }
    // Node-wide first: a flood under fresh requester ids must not fill the per-requester table.
    if (!this.#nodeRate.take(NODE_WIDE)) {
      return [
        "RATE_LIMITED",
        `more than ${o.maxRequestsPerSecond} requests per second on this node`,
      ];
    }
    if (!this.#rate.take(request.sourcePeerId)) {
      return [
        "RATE_LIMITED",
        `more than ${o.maxRequestsPerSecondPerRequester} requests per second`,
      ];
    }
    const registry = this.#registry;
    if (registry.find(request.sourcePeerId, request.streamId)) {
      return ["DUPLICATE_STREAM", `stream ${request.streamId} is already open`];
    }
    if (registry.size >= o.maxStreams)
      return ["TOO_MANY_STREAMS", `this node serves ${o.maxStreams} streams already`];
    const perRequester = this.maxStreamsPerRequester();
    if (registry.countOf(request.sourcePeerId) >= perRequester) {
      return ["TOO_MANY_REQUESTER_STREAMS", `requester has ${perRequester} open streams already`];
    }
    if (
      request.fromSeq === undefined &&
      request.tail !== undefined &&
      request.tail > o.maxTailLines
    ) {
      return [
        "TAIL_TOO_LARGE",
        `tail ${request.tail} exceeds the limit of ${o.maxTailLines} lines`,
      ];
    }
    return undefined;
  }

  /** The configured limit, lowered so that one heartbeat listing them all fits in max_payload. */
  maxStreamsPerRequester(): number {
    const fit = Math.floor(
      (this.#maxPayload() - 200 - this.#computeNodeId.length) / HEARTBEAT_BYTES_PER_STREAM,
    );
    return Math.max(1, Math.min(this.#options.maxStreamsPerRequester, fit));
  }
}

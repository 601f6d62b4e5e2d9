import type { NatsConnection } from "@nats-io/nats-core";
import { LIMITS, type Logger } from "@tailwire/protocol";
import type { LogSource } from "../log-source.js";

export interface LogStreamServerLimits {
  /** Open streams on this node, all requesters together (default 10 000). */
  maxStreams?: number;
  /** Open streams of one requester (default 1 000; lowered when a heartbeat listing them all would not fit in max_payload). */
  maxStreamsPerRequester?: number;
  /** Largest `tail` a request may ask for (default 1 000 000). */
  maxTailLines?: number;
  /** Requests per second one requester may send, bursts up to the same number (default 200). */
  maxRequestsPerSecondPerRequester?: number;
  /**
   * Requests per second all requesters together may send (default 1 000, bursts up to twice as
   * many): per-requester limits alone are bypassed by a fresh requester id per request.
   */
  maxRequestsPerSecond?: number;
}

export interface LogStreamServerOptions {
  connection: NatsConnection;
  /** This compute node's id: the token in its subjects, compared with the request's targetPeerId. */
  nodeId: string;
  source: LogSource;
  logger?: Logger;
  limits?: LogStreamServerLimits;
  heartbeat?: {
    /** Heartbeat request timeout when the request gives none (default 2000 ms); always kept below the interval. */
    timeoutMs?: number;
    /** Consecutive failed heartbeats after which a requester is given up (default 2). */
    maxMissed?: number;
  };
  batching?: {
    /** Largest data frame (default 64 KiB); also bounded by the request's window and the server's max_payload. */
    maxFrameBytes?: number;
    /** How long a partly filled frame waits for more entries (default 2 ms; 0 = send at once). */
    lingerMs?: number;
  };
}

export interface ResolvedOptions {
  maxStreams: number;
  maxStreamsPerRequester: number;
  maxTailLines: number;
  maxRequestsPerSecondPerRequester: number;
  maxRequestsPerSecond: number;
  heartbeatTimeoutMs: number;
  maxMissed: number;
  maxFrameBytes: number;
  lingerMs: number;
  logger: Logger;
}

function int(value: number | undefined, fallback: number, min: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min)
    throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

export function resolveOptions(options: LogStreamServerOptions, silent: Logger): ResolvedOptions {
  const limits = options.limits ?? {};
  return {
    maxStreams: int(limits.maxStreams, 10_000, 1, "limits.maxStreams"),
    // A heartbeat lists every stream of a requester in one message: the schema caps that list.
    maxStreamsPerRequester: Math.min(
      int(limits.maxStreamsPerRequester, 1_000, 1, "limits.maxStreamsPerRequester"),
      LIMITS.maxIdsPerMessage,
    ),
    maxTailLines: int(limits.maxTailLines, 1_000_000, 0, "limits.maxTailLines"),
    maxRequestsPerSecondPerRequester: int(
      limits.maxRequestsPerSecondPerRequester,
      200,
      1,
      "limits.maxRequestsPerSecondPerRequester",
    ),
    maxRequestsPerSecond: int(limits.maxRequestsPerSecond, 1_000, 1, "limits.maxRequestsPerSecond"),
    heartbeatTimeoutMs: int(options.heartbeat?.timeoutMs, 2000, 1, "heartbeat.timeoutMs"),
    maxMissed: int(options.heartbeat?.maxMissed, 2, 1, "heartbeat.maxMissed"),
    maxFrameBytes: int(
      options.batching?.maxFrameBytes,
      64 * 1024,
      LIMITS.minWindowBytes,
      "batching.maxFrameBytes",
    ),
    lingerMs: int(options.batching?.lingerMs, 2, 0, "batching.lingerMs"),
    logger: options.logger ?? silent,
  };
}

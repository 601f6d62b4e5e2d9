// The server's options: their types, their defaults (DEFAULTS) and their validation.
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type CompressionCodec,
  LIMITS,
  type Logger,
  type ProtocolVersion,
  resolveCodecs,
  SUPPORTED_VERSIONS,
} from "@tailwire/protocol";
import { integerOption } from "@tailwire/protocol/internal";
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
  /**
   * Answer lookups for the executions the source holds (PROTOCOL.md, "Locating executions"), so
   * requesters can stream them without naming this node. Default: on when the source can list
   * its executions (MemoryLogStore, FileLogStore); false turns it off.
   */
  locate?: boolean | { maxLookupsPerSecond?: number };
  /**
   * The wire versions this node serves (default both, side by side: PROTOCOL.md,
   * "ExecutionLogs/v2"). `["v2"]` turns v1 serving off once no requester sends it any more
   * (VERSIONING.md says how to tell); `["v1"]` keeps a node within SECURITY.md's v1 table.
   */
  versions?: readonly ProtocolVersion[];
  batching?: {
    /** Largest data frame (default 64 KiB); also bounded by the request's window and the server's max_payload. */
    maxFrameBytes?: number;
    /** How long a partly filled frame waits for more entries (default 2 ms; 0 = send at once). */
    lingerMs?: number;
  };
  /**
   * Codecs this node may compress data frames with, in its order of preference; a stream gets
   * the first its requester offered (PROTOCOL.md "Compressed frames"). Default: every codec
   * available here (zstd when its optional native module is installed, then brotli); false:
   * plain frames only.
   */
  compression?: readonly CompressionCodec[] | false;
}

/**
 * The server's defaults, in the shape of its options: what a field left out means. Exported so
 * that a caller can derive its own value (say, twice the default) without copying a number.
 */
export const DEFAULTS = {
  limits: {
    maxStreams: 10_000,
    maxStreamsPerRequester: 1_000,
    maxTailLines: 1_000_000,
    maxRequestsPerSecondPerRequester: 200,
    maxRequestsPerSecond: 1_000,
  },
  heartbeat: { timeoutMs: 2_000, maxMissed: 2 },
  locate: { maxLookupsPerSecond: 1_000 },
  batching: { maxFrameBytes: 64 * 1024, lingerMs: 2 },
} as const;

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
  versions: readonly ProtocolVersion[];
  codecs: CompressionCodec[];
  logger: Logger;
}

/** An option or its default, checked by the one integer rule all packages share. */
function int(value: number | undefined, fallback: number, min: number, name: string): number {
  return integerOption(name, value ?? fallback, min);
}

export function resolveOptions(options: LogStreamServerOptions, silent: Logger): ResolvedOptions {
  const limits = options.limits ?? {};
  const d = DEFAULTS;
  return {
    maxStreams: int(limits.maxStreams, d.limits.maxStreams, 1, "limits.maxStreams"),
    // A heartbeat lists every stream of a requester in one message: the schema caps that list.
    maxStreamsPerRequester: Math.min(
      int(
        limits.maxStreamsPerRequester,
        d.limits.maxStreamsPerRequester,
        1,
        "limits.maxStreamsPerRequester",
      ),
      LIMITS.maxIdsPerMessage,
    ),
    maxTailLines: int(limits.maxTailLines, d.limits.maxTailLines, 0, "limits.maxTailLines"),
    maxRequestsPerSecondPerRequester: int(
      limits.maxRequestsPerSecondPerRequester,
      d.limits.maxRequestsPerSecondPerRequester,
      1,
      "limits.maxRequestsPerSecondPerRequester",
    ),
    maxRequestsPerSecond: int(
      limits.maxRequestsPerSecond,
      d.limits.maxRequestsPerSecond,
      1,
      "limits.maxRequestsPerSecond",
    ),
    heartbeatTimeoutMs: int(
      options.heartbeat?.timeoutMs,
      d.heartbeat.timeoutMs,
      1,
      "heartbeat.timeoutMs",
    ),
    maxMissed: int(options.heartbeat?.maxMissed, d.heartbeat.maxMissed, 1, "heartbeat.maxMissed"),
    maxFrameBytes: int(
      options.batching?.maxFrameBytes,
      d.batching.maxFrameBytes,
      LIMITS.minWindowBytes,
      "batching.maxFrameBytes",
    ),
    lingerMs: int(options.batching?.lingerMs, d.batching.lingerMs, 0, "batching.lingerMs"),
    versions: versionsOf(options.versions),
    codecs: resolveCodecs(options.compression),
    logger: options.logger ?? silent,
  };
}

function versionsOf(versions: readonly ProtocolVersion[] | undefined): readonly ProtocolVersion[] {
  if (versions === undefined) return SUPPORTED_VERSIONS;
  if (versions.length === 0 || versions.some((v) => !SUPPORTED_VERSIONS.includes(v))) {
    throw new RangeError(
      `versions must be a non-empty list of ${SUPPORTED_VERSIONS.join(", ")}: got ${JSON.stringify(versions)}`,
    );
  }
  return [...new Set(versions)];
}

// The client's and streamLogs' options: their types, defaults and the checks run up front.
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type CompressionCodec,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  LIMITS,
  type Logger,
  type LogStreamName,
  maxHeartbeatTimeoutMs,
  resolveCodecs,
  silentLogger,
  subjects,
} from "@tailwire/protocol";
import { integerOption as integer } from "@tailwire/protocol/internal";
import type { ExecutionLocator } from "./execution-locator.js";

import {
  RESUME_DEFAULTS,
  type ResumeAfterComputeLostOptions,
  type ResumeOptions,
  type ResumePolicy,
} from "./resume-policy.js";
import { PROTOCOL_OPTIONS, type ProtocolOption } from "./wire-choice.js";

export interface LogStreamClientOptions {
  /** The caller's NATS connection; the client never creates or closes it. */
  connection: NatsConnection;
  /** This requester's node id: the subject token of its inbox and heartbeat subjects. */
  nodeId: string;
  logger?: Logger;
  /** How often compute nodes should heartbeat while they serve our streams. */
  heartbeatIntervalMs?: number;
  /**
   * How long a compute node waits for our heartbeat answer: at most 0.9 × the interval (a
   * larger value is a RangeError); default 2 s, or half the interval when that is shorter.
   */
  heartbeatTimeoutMs?: number;
  /** Silent heartbeat intervals after which a compute node counts as lost. */
  computeLostAfterMissed?: number;
  /** Time a compute node has to answer a request with Accepted or Error. */
  acceptTimeoutMs?: number;
  /** Initial credit per stream in data-frame bytes; the least a stream's window is kept at. */
  windowBytes?: number;
  /**
   * The memory cap per stream: how far its window may grow to fill a fast, distant link
   * (PROTOCOL.md "Flow control", the adaptive window), in bytes of data held once decompressed
   * (a compressed stream's window grows to a sixteenth of it). Default 64 MiB; windowBytes (or
   * less) keeps the window fixed.
   */
  maxWindowBytes?: number;
  /**
   * Codecs offered for compressed data frames (PROTOCOL.md "Compressed frames"), most wanted
   * first; true: every codec available here (zstd when its optional native module is installed,
   * then brotli). Default false (plain frames only): opt in for constrained links. Off by
   * default because a compressed stream may hold up to 16 times its wire window once decoded
   * (bounded by maxWindowBytes), and on loopback it saves bytes, not time (BENCHMARKS.md).
   */
  compression?: readonly CompressionCodec[] | boolean;
  /**
   * Finds the compute node of a `streamLogs` without one, and a job's executions. Default: a
   * NatsExecutionLocator on this connection (created on first use). An orchestrator that knows
   * where its executions run passes its own.
   */
  locator?: ExecutionLocator;
  /** A heartbeat that omits a stream accepted less than this long ago is not held against it. */
  unlistedGraceMs?: number;
  /**
   * Which wire versions to use (PROTOCOL.md, "Which version a requester uses"): "auto" (the
   * default) asks v2 first and a node that does not answer v2 in v1 at once; "v2" or "v1" only
   * that version (a fleet under SECURITY.md's v2 or v1 permission table).
   */
  protocol?: ProtocolOption;
  /**
   * Transparent resume of broken streams (frame gap, reconnect, GOING_AWAY, retryable error
   * frames, a stream the compute node no longer lists): a new request with fromSeq = the last
   * seq received, under the same LogStream. `false` disables it. Defaults in RESUME_DEFAULTS.
   */
  resume?: ResumeOptions | false;
  /**
   * Opt-in: also resume after the compute node was lost (silent, going away, no responders),
   * for `forMs`, so a node restarted on a persistent store continues the follow. Off by default.
   */
  resumeAfterComputeLost?: ResumeAfterComputeLostOptions | false;
}

export interface ResolvedOptions {
  nodeId: string;
  logger: Logger;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  computeLostAfterMissed: number;
  acceptTimeoutMs: number;
  windowBytes: number;
  maxWindowBytes: number;
  compression: CompressionCodec[];
  unlistedGraceMs: number;
  protocol: ProtocolOption;
  /** undefined = resume disabled. */
  resume: ResumePolicy | undefined;
}

export const DEFAULTS = {
  heartbeatIntervalMs: 5_000,
  heartbeatTimeoutMs: DEFAULT_HEARTBEAT_TIMEOUT_MS,
  computeLostAfterMissed: 3,
  acceptTimeoutMs: 5_000,
  windowBytes: 4 * 1024 * 1024,
  maxWindowBytes: 64 * 1024 * 1024,
  unlistedGraceMs: 1_000,
} as const;

/** 2 s, or half the interval when that is shorter (a short interval wants a short timeout). */
export const defaultHeartbeatTimeoutMs = (intervalMs: number): number =>
  Math.min(DEFAULT_HEARTBEAT_TIMEOUT_MS, Math.max(1, Math.floor(intervalMs / 2)));

/** Checks options up front: a bad value should fail at construction, not as a rejected request. */
export function resolveOptions(options: LogStreamClientOptions): ResolvedOptions {
  subjects.requesterPrefix(options.nodeId); // throws TypeError for an id that is no subject token
  const interval = integer(
    "heartbeatIntervalMs",
    options.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs,
    LIMITS.minHeartbeatIntervalMs,
    LIMITS.maxHeartbeatIntervalMs,
  );
  return {
    nodeId: options.nodeId,
    logger: options.logger ?? silentLogger,
    heartbeatIntervalMs: interval,
    // Asked for as the compute node will apply it (a larger value would be capped there in
    // silence, and the documented detection bound would be wrong): at most 0.9 × the interval.
    heartbeatTimeoutMs: integer(
      "heartbeatTimeoutMs",
      options.heartbeatTimeoutMs ?? defaultHeartbeatTimeoutMs(interval),
      1,
      maxHeartbeatTimeoutMs(interval),
    ),
    computeLostAfterMissed: integer(
      "computeLostAfterMissed",
      options.computeLostAfterMissed ?? DEFAULTS.computeLostAfterMissed,
      1,
      1_000,
    ),
    acceptTimeoutMs: integer(
      "acceptTimeoutMs",
      options.acceptTimeoutMs ?? DEFAULTS.acceptTimeoutMs,
      1,
      LIMITS.maxInt,
    ),
    windowBytes: integer(
      "windowBytes",
      options.windowBytes ?? DEFAULTS.windowBytes,
      LIMITS.minWindowBytes,
      LIMITS.maxWindowBytes,
    ),
    maxWindowBytes: integer(
      "maxWindowBytes",
      options.maxWindowBytes ?? DEFAULTS.maxWindowBytes,
      LIMITS.minWindowBytes,
      LIMITS.maxSafe,
    ),
    compression:
      options.compression === undefined || options.compression === false
        ? []
        : resolveCodecs(options.compression === true ? undefined : options.compression),
    unlistedGraceMs: integer(
      "unlistedGraceMs",
      options.unlistedGraceMs ?? DEFAULTS.unlistedGraceMs,
      0,
      LIMITS.maxInt,
    ),
    protocol: protocolOf(options.protocol),
    resume: resolveResume(options),
  };
}

function protocolOf(protocol: ProtocolOption | undefined): ProtocolOption {
  if (protocol === undefined) return "auto";
  if (!PROTOCOL_OPTIONS.includes(protocol)) {
    throw new RangeError(`protocol must be one of ${PROTOCOL_OPTIONS.join(", ")}, got ${protocol}`);
  }
  return protocol;
}

function resolveResume(options: LogStreamClientOptions): ResumePolicy | undefined {
  const lost = options.resumeAfterComputeLost;
  const afterComputeLostMs =
    lost === undefined || lost === false
      ? undefined
      : integer("resumeAfterComputeLost.forMs", lost.forMs, 1, LIMITS.maxInt);
  if (options.resume === false) {
    if (afterComputeLostMs !== undefined)
      throw new TypeError("resumeAfterComputeLost needs resume (it is false)");
    return undefined;
  }
  const r = options.resume ?? {};
  const initialBackoffMs = integer(
    "resume.initialBackoffMs",
    r.initialBackoffMs ?? RESUME_DEFAULTS.initialBackoffMs,
    0,
    LIMITS.maxInt,
  );
  return {
    maxAttempts: integer(
      "resume.maxAttempts",
      r.maxAttempts ?? RESUME_DEFAULTS.maxAttempts,
      1,
      1_000_000,
    ),
    maxElapsedMs: integer(
      "resume.maxElapsedMs",
      r.maxElapsedMs ?? RESUME_DEFAULTS.maxElapsedMs,
      1,
      LIMITS.maxInt,
    ),
    initialBackoffMs,
    maxBackoffMs: integer(
      "resume.maxBackoffMs",
      r.maxBackoffMs ?? Math.max(RESUME_DEFAULTS.maxBackoffMs, initialBackoffMs),
      initialBackoffMs,
      LIMITS.maxInt,
    ),
    afterComputeLostMs,
  };
}

export interface StreamLogsOptions {
  /**
   * The compute node that holds the execution's logs. Absent: the client's locator finds it
   * (PROTOCOL.md, "Locating executions"); exactly one compute node must hold the execution.
   */
  computeNodeId?: string | undefined;
  /** @deprecated The old name of `computeNodeId` (it always meant the remote compute node). */
  nodeId?: string | undefined;
  executionId: string;
  /** The last N lines; 0 = only lines written from now on; absent = the whole history. */
  tail?: number;
  /** Keep streaming new lines until the execution completes. */
  follow?: boolean;
  /** Only lines captured at or after this time. */
  since?: Date | number;
  /** Only these output streams; absent = both. */
  streams?: readonly LogStreamName[];
  /** Only entries with seq > fromSeq (resume after a previous stream's last delivered seq). */
  fromSeq?: number;
  /** Aborting ends the stream: iteration throws CancelledError with the signal's reason as cause. */
  signal?: AbortSignal;
}

/** The compute node a stream names (either spelling), or undefined to locate it. */
export function computeNodeOf(options: StreamLogsOptions): string | undefined {
  const { computeNodeId, nodeId } = options;
  if (computeNodeId !== undefined && nodeId !== undefined && computeNodeId !== nodeId) {
    throw new TypeError(
      `computeNodeId ${JSON.stringify(computeNodeId)} and nodeId ${JSON.stringify(nodeId)} differ: give one`,
    );
  }
  return computeNodeId ?? nodeId;
}

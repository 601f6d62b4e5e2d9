// The server's counters, the shape of its stats() snapshot and how the snapshot is taken.
import { ERROR_CODE_LIST, type ErrorCode, type ProtocolVersion } from "@tailwire/protocol";
import { END_CAUSES, type EndCause } from "./served-stream.js";
import type { StreamRegistry } from "./stream-registry.js";
import type { VersionCensus, VersionStats } from "./version-census.js";

export interface RequesterStats {
  requesterNodeId: string;
  heartbeatSubject: string;
  openStreams: number;
  /** Of those, the streams with lines ready that wait for this requester's credit. */
  waitingForCredit: number;
  /** Date.now() of the last answered heartbeat, null before the first. */
  lastHeartbeatAt: number | null;
  consecutiveFailures: number;
}

/** A snapshot: later activity never changes an object already returned. */
export interface LogStreamServerStats {
  /** Streams registered on this node (accepted, or being opened). */
  openStreams: number;
  openStreamsByRequester: Record<string, number>;
  /** Accepted streams with lines ready that wait for credit (a slow consumer, not an idle log). */
  streamsWaitingForCredit: number;
  /** Requesters with accepted streams, i.e. the ones being heartbeated. */
  requesters: RequesterStats[];
  heartbeatsSent: number;
  heartbeatsFailed: number;
  streamsEnded: Record<EndCause, number>;
  requestsRejected: Record<ErrorCode, number>;
  /** Control messages that failed validation plus cancel/credit items for unknown or foreign streams. */
  controlRejected: number;
  /** Every frame published (Accepted, Data, End, Error) and their payload bytes. */
  framesSent: number;
  bytesSent: number;
  /** Lookups (PROTOCOL.md, "Locating executions"); null when the node does not answer them. */
  locate: { subscriptions: number; answered: number; rejected: number } | null;
  /** Per wire version: requests, open streams, requester ids seen in the last hour. */
  versions: Record<ProtocolVersion, VersionStats>;
}

/** The server's running counters. */
export class Counters {
  heartbeatsSent = 0;
  heartbeatsFailed = 0;
  controlRejected = 0;
  framesSent = 0;
  bytesSent = 0;
  readonly streamsEnded = Object.fromEntries(END_CAUSES.map((c) => [c, 0])) as Record<
    EndCause,
    number
  >;
  readonly requestsRejected = Object.fromEntries(ERROR_CODE_LIST.map((c) => [c, 0])) as Record<
    ErrorCode,
    number
  >;
}

/** The server's stats() at this moment: its counters, its registry's streams and links. */
export function statsSnapshot(
  c: Counters,
  registry: StreamRegistry,
  census: VersionCensus,
  locate: LogStreamServerStats["locate"] | undefined,
): LogStreamServerStats {
  return {
    openStreams: registry.size,
    openStreamsByRequester: registry.countsByRequester(),
    streamsWaitingForCredit: registry.streams().filter((s) => s.credit.waiting).length,
    requesters: [...registry.links()].map((link) => ({
      requesterNodeId: link.requesterNodeId,
      heartbeatSubject: link.heartbeatSubject,
      openStreams: link.streams.size,
      waitingForCredit: [...link.streams.values()].filter((s) => s.credit.waiting).length,
      lastHeartbeatAt: link.lastHeartbeatAt,
      consecutiveFailures: link.consecutiveFailures,
    })),
    heartbeatsSent: c.heartbeatsSent,
    heartbeatsFailed: c.heartbeatsFailed,
    streamsEnded: { ...c.streamsEnded },
    requestsRejected: { ...c.requestsRejected },
    controlRejected: c.controlRejected,
    framesSent: c.framesSent,
    bytesSent: c.bytesSent,
    locate: locate ?? null,
    versions: census.stats(registry.streams().map((s) => s.wire.version)),
  };
}

// The server's counters and the shape of its stats() snapshot.
import { ERROR_CODE_LIST, type ErrorCode, type ProtocolVersion } from "@tailwire/protocol";
import { END_CAUSES, type EndCause } from "./served-stream.js";
import type { VersionStats } from "./version-census.js";

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

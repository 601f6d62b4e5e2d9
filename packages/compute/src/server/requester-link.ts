// One requester's heartbeat loop (RequesterLink), alive while it has accepted streams.
import { effectiveHeartbeatTimeoutMs } from "@tailwire/protocol";
import { classifyRequestError, type RequestFailure } from "./nats-errors.js";
import type { ServedStream } from "./served-stream.js";
import { WIRE_V1, type WireDialect } from "./wire-dialect.js";

/** What a requester link needs from the server. */
export interface LinkHost {
  readonly nodeId: string;
  /** A NATS request with a timeout (connection.request). */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<{ data: Uint8Array }>;
  /** The requester no longer wants these streams: stop them silently. */
  unknownToRequester(link: RequesterLink, streams: ServedStream[]): void;
  /** maxMissed heartbeats in a row failed: stop every stream of the link silently. */
  requesterLost(link: RequesterLink): void;
  heartbeatSent(): void;
  heartbeatFailed(
    link: RequesterLink,
    failure: RequestFailure | "bad_response",
    error: unknown,
  ): void;
}

export interface LinkSettings {
  defaultTimeoutMs: number;
  maxMissed: number;
}

/**
 * The heartbeat loop of one requester (sourcePeerId + heartbeat subject). It exists only while
 * the requester has accepted streams: its timer goes away with its last stream. At most one
 * heartbeat is in flight, and nothing is awaited under a shared lock, so a dead requester only
 * ever delays itself.
 */
export class RequesterLink {
  readonly key: string;
  readonly requesterNodeId: string;
  readonly heartbeatSubject: string;
  readonly streams = new Map<string, ServedStream>();
  consecutiveFailures = 0;
  lastHeartbeatAt: number | null = null;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = false;
  #closed = false;
  #beats = 0;
  readonly #host: LinkHost;
  readonly #settings: LinkSettings;

  constructor(
    key: string,
    requesterNodeId: string,
    heartbeatSubject: string,
    host: LinkHost,
    settings: LinkSettings,
    /** The wire version of this link's streams (a requester's v1 and v2 streams are two links). */
    readonly wire: WireDialect = WIRE_V1,
  ) {
    this.key = key;
    this.requesterNodeId = requesterNodeId;
    this.heartbeatSubject = heartbeatSubject;
    this.#host = host;
    this.#settings = settings;
  }

  /** The requester's interval: the shortest any of its open streams asked for. */
  get intervalMs(): number {
    let interval = Number.POSITIVE_INFINITY;
    for (const s of this.streams.values())
      interval = Math.min(interval, s.request.heartbeatIntervalMs);
    return interval;
  }

  /** The request's timeout, else ours, but always below the interval so beats never overlap. */
  get timeoutMs(): number {
    let timeout = Number.POSITIVE_INFINITY;
    for (const s of this.streams.values()) {
      timeout = Math.min(timeout, s.request.heartbeatTimeoutMs ?? this.#settings.defaultTimeoutMs);
    }
    return effectiveHeartbeatTimeoutMs(this.intervalMs, timeout);
  }

  add(stream: ServedStream): void {
    this.streams.set(stream.streamId, stream);
    this.#schedule();
  }

  /** Removes a stream; returns true when the link has no stream left (and no timer). */
  remove(stream: ServedStream): boolean {
    this.streams.delete(stream.streamId);
    if (this.streams.size === 0) this.close();
    return this.streams.size === 0;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined || this.streams.size === 0) return;
    // Jitter, never longer than the interval (the requester counts silence in intervals): a
    // requester that opens streams on thousands of nodes at once would otherwise get all their
    // heartbeats in the same instant, every interval, for as long as the streams last.
    const spread = this.#beats++ === 0 ? 0.5 : 0.1;
    this.#timer = setTimeout(() => this.#tick(), this.intervalMs * (1 - spread * Math.random()));
  }

  #tick(): void {
    this.#timer = undefined;
    if (this.#closed || this.streams.size === 0) return;
    // The next beat is timed from this one's start, so the period is the interval itself.
    this.#schedule();
    if (this.#inFlight) return;
    this.#inFlight = true;
    void this.#beat().finally(() => {
      this.#inFlight = false;
    });
  }

  async #beat(): Promise<void> {
    const host = this.#host;
    const listed = [...this.streams.values()];
    const creditWait = listed.filter((s) => s.credit.waiting).map((s) => s.streamId);
    const data = this.wire.heartbeat(
      host.nodeId,
      listed.map((s) => s.streamId),
      creditWait,
    );
    let reply: { data: Uint8Array };
    try {
      host.heartbeatSent();
      reply = await host.request(this.heartbeatSubject, data, this.timeoutMs);
    } catch (error) {
      this.#failed(classifyRequestError(error), error);
      return;
    }
    if (this.#closed) return;
    let unknown: string[];
    try {
      unknown = this.wire.unknownStreamIds(reply.data);
    } catch (error) {
      // An answer we cannot read proves nothing about the requester's streams.
      this.#failed("bad_response", error);
      return;
    }
    this.consecutiveFailures = 0;
    this.lastHeartbeatAt = Date.now();
    const unknownSet = new Set(unknown);
    // Only streams of this very heartbeat: an id reused since must not be stopped.
    const stop = listed.filter(
      (s) => unknownSet.has(s.streamId) && this.streams.get(s.streamId) === s,
    );
    if (stop.length > 0) host.unknownToRequester(this, stop);
  }

  #failed(failure: RequestFailure | "bad_response", error: unknown): void {
    if (this.#closed) return;
    this.consecutiveFailures++;
    this.#host.heartbeatFailed(this, failure, error);
    if (this.consecutiveFailures >= this.#settings.maxMissed) this.#host.requesterLost(this);
  }
}

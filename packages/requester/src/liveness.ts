// Liveness of the compute nodes this requester streams from: which node serves which live
// attempt, when each was last heard, what its heartbeats say (streams it no longer lists, ids
// a twin keeps alive), and the sweep that finds silent nodes (crediting our own stalls to them
// as no silence). It judges and returns the streams to break; the client breaks them.
import {
  ComputeNodeLostError,
  type HeartbeatRequest,
  type TailwireError,
} from "@tailwire/protocol";
import { monotonicNow, toEpochMs } from "./clock.js";
import { unknownStreamIds, unlistedGraceMs, unlistedStreams } from "./heartbeat.js";
import { NodeRegistry, type NodeStream } from "./node-registry.js";
import { DuplicateRequesterIdError, RequesterStalledError } from "./requester-errors.js";
import type { ComputeNodeStats, EndCause } from "./stats.js";
import { TwinWatch } from "./twin-watch.js";

/** Most stream ids remembered as recently ours (a burst of 10,000 ends stays bounded). */
const MAX_RECENTLY_DETACHED = 20_000;

/** What liveness needs of a stream's current attempt. */
export interface LiveStream extends NodeStream {
  readonly computeNodeId: string;
  /** Times this stream was broken because its compute node's heartbeat omitted it. */
  readonly unlistedBreaks: number;
  /** A heartbeat of its compute node omitted this stream, and it is broken for it. */
  noteUnlisted(): void;
  /** Its compute node listed it after acceptance; `waitingForCredit` as the heartbeat says. */
  listed(waitingForCredit: boolean): void;
}

/** A stream to break, and why. */
export interface Break<S> {
  stream: S;
  error: TailwireError;
  cause: EndCause;
  /** The compute node went silent (sweep): it may be dead (the resume policy asks). */
  silent?: boolean;
}

export interface LivenessOptions {
  requesterNodeId: string;
  heartbeatIntervalMs: number;
  computeLostAfterMissed: number;
  unlistedGraceMs: number;
}

export class Liveness<S extends LiveStream> {
  readonly #options: LivenessOptions;
  /** Live attempts by stream id (routing is the client's): what heartbeats list. */
  readonly #lookup: (streamId: string) => S | undefined;
  /** The sweep's findings, delivered from its timer. */
  readonly #onBreaks: (breaks: Break<S>[]) => void;
  readonly #nodes = new NodeRegistry<S>();
  #sweepTimer: NodeJS.Timeout | undefined;
  /** Monotonic time the sweep last ran (or was started): how late a run is tells a stall. */
  #lastSweepAt = 0;
  /** The previous sweep ran late and did not judge: the next one judges, however late. */
  #sweepDeferred = false;
  /** Our last stall long enough to miss a heartbeat: when it ended and how long it lasted. */
  #lastStall: { endedAt: number; ms: number } | undefined;
  /** Heartbeats listing streams we never opened: how another requester with our id shows. */
  readonly #twins = new TwinWatch();
  /** Stream ids untracked in the last few heartbeat intervals, oldest first (see untrack). */
  readonly #recentlyDetached = new Map<string, number>();
  /** Our own connection is down: silence from compute nodes is then not their fault. */
  #disconnected = false;

  constructor(
    options: LivenessOptions,
    lookup: (streamId: string) => S | undefined,
    onBreaks: (breaks: Break<S>[]) => void,
  ) {
    this.#options = options;
    this.#lookup = lookup;
    this.#onBreaks = onBreaks;
  }

  /** A live attempt of the stream was sent to its compute node. */
  track(stream: S): void {
    this.#nodes.add(stream.computeNodeId, stream);
    this.#startSweep();
  }

  /** The stream's attempt `streamId` is no longer routed (ended, or moved on). */
  untrack(stream: S, streamId: string): void {
    this.#noteDetached(streamId);
    this.#nodes.remove(stream.computeNodeId, stream);
    if (this.#nodes.size === 0) this.#stopSweep();
  }

  /** A frame or heartbeat arrived from the node. */
  heard(computeNodeId: string, at: number): void {
    this.#nodes.heard(computeNodeId, at);
  }

  /** One of the node's streams was accepted (it is now one the node can be lost with). */
  accepted(computeNodeId: string, at: number): void {
    this.#nodes.accepted(computeNodeId, at);
  }

  /** Our connection dropped: nobody can be heard until it is back. */
  disconnected(): void {
    this.#disconnected = true;
  }

  /** Our connection is back: our outage is not the compute nodes' silence. */
  reconnected(now: number): void {
    this.#disconnected = false;
    this.#nodes.restartClocks(now);
  }

  stop(): void {
    this.#stopSweep();
  }

  computeNodes(): ComputeNodeStats[] {
    const out: ComputeNodeStats[] = [];
    for (const record of this.#nodes.values()) {
      out.push({
        nodeId: record.nodeId,
        openStreams: record.streams.size,
        lastHeardAt: record.lastHeardAt === undefined ? null : toEpochMs(record.lastHeardAt),
      });
    }
    return out;
  }

  /**
   * Judges a heartbeat: `unknown` are the ids to answer as unknown (the node should stop
   * them), `breaks` the streams to break (a twin keeps foreign ids alive, or the node no
   * longer lists a stream). The client answers first, then breaks.
   */
  /**
   * `speaksFor`: the node's streams this heartbeat may judge (a v2 heartbeat speaks only for the
   * v2 streams of the node its subject names, a v1 heartbeat only for its v1 streams).
   */
  heartbeat(
    heartbeat: HeartbeatRequest,
    now: number,
    speaksFor: (stream: S) => boolean = () => true,
  ): { unknown: string[]; breaks: Break<S>[] } {
    const node = heartbeat.computeNodeId;
    this.#nodes.heard(node, now);
    const waiting = new Set(heartbeat.creditWait);
    for (const id of heartbeat.streamIds) {
      // Listed by its compute node after acceptance: the stream is healthy end to end, so a
      // later failure starts a fresh resume budget.
      const stream = this.#lookup(id);
      if (stream?.computeNodeId === node && stream.acceptedAt !== undefined) {
        stream.listed(waiting.has(id));
      }
    }
    const unknown = unknownStreamIds(heartbeat, this.#lookup);
    // Ids we ended or moved on from a moment ago are ours, not a twin's: a heartbeat composed
    // before our cancel arrived lists them, legitimately.
    const foreign = unknown.filter((id) => !this.#recentlyDetached.has(id));
    const repeated = this.#twins.heartbeat(node, foreign, now);
    const record = this.#nodes.get(node);
    const breaks: Break<S>[] = [];
    if (!record) return { unknown, breaks };
    if (repeated) {
      // A stream we answered as unknown is still listed: another requester answering under
      // our id keeps it alive, and its answers drop ours. Say so now, for every stream here.
      for (const stream of record.streams) {
        if (stream.acceptedAt === undefined || !speaksFor(stream)) continue;
        breaks.push({
          stream,
          error: this.#twinError(stream, "a stream it never opened stayed listed after it said so"),
          cause: "error",
        });
      }
      return { unknown, breaks };
    }
    const { unlistedGraceMs: graceMs, heartbeatIntervalMs } = this.#options;
    const graceOf = (stream: S) =>
      unlistedGraceMs(graceMs, heartbeatIntervalMs, stream.unlistedBreaks);
    // An unlisted stream is resumed as the node's loss, even right after the node listed ids we
    // never opened: that alone also happens after our own restart under this id, and blaming a
    // twin for it ended healthy streams. A real twin is told by its ids staying listed (above).
    for (const stream of unlistedStreams(record, heartbeat, now, graceOf)) {
      if (!speaksFor(stream)) continue;
      stream.noteUnlisted();
      breaks.push({
        stream,
        error: new ComputeNodeLostError(
          `compute node ${stream.computeNodeId} no longer serves stream ${stream.streamId}`,
        ),
        cause: "compute_node_lost",
      });
    }
    return { unknown, breaks };
  }

  #twinError(stream: S, evidence: string): DuplicateRequesterIdError {
    return new DuplicateRequesterIdError(
      this.#options.requesterNodeId,
      stream.computeNodeId,
      `compute node ${stream.computeNodeId} (stream ${stream.streamId}): ${evidence}`,
    );
  }

  /** Remembers an id we stopped routing, for a few intervals (bounded, oldest dropped first). */
  #noteDetached(streamId: string): void {
    const now = monotonicNow();
    const horizon = now - 3 * this.#options.heartbeatIntervalMs;
    for (const [id, at] of this.#recentlyDetached) {
      if (at >= horizon && this.#recentlyDetached.size < MAX_RECENTLY_DETACHED) break;
      this.#recentlyDetached.delete(id);
    }
    this.#recentlyDetached.set(streamId, now);
  }

  #startSweep(): void {
    if (this.#sweepTimer !== undefined) return;
    const { heartbeatIntervalMs, computeLostAfterMissed } = this.#options;
    const silentMs = heartbeatIntervalMs * computeLostAfterMissed;
    // A quarter interval bounds the detection delay to silentMs + interval/4.
    const periodMs = Math.max(5, Math.floor(heartbeatIntervalMs / 4));
    this.#lastSweepAt = monotonicNow();
    this.#sweepDeferred = false;
    this.#sweepTimer = setInterval(() => {
      const breaks = this.#sweep(silentMs, periodMs);
      if (breaks.length > 0) this.#onBreaks(breaks);
    }, periodMs);
  }

  #stopSweep(): void {
    if (this.#sweepTimer === undefined) return;
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  #sweep(silentMs: number, periodMs: number): Break<S>[] {
    const now = monotonicNow();
    const lateMs = now - this.#lastSweepAt - periodMs;
    this.#lastSweepAt = now;
    // Our own connection is down: nobody can be heard, which says nothing about the nodes.
    if (this.#disconnected) return [];
    const { heartbeatIntervalMs } = this.#options;
    if (lateMs > periodMs) {
      // We ran late: this process itself was stalled (SIGSTOP, a long GC pause, a laptop
      // asleep). Whatever the compute nodes sent meanwhile is still unread in the socket, and
      // this overdue timer fires before the poll phase reads it: judging now would blame our
      // stall on nodes that kept serving us. So the stall does not count as their silence:
      // credit it to every node's last-heard time (one pass over the nodes, only on late runs)
      // and judge on the next run, once the socket was read. Capped at now, so that a node
      // heard after the thaw is not pushed into the future: a dead node is still detected at
      // most one window after the thaw.
      this.#nodes.creditStall(lateMs, now);
      // Long enough for a heartbeat to go unanswered (a compute node gives a requester up after
      // 2 by default, the second one interval and a timeout after the first): remembered, so that
      // a silence that starts here is reported as our stall first.
      if (lateMs >= heartbeatIntervalMs) {
        this.#lastStall = { endedAt: now, ms: Math.round(lateMs) };
      }
      // An event loop late on every run (sustained overload) must not defer judgement forever:
      // at most every other run is skipped. The credit alone keeps the lag out of the silence.
      if (!this.#sweepDeferred) {
        this.#sweepDeferred = true;
        return [];
      }
    }
    this.#sweepDeferred = false;
    const breaks: Break<S>[] = [];
    for (const record of this.#nodes.silent(now, silentMs)) {
      const silentFor = Math.round(now - (record.lastHeardAt ?? now));
      // Silent since our own stall ended (what it sent during the stall is read at the thaw,
      // hence the half interval): it most likely gave us up meanwhile (requester_lost).
      const stall = this.#lastStall;
      const ourStall =
        stall !== undefined &&
        record.lastHeardAt !== undefined &&
        record.lastHeardAt <= stall.endedAt + heartbeatIntervalMs / 2;
      // Silent soon after listing streams we never opened: a twin's answers dropped ours, and
      // with none left for this id the node stopped heartbeating it.
      const twin = this.#twins.foreignSince(
        record.nodeId,
        (record.lastHeardAt ?? now) - 2 * heartbeatIntervalMs,
      );
      for (const stream of record.streams) {
        if (stream.acceptedAt === undefined) continue; // pending: the accept timeout decides
        if (ourStall) {
          breaks.push({
            stream,
            error: new RequesterStalledError(record.nodeId, stall.ms, silentFor),
            cause: "error",
          });
        } else if (twin) {
          breaks.push({
            stream,
            error: this.#twinError(
              stream,
              `it went silent (${silentFor} ms) right after listing streams it never opened: it stops heartbeating a requester id once a twin's answers dropped all of its streams`,
            ),
            cause: "error",
          });
        } else {
          breaks.push({
            stream,
            error: new ComputeNodeLostError(
              `compute node ${record.nodeId} silent for ${silentFor} ms`,
            ),
            cause: "compute_node_lost",
            silent: true,
          });
        }
      }
    }
    return breaks;
  }
}

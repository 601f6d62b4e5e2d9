import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  AcceptTimeoutError,
  BadRequestError,
  CancelledError,
  ComputeNodeLostError,
  decodeFrame,
  decodeHeartbeat,
  encode,
  InternalError,
  isExecutionId,
  isJobId,
  LIMITS,
  type LogRequest,
  MessageType,
  NodeUnreachableError,
  newStreamId,
  ProtocolError,
  ResumeExhaustedError,
  SequenceGapError,
  streamIdOfInbox,
  subjects,
  TailwireError,
  tryDecode,
} from "@tailwire/protocol";
import { type ConnectionStatusWatch, watchConnectionStatus } from "@tailwire/protocol/internal";
import { Attempt } from "./attempt.js";
import { monotonicNow, toEpochMs } from "./clock.js";
import { ControlPublisher } from "./control-publisher.js";
import { type ExecutionLocator, NatsExecutionLocator } from "./execution-locator.js";
import { unknownStreamIds, unlistedGraceMs, unlistedStreams } from "./heartbeat.js";
import { JobLogStream, type StreamJobLogsOptions } from "./job-log-stream.js";
import { LocatedLogStream } from "./located-stream.js";
import { ClientStream, type LogStream, type StreamOwner } from "./log-stream.js";
import { NodeRegistry } from "./node-registry.js";
import { MAX_BUFFERED_NOTICES } from "./notices.js";
import {
  computeNodeOf,
  type LogStreamClientOptions,
  type ReadOptions,
  type ResolvedOptions,
  readOptionsOf,
  resolveOptions,
  type StreamLogsOptions,
} from "./options.js";
import { DuplicateRequesterIdError, RequesterStalledError } from "./requester-errors.js";
import { ResumeBudget } from "./resume-policy.js";
import { END_CAUSES, type EndCause, type LogStreamClientStats } from "./stats.js";
import { TwinWatch } from "./twin-watch.js";

/** Most stream ids remembered as recently ours (a burst of 10,000 ends stays bounded). */
const MAX_RECENTLY_DETACHED = 20_000;

/** NATS status code of the "no responders" message the server sends on a request's reply subject. */
const NO_RESPONDERS = 503;

/** What a failure means beyond its error. */
interface BreakFlags {
  /** The compute node went silent (sweep): it may be dead. */
  silent?: boolean;
}

interface EndOptions {
  /** Drop entries the consumer has not taken yet (it asked to stop). */
  discard: boolean;
  /** Tell the compute node to stop: false when it ended the stream itself or never had it. */
  notifyCompute: boolean;
}

/**
 * The requester side of ExecutionLogs/v1. One instance per requester node id: it owns the two
 * subscriptions every stream shares (frames, heartbeats), the per-compute-node liveness records
 * and the sweep timer. See PROTOCOL.md for the contract and README.md for the decisions.
 */
export class LogStreamClient {
  readonly #nc: NatsConnection;
  readonly #options: ResolvedOptions;
  /** Live attempts by their stream id: what frames and heartbeats are routed by. */
  readonly #streams = new Map<string, ClientStream>();
  /** Every stream not ended, including those waiting to resume (no live attempt). */
  readonly #open = new Set<ClientStream>();
  readonly #nodes = new NodeRegistry<ClientStream>();
  readonly #control: ControlPublisher;
  #locator: ExecutionLocator | undefined;
  /** The locator this client made itself (closed with it). */
  #ownLocator: NatsExecutionLocator | undefined;
  readonly #owner: StreamOwner;
  readonly #frameSub: Subscription;
  readonly #heartbeatSub: Subscription;
  #sweepTimer: NodeJS.Timeout | undefined;
  /** Monotonic time the sweep last ran (or was started): how late a run is tells a stall. */
  #lastSweepAt = 0;
  /** The previous sweep ran late and did not judge: the next one judges, however late. */
  #sweepDeferred = false;
  /** Our last stall long enough to miss a heartbeat: when it ended and how long it lasted. */
  #lastStall: { endedAt: number; ms: number } | undefined;
  /** Heartbeats listing streams we never opened: how another requester with our id shows. */
  readonly #twins = new TwinWatch();
  /** Stream ids detached in the last few heartbeat intervals, oldest first (see #noteDetached). */
  readonly #recentlyDetached = new Map<string, number>();
  #closed = false;
  /** Our own connection is down: silence from compute nodes is then not their fault. */
  #disconnected = false;
  #status: ConnectionStatusWatch | undefined;
  readonly #counters = {
    heartbeatsAnswered: 0,
    heartbeatsRejected: 0,
    framesReceived: 0,
    framesRejected: 0,
    framesIgnored: 0,
    creditsSent: 0,
    resumeAttempts: 0,
    resumesExhausted: 0,
  };
  readonly #ended = Object.fromEntries(END_CAUSES.map((cause) => [cause, 0])) as Record<
    EndCause,
    number
  >;

  constructor(options: LogStreamClientOptions) {
    this.#options = resolveOptions(options);
    this.#nc = options.connection;
    this.#locator = options.locator;
    this.#control = new ControlPublisher(this.#nc, this.#options.nodeId, this.#options.logger);
    this.#owner = {
      released: (stream, bytes) => this.#released(stream, bytes),
      cancelledByConsumer: (stream) =>
        this.#end(stream, "cancelled", undefined, { discard: true, notifyCompute: true }),
    };
    // One subscription for all streams and one for heartbeats, whatever the number of streams.
    // Their callbacks only decode, enqueue and wake: a slow consumer never stalls other streams.
    this.#frameSub = this.#nc.subscribe(subjects.streamInboxWildcard(this.#options.nodeId), {
      callback: (err, msg) => this.#guard("frame", err, msg, (m) => this.#onFrame(m)),
    });
    this.#heartbeatSub = this.#nc.subscribe(subjects.heartbeat(this.#options.nodeId), {
      callback: (err, msg) => this.#guard("heartbeat", err, msg, (m) => this.#onHeartbeat(m)),
    });
    for (const sub of [this.#frameSub, this.#heartbeatSub]) {
      void sub.closed.then((reason) =>
        this.#onSubscriptionClosed(reason instanceof Error ? reason : undefined),
      );
    }
    this.#watchStatus();
  }

  get nodeId(): string {
    return this.#options.nodeId;
  }

  /**
   * Opens a stream of one execution's log from a compute node. Invalid options throw here
   * (TypeError, RangeError or BadRequestError); everything that happens on the wire surfaces
   * through the returned stream.
   */
  streamLogs(options: StreamLogsOptions): LogStream {
    if (this.#closed) throw new CancelledError("the LogStreamClient is closed");
    const computeNodeId = computeNodeOf(options);
    if (computeNodeId === undefined) {
      if (!isExecutionId(options.executionId))
        throw new BadRequestError(`invalid execution id ${JSON.stringify(options.executionId)}`);
      const { signal, ...rest } = options;
      return new LocatedLogStream(
        options.executionId,
        this.locator,
        // Once located, the ordinary stream answers the signal itself.
        (located) =>
          this.streamLogs({
            ...rest,
            computeNodeId: located,
            nodeId: undefined,
            ...(signal ? { signal } : {}),
          }),
        signal,
      );
    }
    const read = readOptionsOf(options, computeNodeId);
    const window = this.#options.windowBytes;
    const attempt = new Attempt(newStreamId(), read.nodeId, window, window);
    // Encode before registering anything: invalid options must leave no state behind.
    const payload = encode(this.#requestFor(read, attempt.streamId, undefined, window));
    const stream = new ClientStream(
      read,
      attempt,
      this.#owner,
      new ResumeBudget(this.#options.resume),
    );
    const signal = options.signal;
    if (signal?.aborted) {
      // Nothing was sent, so there is nothing to cancel on the wire.
      const error = abortError(signal);
      attempt.detached = true;
      stream.finish("cancelled", error, true);
      this.#countEnd(stream, "cancelled", error);
      return stream;
    }
    this.#open.add(stream);
    if (signal) {
      const onAbort = () =>
        this.#end(stream, "cancelled", abortError(signal), { discard: true, notifyCompute: true });
      signal.addEventListener("abort", onAbort, { once: true });
      stream.detachSignal = () => signal.removeEventListener("abort", onAbort);
    }
    this.#startAttempt(stream, payload);
    return stream;
  }

  /**
   * Streams every execution of a job from every compute node that holds one, merged in
   * capture-time order (see StreamJobLogsOptions for what order is guaranteed), with
   * "started" / "ended" items per execution. While following, executions that start later
   * join; one execution's failure is reported for it and the others go on.
   */
  streamJobLogs(options: StreamJobLogsOptions): JobLogStream {
    if (this.#closed) throw new CancelledError("the LogStreamClient is closed");
    if (!isJobId(options.jobId))
      throw new BadRequestError(`invalid job id ${JSON.stringify(options.jobId)}`);
    return new JobLogStream(
      { locator: this.locator, streamLogs: (o) => this.streamLogs(o) },
      options,
    );
  }

  /** Where executions are looked up: the `locator` option, else one over this connection. */
  get locator(): ExecutionLocator {
    if (!this.#locator) {
      const own = new NatsExecutionLocator({
        connection: this.#nc,
        requesterNodeId: this.#options.nodeId,
        logger: this.#options.logger,
      });
      this.#ownLocator = own;
      this.#locator = own;
    }
    return this.#locator;
  }

  /**
   * Cancels every open stream (one control message per compute node) and ends their iterators
   * with CancelledError: unlike cancel(), whoever closes the client is usually not the
   * consumer, and a quiet end would look like a complete log. Unsubscribes and stops all timers.
   * Resolves once the cancels were flushed to the server (best effort). The connection stays open.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#endAll(
      "cancelled",
      () => new CancelledError("the LogStreamClient was closed"),
      true,
      true,
    );
    this.#control.flush();
    this.#stopSweep();
    this.#status?.stop?.();
    this.#ownLocator?.close();
    for (const sub of [this.#frameSub, this.#heartbeatSub]) {
      try {
        sub.unsubscribe();
      } catch {
        // The connection is already closed: nothing left to unsubscribe from.
      }
    }
    try {
      await this.#nc.flush();
    } catch {
      // Closed connection: the compute nodes learn through failed heartbeats instead.
    }
  }

  stats(): LogStreamClientStats {
    const computeNodes = [];
    for (const record of this.#nodes.values()) {
      computeNodes.push({
        nodeId: record.nodeId,
        openStreams: record.streams.size,
        lastHeardAt: record.lastHeardAt === undefined ? null : toEpochMs(record.lastHeardAt),
      });
    }
    let waiting = 0;
    for (const stream of this.#open) if (stream.waitingForCredit) waiting++;
    return {
      openStreams: this.#open.size,
      streamsWaitingForCredit: waiting,
      computeNodes,
      ...this.#counters,
      streamsEnded: { ...this.#ended },
    };
  }

  // --- requests ---

  /** The request for one attempt: a resume asks for seq > resumeFrom, everything else as before. */
  #requestFor(
    read: ReadOptions,
    streamId: string,
    resumeFrom: number | undefined,
    window: number,
  ): LogRequest {
    const o = this.#options;
    const request: LogRequest = {
      type: MessageType.Request,
      sourcePeerId: o.nodeId,
      targetPeerId: read.nodeId,
      executionId: read.executionId,
      streamId,
      follow: read.follow,
      heartbeatSubject: subjects.heartbeat(o.nodeId),
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      heartbeatTimeoutMs: o.heartbeatTimeoutMs,
      window,
      // Retention: lines the compute node removed come as a typed notice (see notices.ts).
      notices: ["removed"],
    };
    if (resumeFrom !== undefined) request.fromSeq = resumeFrom;
    else {
      if (read.tail !== undefined) request.tail = read.tail;
      if (read.fromSeq !== undefined) request.fromSeq = read.fromSeq;
    }
    if (read.since !== undefined) request.since = read.since;
    if (read.streams !== undefined) request.streams = read.streams;
    return request;
  }

  /** Registers the stream's current attempt and sends its request: also the entry point of a resume. */
  #startAttempt(stream: ClientStream, payload: Uint8Array): void {
    const attempt = stream.attempt;
    this.#streams.set(attempt.streamId, stream);
    this.#nodes.add(stream.nodeId, stream);
    this.#startSweep();
    attempt.acceptTimer = setTimeout(() => {
      attempt.acceptTimer = undefined;
      this.#broken(
        stream,
        new AcceptTimeoutError(
          `compute node ${stream.nodeId} did not accept within ${this.#options.acceptTimeoutMs} ms`,
        ),
        "error",
      );
    }, this.#options.acceptTimeoutMs);
    try {
      this.#nc.publish(subjects.request(stream.nodeId), payload, {
        reply: subjects.streamInbox(this.#options.nodeId, attempt.streamId),
      });
    } catch (error) {
      this.#broken(
        stream,
        new InternalError("could not publish the request", { cause: error }),
        "error",
      );
    }
  }

  // --- frames ---

  #onFrame(msg: Msg): void {
    this.#counters.framesReceived++;
    const stream = this.#streams.get(streamIdOfInbox(msg.subject));
    if (!stream) {
      // Late frames of a stream that already ended, or a stranger's: nothing to do but count.
      this.#counters.framesIgnored++;
      return;
    }
    const status = msg.headers?.code ?? 0;
    // "No responders" answers a request: once the stream is accepted, a 503 on its inbox is
    // someone else's request that named this inbox, not news about this stream.
    if (status === NO_RESPONDERS && stream.attempt.reader.accepted) {
      this.#counters.framesIgnored++;
      return;
    }
    if (status === NO_RESPONDERS) {
      this.#broken(
        stream,
        new NodeUnreachableError(
          `no compute node is subscribed to ${subjects.request(stream.nodeId)}`,
        ),
        "error",
        false,
      );
      return;
    }
    if (status !== 0) {
      this.#reject(
        stream,
        new ProtocolError(`unexpected NATS status ${msg.headers?.status} on the stream inbox`),
      );
      return;
    }
    const decoded = tryDecode(decodeFrame, msg.data);
    if (!decoded.ok) {
      this.#reject(
        stream,
        new ProtocolError(`invalid frame: ${decoded.error.message}`, { cause: decoded.error }),
      );
      return;
    }
    const attempt = stream.attempt;
    const bytes = msg.data.byteLength;
    if (decoded.value.type === MessageType.Data) {
      // Before Accepted the frame reader reports the gap; after it, the stated size is a bound.
      if (attempt.maxFrameBytes > 0 && bytes > attempt.maxFrameBytes) {
        this.#reject(
          stream,
          new ProtocolError(
            `a data frame of ${bytes} bytes exceeds the stream's maxFrameBytes ${attempt.maxFrameBytes}`,
          ),
        );
        return;
      }
      // Enforced, not just trusted: the window is what bounds this stream's memory.
      attempt.receivedBytes += bytes;
      if (attempt.receivedBytes > attempt.window + attempt.grantedBytes) {
        this.#reject(
          stream,
          new ProtocolError("the compute node sent more data than its credit allows"),
        );
        return;
      }
    }
    let outcome: ReturnType<typeof attempt.reader.read>;
    try {
      outcome = attempt.reader.read(decoded.value);
    } catch (error) {
      this.#reject(stream, asTailwireError(error));
      return;
    }
    if (outcome.kind === "ignored") {
      this.#counters.framesIgnored++;
      this.#options.logger.debug(
        { streamId: attempt.streamId, reason: outcome.reason },
        "frame ignored",
      );
      return;
    }
    const now = monotonicNow();
    this.#nodes.heard(stream.nodeId, now);
    switch (outcome.kind) {
      case "accepted": {
        attempt.clearAcceptTimer();
        attempt.acceptedAt = now;
        this.#nodes.accepted(stream.nodeId, now);
        const from = attempt.resumeFrom;
        const after = outcome.frame.afterSeq;
        if (from !== undefined && after !== from) {
          if (after > from) {
            // The store no longer holds what we missed: resuming would hand the consumer a gap.
            this.#end(
              stream,
              "error",
              new SequenceGapError(
                `resumed after seq ${from}, but compute node ${stream.nodeId} serves only entries after ${after}: ${after - from} entries are no longer in its log store`,
                { retryable: false },
              ),
              { discard: false, notifyCompute: true },
            );
          } else {
            this.#reject(
              stream,
              new ProtocolError(`asked for entries after seq ${from}, accepted after ${after}`),
            );
          }
          return;
        }
        attempt.maxFrameBytes = outcome.frame.maxFrameBytes;
        attempt.credit.fitFrames(outcome.frame.maxFrameBytes);
        stream.markAccepted(outcome.frame, now);
        break;
      }
      case "data":
        if (outcome.entries.length === 0) {
          // Only pieces of a partial line: the reader holds them, so grant the bytes back now,
          // or a line longer than the window would stall the stream forever.
          this.#released(stream, bytes);
        } else {
          stream.budget.progress();
          stream.push(outcome.entries, bytes);
        }
        break;
      case "notice":
        stream.budget.progress();
        stream.pushNotice(outcome.notice);
        // Notices take no credit: a compute node may not pile up more than this unread.
        if (stream.bufferedNotices > MAX_BUFFERED_NOTICES) {
          this.#reject(
            stream,
            new ProtocolError(
              `the compute node sent more than ${MAX_BUFFERED_NOTICES} removal notices the consumer has not taken`,
            ),
          );
        }
        break;
      case "end":
        stream.setExitCode(outcome.frame.exitCode);
        this.#end(stream, "completed", undefined, { discard: false, notifyCompute: false });
        break;
      case "error":
        this.#broken(stream, outcome.error, "error", false);
        break;
    }
  }

  #reject(stream: ClientStream, error: TailwireError): void {
    this.#counters.framesRejected++;
    this.#broken(stream, error, "protocol_error");
  }

  /** Credit back what the consumer took; nothing once the stream is over. */
  #released(stream: ClientStream, bytes: number): void {
    // While a resume is pending there is no attempt to credit: the next request's window
    // accounts for what is still buffered instead.
    if (stream.ended || stream.attempt.detached) return;
    const grant = stream.attempt.credit.consumed(bytes);
    if (grant > 0) {
      stream.attempt.grantedBytes += grant;
      this.#control.credit(stream.nodeId, stream.streamId, grant);
      this.#counters.creditsSent++;
    }
  }

  // --- heartbeats and liveness ---

  #onHeartbeat(msg: Msg): void {
    const decoded = tryDecode(decodeHeartbeat, msg.data);
    if (!decoded.ok) {
      this.#counters.heartbeatsRejected++;
      this.#options.logger.warn({ err: decoded.error }, "rejected a heartbeat");
      return;
    }
    const heartbeat = decoded.value;
    const now = monotonicNow();
    this.#nodes.heard(heartbeat.computeNodeId, now);
    const waiting = new Set(heartbeat.creditWait);
    for (const id of heartbeat.streamIds) {
      // Listed by its compute node after acceptance: the stream is healthy end to end, so a
      // later failure starts a fresh resume budget.
      const stream = this.#streams.get(id);
      if (stream?.nodeId === heartbeat.computeNodeId && stream.acceptedAt !== undefined) {
        stream.budget.progress();
        stream.noteCreditWait(waiting.has(id));
      }
    }
    const unknown = unknownStreamIds(heartbeat, (id) => this.#streams.get(id));
    if (msg.reply) {
      msg.respond(
        encode({
          type: MessageType.HeartbeatResponse,
          requesterNodeId: this.#options.nodeId,
          unknownStreamIds: unknown,
        }),
      );
      this.#counters.heartbeatsAnswered++;
    }
    // Ids we ended or moved on from a moment ago are ours, not a twin's: a heartbeat composed
    // before our cancel arrived lists them, legitimately.
    const foreign = unknown.filter((id) => !this.#recentlyDetached.has(id));
    const repeated = this.#twins.heartbeat(heartbeat.computeNodeId, foreign, now);
    const record = this.#nodes.get(heartbeat.computeNodeId);
    if (!record) return;
    const { unlistedGraceMs: graceMs, heartbeatIntervalMs } = this.#options;
    if (repeated) {
      // A stream we answered as unknown is still listed: another requester answering under
      // our id keeps it alive, and its answers drop ours. Say so now, for every stream here.
      for (const stream of [...record.streams]) {
        if (stream.acceptedAt === undefined) continue;
        this.#broken(
          stream,
          this.#twinError(stream, "a stream it never opened stayed listed after it said so"),
          "error",
        );
      }
      return;
    }
    const graceOf = (stream: ClientStream) =>
      unlistedGraceMs(graceMs, heartbeatIntervalMs, stream.unlistedBreaks);
    // An unlisted stream is resumed as the node's loss, even right after the node listed ids we
    // never opened: that alone also happens after our own restart under this id, and blaming a
    // twin for it ended healthy streams. A real twin is told by its ids staying listed (above).
    for (const stream of unlistedStreams(record, heartbeat, now, graceOf)) {
      stream.noteUnlisted();
      this.#broken(
        stream,
        new ComputeNodeLostError(
          `compute node ${stream.nodeId} no longer serves stream ${stream.streamId}`,
        ),
        "compute_node_lost",
      );
    }
  }

  #twinError(stream: ClientStream, evidence: string): DuplicateRequesterIdError {
    return new DuplicateRequesterIdError(
      this.#options.nodeId,
      stream.nodeId,
      `compute node ${stream.nodeId} (stream ${stream.streamId}): ${evidence}`,
    );
  }

  #startSweep(): void {
    if (this.#sweepTimer !== undefined) return;
    const { heartbeatIntervalMs, computeLostAfterMissed } = this.#options;
    const silentMs = heartbeatIntervalMs * computeLostAfterMissed;
    // A quarter interval bounds the detection delay to silentMs + interval/4.
    const periodMs = Math.max(5, Math.floor(heartbeatIntervalMs / 4));
    this.#lastSweepAt = monotonicNow();
    this.#sweepDeferred = false;
    this.#sweepTimer = setInterval(() => this.#sweep(silentMs, periodMs), periodMs);
  }

  #stopSweep(): void {
    if (this.#sweepTimer === undefined) return;
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  #sweep(silentMs: number, periodMs: number): void {
    const now = monotonicNow();
    const lateMs = now - this.#lastSweepAt - periodMs;
    this.#lastSweepAt = now;
    // Our own connection is down: nobody can be heard, which says nothing about the nodes.
    if (this.#disconnected) return;
    if (lateMs > periodMs) {
      // We ran late: this process itself was stalled (SIGSTOP, a long GC pause, a laptop
      // asleep). Whatever the compute nodes sent meanwhile is still unread in the socket, and
      // this overdue timer fires before the poll phase reads it: judging now would blame our
      // stall on nodes that kept serving us. So the stall does not count as their silence:
      // credit it to every node's last-heard time (one pass over the nodes, only on late runs)
      // and judge on the next run, once the socket was read. Capped at now, so that a node
      // heard after the thaw is not pushed into the future: a dead node is still detected at
      // most one window after the thaw.
      for (const record of this.#nodes.values()) {
        if (record.lastHeardAt !== undefined) {
          record.lastHeardAt = Math.min(now, record.lastHeardAt + lateMs);
        }
      }
      // Long enough for a heartbeat to go unanswered (a compute node gives a requester up after
      // 2 by default, the second one interval and a timeout after the first): remembered, so that
      // a silence that starts here is reported as our stall first.
      if (lateMs >= this.#options.heartbeatIntervalMs) {
        this.#lastStall = { endedAt: now, ms: Math.round(lateMs) };
      }
      // An event loop late on every run (sustained overload) must not defer judgement forever:
      // at most every other run is skipped. The credit alone keeps the lag out of the silence.
      if (!this.#sweepDeferred) {
        this.#sweepDeferred = true;
        return;
      }
    }
    this.#sweepDeferred = false;
    for (const record of this.#nodes.silent(now, silentMs)) {
      const silentFor = Math.round(now - (record.lastHeardAt ?? now));
      // Silent since our own stall ended (what it sent during the stall is read at the thaw,
      // hence the half interval): it most likely gave us up meanwhile (requester_lost).
      const stall = this.#lastStall;
      const ourStall =
        stall !== undefined &&
        record.lastHeardAt !== undefined &&
        record.lastHeardAt <= stall.endedAt + this.#options.heartbeatIntervalMs / 2;
      // Silent soon after listing streams we never opened: a twin's answers dropped ours, and
      // with none left for this id the node stopped heartbeating it.
      const twin = this.#twins.foreignSince(
        record.nodeId,
        (record.lastHeardAt ?? now) - 2 * this.#options.heartbeatIntervalMs,
      );
      for (const stream of [...record.streams]) {
        if (stream.acceptedAt === undefined) continue; // pending: the accept timeout decides
        if (ourStall) {
          this.#broken(
            stream,
            new RequesterStalledError(record.nodeId, stall.ms, silentFor),
            "error",
          );
          continue;
        }
        if (twin) {
          this.#broken(
            stream,
            this.#twinError(
              stream,
              `it went silent (${silentFor} ms) right after listing streams it never opened: it stops heartbeating a requester id once a twin's answers dropped all of its streams`,
            ),
            "error",
          );
          continue;
        }
        this.#broken(
          stream,
          new ComputeNodeLostError(`compute node ${record.nodeId} silent for ${silentFor} ms`),
          "compute_node_lost",
          true,
          { silent: true },
        );
      }
    }
  }

  // --- ending streams ---

  /**
   * A stream broke (error frame, protocol violation, timeout, lost stream, reconnect). Every
   * failure passes here: the stream's resume budget decides between a new attempt (after a
   * backoff, fromSeq = the last seq received) and the end of the stream. `cause` is the end
   * cause if it ends; `notifyCompute` false when the compute node ended the attempt itself.
   */
  #broken(
    stream: ClientStream,
    error: TailwireError,
    cause: EndCause,
    notifyCompute = true,
    flags: BreakFlags = {},
  ): void {
    if (stream.ended) return;
    const decision = stream.budget.decide(error, {
      now: monotonicNow(),
      attempts: stream.attempts,
      silent: flags.silent === true,
    });
    if (decision.action === "end") {
      let final = decision.error;
      if (decision.exhausted) {
        this.#counters.resumesExhausted++;
        const lastSeq = stream.receivedSeq;
        final = new ResumeExhaustedError(
          `log stream of execution ${stream.executionId} from compute node ${stream.nodeId} could not be resumed (${decision.attempts} attempts in ${Math.round(decision.elapsedMs)} ms); last sequence delivered: ${lastSeq ?? "none"}; last error: ${error.code}: ${error.message}`,
          { lastSeq, attempts: decision.attempts, cause: error },
        );
      }
      this.#end(stream, cause, final, { discard: false, notifyCompute });
      return;
    }
    const old = stream.attempt.streamId;
    this.#detach(stream, notifyCompute);
    this.#options.logger.info(
      {
        streamId: old,
        computeNodeId: stream.nodeId,
        executionId: stream.executionId,
        code: error.code,
        reason: error.message,
        resumeFrom: stream.receivedSeq,
        attempt: decision.attempt,
        delayMs: decision.delayMs,
      },
      "log stream broke: resuming",
    );
    stream.resumeTimer = setTimeout(() => {
      stream.resumeTimer = undefined;
      this.#resume(stream);
    }, decision.delayMs);
  }

  /** Starts the next attempt of a stream whose previous one was detached. */
  #resume(stream: ClientStream): void {
    if (stream.ended) return;
    const resumeFrom = stream.receivedSeq;
    // Buffered entries of earlier attempts still count against the window: memory stays bounded
    // by windowBytes across attempts (their bytes are credited to this attempt once consumed).
    const window = Math.max(
      LIMITS.minWindowBytes,
      this.#options.windowBytes - stream.bufferedBytes,
    );
    const attempt = new Attempt(
      newStreamId(),
      stream.nodeId,
      window,
      this.#options.windowBytes,
      resumeFrom,
    );
    let payload: Uint8Array;
    try {
      payload = encode(this.#requestFor(stream.read, attempt.streamId, resumeFrom, window));
    } catch (error) {
      this.#end(stream, "error", asTailwireError(error), { discard: false, notifyCompute: false });
      return;
    }
    stream.attempt = attempt;
    stream.attempts++;
    this.#counters.resumeAttempts++;
    this.#startAttempt(stream, payload);
  }

  /** Stops routing the stream's current attempt (and cancels it on the compute node if asked). */
  #detach(stream: ClientStream, notifyCompute: boolean): void {
    const attempt = stream.attempt;
    if (attempt.detached) return;
    attempt.detached = true;
    attempt.clearAcceptTimer();
    this.#streams.delete(attempt.streamId);
    this.#noteDetached(attempt.streamId);
    this.#nodes.remove(stream.nodeId, stream);
    if (notifyCompute) this.#control.cancel(stream.nodeId, attempt.streamId);
    if (this.#streams.size === 0) this.#stopSweep();
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

  #end(
    stream: ClientStream,
    cause: EndCause,
    error: TailwireError | undefined,
    options: EndOptions,
  ): void {
    if (stream.ended) return;
    this.#detach(stream, options.notifyCompute);
    this.#open.delete(stream);
    stream.detachSignal?.();
    stream.detachSignal = undefined;
    stream.finish(cause, error, options.discard);
    this.#countEnd(stream, cause, error);
  }

  #countEnd(stream: ClientStream, cause: EndCause, error: TailwireError | undefined): void {
    this.#ended[cause]++;
    const fields = {
      streamId: stream.streamId,
      computeNodeId: stream.nodeId,
      executionId: stream.executionId,
      cause,
      lastSeq: stream.lastSeq,
      ...(error ? { code: error.code, err: error } : {}),
    };
    if (cause === "completed" || cause === "cancelled")
      this.#options.logger.info(fields, "log stream ended");
    else this.#options.logger.warn(fields, "log stream failed");
  }

  #endAll(
    cause: EndCause,
    error: () => TailwireError,
    discard: boolean,
    notifyCompute: boolean,
  ): void {
    for (const stream of [...this.#open]) {
      this.#end(stream, cause, error(), { discard, notifyCompute });
    }
  }

  #onSubscriptionClosed(reason: undefined | Error): void {
    if (this.#closed) return;
    // The connection closed (or a permission error killed a subscription): no frame or
    // heartbeat can arrive any more, so every stream would hang. Fail them now.
    this.#closed = true;
    this.#stopSweep();
    this.#status?.stop?.();
    const error = () => new InternalError("the NATS subscription closed", { cause: reason });
    this.#endAll("error", error, false, !this.#nc.isClosed());
    this.#control.flush();
    this.#options.logger.warn(
      { err: reason },
      "LogStreamClient stopped: its NATS subscription closed",
    );
  }

  // --- our own connection ---

  /**
   * Watches the connection's status. While it is down, silence is not held against compute
   * nodes. When it is back, frames and credit grants may have been lost in between (a lost
   * grant would stall a stream for good), so every open stream resumes from its last seq.
   */
  #watchStatus(): void {
    this.#status = watchConnectionStatus(this.#nc, {
      stopped: () => this.#closed,
      onEvent: (event) => {
        if (event.type === "disconnect") this.#disconnected = true;
        else if (event.type === "reconnect") this.#onReconnect();
      },
      onError: (error) =>
        this.#options.logger.warn({ err: error }, "connection status watch failed"),
    });
  }

  #onReconnect(): void {
    this.#disconnected = false;
    const now = monotonicNow();
    // Our outage is not the compute nodes' silence: restart their clocks.
    for (const record of this.#nodes.values()) record.lastHeardAt = now;
    if (!this.#options.resume) return;
    const streams = [...this.#open].filter((s) => !s.attempt.detached);
    if (streams.length > 0) {
      this.#options.logger.info(
        { streams: streams.length },
        "NATS connection re-established: resuming open streams",
      );
    }
    for (const stream of streams) {
      this.#broken(
        stream,
        new SequenceGapError(
          "the NATS connection was re-established: frames or credit may have been lost",
        ),
        "protocol_error",
      );
    }
  }

  /** Subscription callbacks must never throw into the NATS client: log and carry on. */
  #guard(what: string, err: Error | null, msg: Msg, handle: (msg: Msg) => void): void {
    if (err) {
      this.#options.logger.warn({ err }, `${what} subscription error`);
      return;
    }
    try {
      handle(msg);
    } catch (error) {
      this.#options.logger.error(
        { err: error, subject: msg.subject },
        `failed to handle a ${what} message`,
      );
    }
  }
}

function abortError(signal: AbortSignal): CancelledError {
  return new CancelledError("the stream was aborted", { cause: signal.reason });
}

function asTailwireError(error: unknown): TailwireError {
  return error instanceof TailwireError
    ? error
    : new ProtocolError(error instanceof Error ? error.message : String(error), { cause: error });
}

// The requester side of ExecutionLogs (v1 and v2), wired together: the subscriptions every stream
// shares (frames, heartbeats; once per version), the connection watch, and the public API
// (streamLogs, streamJobLogs, close, stats). Frames go to the StreamInbox (what a frame means is the
// Attempt's), node liveness is Liveness', and each stream's life (resume, end, credit) is
// StreamLifecycle's.
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  BadRequestError,
  CancelledError,
  decodeHeartbeat,
  decodeHeartbeatV2,
  encode,
  type HeartbeatRequest,
  InternalError,
  isExecutionId,
  isJobId,
  isNodeId,
  MessageType,
  newStreamId,
  type ProtocolVersion,
  parseRequesterSubjectV2,
  SequenceGapError,
  subjects,
  subjectsV2,
  tryDecode,
} from "@tailwire/protocol";
import { type ConnectionStatusWatch, watchConnectionStatus } from "@tailwire/protocol/internal";
import { Attempt } from "./attempt.js";
import { monotonicNow } from "./clock.js";
import { ControlPublisher } from "./control-publisher.js";
import { type ExecutionLocator, NatsExecutionLocator } from "./execution-locator.js";
import { JobLogStream, type StreamJobLogsOptions } from "./job-log-stream.js";
import { Liveness } from "./liveness.js";
import { LocatedLogStream } from "./located-stream.js";
import { ClientStream, type LogStream } from "./log-stream.js";
import {
  computeNodeOf,
  type LogStreamClientOptions,
  type ResolvedOptions,
  resolveOptions,
  type StreamLogsOptions,
} from "./options.js";
import { encodeLogRequest, logRequestFor, streamRequestOf } from "./request.js";
import { ResumeBudget } from "./resume-policy.js";
import type { LogStreamClientStats } from "./stats.js";
import { StreamInbox } from "./stream-inbox.js";
import { StreamLifecycle } from "./stream-lifecycle.js";
import { heartbeatAnswerV2, heartbeatFromV2 } from "./wire-v2.js";

/**
 * The requester side of ExecutionLogs (v1 and v2: `protocol`). One instance per requester node
 * id: it owns the subscriptions every stream shares (frames, heartbeats, per version), the
 * per-compute-node liveness records and the sweep timer. See PROTOCOL.md for the contract and README.md for the decisions.
 */
export class LogStreamClient {
  readonly #nc: NatsConnection;
  readonly #options: ResolvedOptions;
  readonly #control: ControlPublisher;
  readonly #liveness: Liveness<ClientStream>;
  readonly #streams: StreamLifecycle;
  #locator: ExecutionLocator | undefined;
  /** The locator this client made itself (closed with it). */
  #ownLocator: NatsExecutionLocator | undefined;
  readonly #frameSub: Subscription;
  readonly #heartbeatSub: Subscription;
  /** v2's frames and heartbeats, from every compute node (unless the client speaks v1 only). */
  readonly #v2Subs: Subscription[] = [];
  #closed = false;
  #status: ConnectionStatusWatch | undefined;
  readonly #inbox: StreamInbox;
  readonly #counters = { heartbeatsAnswered: 0, heartbeatsRejected: 0 };

  constructor(options: LogStreamClientOptions) {
    const o = resolveOptions(options);
    this.#options = o;
    if (o.compression.length > 0 && o.protocol !== "v1") {
      // Compressed frames exist in v1 only: said once, rather than a silent plain v2 stream.
      o.logger.warn(
        { protocol: o.protocol, compression: o.compression },
        'compression is offered on v1 streams only (v2 has no compressed frames yet): set protocol: "v1" to compress',
      );
    }
    this.#nc = options.connection;
    this.#locator = options.locator;
    this.#control = new ControlPublisher(this.#nc, o.nodeId, o.logger);
    this.#liveness = new Liveness<ClientStream>(
      {
        requesterNodeId: o.nodeId,
        heartbeatIntervalMs: o.heartbeatIntervalMs,
        computeLostAfterMissed: o.computeLostAfterMissed,
        unlistedGraceMs: o.unlistedGraceMs,
      },
      (streamId) => this.#streams.route(streamId),
      (breaks) => this.#streams.breakAll(breaks),
    );
    this.#streams = new StreamLifecycle(this.#nc, o, this.#control, this.#liveness);
    this.#inbox = new StreamInbox(this.#streams, this.#liveness, o.logger);
    // One subscription for all streams and one for heartbeats, whatever the number of streams.
    // Their callbacks only decode, enqueue and wake: a slow consumer never stalls other streams.
    this.#frameSub = this.#nc.subscribe(subjects.streamInboxWildcard(o.nodeId), {
      callback: (err, msg) => this.#guard("frame", err, msg, (m) => this.#inbox.receive(m)),
    });
    this.#heartbeatSub = this.#nc.subscribe(subjects.heartbeat(o.nodeId), {
      callback: (err, msg) => this.#guard("heartbeat", err, msg, (m) => this.#onHeartbeat(m)),
    });
    if (o.protocol !== "v1") {
      this.#v2Subs.push(
        this.#nc.subscribe(subjectsV2.streamInboxWildcard(o.nodeId), {
          callback: (err, msg) => this.#guard("frame", err, msg, (m) => this.#inbox.receiveV2(m)),
        }),
        this.#nc.subscribe(subjectsV2.heartbeatWildcard(o.nodeId), {
          callback: (err, msg) => this.#guard("heartbeat", err, msg, (m) => this.#onHeartbeatV2(m)),
        }),
      );
    }
    for (const sub of [this.#frameSub, this.#heartbeatSub, ...this.#v2Subs]) {
      void sub.closed.then((reason) =>
        this.#onSubscriptionClosed(reason instanceof Error ? reason : undefined),
      );
    }
    this.#watchStatus();
  }

  /** This requester's node id. */
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
      const { signal, nodeId: _deprecated, ...rest } = options;
      return new LocatedLogStream(
        options.executionId,
        this.locator,
        // Once located, the ordinary stream answers the signal itself.
        (located) =>
          this.streamLogs({ ...rest, computeNodeId: located, ...(signal ? { signal } : {}) }),
        signal,
      );
    }
    const request = streamRequestOf(options, computeNodeId);
    const window = this.#options.windowBytes;
    const version = this.#streams.versionFor(computeNodeId);
    const attempt = new Attempt(
      newStreamId(),
      computeNodeId,
      window,
      window,
      undefined,
      Attempt.linkOf(this.#options),
      version,
    );
    // Encode before registering anything: invalid options must leave no state behind.
    const payload = encodeLogRequest(
      logRequestFor(request, this.#options, attempt.streamId, window, undefined),
      version,
    );
    const streams = this.#streams;
    const stream = new ClientStream(
      request,
      attempt,
      {
        released: (s, bytes) => streams.released(s, bytes),
        cancelledByConsumer: (s) =>
          streams.end(s, "cancelled", undefined, { discard: true, notifyCompute: true }),
      },
      new ResumeBudget(this.#options.resume),
    );
    const signal = options.signal;
    if (signal?.aborted) {
      // Nothing was sent, so there is nothing to cancel on the wire.
      const error = abortError(signal);
      attempt.detach();
      stream.finish("cancelled", error, true);
      streams.countEnd(stream, "cancelled", error);
      return stream;
    }
    if (signal) {
      stream.listenForAbort(signal, () =>
        streams.end(stream, "cancelled", abortError(signal), {
          discard: true,
          notifyCompute: true,
        }),
      );
    }
    streams.open(stream, payload);
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
        // Asked in the versions the client may use ("auto": both, merged).
        versions: this.#options.protocol === "auto" ? ["v1", "v2"] : [this.#options.protocol],
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
    this.#streams.endAll("cancelled", () => new CancelledError("the LogStreamClient was closed"), {
      discard: true,
      notifyCompute: true,
    });
    this.#control.flush();
    this.#liveness.stop();
    this.#status?.stop();
    this.#ownLocator?.close();
    for (const sub of [this.#frameSub, this.#heartbeatSub, ...this.#v2Subs]) {
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
    const { streamsEnded, ...streams } = this.#streams.stats();
    const { creditsSent, resumeAttempts, resumesExhausted, ...open } = streams;
    return {
      ...open,
      computeNodes: this.#liveness.computeNodes(),
      heartbeatsAnswered: this.#counters.heartbeatsAnswered,
      heartbeatsRejected: this.#counters.heartbeatsRejected,
      ...this.#inbox.stats(),
      creditsSent,
      resumeAttempts,
      resumesExhausted,
      streamsEnded,
      computeNodesOnV1: this.#streams.nodesOnV1(),
    };
  }

  // --- heartbeats ---

  #onHeartbeat(msg: Msg): void {
    const decoded = tryDecode(decodeHeartbeat, msg.data);
    if (!decoded.ok) {
      this.#counters.heartbeatsRejected++;
      this.#options.logger.warn({ err: decoded.error }, "rejected a heartbeat");
      return;
    }
    this.#heartbeatFrom(decoded.value, msg, "v1");
  }

  /** A v2 heartbeat speaks for the compute node its subject names: the sender's login. */
  #onHeartbeatV2(msg: Msg): void {
    const from = parseRequesterSubjectV2(msg.subject);
    const decoded = tryDecode(decodeHeartbeatV2, msg.data);
    if (from?.kind !== "hb" || !decoded.ok) {
      this.#counters.heartbeatsRejected++;
      this.#options.logger.warn(
        { err: decoded.ok ? undefined : decoded.error, subject: msg.subject },
        "rejected a heartbeat",
      );
      return;
    }
    this.#heartbeatFrom(heartbeatFromV2(decoded.value, from.computeNodeId), msg, "v2");
  }

  #heartbeatFrom(heartbeat: HeartbeatRequest, msg: Msg, version: ProtocolVersion): void {
    const { unknown, breaks } = this.#liveness.heartbeat(
      heartbeat,
      monotonicNow(),
      (stream) => stream.attempt.version === version,
    );
    if (msg.reply) {
      msg.respond(
        version === "v2"
          ? heartbeatAnswerV2(unknown)
          : encode({
              type: MessageType.HeartbeatResponse,
              requesterNodeId: this.#options.nodeId,
              unknownStreamIds: unknown,
            }),
      );
      this.#counters.heartbeatsAnswered++;
    }
    this.#streams.breakAll(breaks);
  }

  // --- our own connection ---

  #onSubscriptionClosed(reason: undefined | Error): void {
    if (this.#closed) return;
    // The connection closed (or a permission error killed a subscription): no frame or
    // heartbeat can arrive any more, so every stream would hang. Fail them now.
    this.#closed = true;
    this.#liveness.stop();
    this.#status?.stop();
    const error = () => new InternalError("the NATS subscription closed", { cause: reason });
    this.#streams.endAll("error", error, { discard: false, notifyCompute: !this.#nc.isClosed() });
    this.#control.flush();
    this.#options.logger.warn(
      { err: reason },
      "LogStreamClient stopped: its NATS subscription closed",
    );
  }

  /**
   * Watches the connection's status. While it is down, silence is not held against compute
   * nodes. When it is back, frames and credit grants may have been lost in between (a lost
   * grant would stall a stream for good), so every open stream resumes from its last seq.
   */
  #watchStatus(): void {
    this.#status = watchConnectionStatus(this.#nc, {
      stopped: () => this.#closed,
      onEvent: (event) => {
        if (event.type === "disconnect") this.#liveness.disconnected();
        else if (event.type === "reconnect") this.#onReconnect();
        else if (event.type === "error") this.#onRefused(event);
      },
      onError: (error) =>
        this.#options.logger.warn({ err: error }, "connection status watch failed"),
    });
  }

  /**
   * The server refused a publish of ours (nats.js reports a PermissionViolationError): when it
   * was a v2 request, the requester's user may not speak v2 (SECURITY.md's v1 table), so the
   * node's pending v2 streams are asked in v1 at once instead of after the accept timeout.
   */
  #onRefused(event: { type: string }): void {
    const error = (event as { error?: { operation?: unknown; subject?: unknown } }).error;
    if (error?.operation !== "publish" || typeof error.subject !== "string") return;
    const parts = error.subject.split(".");
    const computeNodeId = parts[2];
    if (
      parts.length !== 5 ||
      computeNodeId === undefined ||
      !isNodeId(computeNodeId) ||
      error.subject !== subjectsV2.request(computeNodeId, this.#options.nodeId)
    )
      return;
    this.#streams.v2Refused(computeNodeId);
  }

  #onReconnect(): void {
    this.#liveness.reconnected(monotonicNow());
    if (!this.#options.resume) return;
    const resumed = this.#streams.breakLive(
      () =>
        new SequenceGapError(
          "the NATS connection was re-established: frames or credit may have been lost",
        ),
    );
    if (resumed > 0) {
      this.#options.logger.info(
        { streams: resumed },
        "NATS connection re-established: resuming open streams",
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

import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  AcceptTimeoutError,
  CancelledError,
  ComputeNodeLostError,
  decodeFrame,
  decodeHeartbeat,
  encode,
  InternalError,
  type LogRequest,
  MessageType,
  NodeUnreachableError,
  newStreamId,
  ProtocolError,
  streamIdOfInbox,
  subjects,
  TailwireError,
  tryDecode,
} from "@tailwire/protocol";
import { Attempt } from "./attempt.js";
import { monotonicNow, toEpochMs } from "./clock.js";
import { ControlPublisher } from "./control-publisher.js";
import { unknownStreamIds, unlistedStreams } from "./heartbeat.js";
import { ClientStream, type LogStream, type StreamOwner } from "./log-stream.js";
import { NodeRegistry } from "./node-registry.js";
import {
  type LogStreamClientOptions,
  type ReadOptions,
  type ResolvedOptions,
  readOptionsOf,
  resolveOptions,
  type StreamLogsOptions,
} from "./options.js";
import { END_CAUSES, type EndCause, type LogStreamClientStats } from "./stats.js";

/** NATS status code of the "no responders" message the server sends on a request's reply subject. */
const NO_RESPONDERS = 503;

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
  readonly #streams = new Map<string, ClientStream>();
  readonly #nodes = new NodeRegistry<ClientStream>();
  readonly #control: ControlPublisher;
  readonly #owner: StreamOwner;
  readonly #frameSub: Subscription;
  readonly #heartbeatSub: Subscription;
  #sweepTimer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #counters = {
    heartbeatsAnswered: 0,
    heartbeatsRejected: 0,
    framesReceived: 0,
    framesRejected: 0,
    framesIgnored: 0,
    creditsSent: 0,
  };
  readonly #ended = Object.fromEntries(END_CAUSES.map((cause) => [cause, 0])) as Record<
    EndCause,
    number
  >;

  constructor(options: LogStreamClientOptions) {
    this.#options = resolveOptions(options);
    this.#nc = options.connection;
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
    const read = readOptionsOf(options);
    const attempt = new Attempt(newStreamId(), read.nodeId, this.#options.windowBytes);
    // Encode before registering anything: invalid options must leave no state behind.
    const payload = encode(this.#requestFor(read, attempt.streamId));
    const stream = new ClientStream(read, attempt, this.#owner);
    const signal = options.signal;
    if (signal?.aborted) {
      // Nothing was sent, so there is nothing to cancel on the wire.
      const error = abortError(signal);
      stream.finish("cancelled", error, true);
      this.#countEnd(stream, "cancelled", error);
      return stream;
    }
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
    return {
      openStreams: this.#streams.size,
      computeNodes,
      ...this.#counters,
      streamsEnded: { ...this.#ended },
    };
  }

  // --- requests ---

  #requestFor(read: ReadOptions, streamId: string): LogRequest {
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
      window: o.windowBytes,
    };
    if (read.tail !== undefined) request.tail = read.tail;
    if (read.fromSeq !== undefined) request.fromSeq = read.fromSeq;
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
      // Enforced, not just trusted: the window is what bounds this stream's memory.
      attempt.receivedBytes += bytes;
      if (attempt.receivedBytes > this.#options.windowBytes + attempt.grantedBytes) {
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
    const now = monotonicNow();
    this.#nodes.heard(stream.nodeId, now);
    switch (outcome.kind) {
      case "accepted":
        attempt.clearAcceptTimer();
        attempt.acceptedAt = now;
        this.#nodes.accepted(stream.nodeId, now);
        stream.markAccepted(outcome.frame, now);
        break;
      case "data":
        if (outcome.entries.length === 0) {
          // Only pieces of a partial line: the reader holds them, so grant the bytes back now,
          // or a line longer than the window would stall the stream forever.
          this.#released(stream, bytes);
        } else {
          stream.push(outcome.entries, bytes);
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
    if (stream.ended) return;
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
    if (msg.reply) {
      const unknown = unknownStreamIds(heartbeat, (id) => this.#streams.get(id));
      msg.respond(
        encode({
          type: MessageType.HeartbeatResponse,
          requesterNodeId: this.#options.nodeId,
          unknownStreamIds: unknown,
        }),
      );
      this.#counters.heartbeatsAnswered++;
    }
    const record = this.#nodes.get(heartbeat.computeNodeId);
    if (!record) return;
    for (const stream of unlistedStreams(record, heartbeat, now, this.#options.unlistedGraceMs)) {
      this.#broken(
        stream,
        new ComputeNodeLostError(
          `compute node ${stream.nodeId} no longer serves stream ${stream.streamId}`,
        ),
        "compute_node_lost",
      );
    }
  }

  #startSweep(): void {
    if (this.#sweepTimer !== undefined) return;
    const { heartbeatIntervalMs, computeLostAfterMissed } = this.#options;
    const silentMs = heartbeatIntervalMs * computeLostAfterMissed;
    // A quarter interval bounds the detection delay to silentMs + interval/4.
    this.#sweepTimer = setInterval(
      () => this.#sweep(silentMs),
      Math.max(5, Math.floor(heartbeatIntervalMs / 4)),
    );
  }

  #stopSweep(): void {
    if (this.#sweepTimer === undefined) return;
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  #sweep(silentMs: number): void {
    const now = monotonicNow();
    for (const record of this.#nodes.silent(now, silentMs)) {
      const silentFor = Math.round(now - (record.lastHeardAt ?? now));
      for (const stream of [...record.streams]) {
        if (stream.acceptedAt === undefined) continue; // pending: the accept timeout decides
        this.#broken(
          stream,
          new ComputeNodeLostError(`compute node ${record.nodeId} silent for ${silentFor} ms`),
          "compute_node_lost",
        );
      }
    }
  }

  // --- ending streams ---

  /**
   * A stream broke (error frame, protocol violation, timeout, lost node). Every failure passes
   * here, so this is the one place a resume belongs: for a retryable error, replace
   * stream.attempt with a new Attempt and call #startAttempt with fromSeq = stream.lastSeq,
   * instead of ending. Today it ends the stream.
   */
  #broken(stream: ClientStream, error: TailwireError, cause: EndCause, notifyCompute = true): void {
    this.#end(stream, cause, error, { discard: false, notifyCompute });
  }

  #end(
    stream: ClientStream,
    cause: EndCause,
    error: TailwireError | undefined,
    options: EndOptions,
  ): void {
    if (stream.ended) return;
    const attempt = stream.attempt;
    attempt.clearAcceptTimer();
    this.#streams.delete(attempt.streamId);
    this.#nodes.remove(stream.nodeId, stream);
    stream.detachSignal?.();
    stream.detachSignal = undefined;
    if (options.notifyCompute) this.#control.cancel(stream.nodeId, attempt.streamId);
    stream.finish(cause, error, options.discard);
    this.#countEnd(stream, cause, error);
    if (this.#streams.size === 0) this.#stopSweep();
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
    for (const stream of [...this.#streams.values()]) {
      this.#end(stream, cause, error(), { discard, notifyCompute });
    }
  }

  #onSubscriptionClosed(reason: undefined | Error): void {
    if (this.#closed) return;
    // The connection closed (or a permission error killed a subscription): no frame or
    // heartbeat can arrive any more, so every stream would hang. Fail them now.
    this.#closed = true;
    this.#stopSweep();
    const error = () => new InternalError("the NATS subscription closed", { cause: reason });
    this.#endAll("error", error, false, !this.#nc.isClosed());
    this.#control.flush();
    this.#options.logger.warn(
      { err: reason },
      "LogStreamClient stopped: its NATS subscription closed",
    );
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

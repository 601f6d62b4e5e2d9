import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  type ControlMessage,
  decodeControl,
  decodeRequest,
  ERROR_CODES,
  type ErrorCode,
  encode,
  isErrorCode,
  type Logger,
  type LogRequest,
  MessageType,
  rejectionInbox,
  SequenceGapError,
  silentLogger,
  subjects,
  TailwireError,
} from "@tailwire/protocol";
import { type ConnectionStatusWatch, watchConnectionStatus } from "@tailwire/protocol/internal";
import { isExecutionCatalog } from "./execution-catalog.js";
import { LocateResponder } from "./locate-responder.js";
import type { LogSource } from "./log-source.js";
import { maxFrameBytesFor } from "./server/frame-limit.js";
import {
  type LogStreamServerOptions,
  type ResolvedOptions,
  resolveOptions,
} from "./server/options.js";
import { RateLimiter } from "./server/rate-limiter.js";
import { type LinkHost, RequesterLink } from "./server/requester-link.js";
import { type EndCause, ServedStream, type StreamHost } from "./server/served-stream.js";
import { Counters, type LogStreamServerStats } from "./server/stats.js";

export type { LogStreamServerLimits, LogStreamServerOptions } from "./server/options.js";
export type { EndCause } from "./server/served-stream.js";
export type { LogStreamServerStats, RequesterStats } from "./server/stats.js";

const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** Error frame messages are bounded by the schema (4096); keep them short anyway. */
const MAX_ERROR_MESSAGE = 1000;
/** Worst-case bytes one stream id adds to a heartbeat: 64 characters, quotes and a comma. */
const HEARTBEAT_BYTES_PER_STREAM = 64 + 3;
/** The node-wide rate limiter's one key. */
const NODE_WIDE = "";

/**
 * The compute side of ExecutionLogs/v1: answers log requests from a LogSource, streams frames
 * under flow control, heartbeats every requester it serves and lets go of requesters that stop
 * answering. See PROTOCOL.md.
 */
export class LogStreamServer {
  readonly nodeId: string;
  readonly #connection: NatsConnection;
  readonly #source: LogSource;
  readonly #options: ResolvedOptions;
  readonly #log: Logger;
  readonly #rate: RateLimiter;
  readonly #nodeRate: RateLimiter;
  readonly #counters = new Counters();
  /** Every registered stream (opening or accepted), by `${sourcePeerId}/${streamId}`. */
  readonly #streams = new Map<string, ServedStream>();
  readonly #perRequester = new Map<string, number>();
  /** Requesters with accepted streams, by `${sourcePeerId} ${heartbeatSubject}`. */
  readonly #links = new Map<string, RequesterLink>();
  readonly #pumps = new Set<Promise<void>>();
  #subscriptions: Subscription[] = [];
  /** The watch of the connection's status events (reconnects). */
  #status: ConnectionStatusWatch | undefined;
  #state: "new" | "running" | "closing" | "closed" = "new";
  readonly #streamHost: StreamHost;
  readonly #locateOption: LogStreamServerOptions["locate"];
  /** Answers lookups of the executions the source holds (when it can list them). */
  #locator: LocateResponder | undefined;
  readonly #linkHost: LinkHost;

  constructor(options: LogStreamServerOptions) {
    // Throws early on an id that cannot be a subject token.
    subjects.request(options.nodeId);
    this.nodeId = options.nodeId;
    this.#connection = options.connection;
    this.#source = options.source;
    this.#locateOption = options.locate;
    this.#options = resolveOptions(options, silentLogger);
    this.#log = this.#options.logger;
    this.#rate = new RateLimiter(this.#options.maxRequestsPerSecondPerRequester);
    const nodeRate = this.#options.maxRequestsPerSecond;
    this.#nodeRate = new RateLimiter(nodeRate, undefined, nodeRate * 2);
    this.#streamHost = {
      publish: (subject, data) => this.#publish(subject, data),
      finished: (stream) => this.#finish(stream),
      failed: (stream, error) => this.#fail(stream, error),
    };
    this.#linkHost = this.#makeLinkHost();
  }

  /** Subscribes to this node's request and control subjects; resolves once the server has them. */
  async start(): Promise<void> {
    if (this.#state !== "new") throw new Error("LogStreamServer.start() may be called once");
    this.#state = "running";
    const onError = (what: string) => (error: Error | null) => {
      if (error) this.#log.error({ err: error, subject: what }, "subscription failed");
    };
    this.#subscriptions = [
      this.#connection.subscribe(subjects.request(this.nodeId), {
        callback: (error, msg) => (error ? onError("request")(error) : this.#onRequest(msg)),
      }),
      this.#connection.subscribe(subjects.control(this.nodeId), {
        callback: (error, msg) => (error ? onError("control")(error) : this.#onControl(msg)),
      }),
    ];
    this.#watchReconnects();
    const locate = this.#locateOption;
    if (locate !== false && isExecutionCatalog(this.#source)) {
      this.#locator = new LocateResponder({
        connection: this.#connection,
        computeNodeId: this.nodeId,
        catalog: this.#source,
        logger: this.#log,
        ...(typeof locate === "object" && locate.maxLookupsPerSecond !== undefined
          ? { maxLookupsPerSecond: locate.maxLookupsPerSecond }
          : {}),
      });
      await this.#locator.start();
    }
    await this.#connection.flush();
    this.#log.info({ nodeId: this.nodeId }, "log stream server started");
  }

  /**
   * Ends every open stream with Error GOING_AWAY, stops heartbeats and unsubscribes. The
   * connection stays open (it is the caller's). Resolves once every reader was released.
   */
  async close(): Promise<void> {
    if (this.#state === "closing" || this.#state === "closed") return;
    this.#state = "closing";
    for (const sub of this.#subscriptions) sub.unsubscribe();
    this.#subscriptions = [];
    await this.#locator?.close();
    this.#status?.stop?.();
    for (const stream of [...this.#streams.values()]) {
      this.#end(stream, "going_away", (n) =>
        this.#errorFrame(stream.streamId, "GOING_AWAY", "compute node is shutting down", n),
      );
    }
    for (const link of this.#links.values()) link.close();
    this.#links.clear();
    await Promise.allSettled([...this.#pumps]);
    if (!this.#connection.isClosed()) await this.#connection.flush().catch(() => {});
    this.#state = "closed";
    this.#log.info({ nodeId: this.nodeId }, "log stream server closed");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  stats(): LogStreamServerStats {
    const c = this.#counters;
    return {
      openStreams: this.#streams.size,
      openStreamsByRequester: Object.fromEntries(this.#perRequester),
      streamsWaitingForCredit: [...this.#streams.values()].filter((s) => s.credit.waiting).length,
      requesters: [...this.#links.values()].map((link) => ({
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
      locate: this.#locator?.stats() ?? null,
    };
  }

  // ---- requests -------------------------------------------------------------------------

  /** Runs in the subscription callback: checks synchronously, then hands off; never awaits. */
  #onRequest(msg: Msg): void {
    const reply = msg.reply;
    let request: LogRequest;
    try {
      request = decodeRequest(msg.data);
    } catch (error) {
      const code =
        error instanceof TailwireError && isErrorCode(error.code) ? error.code : "BAD_REQUEST";
      // Answer only on the stream inbox the request names itself, never on another's.
      this.#reject(code, messageOf(error), rejectionInbox(msg.data, reply), {});
      return;
    }
    const ctx = {
      requesterNodeId: request.sourcePeerId,
      streamId: request.streamId,
      executionId: request.executionId,
    };
    if (!reply) {
      this.#reject("BAD_REQUEST", "request has no reply subject", undefined, ctx);
      return;
    }
    // Publish only where the protocol says this requester listens: a request that names another
    // subject (someone else's inbox, another node's subjects) gets no reply at all.
    if (reply !== subjects.streamInbox(request.sourcePeerId, request.streamId)) {
      this.#reject(
        "BAD_REQUEST",
        `reply subject ${reply} is not the requester's stream inbox`,
        undefined,
        ctx,
      );
      return;
    }
    const to = { reply, streamId: request.streamId };
    const refusal = this.#admissionRefusal(request);
    if (refusal) {
      this.#reject(refusal[0], refusal[1], to, ctx);
      return;
    }
    const stream = new ServedStream(
      streamKey(request.sourcePeerId, request.streamId),
      request,
      reply,
    );
    // Registered before anything is awaited, so limits and duplicate checks cannot race.
    this.#streams.set(stream.key, stream);
    this.#perRequester.set(
      stream.requesterNodeId,
      (this.#perRequester.get(stream.requesterNodeId) ?? 0) + 1,
    );
    this.#track(this.#open(stream));
  }

  #admissionRefusal(request: LogRequest): [ErrorCode, string] | undefined {
    const o = this.#options;
    if (this.#state !== "running") return ["GOING_AWAY", "compute node is shutting down"];
    if (request.heartbeatSubject !== subjects.heartbeat(request.sourcePeerId)) {
      return [
        "BAD_REQUEST",
        `heartbeat subject ${request.heartbeatSubject} is not the requester's`,
      ];
    }
    if (request.targetPeerId !== this.nodeId) {
      return [
        "BAD_REQUEST",
        `targetPeerId ${request.targetPeerId} is not this node (${this.nodeId})`,
      ];
    }
    // Node-wide first: a flood under fresh requester ids must not fill the per-requester table.
    if (!this.#nodeRate.take(NODE_WIDE)) {
      return [
        "RATE_LIMITED",
        `more than ${o.maxRequestsPerSecond} requests per second on this node`,
      ];
    }
    if (!this.#rate.take(request.sourcePeerId)) {
      return [
        "RATE_LIMITED",
        `more than ${o.maxRequestsPerSecondPerRequester} requests per second`,
      ];
    }
    if (this.#streams.has(streamKey(request.sourcePeerId, request.streamId))) {
      return ["DUPLICATE_STREAM", `stream ${request.streamId} is already open`];
    }
    if (this.#streams.size >= o.maxStreams)
      return ["TOO_MANY_STREAMS", `this node serves ${o.maxStreams} streams already`];
    const perRequester = this.#maxStreamsPerRequester();
    if ((this.#perRequester.get(request.sourcePeerId) ?? 0) >= perRequester) {
      return ["TOO_MANY_REQUESTER_STREAMS", `requester has ${perRequester} open streams already`];
    }
    if (
      request.fromSeq === undefined &&
      request.tail !== undefined &&
      request.tail > o.maxTailLines
    ) {
      return [
        "TAIL_TOO_LARGE",
        `tail ${request.tail} exceeds the limit of ${o.maxTailLines} lines`,
      ];
    }
    return undefined;
  }

  /** The configured limit, lowered so that one heartbeat listing them all fits in max_payload. */
  #maxStreamsPerRequester(): number {
    const fit = Math.floor(
      (this.#maxPayload() - 200 - this.nodeId.length) / HEARTBEAT_BYTES_PER_STREAM,
    );
    return Math.max(1, Math.min(this.#options.maxStreamsPerRequester, fit));
  }

  #maxPayload(): number {
    return this.#connection.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  async #open(stream: ServedStream): Promise<void> {
    const request = stream.request;
    let reader: Awaited<ReturnType<LogSource["open"]>>;
    try {
      reader = await this.#source.open(request.executionId, {
        tail: request.tail,
        fromSeq: request.fromSeq,
        since: request.since,
        streams: request.streams,
        follow: request.follow,
        signal: stream.signal,
      });
    } catch (error) {
      if (stream.ended) return;
      this.#unregister(stream);
      const known = error instanceof TailwireError && isErrorCode(error.code);
      const code: ErrorCode = known ? error.code : "INTERNAL";
      if (!known)
        this.#log.error({ err: error, streamId: stream.streamId }, "log source failed to open");
      this.#reject(
        code,
        messageOf(error),
        { reply: stream.inbox, streamId: stream.streamId },
        {
          requesterNodeId: stream.requesterNodeId,
          streamId: stream.streamId,
          executionId: request.executionId,
        },
      );
      return;
    }
    stream.reader = reader;
    // Stopped (cancel, close) while the source was opening: nothing to start.
    if (stream.ended) {
      await reader.close().catch(() => {});
      return;
    }
    stream.maxFrameBytes = maxFrameBytesFor(
      request.window,
      this.#options.maxFrameBytes,
      this.#maxPayload(),
    );
    try {
      this.#publish(
        stream.inbox,
        encode({
          type: MessageType.Accepted,
          streamId: stream.streamId,
          n: 0,
          computeNodeId: this.nodeId,
          // The schema's field order (afterSeq first), so the bytes match the fixtures.
          ...orderedAccepted(stream.retention(reader), reader.lastSeqAtOpen, stream.maxFrameBytes),
        }),
      );
    } catch (error) {
      this.#fail(stream, error);
      await reader.close().catch(() => {});
      return;
    }
    stream.lastN = 0;
    stream.accepted = true;
    this.#linkFor(stream).add(stream);
    this.#log.debug(
      {
        streamId: stream.streamId,
        requesterNodeId: stream.requesterNodeId,
        executionId: request.executionId,
      },
      "stream accepted",
    );
    await stream.pump(this.#streamHost, this.#options.lingerMs);
  }

  #linkFor(stream: ServedStream): RequesterLink {
    const key = `${stream.requesterNodeId} ${stream.request.heartbeatSubject}`;
    let link = this.#links.get(key);
    if (!link) {
      link = new RequesterLink(
        key,
        stream.requesterNodeId,
        stream.request.heartbeatSubject,
        this.#linkHost,
        {
          defaultTimeoutMs: this.#options.heartbeatTimeoutMs,
          maxMissed: this.#options.maxMissed,
        },
      );
      this.#links.set(key, link);
    }
    return link;
  }

  #track(pump: Promise<void>): void {
    const tracked = pump.catch((error: unknown) =>
      this.#log.error({ err: error }, "stream task failed"),
    );
    this.#pumps.add(tracked);
    void tracked.finally(() => this.#pumps.delete(tracked));
  }

  #reject(
    code: ErrorCode,
    message: string,
    to: { reply: string; streamId: string } | undefined,
    ctx: Record<string, unknown>,
  ): void {
    this.#counters.requestsRejected[code]++;
    this.#log.info({ ...ctx, code, reason: message }, "log request rejected");
    if (!to) return;
    try {
      this.#publish(to.reply, this.#errorFrame(to.streamId, code, message, undefined));
    } catch (error) {
      this.#log.warn({ err: error, streamId: to.streamId }, "could not send rejection");
    }
  }

  // ---- control --------------------------------------------------------------------------

  #onControl(msg: Msg): void {
    let control: ControlMessage;
    try {
      control = decodeControl(msg.data);
    } catch (error) {
      this.#counters.controlRejected++;
      this.#log.info({ reason: messageOf(error) }, "control message rejected");
      return;
    }
    const from = control.sourcePeerId;
    let ignored = 0;
    for (const streamId of control.cancel ?? []) {
      // Keyed by requester too: another requester's cancel simply finds nothing.
      const stream = this.#streams.get(streamKey(from, streamId));
      if (stream) this.#end(stream, "cancelled");
      else ignored++;
    }
    for (const grant of control.credit ?? []) {
      const stream = this.#streams.get(streamKey(from, grant.streamId));
      if (stream) stream.credit.grant(grant.bytes);
      else ignored++;
    }
    if (ignored > 0) {
      this.#counters.controlRejected += ignored;
      this.#log.debug(
        { requesterNodeId: from, ignored },
        "control items for unknown streams ignored",
      );
    }
  }

  // ---- heartbeats -----------------------------------------------------------------------

  #makeLinkHost(): LinkHost {
    return {
      nodeId: this.nodeId,
      request: (subject, data, timeoutMs) =>
        this.#connection.request(subject, data, { timeout: timeoutMs }),
      heartbeatSent: () => {
        this.#counters.heartbeatsSent++;
      },
      heartbeatFailed: (link, failure, error) => {
        this.#counters.heartbeatsFailed++;
        this.#log.debug(
          {
            requesterNodeId: link.requesterNodeId,
            failure,
            failures: link.consecutiveFailures,
            err: error,
          },
          "heartbeat failed",
        );
      },
      unknownToRequester: (_link, streams) => {
        for (const stream of streams) this.#end(stream, "unknown_to_requester");
      },
      requesterLost: (link) => {
        this.#log.warn(
          {
            requesterNodeId: link.requesterNodeId,
            heartbeatSubject: link.heartbeatSubject,
            streams: link.streams.size,
          },
          "requester lost: releasing its streams",
        );
        for (const stream of [...link.streams.values()]) this.#end(stream, "requester_lost");
      },
    };
  }

  // ---- reconnects -----------------------------------------------------------------------

  /**
   * After our connection was re-established, frames we sent and credit grants sent to us may
   * have been lost on the way (a lost grant would leave a stream waiting for credit forever,
   * with heartbeats still listing it). End every accepted stream with a retryable SEQUENCE_GAP
   * error frame: a requester resumes from its last seq; none of our state is trusted further.
   */
  #watchReconnects(): void {
    this.#status = watchConnectionStatus(this.#connection, {
      stopped: () => this.#state !== "running",
      onEvent: (event) => {
        if (event.type === "reconnect") this.#onReconnect();
      },
      onError: (error) => this.#log.warn({ err: error }, "connection status watch failed"),
    });
  }

  #onReconnect(): void {
    const accepted = [...this.#streams.values()].filter((s) => s.accepted);
    this.#log.warn(
      { streams: accepted.length },
      "NATS connection re-established: ending accepted streams for their requesters to resume",
    );
    for (const stream of accepted) {
      this.#end(stream, "error", (n) =>
        this.#errorFrame(
          stream.streamId,
          "SEQUENCE_GAP",
          "the compute node's NATS connection was re-established: frames or credit may have been lost",
          n,
        ),
      );
    }
  }

  // ---- ending streams -------------------------------------------------------------------

  #finish(stream: ServedStream): void {
    const reader = stream.reader!;
    // Only accepted streams finish, so n is always defined here.
    this.#end(stream, "completed", (n) =>
      encode({
        type: MessageType.End,
        streamId: stream.streamId,
        n: n ?? 1,
        lastSeq: reader.position,
        exitCode: reader.exitCode,
      }),
    );
  }

  #fail(stream: ServedStream, error: unknown): void {
    // Retention outran an older requester's stream (see retention-notices): its own code.
    const code: ErrorCode = error instanceof SequenceGapError ? "SEQUENCE_GAP" : "INTERNAL";
    if (code === "INTERNAL")
      this.#log.error({ err: error, streamId: stream.streamId }, "stream failed");
    else this.#log.warn({ err: error, streamId: stream.streamId }, "stream failed");
    this.#end(
      stream,
      "error",
      (n) => this.#errorFrame(stream.streamId, code, messageOf(error), n),
      error,
    );
  }

  /**
   * The one way a stream ends: forget it, abort its work, count and log it once, and send the
   * final frame if the cause has one (a frame number is given only to accepted streams).
   */
  #end(
    stream: ServedStream,
    cause: EndCause,
    finalFrame?: (n: number | undefined) => Uint8Array,
    error?: unknown,
  ): void {
    if (stream.ended) return;
    stream.ended = true;
    this.#unregister(stream);
    stream.controller.abort();
    this.#counters.streamsEnded[cause]++;
    this.#log.info(
      {
        streamId: stream.streamId,
        requesterNodeId: stream.requesterNodeId,
        executionId: stream.request.executionId,
        cause,
        lastN: stream.lastN,
        ...(error === undefined ? {} : { reason: messageOf(error) }),
      },
      "log stream ended",
    );
    if (!finalFrame) return;
    try {
      this.#publish(stream.inbox, finalFrame(stream.accepted ? stream.lastN + 1 : undefined));
      if (stream.accepted) stream.lastN++;
    } catch (err) {
      this.#log.warn({ err, streamId: stream.streamId }, "could not send the final frame");
    }
  }

  #unregister(stream: ServedStream): void {
    if (this.#streams.get(stream.key) !== stream) return;
    this.#streams.delete(stream.key);
    const count = (this.#perRequester.get(stream.requesterNodeId) ?? 1) - 1;
    if (count > 0) this.#perRequester.set(stream.requesterNodeId, count);
    else this.#perRequester.delete(stream.requesterNodeId);
    if (!stream.accepted) return;
    const key = `${stream.requesterNodeId} ${stream.request.heartbeatSubject}`;
    const link = this.#links.get(key);
    if (link?.streams.get(stream.streamId) === stream && link.remove(stream))
      this.#links.delete(key);
  }

  #errorFrame(
    streamId: string,
    code: ErrorCode,
    message: string,
    n: number | undefined,
  ): Uint8Array {
    return encode({
      type: MessageType.Error,
      streamId,
      ...(n === undefined ? {} : { n }),
      code,
      message: message.slice(0, MAX_ERROR_MESSAGE),
      retryable: ERROR_CODES[code].retryable,
    });
  }

  #publish(subject: string, data: Uint8Array): void {
    this.#connection.publish(subject, data);
    this.#counters.framesSent++;
    this.#counters.bytesSent += data.byteLength;
  }
}

/** Accepted's fields after computeNodeId, in the order PROTOCOL.md and the fixtures write them. */
function orderedAccepted(
  retention: { afterSeq: number; firstSeq?: number; notices?: string[] },
  lastSeq: number,
  maxFrameBytes: number,
): {
  afterSeq: number;
  lastSeq: number;
  maxFrameBytes: number;
  firstSeq?: number;
  notices?: string[];
} {
  const { afterSeq, ...rest } = retention;
  return { afterSeq, lastSeq, maxFrameBytes, ...rest };
}

function streamKey(requesterNodeId: string, streamId: string): string {
  return `${requesterNodeId}/${streamId}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// The compute node's log stream server (LogStreamServer): subscribes to the node's request and
// control subjects (v1 and v2) and wires admission, the stream registry, the served streams and
// the requester links together; each of those owns its own state (see server/).
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  type ControlMessage,
  type ErrorCode,
  isErrorCode,
  type Logger,
  type LogRequest,
  type ProtocolVersion,
  SequenceGapError,
  silentLogger,
  subjects,
  subjectsV2,
  TailwireError,
} from "@tailwire/protocol";
import type { ConnectionStatusWatch } from "@tailwire/protocol/internal";
import { isExecutionCatalog } from "./execution-catalog.js";
import { LocateResponder } from "./locate-responder.js";
import type { LogSource } from "./log-source.js";
import { Admission } from "./server/admission.js";
import { codecFor } from "./server/frame-compression.js";
import { maxFrameBytesFor } from "./server/frame-limit.js";
import { messageOf } from "./server/frames.js";
import { linkHost } from "./server/link-host.js";
import {
  type LogStreamServerOptions,
  type ResolvedOptions,
  resolveOptions,
} from "./server/options.js";
import { reconnectGap, watchReconnects } from "./server/reconnects.js";
import { RequesterLink } from "./server/requester-link.js";
import { type EndCause, ServedStream, type StreamHost } from "./server/served-stream.js";
import { Counters, type LogStreamServerStats, statsSnapshot } from "./server/stats.js";
import { StreamRegistry } from "./server/stream-registry.js";
import { type RequestIntake, readControlV1, readRequestV1 } from "./server/v1-intake.js";
import { readControlV2, readRequestV2 } from "./server/v2-intake.js";
import { VersionCensus } from "./server/version-census.js";
import { WIRE_V1, WIRE_V2, type WireDialect } from "./server/wire-dialect.js";

export {
  DEFAULTS,
  type LogStreamServerLimits,
  type LogStreamServerOptions,
} from "./server/options.js";
export type { EndCause } from "./server/served-stream.js";
export type { LogStreamServerStats, RequesterStats } from "./server/stats.js";
export type { VersionStats } from "./server/version-census.js";

const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * The compute side of ExecutionLogs (v1 and v2 side by side, each stream in the version it was
 * opened in): answers log requests from a LogSource, streams frames under flow control,
 * heartbeats every requester it serves and lets go of requesters that stop answering. See
 * PROTOCOL.md.
 */
export class LogStreamServer {
  readonly nodeId: string;
  readonly #connection: NatsConnection;
  readonly #source: LogSource;
  readonly #options: ResolvedOptions;
  readonly #log: Logger;
  readonly #counters = new Counters();
  /** Who speaks which wire version to this node (stats().versions, VERSIONING.md). */
  readonly #census = new VersionCensus();
  readonly #registry: StreamRegistry;
  readonly #admission: Admission;
  readonly #pumps = new Set<Promise<void>>();
  #subscriptions: Subscription[] = [];
  /** The watch of the connection's status events (reconnects). */
  #status: ConnectionStatusWatch | undefined;
  #state: "new" | "running" | "closing" | "closed" = "new";
  readonly #streamHost: StreamHost;
  readonly #locateOption: LogStreamServerOptions["locate"];
  /** Answers lookups of the executions the source holds (when it can list them). */
  #locator: LocateResponder | undefined;

  constructor(options: LogStreamServerOptions) {
    // Throws early on an id that cannot be a subject token.
    subjects.request(options.nodeId);
    this.nodeId = options.nodeId;
    this.#connection = options.connection;
    this.#source = options.source;
    this.#locateOption = options.locate;
    this.#options = resolveOptions(options, silentLogger);
    this.#log = this.#options.logger;
    this.#streamHost = {
      publish: (subject, data) => this.#publish(subject, data),
      finished: (stream) => this.#finish(stream),
      failed: (stream, error) => this.#fail(stream, error),
    };
    const host = linkHost({
      computeNodeId: this.nodeId,
      request: (subject, data, timeoutMs) =>
        this.#connection.request(subject, data, { timeout: timeoutMs }),
      counters: this.#counters,
      log: this.#log,
      end: (stream, cause) => this.#end(stream, cause),
    });
    const settings = {
      defaultTimeoutMs: this.#options.heartbeatTimeoutMs,
      maxMissed: this.#options.maxMissed,
    };
    this.#registry = new StreamRegistry(
      (key, requesterNodeId, heartbeatSubject, wire) =>
        new RequesterLink(key, requesterNodeId, heartbeatSubject, host, settings, wire),
    );
    this.#admission = new Admission(this.nodeId, this.#options, this.#registry, () =>
      this.#maxPayload(),
    );
  }

  /** Subscribes to this node's request and control subjects; resolves once the server has them. */
  async start(): Promise<void> {
    if (this.#state !== "new") throw new Error("LogStreamServer.start() may be called once");
    this.#state = "running";
    const onError = (what: string) => (error: Error | null) => {
      if (error) this.#log.error({ err: error, subject: what }, "subscription failed");
    };
    const versions = this.#options.versions;
    const subscribe = (subject: string, what: string, handle: (msg: Msg) => void) =>
      this.#connection.subscribe(subject, {
        callback: (error, msg) => (error ? onError(what)(error) : handle(msg)),
      });
    this.#subscriptions = [
      ...(versions.includes("v1")
        ? [
            subscribe(subjects.request(this.nodeId), "request", (m) =>
              this.#onRequest(readRequestV1(m), WIRE_V1),
            ),
            subscribe(subjects.control(this.nodeId), "control", (m) =>
              this.#onControl(readControlV1(m), "v1"),
            ),
          ]
        : []),
      // v2: one subscription each for every requester; the subject's last token says who.
      ...(versions.includes("v2")
        ? [
            subscribe(subjectsV2.requestWildcard(this.nodeId), "request v2", (m) =>
              this.#onRequest(readRequestV2(m, this.nodeId), WIRE_V2),
            ),
            subscribe(subjectsV2.controlWildcard(this.nodeId), "control v2", (m) =>
              this.#onControl(readControlV2(m, this.nodeId), "v2"),
            ),
          ]
        : []),
    ];
    this.#status = watchReconnects(
      this.#connection,
      this.#log,
      () => this.#state !== "running",
      () => this.#onReconnect(),
    );
    const locate = this.#locateOption;
    if (locate !== false && isExecutionCatalog(this.#source)) {
      this.#locator = new LocateResponder({
        connection: this.#connection,
        computeNodeId: this.nodeId,
        catalog: this.#source,
        logger: this.#log,
        versions: this.#options.versions,
        ...(typeof locate === "object" && locate.maxLookupsPerSecond !== undefined
          ? { maxLookupsPerSecond: locate.maxLookupsPerSecond }
          : {}),
      });
      await this.#locator.start();
    }
    await this.#connection.flush();
    this.#log.info({ nodeId: this.nodeId, versions }, "log stream server started");
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
    this.#status?.stop();
    for (const stream of this.#registry.streams()) {
      this.#end(stream, "going_away", (n) =>
        stream.wire.error(stream.streamId, "GOING_AWAY", "compute node is shutting down", n),
      );
    }
    this.#registry.closeLinks();
    await Promise.allSettled([...this.#pumps]);
    if (!this.#connection.isClosed()) await this.#connection.flush().catch(() => {});
    this.#state = "closed";
    this.#log.info({ nodeId: this.nodeId }, "log stream server closed");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  stats(): LogStreamServerStats {
    return statsSnapshot(this.#counters, this.#registry, this.#census, this.#locator?.stats());
  }

  // ---- requests -------------------------------------------------------------------------

  /**
   * Runs in the subscription callback: checks synchronously, then hands off; never awaits. Each
   * version's intake (server/v1-intake.ts, v2-intake.ts) turns the message into one form.
   */
  #onRequest(intake: RequestIntake, wire: WireDialect): void {
    if (intake.kind === "drop") {
      this.#log.debug({ reason: intake.reason }, `${wire.version} request dropped`);
      return;
    }
    if (intake.ctx.requesterNodeId)
      this.#census.noteRequest(wire.version, intake.ctx.requesterNodeId, this.#log);
    if (intake.kind === "reject") {
      this.#reject(intake.code, intake.message, intake.to, intake.ctx, wire);
      return;
    }
    this.#admit(intake.request, intake.inbox, wire, intake.ctx);
  }

  /** Admission and registration, the same for both versions once the request is known. */
  #admit(
    request: LogRequest,
    inbox: string,
    wire: WireDialect,
    ctx: Record<string, unknown>,
  ): void {
    const to = { reply: inbox, streamId: request.streamId };
    const refusal = this.#admission.refusal(request, this.#state === "running", wire);
    if (refusal) {
      this.#reject(refusal[0], refusal[1], to, ctx, wire);
      return;
    }
    const stream = new ServedStream(request, inbox, wire);
    // Registered before anything is awaited, so limits and duplicate checks cannot race.
    this.#registry.add(stream);
    this.#track(this.#open(stream));
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
      this.#registry.unregister(stream);
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
        stream.wire,
      );
      return;
    }
    // Stopped (cancel, close) while the source was opening: nothing to start.
    if (stream.ended) {
      await reader.close().catch(() => {});
      return;
    }
    try {
      const maxFrameBytes = maxFrameBytesFor(
        request.window,
        this.#options.maxFrameBytes,
        this.#maxPayload(),
      );
      stream.accept(
        reader,
        maxFrameBytes,
        this.nodeId,
        this.#streamHost,
        // v2 has no compressed frame kind yet (ExecutionLogs.Compressed/v1 is v1's): plain.
        stream.wire.version === "v1" ? codecFor(request, this.#options.codecs) : undefined,
      );
    } catch (error) {
      this.#fail(stream, error);
      await reader.close().catch(() => {});
      return;
    }
    this.#registry.link(stream);
    const { streamId, requesterNodeId } = stream;
    this.#log.debug(
      { streamId, requesterNodeId, executionId: request.executionId },
      "stream accepted",
    );
    await stream.pump(this.#streamHost, this.#options.lingerMs);
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
    wire: WireDialect = WIRE_V1,
  ): void {
    this.#counters.requestsRejected[code]++;
    this.#log.info(
      { ...ctx, version: wire.version, code, reason: message },
      "log request rejected",
    );
    if (!to) return;
    try {
      this.#publish(to.reply, wire.error(to.streamId, code, message, undefined));
    } catch (error) {
      this.#log.warn({ err: error, streamId: to.streamId }, "could not send rejection");
    }
  }

  // ---- control --------------------------------------------------------------------------

  /** A control message as its version's intake read it (v2: the subject's requester only). */
  #onControl(
    read: { from: string; control: Pick<ControlMessage, "cancel" | "credit"> } | { error: string },
    version: ProtocolVersion,
  ): void {
    if ("error" in read) {
      this.#counters.controlRejected++;
      this.#log.info({ reason: read.error }, "control message rejected");
      return;
    }
    this.#applyControl(read.from, read.control, version);
  }

  /**
   * Cancels and credits for `from`'s streams of `version` only: a v1 control (whose requester id
   * is only claimed) never touches a v2 stream, whose requester id its subject proved.
   */
  #applyControl(
    from: string,
    control: Pick<ControlMessage, "cancel" | "credit">,
    version: ProtocolVersion,
  ): void {
    const ignored = this.#registry.applyControl(
      from,
      control,
      (stream) => this.#end(stream, "cancelled"),
      (stream) => stream.wire.version === version,
    );
    if (ignored > 0) {
      this.#counters.controlRejected += ignored;
      this.#log.debug(
        { requesterNodeId: from, ignored },
        "control items for unknown streams ignored",
      );
    }
  }

  // ---- reconnects (why: server/reconnects.ts) -------------------------------------------

  #onReconnect(): void {
    const accepted = this.#registry.streams().filter((s) => s.accepted);
    this.#log.warn(
      { streams: accepted.length },
      "NATS connection re-established: ending accepted streams for their requesters to resume",
    );
    for (const stream of accepted) this.#end(stream, "error", reconnectGap(stream));
  }

  // ---- ending streams -------------------------------------------------------------------

  #finish(stream: ServedStream): void {
    const reader = stream.reader!;
    // Only accepted streams finish, so n is always defined here.
    this.#end(stream, "completed", (n) => stream.wire.end(stream.streamId, n ?? 1, reader));
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
      (n) => stream.wire.error(stream.streamId, code, messageOf(error), n),
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
    if (!stream.end()) return;
    this.#registry.unregister(stream);
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
      stream.sendFinal(this.#streamHost, finalFrame);
    } catch (err) {
      this.#log.warn({ err, streamId: stream.streamId }, "could not send the final frame");
    }
  }

  #publish(subject: string, data: Uint8Array): void {
    this.#connection.publish(subject, data);
    this.#counters.framesSent++;
    this.#counters.bytesSent += data.byteLength;
  }
}

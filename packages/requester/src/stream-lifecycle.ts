// The life of every open stream: its attempts routed by stream id and sent (each in the wire
// version its compute node is asked in, see wire-choice.ts), a broken attempt resumed or the
// stream ended (one decision, by the stream's resume budget), credit granted back for what the
// consumer took, and the counts of how streams ended.
import type { NatsConnection } from "@nats-io/nats-core";
import {
  AcceptTimeoutError,
  InternalError,
  newStreamId,
  type ProtocolVersion,
  ResumeExhaustedError,
  subjects,
  subjectsV2,
  type TailwireError,
} from "@tailwire/protocol";
import { Attempt, asTailwireError } from "./attempt.js";
import { monotonicNow } from "./clock.js";
import type { ControlPublisher } from "./control-publisher.js";
import type { Break, Liveness } from "./liveness.js";
import type { ClientStream } from "./log-stream.js";
import type { ResolvedOptions } from "./options.js";
import { encodeLogRequest, logRequestFor } from "./request.js";
import { END_CAUSES, type EndCause } from "./stats.js";
import { WireChoice } from "./wire-choice.js";

export interface EndOptions {
  /** Drop entries the consumer has not taken yet (it asked to stop). */
  discard: boolean;
  /** Tell the compute node to stop: false when it ended the stream itself or never had it. */
  notifyCompute: boolean;
}

export class StreamLifecycle {
  readonly #nc: NatsConnection;
  readonly #options: ResolvedOptions;
  readonly #control: ControlPublisher;
  readonly #liveness: Liveness<ClientStream>;
  /** Which wire version each compute node is asked in. */
  readonly #wire: WireChoice;
  /** Live attempts by their stream id: what frames and heartbeats are routed by. */
  readonly #routes = new Map<string, ClientStream>();
  /** Every stream not ended, including those waiting to resume (no live attempt). */
  readonly #open = new Set<ClientStream>();
  readonly #counters = { creditsSent: 0, resumeAttempts: 0, resumesExhausted: 0 };
  readonly #ended = Object.fromEntries(END_CAUSES.map((cause) => [cause, 0])) as Record<
    EndCause,
    number
  >;

  constructor(
    nc: NatsConnection,
    options: ResolvedOptions,
    control: ControlPublisher,
    liveness: Liveness<ClientStream>,
  ) {
    this.#nc = nc;
    this.#options = options;
    this.#control = control;
    this.#liveness = liveness;
    this.#wire = new WireChoice(options.protocol);
  }

  /**
   * The version to ask `computeNodeId` in: the one its open streams use (a node is never asked
   * in both at once, so each of its heartbeats speaks for all of them), else the wire choice.
   */
  versionFor(computeNodeId: string): ProtocolVersion {
    for (const open of this.#open) {
      if (open.computeNodeId === computeNodeId && !open.attempt.detached)
        return open.attempt.version;
    }
    return this.#wire.versionFor(computeNodeId);
  }

  /** The compute nodes asked in v1 now because they did not answer v2 (stats). */
  nodesOnV1(): string[] {
    return this.#wire.nodesOnV1();
  }

  /**
   * A v2 request met no answer that proves its node serves v2 (no responders, or silence until
   * the accept timeout): asked again at once in v1 under the same stream id, when "auto" allows.
   * True when it was (the caller does nothing more).
   */
  v2Unanswered(stream: ClientStream, why: string): boolean {
    const attempt = stream.attempt;
    if (attempt.version !== "v2" || attempt.detached) return false;
    // A resume of a stream the node served in v2: the node does serve v2, it is gone (or going
    // away), and that is news for the resume policy, not a reason to change version.
    if (stream.attempts > 1) return false;
    const { retryInV1, first } = this.#wire.v2Unanswered(stream.computeNodeId);
    if (!retryInV1 || !attempt.fallBackToV1()) return false;
    if (first) {
      this.#options.logger.info(
        { computeNodeId: stream.computeNodeId, why },
        "compute node does not serve ExecutionLogs/v2: using v1",
      );
    }
    let payload: Uint8Array;
    try {
      payload = this.#payload(stream, attempt);
    } catch (error) {
      this.end(stream, "error", asTailwireError(error), { discard: false, notifyCompute: false });
      return true;
    }
    this.#start(stream, payload);
    return true;
  }

  /** The stream whose live attempt has this id. */
  route(streamId: string): ClientStream | undefined {
    return this.#routes.get(streamId);
  }

  /** Opens a new stream: registers it and sends its first attempt's request. */
  open(stream: ClientStream, payload: Uint8Array): void {
    this.#open.add(stream);
    this.#start(stream, payload);
  }

  /**
   * A stream broke (error frame, protocol violation, timeout, lost stream, reconnect). Every
   * failure passes here: the stream's resume budget decides between a new attempt (after a
   * backoff, fromSeq = the last seq received) and the end of the stream. `cause` is the end
   * cause if it ends; `notifyCompute` false when the compute node ended the attempt itself.
   */
  broken(
    stream: ClientStream,
    error: TailwireError,
    cause: EndCause,
    notifyCompute = true,
    silent = false,
  ): void {
    if (stream.ended) return;
    const decision = stream.budget.decide(error, {
      now: monotonicNow(),
      attempts: stream.attempts,
      silent,
    });
    if (decision.action === "end") {
      let final = decision.error;
      if (decision.exhausted) {
        this.#counters.resumesExhausted++;
        const lastSeq = stream.receivedSeq;
        final = new ResumeExhaustedError(
          `log stream of execution ${stream.executionId} from compute node ${stream.computeNodeId} could not be resumed (${decision.attempts} attempts in ${Math.round(decision.elapsedMs)} ms); last sequence delivered: ${lastSeq ?? "none"}; last error: ${error.code}: ${error.message}`,
          { lastSeq, attempts: decision.attempts, cause: error },
        );
      }
      this.end(stream, cause, final, { discard: false, notifyCompute });
      return;
    }
    const old = stream.attempt.streamId;
    this.#detach(stream, notifyCompute);
    this.#options.logger.info(
      {
        streamId: old,
        computeNodeId: stream.computeNodeId,
        executionId: stream.executionId,
        code: error.code,
        reason: error.message,
        resumeFrom: stream.receivedSeq,
        attempt: decision.attempt,
        delayMs: decision.delayMs,
      },
      "log stream broke: resuming",
    );
    stream.scheduleResume(decision.delayMs, () => this.#resume(stream));
  }

  /** Breaks what liveness found (a silent node, unlisted streams, a twin). */
  breakAll(breaks: readonly Break<ClientStream>[]): void {
    for (const b of breaks) this.broken(b.stream, b.error, b.cause, true, b.silent === true);
  }

  /** Breaks every stream with a live attempt (our connection came back: frames may be lost). */
  breakLive(error: () => TailwireError): number {
    const live = [...this.#open].filter((s) => !s.attempt.detached);
    for (const stream of live) this.broken(stream, error(), "protocol_error");
    return live.length;
  }

  end(
    stream: ClientStream,
    cause: EndCause,
    error: TailwireError | undefined,
    options: EndOptions,
  ): void {
    if (stream.ended) return;
    this.#detach(stream, options.notifyCompute);
    this.#open.delete(stream);
    stream.finish(cause, error, options.discard);
    this.countEnd(stream, cause, error);
  }

  endAll(cause: EndCause, error: () => TailwireError, options: EndOptions): void {
    for (const stream of [...this.#open]) this.end(stream, cause, error(), options);
  }

  /** Credit back what the consumer took; nothing once the stream is over. */
  released(stream: ClientStream, bytes: number): void {
    // While a resume is pending there is no attempt to credit: the next request's window
    // accounts for what is still buffered instead.
    if (stream.ended) return;
    const grant = stream.attempt.release(bytes);
    if (grant > 0) {
      this.#control.credit(stream.computeNodeId, stream.streamId, grant, stream.attempt.version);
      this.#counters.creditsSent++;
    }
  }

  countEnd(stream: ClientStream, cause: EndCause, error: TailwireError | undefined): void {
    this.#ended[cause]++;
    const fields = {
      streamId: stream.streamId,
      computeNodeId: stream.computeNodeId,
      executionId: stream.executionId,
      cause,
      lastSeq: stream.lastSeq,
      ...(error ? { code: error.code, err: error } : {}),
    };
    if (cause === "completed" || cause === "cancelled")
      this.#options.logger.info(fields, "log stream ended");
    else this.#options.logger.warn(fields, "log stream failed");
  }

  stats() {
    let waiting = 0;
    for (const stream of this.#open) if (stream.waitingForCredit) waiting++;
    return {
      openStreams: this.#open.size,
      streamsWaitingForCredit: waiting,
      ...this.#counters,
      streamsEnded: { ...this.#ended },
    };
  }

  /** The server refused our v2 requests to `computeNodeId`: its pending ones go v1 at once. */
  v2Refused(computeNodeId: string): void {
    for (const stream of [...this.#open]) {
      if (stream.computeNodeId === computeNodeId && !stream.attempt.detached)
        this.v2Unanswered(stream, "permission violation");
    }
  }

  /** Registers the stream's current attempt and sends its request: also the entry point of a resume. */
  #start(stream: ClientStream, payload: Uint8Array): void {
    const attempt = stream.attempt;
    this.#routes.set(attempt.streamId, stream);
    this.#liveness.track(stream);
    attempt.startAcceptTimer(this.#options.acceptTimeoutMs, () => {
      if (this.v2Unanswered(stream, "accept timeout")) return;
      this.broken(
        stream,
        new AcceptTimeoutError(
          `compute node ${stream.computeNodeId} did not accept within ${this.#options.acceptTimeoutMs} ms`,
        ),
        "error",
      );
    });
    const self = this.#options.nodeId;
    const cid = stream.computeNodeId;
    try {
      if (attempt.version === "v2") {
        // Who asks is the subject's last token: only this requester's user may publish it.
        this.#nc.publish(subjectsV2.request(cid, self), payload, {
          reply: subjectsV2.streamInbox(self, cid, attempt.streamId),
        });
      } else {
        this.#nc.publish(subjects.request(cid), payload, {
          reply: subjects.streamInbox(self, attempt.streamId),
        });
      }
    } catch (error) {
      this.broken(
        stream,
        new InternalError("could not publish the request", { cause: error }),
        "error",
      );
    }
  }

  /** Starts the next attempt of a stream whose previous one was detached. */
  #resume(stream: ClientStream): void {
    if (stream.ended) return;
    const resumeFrom = stream.receivedSeq;
    const { windowBytes } = this.#options;
    const window = Attempt.resumeWindow(windowBytes, stream.bufferedBytes);
    const attempt = new Attempt(
      newStreamId(),
      stream.computeNodeId,
      window,
      windowBytes,
      resumeFrom,
      Attempt.linkOf(this.#options),
      // A resume stays in the stream's version: the node answered it in that one.
      stream.attempt.version,
    );
    let payload: Uint8Array;
    try {
      payload = this.#payload(stream, attempt);
    } catch (error) {
      this.end(stream, "error", asTailwireError(error), { discard: false, notifyCompute: false });
      return;
    }
    stream.nextAttempt(attempt);
    this.#counters.resumeAttempts++;
    this.#start(stream, payload);
  }

  /** Stops routing the stream's current attempt (and cancels it on the compute node if asked). */
  #detach(stream: ClientStream, notifyCompute: boolean): void {
    const attempt = stream.attempt;
    if (!attempt.detach()) return;
    this.#routes.delete(attempt.streamId);
    this.#liveness.untrack(stream, attempt.streamId);
    if (notifyCompute)
      this.#control.cancel(stream.computeNodeId, attempt.streamId, attempt.version);
  }

  /** An attempt's request, in its version. */
  #payload(stream: ClientStream, attempt: Attempt): Uint8Array {
    const request = logRequestFor(
      stream.request,
      this.#options,
      attempt.streamId,
      attempt.window,
      attempt.resumeFrom,
    );
    return encodeLogRequest(request, attempt.version);
  }
}

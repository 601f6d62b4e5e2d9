// The life of every open stream: its attempts routed by stream id and sent, a broken attempt
// resumed or the stream ended (one decision, by the stream's resume budget), credit granted back
// for what the consumer took, and the counts of how streams ended.
import type { NatsConnection } from "@nats-io/nats-core";
import {
  AcceptTimeoutError,
  encode,
  InternalError,
  newStreamId,
  ResumeExhaustedError,
  subjects,
  type TailwireError,
} from "@tailwire/protocol";
import { Attempt, asTailwireError } from "./attempt.js";
import { monotonicNow } from "./clock.js";
import type { ControlPublisher } from "./control-publisher.js";
import type { Break, Liveness } from "./liveness.js";
import type { ClientStream } from "./log-stream.js";
import type { ResolvedOptions } from "./options.js";
import { logRequestFor } from "./request.js";
import { END_CAUSES, type EndCause } from "./stats.js";

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
      this.#control.credit(stream.computeNodeId, stream.streamId, grant);
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

  /** Registers the stream's current attempt and sends its request: also the entry point of a resume. */
  #start(stream: ClientStream, payload: Uint8Array): void {
    const attempt = stream.attempt;
    this.#routes.set(attempt.streamId, stream);
    this.#liveness.track(stream);
    attempt.startAcceptTimer(this.#options.acceptTimeoutMs, () =>
      this.broken(
        stream,
        new AcceptTimeoutError(
          `compute node ${stream.computeNodeId} did not accept within ${this.#options.acceptTimeoutMs} ms`,
        ),
        "error",
      ),
    );
    try {
      this.#nc.publish(subjects.request(stream.computeNodeId), payload, {
        reply: subjects.streamInbox(this.#options.nodeId, attempt.streamId),
      });
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
    );
    let payload: Uint8Array;
    try {
      payload = encode(
        logRequestFor(stream.request, this.#options, attempt.streamId, window, resumeFrom),
      );
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
    if (notifyCompute) this.#control.cancel(stream.computeNodeId, attempt.streamId);
  }
}

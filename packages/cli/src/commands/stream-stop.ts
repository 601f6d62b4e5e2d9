// Why a `tailwire logs` run stopped its stream itself: Ctrl-C/SIGTERM, a closed pipe, NATS gone
// for longer than the reconnect window, or --until. One owner for the signal both logs commands
// (one execution, --job) hand to their streams.
import type { NatsConnection } from "@nats-io/nats-core";
import { onTerminate } from "../signals.js";

/** Why this command stopped its stream itself (and what it exits with then). */
export type StoppedBy = "SIGINT" | "SIGTERM" | "EPIPE" | "UNTIL" | "NATS";

export class StreamStop {
  readonly #abort = new AbortController();
  #by: StoppedBy | undefined;
  readonly #off: () => void;
  readonly #nats: { stop(): void };
  readonly #onPipeError = (error: NodeJS.ErrnoException) => {
    // `tailwire logs ... | head`: the reader went away. Stop the stream, quietly.
    if (error.code === "EPIPE") this.stop("EPIPE");
  };

  constructor(nc: NatsConnection, reconnectWindowMs: number) {
    this.#off = onTerminate((signal) => this.stop(signal));
    this.#nats = watchNatsConnection(nc, reconnectWindowMs, () => this.stop("NATS"));
    process.stdout.on("error", this.#onPipeError);
    process.stderr.on("error", this.#onPipeError);
  }

  /** Aborts when the stream should stop: hand it to streamLogs / streamJobLogs. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** The first reason the stream was stopped for, if any. */
  get by(): StoppedBy | undefined {
    return this.#by;
  }

  stop(why: StoppedBy): void {
    this.#by ??= why;
    this.#abort.abort(why);
  }

  dispose(): void {
    this.#off();
    this.#nats.stop();
    process.stdout.off("error", this.#onPipeError);
    process.stderr.off("error", this.#onPipeError);
  }
}

/**
 * Watches the NATS connection: when it is lost and not back within `windowMs`, calls `onLost`.
 * (nats.js reconnects on its own, forever here; this is the one place that decides to give up.)
 */
function watchNatsConnection(
  nc: NatsConnection,
  windowMs: number,
  onLost: () => void,
): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  const status = nc.status();
  void (async () => {
    for await (const event of status) {
      if (event.type === "disconnect" && timer === undefined) {
        timer = setTimeout(onLost, windowMs);
      } else if (event.type === "reconnect") {
        clearTimeout(timer);
        timer = undefined;
      }
    }
  })().catch(() => {});
  return {
    stop() {
      clearTimeout(timer);
      // nats.js's status iterator has stop() (not in its AsyncIterable type); close() ends it too.
      (status as { stop?: () => void }).stop?.();
    },
  };
}

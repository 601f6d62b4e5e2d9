// One served stream (ServedStream): its state from registration to end, and the pump that sends
// its data frames under flow control.
import type { CompressionCodec, LogRequest } from "@tailwire/protocol";
import {
  isRemovedLines,
  type LogReader,
  type LogReadItem,
  type RemovedLines,
} from "../log-source.js";
import { CreditGate } from "./credit-gate.js";
import { FrameBatcher } from "./frame-batcher.js";
import { outgoingFrame } from "./frame-compression.js";
import {
  acceptedRetentionFields,
  noticeForOldRequester,
  wantsRemovedNotices,
} from "./retention-notices.js";
import { WIRE_V1, type WireDialect } from "./wire-dialect.js";

export type EndCause =
  | "completed"
  | "cancelled"
  | "requester_lost"
  | "unknown_to_requester"
  | "going_away"
  | "error";

export const END_CAUSES: readonly EndCause[] = [
  "completed",
  "cancelled",
  "requester_lost",
  "unknown_to_requester",
  "going_away",
  "error",
];

/** What a stream needs from the server that owns it. */
export interface StreamHost {
  /** Publishes one frame; throws when the connection cannot take it. */
  publish(subject: string, data: Uint8Array): void;
  /** The pump reached the end of the read: the host sends End and forgets the stream. */
  finished(stream: ServedStream): void;
  /** The read or a publish failed: the host sends Error INTERNAL and forgets the stream. */
  failed(stream: ServedStream, error: unknown): void;
}

const LINGER_TIMEOUT = Symbol("linger");

/** A pause that lets timers and socket I/O run during a long burst of microtask-only work. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const YIELD_EVERY_MS = 4;

/**
 * One stream of one request, from its registration to its end: its state (accepted, ended, the
 * last frame number, its reader and frame limit) is written here only. Once accepted it reads its
 * LogReader and publishes data frames under flow control. It never publishes after its signal
 * aborted; whoever ends it sends the final frame (if any) through `sendFinal`.
 */
export class ServedStream {
  readonly request: LogRequest;
  readonly inbox: string;
  readonly controller = new AbortController();
  readonly credit: CreditGate;
  /** Frame number of the last frame sent (Accepted is 0). */
  #lastN = -1;
  #accepted = false;
  #ended = false;
  #reader: LogReader | undefined;
  #maxFrameBytes = 0;
  /** The codec Accepted named for this stream's data frames; undefined = plain frames. */
  #codec: CompressionCodec | undefined;
  /** The afterSeq the Accepted frame stated. */
  #acceptedAfterSeq = 0;

  /** The wire version the stream was opened in: every frame of it is of that version. */
  readonly wire: WireDialect;

  constructor(request: LogRequest, inbox: string, wire: WireDialect = WIRE_V1) {
    this.request = request;
    this.inbox = inbox;
    this.wire = wire;
    this.credit = new CreditGate(request.window);
  }

  /** Frame number of the last frame sent (Accepted is 0; -1 before it). */
  get lastN(): number {
    return this.#lastN;
  }

  /** Whether the Accepted frame went out: then every later frame has a number. */
  get accepted(): boolean {
    return this.#accepted;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The log source's read, once it opened. */
  get reader(): LogReader | undefined {
    return this.#reader;
  }

  /** The largest data frame this stream sends (stated in its Accepted frame). */
  get maxFrameBytes(): number {
    return this.#maxFrameBytes;
  }

  get streamId(): string {
    return this.request.streamId;
  }

  get requesterNodeId(): string {
    return this.request.sourcePeerId;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * The read opened: sends the Accepted frame (frame 0) for it and takes the read over. Throws
   * when the frame could not be published; the stream then is not accepted.
   */
  accept(
    reader: LogReader,
    maxFrameBytes: number,
    computeNodeId: string,
    host: StreamHost,
    codec?: CompressionCodec,
  ): void {
    this.#reader = reader;
    this.#maxFrameBytes = maxFrameBytes;
    this.#codec = codec;
    const retention = acceptedRetentionFields(this.request, reader);
    this.#acceptedAfterSeq = retention.afterSeq;
    const { afterSeq, ...rest } = retention;
    host.publish(
      this.inbox,
      this.wire.accepted(this.streamId, computeNodeId, {
        afterSeq,
        lastSeq: reader.lastSeqAtOpen,
        maxFrameBytes,
        ...rest,
        ...(codec !== undefined && { compression: codec }),
      }),
    );
    this.#lastN = 0;
    this.#accepted = true;
  }

  /** Marks the stream ended and stops its work; false when it had ended already. */
  end(): boolean {
    if (this.#ended) return false;
    this.#ended = true;
    this.controller.abort();
    return true;
  }

  /**
   * Publishes the stream's final frame (End, Error), numbered after the last one when the stream
   * was accepted (`n` undefined when it was not). Throws when the frame could not be published.
   */
  sendFinal(host: StreamHost, frame: (n: number | undefined) => Uint8Array): void {
    host.publish(this.inbox, frame(this.#accepted ? this.#lastN + 1 : undefined));
    if (this.#accepted) this.#lastN++;
  }

  /** Runs until the read ends, fails or the stream is stopped; always releases the reader. */
  async pump(host: StreamHost, lingerMs: number): Promise<void> {
    const reader = this.#reader!;
    try {
      const completed = await this.#pumpEntries(host, reader, lingerMs);
      if (completed && !this.signal.aborted) host.finished(this);
    } catch (error) {
      if (!this.signal.aborted) host.failed(this, error);
    } finally {
      await reader.close().catch(() => {});
    }
  }

  async #pumpEntries(host: StreamHost, reader: LogReader, lingerMs: number): Promise<boolean> {
    const signal = this.signal;
    const batcher = new FrameBatcher(this.streamId, this.#maxFrameBytes, false, this.wire.data);
    const iterator = reader[Symbol.asyncIterator]();
    let lastYield = performance.now();
    let lingerUntil = 0;
    let next = iterator.next();
    let exhausted = false;
    try {
      for (;;) {
        let result: IteratorResult<LogReadItem> | typeof LINGER_TIMEOUT;
        if (batcher.hasPending && lingerMs > 0) {
          result = await raceTimeout(next, lingerUntil - performance.now());
        } else {
          result = await next;
        }
        if (signal.aborted) return false;
        if (result === LINGER_TIMEOUT) {
          // Nothing more arrived within the linger: send what we have (low latency for follows).
          batcher.seal();
          if (!(await this.#sendReady(host, batcher))) return false;
          continue;
        }
        if (result.done) {
          exhausted = true;
          break;
        }
        if (isRemovedLines(result.value)) {
          if (!(await this.#sendNotice(host, batcher, result.value))) return false;
          next = iterator.next();
          continue;
        }
        const hadPending = batcher.hasPending;
        batcher.addAll(result.value);
        if (lingerMs <= 0) batcher.seal();
        else if (!hadPending || batcher.ready.length > 0)
          lingerUntil = performance.now() + lingerMs;
        if (!(await this.#sendReady(host, batcher))) return false;
        // A reader with lots available never leaves the microtask queue: let I/O and timers in.
        if (performance.now() - lastYield > YIELD_EVERY_MS) {
          await yieldToEventLoop();
          lastYield = performance.now();
          if (signal.aborted) return false;
        }
        next = iterator.next();
      }
      batcher.seal();
      return await this.#sendReady(host, batcher);
    } finally {
      // Leaving early: end the reader's generator so its own cleanup runs.
      if (!exhausted) void iterator.return?.(undefined)?.catch(() => {});
    }
  }

  /**
   * A removal notice goes out after every entry before it (the batcher is flushed first) and
   * takes the next frame number; it takes no credit. An older requester gets none (see
   * retention-notices).
   */
  async #sendNotice(
    host: StreamHost,
    batcher: FrameBatcher,
    notice: RemovedLines,
  ): Promise<boolean> {
    if (!wantsRemovedNotices(this.request)) {
      if (notice.toSeq <= this.#acceptedAfterSeq) return true; // covered by its Accepted
      // Everything before the gap goes out first, then the stream fails explicitly.
      batcher.seal();
      if (!(await this.#sendReady(host, batcher))) return false;
      noticeForOldRequester(notice, this.#acceptedAfterSeq);
      return true;
    }
    batcher.seal();
    if (!(await this.#sendReady(host, batcher))) return false;
    const data = this.wire.removed(
      this.streamId,
      this.#lastN + 1,
      notice.reason,
      notice.fromSeq,
      notice.toSeq,
    );
    this.#lastN++;
    host.publish(this.inbox, data);
    return true;
  }

  /** Sends every ready frame, waiting for credit; false when the stream was stopped meanwhile. */
  async #sendReady(host: StreamHost, batcher: FrameBatcher): Promise<boolean> {
    const signal = this.signal;
    while (batcher.ready.length > 0) {
      const n = this.#lastN + 1;
      const { data, creditBytes } = outgoingFrame(
        this.#codec,
        this.streamId,
        n,
        batcher.encodeFirst(n),
      );
      if (!this.credit.tryTake(creditBytes) && !(await this.credit.take(creditBytes, signal)))
        return false;
      if (signal.aborted) return false;
      batcher.ready.shift();
      this.#lastN++;
      host.publish(this.inbox, data);
    }
    return true;
  }
}

function raceTimeout<T>(promise: Promise<T>, ms: number): Promise<T | typeof LINGER_TIMEOUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof LINGER_TIMEOUT>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms), LINGER_TIMEOUT);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

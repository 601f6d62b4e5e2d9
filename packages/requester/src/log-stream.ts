import {
  type AcceptedFrame,
  CancelledError,
  type LogEntry,
  type TailwireError,
} from "@tailwire/protocol";
import type { Attempt } from "./attempt.js";
import { toEpochMs } from "./clock.js";
import { EntryBuffer } from "./entry-buffer.js";
import type { ReadOptions } from "./options.js";
import type { ResumeBudget } from "./resume-policy.js";
import type { EndCause } from "./stats.js";

/** What the compute node stated when it accepted the stream. */
export interface AcceptedInfo {
  computeNodeId: string;
  /** The stream carries entries with seq > afterSeq. */
  afterSeq: number;
  /** The execution's last seq when the stream was accepted (0 = no lines yet). */
  lastSeq: number;
  maxFrameBytes: number;
  /** Epoch ms. */
  acceptedAt: number;
}

/**
 * One execution's log, as an async iterable of whole lines. Iterate it once. Iteration ends
 * normally at the compute node's End (or after cancel()); otherwise it throws a TailwireError
 * subclass after delivering the entries that were already received.
 */
export interface LogStream extends AsyncIterable<LogEntry> {
  /**
   * The id of the stream on the wire (the last token of its inbox subject). A resume sends a new
   * request with a new id, so this changes across attempts: it is always the current attempt's.
   */
  readonly streamId: string;
  /** Requests sent for this stream: 1, plus one per resume attempt. */
  readonly attempts: number;
  /** The compute node asked. */
  readonly nodeId: string;
  readonly executionId: string;
  /**
   * The seq of the last entry handed to the consumer; before any, the Accepted frame's afterSeq
   * (or the request's fromSeq before acceptance). Resume with `fromSeq: stream.lastSeq`.
   */
  readonly lastSeq: number | undefined;
  /** Resolves on acceptance; rejects with the stream's error if it ends before (never unhandled). */
  readonly accepted: Promise<AcceptedInfo>;
  readonly acceptedInfo: AcceptedInfo | undefined;
  /** Set once the stream has ended (entries may still be buffered for the consumer). */
  readonly endCause: EndCause | undefined;
  /** The execution's exit code from the End frame: null when unknown, undefined before End. */
  readonly exitCode: number | null | undefined;
  /**
   * The compute node's last heartbeat said this stream has lines ready but waits for credit:
   * the consumer reads slower than the node could send (not a quiet log). False otherwise.
   */
  readonly waitingForCredit: boolean;
  /** Ends the stream quietly: a pending or later `next()` reports done; buffered entries are dropped. */
  cancel(): void;
  /**
   * The same entries as iterating the stream, in the batches they arrived in (a frame's worth,
   * never empty): one await per batch instead of one per line, for consumers that move many
   * lines (a log shipper, a terminal writing a batch at once). The stream is still iterated
   * once: either this or the stream itself. Breaking out of the loop cancels the stream.
   */
  batches(): AsyncIterable<readonly LogEntry[]>;
}

/** The client's side of a stream: what the stream asks of it. */
export interface StreamOwner {
  /** The consumer took all entries of frames worth `bytes`: candidates for credit. */
  released(stream: ClientStream, bytes: number): void;
  /** The consumer cancelled (cancel() or leaving a for-await loop). */
  cancelledByConsumer(stream: ClientStream): void;
}

/** What one step of iteration hands out: an entry, or a batch of them (see batches()). */
type Taken = LogEntry | readonly LogEntry[];

const lastSeqOf = (taken: Taken): number =>
  Array.isArray(taken) ? (taken[taken.length - 1] as LogEntry).seq : (taken as LogEntry).seq;

interface Waiter {
  resolve(result: IteratorResult<Taken>): void;
  reject(error: Error): void;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * The consumer-facing stream. The client pushes entries and the end into it from its
 * subscription callback (which must never wait); the consumer pulls at its own pace.
 */
export class ClientStream implements LogStream {
  readonly nodeId: string;
  readonly executionId: string;
  /** The read options as requested; a resume re-issues them with fromSeq = lastSeq. */
  readonly read: ReadOptions;
  attempt: Attempt;
  /** Requests sent so far (the current attempt included). */
  attempts = 1;
  /** Decides whether a failure is resumed; owned by the client. */
  readonly budget: ResumeBudget;
  /** Times this stream was broken because its compute node's heartbeat omitted it. */
  #unlistedBreaks = 0;
  #waitingForCredit = false;
  /** Pending resume (backoff) timer: set while the stream has no live attempt. */
  resumeTimer: NodeJS.Timeout | undefined;
  /** Removes the abort listener; set by the client. */
  detachSignal: (() => void) | undefined;

  readonly #owner: StreamOwner;
  readonly #buffer: EntryBuffer;
  readonly #accepted: Promise<AcceptedInfo>;
  #resolveAccepted!: (info: AcceptedInfo) => void;
  #rejectAccepted!: (error: Error) => void;
  #acceptedInfo: AcceptedInfo | undefined;
  #lastSeq: number | undefined;
  /** Highest seq received (delivered or buffered); afterSeq once accepted; fromSeq before. */
  #receivedSeq: number | undefined;
  #end: { cause: EndCause; error: TailwireError | undefined } | undefined;
  #errorThrown = false;
  #exitCode: number | null | undefined;
  #waiter: Waiter | undefined;
  /** How the consumer's iterator takes from the buffer; set once iteration starts. */
  #take: (() => Taken | undefined) | undefined;

  constructor(read: ReadOptions, attempt: Attempt, owner: StreamOwner, budget: ResumeBudget) {
    this.nodeId = read.nodeId;
    this.executionId = read.executionId;
    this.read = read;
    this.attempt = attempt;
    this.budget = budget;
    this.#owner = owner;
    this.#lastSeq = read.fromSeq;
    this.#receivedSeq = read.fromSeq;
    this.#buffer = new EntryBuffer((bytes) => this.#owner.released(this, bytes));
    this.#accepted = new Promise<AcceptedInfo>((resolve, reject) => {
      this.#resolveAccepted = resolve;
      this.#rejectAccepted = reject;
    });
    // Most consumers only iterate: a stream that fails before acceptance must not crash the
    // process with an unhandled rejection. Awaiting `accepted` still sees the rejection.
    this.#accepted.catch(() => {});
  }

  get streamId(): string {
    return this.attempt.streamId;
  }

  get acceptedAt(): number | undefined {
    return this.attempt.acceptedAt;
  }

  get waitingForCredit(): boolean {
    return this.#waitingForCredit && !this.ended;
  }

  /** What the compute node's last heartbeat listing this stream said about its credit. */
  noteCreditWait(waiting: boolean): void {
    this.#waitingForCredit = waiting;
  }

  get unlistedBreaks(): number {
    return this.#unlistedBreaks;
  }

  /** A heartbeat of its compute node omitted this stream and it was broken for it. */
  noteUnlisted(): void {
    this.#unlistedBreaks++;
  }

  get lastSeq(): number | undefined {
    return this.#lastSeq;
  }

  /**
   * Where a resume starts: the last seq received (entries still buffered are delivered, so
   * asking again from the last delivered one would duplicate them). Undefined before the first
   * acceptance when the request had no fromSeq: a resume then re-sends the original request.
   */
  get receivedSeq(): number | undefined {
    return this.#receivedSeq;
  }

  get accepted(): Promise<AcceptedInfo> {
    return this.#accepted;
  }

  get acceptedInfo(): AcceptedInfo | undefined {
    return this.#acceptedInfo;
  }

  get endCause(): EndCause | undefined {
    return this.#end?.cause;
  }

  get exitCode(): number | null | undefined {
    return this.#exitCode;
  }

  get ended(): boolean {
    return this.#end !== undefined;
  }

  /** Wire bytes received and not yet consumed. */
  get bufferedBytes(): number {
    return this.#buffer.bytes;
  }

  cancel(): void {
    if (!this.#end) this.#owner.cancelledByConsumer(this);
  }

  // --- called by the client ---

  markAccepted(frame: AcceptedFrame, acceptedAtMonotonic: number): void {
    // Only the first acceptance counts for the consumer; a resumed attempt keeps the delivered seq.
    if (this.#acceptedInfo) return;
    this.#lastSeq = frame.afterSeq;
    this.#receivedSeq = frame.afterSeq;
    this.#acceptedInfo = {
      computeNodeId: frame.computeNodeId,
      afterSeq: frame.afterSeq,
      lastSeq: frame.lastSeq,
      maxFrameBytes: frame.maxFrameBytes,
      acceptedAt: toEpochMs(acceptedAtMonotonic),
    };
    this.#resolveAccepted(this.#acceptedInfo);
  }

  push(entries: LogEntry[], bytes: number): void {
    const last = entries[entries.length - 1];
    if (last) this.#receivedSeq = last.seq;
    this.#buffer.push(entries, bytes);
    this.#wake();
  }

  setExitCode(exitCode: number | null | undefined): void {
    this.#exitCode = exitCode === undefined ? null : exitCode;
  }

  /**
   * Ends the stream once. `discard` drops buffered entries (cancel, close, abort: the consumer
   * asked to stop); otherwise they are delivered before the end or the error.
   */
  finish(cause: EndCause, error: TailwireError | undefined, discard: boolean): void {
    if (this.#end) return;
    this.#end = { cause, error };
    if (this.resumeTimer !== undefined) {
      clearTimeout(this.resumeTimer);
      this.resumeTimer = undefined;
    }
    if (discard) this.#buffer.clear();
    if (!this.#acceptedInfo) {
      this.#rejectAccepted(
        error ?? new CancelledError("the stream was cancelled before it was accepted"),
      );
    }
    this.#wake();
  }

  // --- the consumer's side ---

  [Symbol.asyncIterator](): AsyncIterator<LogEntry> {
    const buffer = this.#buffer;
    const iterator = this.#iterate(() => buffer.take());
    const next = iterator.next;
    // The per-line step, taken up to millions of times a second: an entry that is already
    // buffered is handed out without the general path's indirections.
    iterator.next = () => {
      if (this.#waiter === undefined) {
        const entry = buffer.take();
        if (entry !== undefined) {
          this.#lastSeq = entry.seq;
          return Promise.resolve({ done: false, value: entry });
        }
      }
      return next();
    };
    return iterator;
  }

  batches(): AsyncIterable<readonly LogEntry[]> {
    return { [Symbol.asyncIterator]: () => this.#iterate(() => this.#buffer.takeBatch()) };
  }

  #iterate<T extends Taken>(take: () => T | undefined): AsyncIterator<T> {
    if (this.#take) throw new TypeError("a LogStream can be iterated only once");
    this.#take = take;
    return {
      next: () => this.#next() as Promise<IteratorResult<T>>,
      return: () => {
        // Leaving a for-await loop early (break, throw) must tell the compute node at once.
        this.cancel();
        this.#buffer.clear();
        return Promise.resolve(DONE);
      },
    };
  }

  #next(): Promise<IteratorResult<Taken>> {
    if (this.#waiter)
      return Promise.reject(new TypeError("next() called before the previous next() settled"));
    const result = this.#settle();
    if (result === undefined) {
      return new Promise((resolve, reject) => {
        this.#waiter = { resolve, reject };
      });
    }
    return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
  }

  /** The next result if one is available now: entries, the end, or the error to throw (once). */
  #settle(): IteratorResult<Taken> | TailwireError | undefined {
    const taken = this.#take?.();
    if (taken) {
      this.#lastSeq = lastSeqOf(taken);
      return { done: false, value: taken };
    }
    if (!this.#end) return undefined;
    if (this.#end.error && !this.#errorThrown) {
      this.#errorThrown = true;
      return this.#end.error;
    }
    return DONE;
  }

  #wake(): void {
    const waiter = this.#waiter;
    if (!waiter) return;
    const result = this.#settle();
    if (result === undefined) return;
    this.#waiter = undefined;
    if (result instanceof Error) waiter.reject(result);
    else waiter.resolve(result);
  }
}

// The consumer-facing stream: entries pushed in by the client, pulled by the consumer at its
// own pace, across the attempts (requests) a resume makes under it.
import {
  type AcceptedFrame,
  CancelledError,
  type LogEntry,
  type TailwireError,
} from "@tailwire/protocol";
import type { Attempt } from "./attempt.js";
import { toEpochMs } from "./clock.js";
import { EntryBuffer } from "./entry-buffer.js";
import type { LogItem, RemovedNotice } from "./notices.js";
import type { StreamRequest } from "./request.js";
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
  /**
   * The first seq the compute node's store still held (lines below it were removed by
   * retention); undefined when the compute node did not say (older nodes).
   */
  firstSeq?: number;
  /** The codec of the stream's compressed frames; undefined when its frames are plain. */
  compression?: string;
}

/**
 * One execution's log, as an async iterable of whole lines. Iterate it once. Iteration ends
 * normally at the compute node's End (or after cancel()); otherwise it throws a TailwireError
 * subclass after delivering the entries that were already received.
 *
 * Between the entries may come a RemovedNotice (check with `isRemovedNotice`): lines the stream
 * covers that the compute node's retention removed, in order (the first item, for lines asked
 * for that were gone already; later, for lines a follow fell behind on). The stream goes on.
 */
export interface LogStream extends AsyncIterable<LogItem> {
  /**
   * The id of the stream on the wire (the last token of its inbox subject). A resume sends a new
   * request with a new id, so this changes across attempts: it is always the current attempt's.
   */
  readonly streamId: string;
  /** Requests sent for this stream: 1, plus one per resume attempt. */
  readonly attempts: number;
  /** The compute node asked. */
  readonly computeNodeId: string;
  /** @deprecated The old name of `computeNodeId` (it always meant the remote compute node). */
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
   * once: either this or the stream itself. Breaking out of the loop cancels the stream. A
   * removal notice comes as its own step (not an array).
   */
  batches(): AsyncIterable<readonly LogEntry[] | RemovedNotice>;
}

/** The client's side of a stream: what the stream asks of it. */
export interface StreamOwner {
  /** The consumer took all entries of frames worth `bytes`: candidates for credit. */
  released(stream: ClientStream, bytes: number): void;
  /** The consumer cancelled (cancel() or leaving a for-await loop). */
  cancelledByConsumer(stream: ClientStream): void;
}

/** What one step of iteration hands out: an entry or notice, or a batch (see batches()). */
type Taken = LogItem | readonly LogEntry[];

/** The seq a step covers up to: an entry's, a batch's last, a notice's last removed seq. */
const lastSeqOf = (taken: Taken): number =>
  Array.isArray(taken)
    ? (taken[taken.length - 1] as LogEntry).seq
    : ((taken as LogEntry).seq ?? (taken as RemovedNotice).toSeq);

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
  readonly computeNodeId: string;
  readonly executionId: string;
  /** The request as asked; a resume re-issues it with fromSeq = the last seq received. */
  readonly request: StreamRequest;
  #attempt: Attempt;
  #attempts = 1;
  /** Decides whether a failure is resumed; asked by the client. */
  readonly budget: ResumeBudget;
  /** Times this stream was broken because its compute node's heartbeat omitted it. */
  #unlistedBreaks = 0;
  #waitingForCredit = false;
  /** Pending resume (backoff) timer: set while the stream has no live attempt. */
  #resumeTimer: NodeJS.Timeout | undefined;
  /** Removes the abort listener. */
  #detachSignal: (() => void) | undefined;

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

  constructor(request: StreamRequest, attempt: Attempt, owner: StreamOwner, budget: ResumeBudget) {
    this.computeNodeId = request.computeNodeId;
    this.executionId = request.executionId;
    this.request = request;
    this.#attempt = attempt;
    this.budget = budget;
    this.#owner = owner;
    this.#lastSeq = request.fromSeq;
    this.#receivedSeq = request.fromSeq;
    this.#buffer = new EntryBuffer((bytes) => this.#owner.released(this, bytes));
    this.#accepted = new Promise<AcceptedInfo>((resolve, reject) => {
      this.#resolveAccepted = resolve;
      this.#rejectAccepted = reject;
    });
    // Most consumers only iterate: a stream that fails before acceptance must not crash the
    // process with an unhandled rejection. Awaiting `accepted` still sees the rejection.
    this.#accepted.catch(() => {});
  }

  /** @deprecated Use computeNodeId. */
  get nodeId(): string {
    return this.computeNodeId;
  }

  /** The current attempt (one request on the wire). */
  get attempt(): Attempt {
    return this.#attempt;
  }

  /** Requests sent so far (the current attempt included). */
  get attempts(): number {
    return this.#attempts;
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

  /**
   * Its compute node's heartbeat listed it after acceptance: healthy end to end, so a later
   * failure starts a fresh resume budget; `waiting` is what the heartbeat said about its credit.
   */
  listed(waiting: boolean): void {
    this.budget.progress();
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

  /** Removal notices received and not yet consumed (they take no credit: bounded by the client). */
  get bufferedNotices(): number {
    return this.#buffer.notices;
  }

  /** Wire bytes received and not yet consumed. */
  get bufferedBytes(): number {
    return this.#buffer.bytes;
  }

  cancel(): void {
    if (!this.#end) this.#owner.cancelledByConsumer(this);
  }

  // --- called by the client ---

  /** Aborting `signal` runs `onAbort`; the listener goes once the stream ends. */
  listenForAbort(signal: AbortSignal, onAbort: () => void): void {
    signal.addEventListener("abort", onAbort, { once: true });
    this.#detachSignal = () => signal.removeEventListener("abort", onAbort);
  }

  /** Starts `resume` after `delayMs`, unless the stream ends first. */
  scheduleResume(delayMs: number, resume: () => void): void {
    this.#resumeTimer = setTimeout(() => {
      this.#resumeTimer = undefined;
      resume();
    }, delayMs);
  }

  /** The next attempt replaces the detached one. */
  nextAttempt(attempt: Attempt): void {
    this.#attempt = attempt;
    this.#attempts++;
  }

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
      ...(frame.firstSeq === undefined ? {} : { firstSeq: frame.firstSeq }),
      ...(frame.compression === undefined ? {} : { compression: frame.compression }),
    };
    this.#resolveAccepted(this.#acceptedInfo);
  }

  push(entries: LogEntry[], bytes: number): void {
    const last = entries[entries.length - 1];
    if (last) this.#receivedSeq = last.seq;
    this.#buffer.push(entries, bytes);
    this.#wake();
  }

  /** A removal notice, delivered in order; a resume then starts after its last seq. */
  pushNotice(notice: RemovedNotice): void {
    this.#receivedSeq = notice.toSeq;
    this.#buffer.pushNotice(notice);
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
    this.#detachSignal?.();
    this.#detachSignal = undefined;
    if (this.#resumeTimer !== undefined) {
      clearTimeout(this.#resumeTimer);
      this.#resumeTimer = undefined;
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

  [Symbol.asyncIterator](): AsyncIterator<LogItem> {
    const buffer = this.#buffer;
    const iterator = this.#iterate(() => buffer.take());
    const next = iterator.next;
    // The per-line step, the hottest in a stream: an entry that is already
    // buffered is handed out without the general path's indirections.
    iterator.next = () => {
      if (this.#waiter === undefined) {
        const entry = buffer.take();
        if (entry !== undefined) {
          this.#lastSeq = (entry as LogEntry).seq ?? (entry as RemovedNotice).toSeq;
          return Promise.resolve({ done: false, value: entry });
        }
      }
      return next();
    };
    return iterator;
  }

  batches(): AsyncIterable<readonly LogEntry[] | RemovedNotice> {
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

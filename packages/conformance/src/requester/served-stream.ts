// What the played compute node holds per stream and per requester: a served stream's frame
// numbers, credit and state (Served), and a requester's open streams and heartbeat timer (Link).
// Each owns its state; the node and the scenarios change it only through these methods.
import type { LogRequest } from "@tailwire/protocol";

/** One stream the played compute node serves. */
export class Served {
  readonly request: LogRequest;
  readonly reply: string;
  #n = 0;
  #sent = 0;
  #granted = 0;
  #cancelled = false;
  #ended = false;
  #acceptedAt = 0;
  #lastSeqSent = 0;
  #waitingForCredit = false;

  constructor(request: LogRequest, reply: string) {
    this.request = request;
    this.reply = reply;
  }

  get streamId(): string {
    return this.request.streamId;
  }

  get maxFrameBytes(): number {
    return Math.min(64 * 1024, Math.floor(this.request.window / 2));
  }

  get credit(): number {
    return this.request.window + this.#granted - this.#sent;
  }

  /** The number the next frame gets. */
  get n(): number {
    return this.#n;
  }

  /** Data-frame bytes sent. */
  get sent(): number {
    return this.#sent;
  }

  get granted(): number {
    return this.#granted;
  }

  /** The requester cancelled it, or answered it unknown to a heartbeat. */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** No longer open: ended, stopped, or given up by the runner. */
  get ended(): boolean {
    return this.#ended;
  }

  get acceptedAt(): number {
    return this.#acceptedAt;
  }

  /** The seq of the last entry sent. */
  get lastSeqSent(): number {
    return this.#lastSeqSent;
  }

  /** Data is ready but the credit is spent: listed in the heartbeat's creditWait. */
  get waitingForCredit(): boolean {
    return this.#waitingForCredit;
  }

  /** Accepted (frame 0) went out: data frames number from 1. */
  accepted(): void {
    this.#n = 1;
    this.#acceptedAt = Date.now();
  }

  /** A data frame of `bytes` went out, its last entry `lastSeq`. */
  sentData(bytes: number, lastSeq: number): void {
    this.#n++;
    this.#sent += bytes;
    this.#lastSeqSent = lastSeq;
  }

  /** Takes the next frame number (for a frame that is not data: End). */
  takeN(): number {
    return this.#n++;
  }

  /** A twist: the next frame number is never sent (a gap). */
  skipFrameNumber(): void {
    this.#n++;
  }

  /** A twist: the last frame number is sent again (a duplicate). */
  repeatFrameNumber(): void {
    this.#n--;
  }

  waitForCredit(waiting: boolean): void {
    this.#waitingForCredit = waiting;
  }

  grant(bytes: number): void {
    this.#granted += bytes;
  }

  cancel(): void {
    this.#cancelled = true;
  }

  markEnded(): void {
    this.#ended = true;
  }
}

/** Per requester (sourcePeerId): its open streams and the heartbeat timer. */
export class Link {
  readonly requesterNodeId: string;
  readonly heartbeatSubject: string;
  readonly #open = new Map<string, Served>();
  /** Streams that heartbeats leave out (the reconciliation scenario). */
  readonly #omitted = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(requesterNodeId: string, heartbeatSubject: string) {
    this.requesterNodeId = requesterNodeId;
    this.heartbeatSubject = heartbeatSubject;
  }

  get intervalMs(): number {
    let interval = 5000;
    for (const s of this.#open.values())
      interval = Math.min(interval, s.request.heartbeatIntervalMs);
    return interval;
  }

  add(served: Served): void {
    this.#open.set(served.streamId, served);
  }

  remove(streamId: string): void {
    this.#open.delete(streamId);
  }

  /** The open stream of this id, if any. */
  get(streamId: string): Served | undefined {
    return this.#open.get(streamId);
  }

  /** Every open stream's id. */
  openIds(): string[] {
    return [...this.#open.keys()];
  }

  /** The open streams a heartbeat lists: all but the omitted ones. */
  listed(): string[] {
    return this.openIds().filter((s) => !this.#omitted.has(s));
  }

  /** Heartbeats leave this stream out from now on. */
  omit(streamId: string): void {
    this.#omitted.add(streamId);
  }

  /**
   * Calls `beat` every 0.9 interval while streams are open (once armed, again only after the
   * timer fired), until `stopped()`.
   */
  schedule(beat: () => void, stopped: () => boolean): void {
    if (this.#timer !== undefined || stopped()) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#open.size === 0 || stopped()) return;
      beat();
      this.schedule(beat, stopped);
    }, this.intervalMs * 0.9);
  }

  stop(): void {
    clearTimeout(this.#timer);
  }
}

// One stream's received-but-not-consumed entries, and the bytes each frame releases for credit.
import type { LogEntry } from "@tailwire/protocol";
import type { LogItem, RemovedNotice } from "./notices.js";

interface Batch {
  /** A frame's entries, or a notice alone (then `notice` is set and bytes are 0). */
  entries: LogItem[];
  notice?: RemovedNotice;
  index: number;
  /** Wire bytes of the data frame(s) these entries came from, released when the last is taken. */
  bytes: number;
}

/**
 * One stream's received-but-not-consumed entries, kept as the batches they arrived in: pushing
 * a frame is O(1) whatever its size, and each frame's bytes are released (for credit) exactly
 * when its last entry is taken.
 */
export class EntryBuffer {
  readonly #onReleased: (bytes: number) => void;
  #batches: (Batch | undefined)[] = [];
  #head = 0;
  #bytes = 0;
  #notices = 0;

  constructor(onReleased: (bytes: number) => void) {
    this.#onReleased = onReleased;
  }

  /** Wire bytes held: bounded by the window, since the compute node respects credit. */
  get bytes(): number {
    return this.#bytes;
  }

  get isEmpty(): boolean {
    return this.#head === this.#batches.length;
  }

  push(entries: LogEntry[], bytes: number): void {
    if (entries.length === 0) return;
    this.#batches.push({ entries, index: 0, bytes });
    this.#bytes += bytes;
  }

  /** Removal notices held (not yet taken). */
  get notices(): number {
    return this.#notices;
  }

  /**
   * A removal notice, in order after the entries pushed before it; it holds no credit. One that
   * continues the notice just before it (nothing between them, consecutive ranges) is merged
   * into it, so a consumer that does not read while a follow keeps falling behind holds one.
   */
  pushNotice(notice: RemovedNotice): void {
    const last = this.#batches[this.#batches.length - 1];
    if (
      last?.notice !== undefined &&
      last.index === 0 &&
      this.#batches.length > this.#head &&
      last.notice.toSeq + 1 === notice.fromSeq &&
      last.notice.reason === notice.reason
    ) {
      const merged: RemovedNotice = { ...last.notice, toSeq: notice.toSeq };
      last.notice = merged;
      last.entries[0] = merged;
      return;
    }
    this.#batches.push({ entries: [notice], notice, index: 0, bytes: 0 });
    this.#notices++;
  }

  take(): LogItem | undefined {
    const batch = this.#batches[this.#head];
    if (!batch) return undefined;
    const entry = batch.entries[batch.index++];
    if (batch.index >= batch.entries.length) {
      if (batch.notice !== undefined) this.#notices--;
      this.#batches[this.#head++] = undefined; // let the batch be collected
      this.#compact();
      this.#bytes -= batch.bytes;
      if (batch.bytes > 0) this.#onReleased(batch.bytes);
    }
    return entry;
  }

  /**
   * The rest of the oldest batch, at once (what is left of one frame's entries): the same
   * entries, order and credit as that many take() calls, at one step's cost.
   */
  takeBatch(): readonly LogEntry[] | RemovedNotice | undefined {
    const batch = this.#batches[this.#head];
    if (!batch) return undefined;
    const entries =
      batch.notice ??
      ((batch.index === 0 ? batch.entries : batch.entries.slice(batch.index)) as LogEntry[]);
    batch.index = batch.entries.length;
    if (batch.notice !== undefined) this.#notices--;
    this.#batches[this.#head++] = undefined;
    this.#compact();
    this.#bytes -= batch.bytes;
    if (batch.bytes > 0) this.#onReleased(batch.bytes);
    return entries;
  }

  /** Drops everything without releasing credit: used once the stream is over. */
  clear(): void {
    this.#batches = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#notices = 0;
  }

  #compact(): void {
    if (this.#head === this.#batches.length) {
      this.#batches.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#batches.length) {
      this.#batches = this.#batches.slice(this.#head);
      this.#head = 0;
    }
  }
}

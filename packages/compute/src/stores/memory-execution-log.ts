// One execution's log in memory (ExecutionLog): a window of consecutive sequence numbers, the
// entries retention has not dropped yet, with the counts the store's limits are judged by.
import type { LogEntry } from "@tailwire/protocol";
import { ChangeSignal } from "./change-signal.js";

/** What an entry is counted as against the byte limits: its line's characters plus this. */
export const MEMORY_ENTRY_OVERHEAD = 64;

/** One execution's log: a window of consecutive sequence numbers, oldest first. */
export class ExecutionLog {
  /** entries[head] has seq firstSeq; entries before head are dropped but not yet compacted. */
  entries: LogEntry[] = [];
  head = 0;
  firstSeq = 1;
  lastSeq = 0;
  /** Counted bytes of the retained entries (see MEMORY_ENTRY_OVERHEAD). */
  bytes = 0;
  completed = false;
  /** Date.now() at completion. */
  completedAt = 0;
  exitCode: number | null = null;
  readonly changed = new ChangeSignal();

  /** The retained entry with this seq, if any: O(1) because seqs are consecutive. */
  at(seq: number): LogEntry | undefined {
    if (seq < this.firstSeq || seq > this.lastSeq) return undefined;
    return this.entries[this.head + (seq - this.firstSeq)];
  }

  /** The retained entries with seqs from..to (both retained), copied out in one step. */
  range(from: number, to: number): LogEntry[] {
    const start = this.head + (from - this.firstSeq);
    return this.entries.slice(start, start + (to - from) + 1);
  }

  /** Appends; drops the oldest entries past `maxEntries` or `maxBytes` (the newest stays). */
  push(entry: LogEntry, maxEntries: number, maxBytes: number): void {
    this.entries.push(entry);
    this.lastSeq = entry.seq;
    this.bytes += entry.line.length + MEMORY_ENTRY_OVERHEAD;
    while (
      this.entries.length - this.head > 1 &&
      (this.entries.length - this.head > maxEntries || this.bytes > maxBytes)
    ) {
      this.dropOldest();
    }
  }

  /** Drops the oldest retained entry (seqs keep counting); returns its counted bytes. */
  dropOldest(): number {
    const dropped = this.entries[this.head]!;
    const bytes = dropped.line.length + MEMORY_ENTRY_OVERHEAD;
    this.entries[this.head] = undefined as unknown as LogEntry; // let the line be collected
    this.head++;
    this.firstSeq++;
    this.bytes -= bytes;
    // Compact only once half the array is dead, so dropping stays amortised O(1).
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return bytes;
  }
}

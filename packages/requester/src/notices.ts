/**
 * What a LogStream hands out besides entries: a notice that some of the lines it covers will
 * never come, because the compute node's log retention removed them (ExecutionLogs.Notice/v1,
 * "removed"). Typed, in order between the entries, and counted in `lastSeq`: a resume after it
 * starts after `toSeq`. Not an error: the stream goes on with the next line held.
 */
import type { LogEntry } from "@tailwire/protocol";

export interface RemovedNotice {
  readonly kind: "removed";
  /** Why they were removed: "retention" (other values may come from newer compute nodes). */
  readonly reason: string;
  /** The first and last removed seq (both included). */
  readonly fromSeq: number;
  readonly toSeq: number;
}

/** One item of a LogStream: an entry, or a notice of removed lines. */
export type LogItem = LogEntry | RemovedNotice;

/** True for a removal notice (entries have no `kind`). */
export function isRemovedNotice(item: LogItem | readonly LogEntry[]): item is RemovedNotice {
  return (item as RemovedNotice).kind === "removed";
}

/**
 * Removal notices a stream may hold unread (adjacent ones are merged, see EntryBuffer): they take
 * no flow-control credit, so this bounds what a compute node can make a requester hold with them
 * (about 100 bytes each: 1 MB).
 */
export const MAX_BUFFERED_NOTICES = 10_000;

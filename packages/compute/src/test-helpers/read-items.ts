// One LogReader read to its end as a flat list: entries and removal notices, in order.
import type { LogEntry } from "@tailwire/protocol";
import type { LogReader, LogSource, RemovedLines } from "../log-source.js";

export type ReadItem = LogEntry | RemovedLines;

export async function readItems(reader: LogReader): Promise<ReadItem[]> {
  const out: ReadItem[] = [];
  for await (const item of reader) {
    if (Array.isArray(item)) out.push(...item);
    else out.push(item);
  }
  return out;
}

/** The whole history of an execution (no follow). */
export async function readHistory(source: LogSource, executionId: string): Promise<ReadItem[]> {
  const signal = new AbortController().signal;
  return readItems(await source.open(executionId, { follow: false, signal }));
}

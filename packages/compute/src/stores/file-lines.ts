/**
 * Low-level helpers of the FileLogStore: reading an NDJSON log by byte ranges (forwards, backwards,
 * by binary search) and turning its lines into LogEntry objects. Nothing here knows about
 * executions, watchers or read options.
 *
 * Every line of a log file is one JSON object terminated by "\n". A JSON text never contains a raw
 * newline (JSON.stringify escapes it), and the byte 0x0A never occurs inside a multi-byte UTF-8
 * sequence, so splitting the raw bytes at 0x0A is always safe.
 */
import type { FileHandle } from "node:fs/promises";
import type { LogEntry } from "@tailwire/protocol";

export const NEWLINE = 0x0a;
const EMPTY = Buffer.alloc(0);

/** Counts the I/O a store does; diagnostics, and the tests' proof that a tail reads little. */
export interface ReadStats {
  /** Bytes returned by read calls. */
  bytesRead: number;
  /** Read calls made. */
  reads: number;
}

/** Reads `length` bytes at `position` (fewer at the end of the file). */
export async function readAt(
  fh: FileHandle,
  stats: ReadStats,
  position: number,
  length: number,
): Promise<Buffer> {
  if (length <= 0) return EMPTY;
  const buf = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await fh.read(buf, filled, length - filled, position + filled);
    stats.reads++;
    stats.bytesRead += bytesRead;
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buf : buf.subarray(0, filled);
}

/** Turns a parsed JSON value into a LogEntry, or undefined when it is not a valid one. */
export function toEntry(value: unknown): LogEntry | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { seq, stream, time, line } = value as Record<string, unknown>;
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) return undefined;
  if (stream !== "stdout" && stream !== "stderr") return undefined;
  if (typeof time !== "number" || !Number.isSafeInteger(time) || time < 0) return undefined;
  if (typeof line !== "string") return undefined;
  return { seq, stream, time, line };
}

/** Parses one line (without its newline); undefined for a corrupt or empty line. */
export function parseLine(text: string): LogEntry | undefined {
  if (text.length === 0) return undefined;
  try {
    return toEntry(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/**
 * Parses `buf[0, end)`, a run of complete lines each terminated by "\n" (end is just after a
 * newline), into entries in file order. Corrupt lines are skipped. Parsing the run as one JSON
 * array is several times faster than one JSON.parse per line; a run with a corrupt or empty line
 * falls back to parsing line by line.
 */
export function parseLines(buf: Buffer, end: number): LogEntry[] {
  if (end <= 0) return [];
  const text = buf.toString("utf8", 0, end - 1);
  const out: LogEntry[] = [];
  let values: unknown;
  try {
    values = JSON.parse("[" + text.replaceAll("\n", ",") + "]");
  } catch {
    values = undefined;
  }
  if (Array.isArray(values)) {
    for (const value of values) {
      const entry = toEntry(value);
      if (entry !== undefined) out.push(entry);
    }
    return out;
  }
  for (const line of text.split("\n")) {
    const entry = parseLine(line);
    if (entry !== undefined) out.push(entry);
  }
  return out;
}

/** One complete line found by a backward scan. */
export interface RawLine {
  /** Byte offset of the line's first byte. */
  start: number;
  /** The line without its newline. */
  text: string;
}

/**
 * Yields the complete lines of `[0, end)` from the last to the first, a chunk's worth at a time,
 * each chunk's lines in reverse file order. `end` must be 0 or just after a newline. The chunks
 * grow from `firstChunk` to `maxChunk` bytes, so a scan that stops after a few lines reads little.
 */
export async function* backwardLines(
  fh: FileHandle,
  stats: ReadStats,
  end: number,
  firstChunk = 4096,
  maxChunk = 1 << 20,
): AsyncGenerator<RawLine[]> {
  let pos = end;
  let chunkSize = firstChunk;
  // The bytes from `pos` up to and including the first newline after it: the end of a line whose
  // start lies before `pos`.
  let carry: Buffer = EMPTY;
  while (pos > 0) {
    const readStart = Math.max(0, pos - chunkSize);
    chunkSize = Math.min(chunkSize * 2, maxChunk);
    const chunk = await readAt(fh, stats, readStart, pos - readStart);
    if (chunk.length !== pos - readStart) throw new Error("log file shrank while being read");
    const buf = carry.length === 0 ? chunk : Buffer.concat([chunk, carry]);
    pos = readStart;
    const lines: RawLine[] = [];
    // buf always ends with a newline: the first chunk ends at `end`, later ones with the carry.
    let nl = buf.length - 1;
    carry = EMPTY;
    for (;;) {
      const prev = nl > 0 ? buf.lastIndexOf(NEWLINE, nl - 1) : -1;
      if (prev === -1 && readStart > 0) {
        carry = buf.subarray(0, nl + 1);
        break;
      }
      lines.push({ start: readStart + prev + 1, text: buf.toString("utf8", prev + 1, nl) });
      if (prev === -1) break;
      nl = prev;
    }
    if (lines.length > 0) yield lines;
  }
}

/**
 * The offset just after the last newline in `[0, size)`: the end of the file's complete lines.
 * A partial last line (a writer mid-write, or a crash) lies beyond it.
 */
export async function completeLinesEnd(
  fh: FileHandle,
  stats: ReadStats,
  size: number,
): Promise<number> {
  let pos = size;
  let chunkSize = 4096;
  while (pos > 0) {
    const readStart = Math.max(0, pos - chunkSize);
    chunkSize = Math.min(chunkSize * 2, 1 << 20);
    const chunk = await readAt(fh, stats, readStart, pos - readStart);
    const nl = chunk.lastIndexOf(NEWLINE);
    if (nl !== -1) return readStart + nl + 1;
    pos = readStart;
  }
  return 0;
}

/** The last valid entry of `[0, end)`, scanning backwards; undefined when there is none. */
export async function lastEntry(
  fh: FileHandle,
  stats: ReadStats,
  end: number,
): Promise<LogEntry | undefined> {
  for await (const lines of backwardLines(fh, stats, end)) {
    for (const raw of lines) {
      const entry = parseLine(raw.text);
      if (entry !== undefined) return entry;
    }
  }
  return undefined;
}

/** The first valid entry of `[0, end)`; undefined when there is none. */
export async function firstEntry(
  fh: FileHandle,
  stats: ReadStats,
  end: number,
): Promise<LogEntry | undefined> {
  return (await entryAtOrAfter(fh, stats, 0, end))?.entry;
}

interface LocatedEntry {
  start: number;
  /** Offset just after the line's newline. */
  next: number;
  entry: LogEntry;
}

/** Offset of the first newline in `[from, end)`, or -1. */
async function indexOfNewline(
  fh: FileHandle,
  stats: ReadStats,
  from: number,
  end: number,
): Promise<number> {
  let pos = from;
  let chunkSize = 4096;
  while (pos < end) {
    const chunk = await readAt(fh, stats, pos, Math.min(chunkSize, end - pos));
    if (chunk.length === 0) return -1;
    const nl = chunk.indexOf(NEWLINE);
    if (nl !== -1) return pos + nl;
    pos += chunk.length;
    chunkSize = Math.min(chunkSize * 2, 1 << 20);
  }
  return -1;
}

/**
 * The first valid entry whose line starts at or after `x` and before `end` (end is just after a
 * newline), or null.
 */
async function entryAtOrAfter(
  fh: FileHandle,
  stats: ReadStats,
  x: number,
  end: number,
): Promise<LocatedEntry | null> {
  let start = x;
  if (x > 0) {
    const nl = await indexOfNewline(fh, stats, x - 1, end);
    if (nl === -1) return null;
    start = nl + 1;
  }
  while (start < end) {
    // Most lines are short: one small read usually holds the whole line.
    let buf = await readAt(fh, stats, start, Math.min(4096, end - start));
    let nl = buf.indexOf(NEWLINE);
    if (nl === -1) {
      const at = await indexOfNewline(fh, stats, start + buf.length, end);
      if (at === -1) return null;
      buf = await readAt(fh, stats, start, at - start + 1);
      nl = at - start;
    }
    const next = start + nl + 1;
    const entry = parseLine(buf.toString("utf8", 0, nl));
    if (entry !== undefined) return { start, next, entry };
    start = next;
  }
  return null;
}

/**
 * Binary search over byte offsets: the start of the first line in `[0, end)` whose entry satisfies
 * `pred`, or `end` when none does. `pred` must be monotonic in file order (false ... false, true
 * ... true), which holds for `seq > n` (seqs increase with the offset) and for `time >= t` when
 * times never decrease within the file. Corrupt lines are skipped. Reads O(log(size)) small chunks.
 */
export async function searchFirst(
  fh: FileHandle,
  stats: ReadStats,
  end: number,
  pred: (entry: LogEntry) => boolean,
): Promise<number> {
  // Invariant: every line starting before `lo` fails pred; the first valid line at or after `hi`
  // satisfies it (or there is none).
  let lo = 0;
  let hi = end;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const found = await entryAtOrAfter(fh, stats, mid, end);
    if (found === null || found.start >= hi || pred(found.entry)) hi = mid;
    else lo = found.next;
  }
  return (await entryAtOrAfter(fh, stats, lo, end))?.start ?? end;
}

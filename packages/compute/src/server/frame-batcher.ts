import {
  dataFrameOverhead,
  ENCODED_LINE,
  type EncodableEntry,
  encodedLine,
  type LogEntry,
} from "@tailwire/protocol";
import { fitPrefix } from "./json-size.js";

/** Entries of one data frame, with an upper bound of its size and whether its last line continues. */
export interface PendingFrame {
  entries: EncodableEntry[];
  bytes: number;
  partial: boolean;
}

/** dataFrameOverhead's per-entry bound: seq and time of at most 16 digits, a stream char, 3 commas. */
const ENTRY_OVERHEAD = dataFrameOverhead("x", 1, 1) - dataFrameOverhead("x", 1, 0);

/** Decimal digits of a non-negative integer, without building its string. */
function digits(value: number): number {
  let d = 1;
  for (let v = value; v >= 10; v = Math.floor(v / 10)) d++;
  return d;
}

/** What an entry adds to a frame besides its line's JSON: exact digits, its stream char, 3 commas. */
const entryOverhead = (entry: LogEntry): number => digits(entry.seq) + digits(entry.time) + 4;
/** Do not start a long line's first part in a frame with less room than this: seal it instead. */
const MIN_PART_BYTES = 256;

/**
 * Packs entries into data frames of at most `maxFrameBytes` bytes, counting each line's exact
 * JSON byte length plus the protocol's per-entry and envelope bounds (the envelope at the widest
 * frame number), so no frame ever exceeds the limit. A line too long for the room left is split:
 * its first part ends the frame being filled (`partial: true`), the rest opens the next one(s).
 */
export class FrameBatcher {
  /** Frames that are complete and ready to send, oldest first. */
  readonly ready: PendingFrame[] = [];
  #pending: PendingFrame = { entries: [], bytes: 0, partial: false };
  /** Bytes available for entries in one frame. */
  readonly #room: number;

  constructor(streamId: string, maxFrameBytes: number) {
    this.#room = maxFrameBytes - dataFrameOverhead(streamId, Number.MAX_SAFE_INTEGER, 0);
    if (this.#room < ENTRY_OVERHEAD + 2 + MIN_PART_BYTES) {
      throw new RangeError(`maxFrameBytes ${maxFrameBytes} is too small for a data frame`);
    }
  }

  get hasPending(): boolean {
    return this.#pending.entries.length > 0;
  }

  add(entry: LogEntry): void {
    const json = encodedLine(entry);
    const bytes = entryOverhead(entry) + Buffer.byteLength(json);
    if (this.#pending.bytes + bytes > this.#room) {
      if (bytes > this.#room) {
        this.#addSplit(entry);
        return;
      }
      this.seal();
    }
    // A store that caches the encoding (ENCODED_LINE) gives entries we can pass on as they are.
    const cached = (entry as EncodableEntry)[ENCODED_LINE] !== undefined;
    this.#push(cached ? entry : withEncodedLine(entry, entry.line, json), bytes);
  }

  /** Moves the frame being filled, if any, to `ready`. */
  seal(): void {
    if (!this.hasPending) return;
    this.ready.push(this.#pending);
    this.#pending = { entries: [], bytes: 0, partial: false };
  }

  #push(entry: EncodableEntry, bytes: number): void {
    this.#pending.entries.push(entry);
    this.#pending.bytes += bytes;
  }

  #addSplit(entry: LogEntry): void {
    const line = entry.line;
    const overhead = entryOverhead(entry);
    let start = 0;
    for (;;) {
      // Content budget in the frame being filled: room minus the entry's overhead and quotes.
      const budget = this.#room - this.#pending.bytes - overhead - 2;
      if (budget < MIN_PART_BYTES) {
        this.seal();
        continue;
      }
      const end = fitPrefix(line, start, budget);
      const piece = line.slice(start, end);
      const json = JSON.stringify(piece);
      this.#push(withEncodedLine(entry, piece, json), overhead + Buffer.byteLength(json));
      if (end >= line.length) return;
      this.#pending.partial = true;
      this.seal();
      start = end;
    }
  }
}

/** The entry with its line's JSON attached, so encodeDataFrame does not escape the line again. */
function withEncodedLine(entry: LogEntry, line: string, json: string): EncodableEntry {
  return { seq: entry.seq, stream: entry.stream, time: entry.time, line, [ENCODED_LINE]: json };
}

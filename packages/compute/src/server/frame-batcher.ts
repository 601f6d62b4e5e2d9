// Packs a stream's entries into data frames no larger than a limit (FrameBatcher): which entries
// go in which frame, where a long line is split, and when a frame is re-packed. What each part of
// a frame takes on the wire is protocol's frame-size model (`@tailwire/protocol/internal`).
import { encodeDataFrame, type LogEntry } from "@tailwire/protocol";
import {
  BODY_LAYOUT,
  type DataFrameLayout,
  LINE_COLUMN_LAYOUT,
  MAX_ENTRY_OVERHEAD_BYTES,
  seqBytes,
  timeDeltaChars,
} from "@tailwire/protocol/internal";

/**
 * Writes one data frame: the stream's wire version's encoder. v2's data frame is v1's under a
 * type name of the same length, so the frame-size model counts both.
 */
export type DataFrameEncoder = (
  streamId: string,
  n: number,
  entries: readonly LogEntry[],
  partial: boolean,
) => Uint8Array;

/** Entries of one data frame, the bytes counted for them, and whether its last line continues. */
export interface PendingFrame {
  entries: LogEntry[];
  /** Bytes counted for the entries, their seq column aside. */
  bytes: number;
  /** What the seq column takes: kept once the frame is no longer consecutive, else 0. */
  seqBytes: number;
  /** Whether every seq so far is the previous plus 1: then only the first travels (firstSeq). */
  consecutive: boolean;
  /** The last entry's seq plus 1: what keeps the frame consecutive. */
  nextSeq: number;
  /** The last entry's time: the next entry's time travels as the difference. */
  lastTime: number;
  partial: boolean;
  /** Whether `bytes` counted the lines' exact line-column bytes (a re-packed frame) or their length. */
  exact: boolean;
}

/** The bytes a frame takes as counted: the seq column only when it is sent. */
const countedBytes = (frame: PendingFrame): number =>
  frame.consecutive ? frame.bytes : frame.bytes + frame.seqBytes;

/**
 * What an entry adds to a frame besides its line's content and its seq: its time delta's
 * characters and the layout's per-entry bytes (`entryBytes`, passed in: it is read once per frame
 * in the hot loops).
 */
const entryOverhead = (entry: LogEntry, previousTime: number, entryBytes: number): number =>
  timeDeltaChars(entry.time - previousTime) + entryBytes;

/** What these entries' seqs take as a column: counted only when a frame comes to need it. */
function seqColumnBytes(entries: readonly LogEntry[]): number {
  let bytes = 0;
  for (const entry of entries) bytes += seqBytes(entry.seq);
  return bytes;
}

/**
 * What appending this entry adds to the frame's seq column as counted: nothing while seqs stay
 * consecutive (only the first travels); the first seq that is not the previous plus 1 brings in
 * every entry's seq so far; after that, each entry's own.
 */
function addedSeqBytes(frame: PendingFrame, entry: LogEntry): number {
  if (frame.entries.length === 0) return 0;
  if (!frame.consecutive) return seqBytes(entry.seq);
  return entry.seq === frame.nextSeq ? 0 : seqColumnBytes(frame.entries) + seqBytes(entry.seq);
}

/** Appends an entry whose bytes (`bytes`, and `addedSeq` from addedSeqBytes) were counted. */
function append(frame: PendingFrame, entry: LogEntry, bytes: number, addedSeq: number): void {
  frame.entries.push(entry);
  frame.bytes += bytes;
  frame.nextSeq = entry.seq + 1;
  frame.lastTime = entry.time;
  if (addedSeq > 0) {
    frame.seqBytes += addedSeq;
    frame.consecutive = false;
  }
}

/** Do not start a long line's first part in a frame with less room than this: seal it instead. */
const MIN_PART_BYTES = 256;
/** A part carries at least this many bytes of its line (a code point escaped as JSON takes up to 12). */
const MIN_PART_FLOOR = 16;

/**
 * Packs entries into data frames of at most `maxFrameBytes` bytes.
 *
 * Sizing counts in the body layout the encoder writes on its usual path, and a line as its UTF-16
 * length (a lower bound of its bytes in either layout, exact for ASCII), because measuring each
 * line's bytes costs as much as encoding the whole frame. The frame is then encoded once; if
 * multi-byte characters (or a line holding a newline, which makes the encoder use the line-column
 * layout) made it larger than the limit, it is re-packed counting each line's exact bytes in the
 * line-column layout, which bounds both (rare, and still correct). A line too long for the room
 * left is split: its first part ends the frame being filled (`partial: true`), the rest opens the
 * next one(s).
 */
export class FrameBatcher {
  /** Frames that are complete and ready to send, oldest first. */
  readonly ready: PendingFrame[] = [];
  #pending: PendingFrame;
  readonly #streamId: string;
  readonly #maxFrameBytes: number;
  /** Bytes available for entries in one frame. */
  readonly #room: number;
  /**
   * Count lines' exact bytes in the line-column layout instead of their length in the body layout
   * (used to re-pack a frame).
   */
  readonly #exact: boolean;
  /** The layout counted in: the body layout, or the line-column layout when exact. */
  readonly #layout: DataFrameLayout;
  /** The layout's `entryBytes`. */
  readonly #entryBytes: number;
  /**
   * How much larger than counted the last frame came out (escapes, multi-byte characters): the
   * room is shrunk by it, so a stream of, say, JSON log lines stops overflowing after one frame.
   */
  #expansion = 1;
  /** What entries may count in a frame: the room, shrunk by the expansion. */
  #limit: number;
  /**
   * The smallest first part of a long line worth starting in a partly filled frame: MIN_PART_BYTES,
   * or less in the small frames of a small window, so an empty frame always has room for a part.
   */
  readonly #minPart: number;

  readonly #encode: DataFrameEncoder;

  constructor(
    streamId: string,
    maxFrameBytes: number,
    exact = false,
    encode: DataFrameEncoder = encodeDataFrame,
  ) {
    this.#streamId = streamId;
    this.#encode = encode;
    this.#maxFrameBytes = maxFrameBytes;
    this.#exact = exact;
    this.#layout = exact ? LINE_COLUMN_LAYOUT : BODY_LAYOUT;
    this.#entryBytes = this.#layout.entryBytes;
    this.#pending = this.#emptyFrame();
    this.#room = maxFrameBytes - this.#layout.envelopeBytes(streamId);
    this.#limit = this.#room;
    this.#minPart = Math.min(MIN_PART_BYTES, this.#room - MAX_ENTRY_OVERHEAD_BYTES);
    // Judged by the line-column layout's room (the smaller) whatever this batcher counts in: a
    // frame that has to be re-packed must be able to hold a part too.
    const lineColumnRoom = maxFrameBytes - LINE_COLUMN_LAYOUT.envelopeBytes(streamId);
    if (Math.min(MIN_PART_BYTES, lineColumnRoom - MAX_ENTRY_OVERHEAD_BYTES) < MIN_PART_FLOOR) {
      throw new RangeError(`maxFrameBytes ${maxFrameBytes} is too small for a data frame`);
    }
  }

  get hasPending(): boolean {
    return this.#pending.entries.length > 0;
  }

  add(entry: LogEntry): void {
    const pending = this.#pending;
    if (pending.entries.length === 0) {
      this.#open(entry);
      return;
    }
    // The per-line hot path: plain arithmetic on the pending frame (getters and helpers that
    // re-read the frame cost measurably more per line; BENCHMARKS.md has the figures).
    const line = entry.line;
    const bytes =
      entryOverhead(entry, pending.lastTime, this.#entryBytes) +
      (this.#exact ? this.#layout.lineBytes(line) : line.length);
    const addedSeq = addedSeqBytes(pending, entry);
    if (countedBytes(pending) + bytes + addedSeq > this.#limit) {
      if (bytes + seqBytes(entry.seq) > this.#room) this.#addSplit(entry);
      else {
        this.seal();
        this.#open(entry);
      }
      return;
    }
    append(pending, entry, bytes, addedSeq);
  }

  /**
   * Adds a reader's batch; the same frames as `add` for each entry. The common run (consecutive
   * seqs that fit the frame being filled) is counted in one loop and appended in one go: add()
   * per entry re-reads the frame each time, which costs about half as much again per entry
   * (BENCHMARKS.md); most of what is left is the first touch of each entry and its line in memory.
   */
  addAll(entries: readonly LogEntry[]): void {
    const count = entries.length;
    let i = 0;
    while (i < count) {
      const pending = this.#pending;
      if (pending.entries.length > 0 && pending.consecutive && !this.#exact) {
        const limit = this.#limit;
        const entryBytes = this.#entryBytes;
        let bytes = pending.bytes;
        let nextSeq = pending.nextSeq;
        let lastTime = pending.lastTime;
        let end = i;
        for (; end < count; end++) {
          const entry = entries[end] as LogEntry;
          if (entry.seq !== nextSeq) break;
          const added = entryOverhead(entry, lastTime, entryBytes) + entry.line.length;
          if (bytes + added > limit) break;
          bytes += added;
          nextSeq++;
          lastTime = entry.time;
        }
        if (end > i) {
          const taken = pending.entries;
          for (let k = i; k < end; k++) taken.push(entries[k] as LogEntry);
          pending.bytes = bytes;
          pending.nextSeq = nextSeq;
          pending.lastTime = lastTime;
          i = end;
          continue;
        }
      }
      // An empty frame, a gap in seq, a full frame, a filtered or exact frame: the general path.
      this.add(entries[i] as LogEntry);
      i++;
    }
  }

  /** Moves the frame being filled, if any, to `ready`. */
  seal(): void {
    if (!this.hasPending) return;
    this.ready.push(this.#pending);
    this.#pending = this.#emptyFrame();
  }

  /**
   * Encodes the first ready frame as frame number `n`, first re-packing it exactly when it came
   * out larger than the limit. The caller removes it from `ready` once it was sent.
   */
  encodeFirst(n: number): Uint8Array {
    const frame = this.ready[0]!;
    const data = this.#encode(this.#streamId, n, frame.entries, frame.partial);
    if (!frame.exact) {
      // Follow a rise at once, a fall halfway: one frame of plain text after JSON lines should
      // not make the next JSON frame overflow.
      const ratio = data.byteLength / (countedBytes(frame) + this.#maxFrameBytes - this.#room);
      this.#expansion =
        ratio > this.#expansion ? ratio : Math.max(1, (this.#expansion + ratio) / 2);
      this.#limit = this.#room / this.#expansion;
    }
    if (data.byteLength <= this.#maxFrameBytes) return data;
    const exact = new FrameBatcher(this.#streamId, this.#maxFrameBytes, true, this.#encode);
    for (const entry of frame.entries) exact.add(entry);
    exact.seal();
    // The frame's last line continued in the next frame: so does the last re-packed frame's.
    if (frame.partial) exact.ready[exact.ready.length - 1]!.partial = true;
    this.ready.splice(0, 1, ...exact.ready);
    return this.encodeFirst(n);
  }

  #emptyFrame(): PendingFrame {
    return {
      entries: [],
      bytes: 0,
      seqBytes: 0,
      consecutive: true,
      nextSeq: 0,
      lastTime: 0,
      partial: false,
      exact: this.#exact,
    };
  }

  /** Starts the frame being filled (it is empty) with this entry, or its first part. */
  #open(entry: LogEntry): void {
    const line = entry.line;
    // The first entry's time is the frame's timeBase: its delta is 0.
    const bytes =
      entryOverhead(entry, entry.time, this.#entryBytes) +
      (this.#exact ? this.#layout.lineBytes(line) : line.length);
    if (bytes + seqBytes(entry.seq) > this.#room) {
      this.#addSplit(entry);
      return;
    }
    this.#push(entry, bytes);
  }

  /** Appends an entry whose bytes were counted. */
  #push(entry: LogEntry, bytes: number): void {
    const pending = this.#pending;
    append(pending, entry, bytes, addedSeqBytes(pending, entry));
  }

  #addSplit(entry: LogEntry): void {
    const line = entry.line;
    let start = 0;
    for (;;) {
      const overhead = entryOverhead(
        entry,
        this.hasPending ? this.#pending.lastTime : entry.time,
        this.#entryBytes,
      );
      // Content budget in the frame being filled: room minus the entry's overhead, counting the
      // seq column as sent (a part may break the run of consecutive seqs; splits are rare).
      const budget =
        this.#room -
        this.#pending.bytes -
        seqColumnBytes(this.#pending.entries) -
        seqBytes(entry.seq) -
        overhead;
      if (budget < this.#minPart) {
        this.seal();
        continue;
      }
      const end = this.#layout.fitLine(line, start, budget);
      const piece = line.slice(start, end);
      this.#push(
        { seq: entry.seq, stream: entry.stream, time: entry.time, line: piece },
        overhead + this.#layout.lineBytes(piece),
      );
      if (end >= line.length) return;
      this.#pending.partial = true;
      this.seal();
      start = end;
    }
  }
}

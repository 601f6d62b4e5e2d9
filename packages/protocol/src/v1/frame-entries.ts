// The one path from decoded data frames to log entries: a frame's columns expanded into entry
// objects, seq order across a stream's frames, and the parts of a line split over frames joined
// back. The requester, the test fakes and tools all read entries through here.
import { ProtocolError } from "../errors.js";
import type { DecodedDataFrame, LogEntry, LogStreamName } from "./schemas.js";

/**
 * A joined line may not grow past this: a compute node that never ends a partial line must not
 * make the reader buffer without bound (the requester grants credit for partial-only frames).
 */
export const MAX_JOINED_LINE_CHARS = 64 * 1024 * 1024;

/** The seq of a decoded data frame's entry i, whichever form the frame's seq travelled in. */
export const dataFrameSeq = (frame: DecodedDataFrame, i: number): number =>
  frame.firstSeq !== undefined ? frame.firstSeq + i : ((frame.seq as number[])[i] as number);

/** The stream column holds one character per entry: "o" = stdout, "e" = stderr. */
const streamName = (column: string, i: number): LogStreamName =>
  column.charCodeAt(i) === 111 ? "stdout" : "stderr";

/** Writes entries from..to-1 of the frame into out, from out[at] on. */
function expand(
  frame: DecodedDataFrame,
  out: LogEntry[],
  at: number,
  from: number,
  to: number,
): void {
  const { stream, time, line } = frame;
  for (let i = from; i < to; i++) {
    out[at++] = {
      seq: dataFrameSeq(frame, i),
      stream: streamName(stream, i),
      time: time[i] as number,
      line: line[i] as string,
    };
  }
}

/**
 * One frame's columns as entries, as they are in that frame: a partial last line is its first
 * part only (read a stream's frames with EntryJoiner or joinDataFrames to get whole lines).
 */
export function dataFrameEntries(frame: DecodedDataFrame): LogEntry[] {
  const entries = new Array<LogEntry>(frame.stream.length);
  expand(frame, entries, 0, 0, entries.length);
  return entries;
}

interface PartialLine {
  seq: number;
  stream: LogStreamName;
  time: number;
  parts: string[];
  chars: number;
}

/**
 * Reads one stream's data frames, in order, as whole lines: seq never goes back across frames,
 * and a frame marked `partial` ends with the first part of a line whose rest opens the next
 * frame under the same seq (and stream); the parts are held here until the line is whole.
 * Throws ProtocolError for any inconsistency; the joiner is unusable afterwards. Frame numbers
 * (n) are the caller's: they order every kind of frame, not only data.
 */
export class EntryJoiner {
  /** Highest complete seq seen (or skipped past). */
  #lastSeq: number | undefined;
  #partial: PartialLine | undefined;

  /** `afterSeq`: the stream carries entries after this seq (the Accepted frame's afterSeq). */
  constructor(afterSeq?: number) {
    this.#lastSeq = afterSeq;
  }

  /** Highest complete seq read, or skipped past with skipTo; undefined before any. */
  get lastSeq(): number | undefined {
    return this.#lastSeq;
  }

  /** The seq of a line whose first parts were read and whose rest has not come yet. */
  get partialSeq(): number | undefined {
    return this.#partial?.seq;
  }

  /** Nothing up to `seq` will come (the stream was accepted after it, or a notice covered it). */
  skipTo(seq: number): void {
    this.#lastSeq = seq;
  }

  /** The frame's complete lines as entries (a joined line first if the frame completes one). */
  entries(frame: DecodedDataFrame): LogEntry[] {
    const count = frame.stream.length;
    const endsPartial = frame.partial === true;
    const whole = endsPartial ? count - 1 : count;
    // Sized up front: a frame's whole lines, a joined line first if it completes one.
    const out = new Array<LogEntry>(whole);
    let i = 0;
    const partial = this.#partial;
    if (partial) {
      const seq = dataFrameSeq(frame, 0);
      const stream = streamName(frame.stream, 0);
      if (seq !== partial.seq || stream !== partial.stream) {
        throw new ProtocolError(`partial line ${partial.seq} continued by seq ${seq} (${stream})`);
      }
      const line = frame.line[0] as string;
      partial.parts.push(line);
      partial.chars += line.length;
      if (partial.chars > MAX_JOINED_LINE_CHARS) {
        throw new ProtocolError(
          `partial line ${partial.seq} exceeds ${MAX_JOINED_LINE_CHARS} characters`,
        );
      }
      if (count === 1 && endsPartial) return out; // the line goes on in the next frame
      this.#partial = undefined;
      out[0] = { seq, stream, time: partial.time, line: partial.parts.join("") };
      i = 1;
    } else if (this.#lastSeq !== undefined && dataFrameSeq(frame, 0) <= this.#lastSeq) {
      throw new ProtocolError(`seq went back: ${dataFrameSeq(frame, 0)} after ${this.#lastSeq}`);
    }
    // Within a frame the decoder has already checked that seq increases.
    expand(frame, out, i, i, whole);
    if (endsPartial) {
      const last = frame.line[whole] as string;
      this.#partial = {
        seq: dataFrameSeq(frame, whole),
        stream: streamName(frame.stream, whole),
        time: frame.time[whole] as number,
        parts: [last],
        chars: last.length,
      };
    }
    if (whole > 0) this.#lastSeq = (out[whole - 1] as LogEntry).seq;
    return out;
  }
}

/**
 * A stream's data frames, in order, as whole lines (for tools and test fakes that hold all the
 * frames at once). A line still open after the last frame is left out, as a reader would.
 */
export function joinDataFrames(frames: Iterable<DecodedDataFrame>): LogEntry[] {
  const joiner = new EntryJoiner();
  const out: LogEntry[] = [];
  for (const frame of frames) {
    for (const entry of joiner.entries(frame)) out.push(entry);
  }
  return out;
}

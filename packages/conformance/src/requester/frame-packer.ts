// Packs entries into data frames no larger than a byte bound, splitting a line that does not fit
// at UTF-8 code point boundaries: what a compute node must do, written plainly (the runner's
// compute node is a reference, not a fast path).
import { Buffer } from "node:buffer";
import { encodeDataFrame, type LogEntry } from "@tailwire/protocol";

export interface PackedFrame {
  entries: LogEntry[];
  partial: boolean;
}

/** Bytes the envelope of a data frame may take at most for its fixed keys and numbers. */
const ENVELOPE = 260;
/** Bytes one entry adds to the header at most: a seq (16 digits and a comma), delta (11), stream. */
const PER_ENTRY = 30;

const lineBytes = (line: string): number =>
  line.includes("\n") ? Buffer.byteLength(JSON.stringify(line)) + 1 : Buffer.byteLength(line) + 1;

/** The longest prefix of `line` (whole code points) whose UTF-8 fits in `budget` bytes. */
function prefixWithin(line: string, budget: number): string {
  let bytes = 0;
  let end = 0;
  while (end < line.length) {
    const code = line.codePointAt(end) as number;
    const units = code > 0xffff ? 2 : 1;
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    const escaped = code === 0x0a || code === 0x22 || code === 0x5c ? 2 : size;
    if (bytes + escaped > budget) break;
    bytes += escaped;
    end += units;
  }
  return line.slice(0, end);
}

/**
 * Frames for these entries, each encoding to at most `maxFrameBytes` for `streamId` (and frame
 * numbers up to 2^53), and at most `maxEntries` entries each.
 */
export function packFrames(
  streamId: string,
  entries: readonly LogEntry[],
  maxFrameBytes: number,
  maxEntries = Number.POSITIVE_INFINITY,
): PackedFrame[] {
  const frames: PackedFrame[] = [];
  const budget = maxFrameBytes - ENVELOPE - streamId.length;
  let current: LogEntry[] = [];
  let used = 0;
  const flush = (partial: boolean): void => {
    if (current.length > 0)
      frames.push(fit(streamId, { entries: current, partial }, maxFrameBytes));
    current = [];
    used = 0;
  };
  for (const whole of entries) {
    let entry = whole;
    for (;;) {
      const need = lineBytes(entry.line) + PER_ENTRY;
      if (current.length < maxEntries && used + need <= budget) {
        current.push(entry);
        used += need;
        break;
      }
      const room = budget - used - PER_ENTRY - 1;
      if (current.length < maxEntries && room >= 16) {
        // Split: the part that fits ends this frame (partial), the rest starts the next one.
        const head = prefixWithin(entry.line, room);
        if (head.length > 0) {
          current.push({ ...entry, line: head });
          flush(true);
          entry = { ...entry, line: entry.line.slice(head.length) };
          continue;
        }
      }
      if (current.length === 0) throw new RangeError(`maxFrameBytes ${maxFrameBytes} is too small`);
      flush(false);
    }
  }
  flush(false);
  return frames;
}

/** The estimate is an upper bound, but check the real size and move a line out if need be. */
function fit(streamId: string, frame: PackedFrame, maxFrameBytes: number): PackedFrame {
  const size = encodeDataFrame(
    streamId,
    Number.MAX_SAFE_INTEGER,
    frame.entries,
    frame.partial,
  ).byteLength;
  if (size > maxFrameBytes)
    throw new RangeError(`packed frame of ${size} bytes exceeds ${maxFrameBytes}`);
  return frame;
}

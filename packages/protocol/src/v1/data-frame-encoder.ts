// The data frame encoder, the producer's hot path: entries to wire bytes without JSON.stringify.
import { Buffer } from "node:buffer";
import { type LogEntry, MessageType } from "./schemas.js";
import { checkTime, encodeTimeDeltas, writeDelta } from "./time-deltas.js";

/**
 * The data frame encoder: the producer's hot path, so it writes bytes directly. The header's
 * numbers go digit by digit into a reused scratch buffer and the lines, joined once, are
 * encoded straight after it; the frame is then copied out at its exact size. Building the frame
 * as one string first cost a second pass over the lines (flattening the concatenation) and
 * V8's number-to-string per seq and time offset (what that saved: BENCHMARKS.md, "stream").
 */

const textEncoder = new TextEncoder();
const ZERO = 0x30;
const COMMA = 0x2c;
const NEWLINE = 0x0a;
const CHAR_STDOUT = 0x6f; // "o"
const CHAR_STDERR = 0x65; // "e"

/** Frames up to this size reuse one scratch buffer; a larger one gets its own (and drops it). */
const MAX_KEPT_SCRATCH_BYTES = 4 * 1024 * 1024;
let scratch = new Uint8Array(256 * 1024);

/** The longest decimal form of any number ("-1.7976931348623157e+308"). */
const MAX_NUMBER_CHARS = 24;
/**
 * The most bytes one seq (with its comma), time delta (11 at most) and stream character add to
 * the header: a bound for either form of seq (the firstSeq form's one number fits in the first
 * entry's share).
 */
const MAX_HEADER_BYTES_PER_ENTRY = 2 * (MAX_NUMBER_CHARS + 1) + 1;
/** UTF-8 takes at most 3 bytes per UTF-16 code unit (a surrogate pair: 4 bytes for 2 units). */
const MAX_UTF8_BYTES_PER_UNIT = 3;

function scratchOf(bytes: number): Uint8Array {
  if (bytes <= scratch.byteLength) return scratch;
  const sized = new Uint8Array(Math.max(bytes, scratch.byteLength * 2));
  if (sized.byteLength <= MAX_KEPT_SCRATCH_BYTES) scratch = sized;
  return sized;
}

/** Writes text that is known to be ASCII (JSON punctuation, numbers, ids checked by pattern). */
function writeAscii(buffer: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) buffer[at + i] = text.charCodeAt(i);
  return at + text.length;
}

/** Writes an integer in decimal; the common case (a non-negative 31-bit int) without a string. */
function writeInt(buffer: Uint8Array, at: number, value: number): number {
  if ((value | 0) !== value || value < 0) return writeAscii(buffer, at, String(value));
  let end = at + 1;
  for (let rest = value; rest >= 10; rest = (rest / 10) | 0) end++;
  let position = end;
  let rest = value;
  do {
    const next = (rest / 10) | 0;
    buffer[--position] = ZERO + rest - next * 10;
    rest = next;
  } while (rest > 0);
  return end;
}

/**
 * Builds a data frame: the columns are written directly and the lines follow the JSON as a body,
 * which is several times cheaper than serialising (and, on the other side, parsing) them.
 * `partial` says the last line continues in the next frame. The result's byteLength is exactly
 * what goes on the wire, and it is the caller's to keep (the NATS client holds it until flushed).
 * `type` is the frame's type name: v2's data frame has v1's columns (and a name as long).
 */
export function encodeDataFrame(
  streamId: string,
  n: number,
  entries: readonly LogEntry[],
  partial = false,
  type: string = MessageType.Data,
): Uint8Array {
  const count = entries.length;
  const first = entries[0];
  const timeBase = first !== undefined ? first.time : 0;
  const firstSeq = first !== undefined ? first.seq : 0;
  const lines = new Array<string>(count);
  let newlines = false;
  let consecutive = count > 0;
  for (let i = 0; i < count; i++) {
    const entry = entries[i] as LogEntry;
    const line = entry.line;
    lines[i] = line;
    if (!newlines && line.includes("\n")) newlines = true;
    if (entry.seq !== firstSeq + i) consecutive = false;
  }
  // A line holding a newline (a store may be given such a "line") cannot go in the body: then
  // the lines go as a JSON column, escaped. Rare, so it keeps the simple string path.
  if (newlines) {
    return encodeWithLineColumn(type, streamId, n, entries, timeBase, lines, partial, consecutive);
  }

  const body = lines.join("\n");
  // The stream id is embedded unescaped: its pattern allows nothing that would need escaping.
  const prefix = `{"type":"${type}","streamId":"${streamId}","n":${n},`;
  const buffer = scratchOf(
    prefix.length * MAX_UTF8_BYTES_PER_UNIT +
      96 + // the fixed keys and punctuation (67 bytes at most)
      MAX_NUMBER_CHARS +
      count * MAX_HEADER_BYTES_PER_ENTRY +
      body.length * MAX_UTF8_BYTES_PER_UNIT,
  );
  let at = textEncoder.encodeInto(prefix, buffer).written;
  if (consecutive) {
    at = writeAscii(buffer, at, '"firstSeq":');
    at = writeInt(buffer, at, firstSeq);
    at = writeAscii(buffer, at, ',"stream":"');
  } else {
    at = writeAscii(buffer, at, '"seq":[');
    for (let i = 0; i < count; i++) {
      if (i > 0) buffer[at++] = COMMA;
      at = writeInt(buffer, at, (entries[i] as LogEntry).seq);
    }
    at = writeAscii(buffer, at, '],"stream":"');
  }
  for (let i = 0; i < count; i++) {
    buffer[at++] = (entries[i] as LogEntry).stream === "stdout" ? CHAR_STDOUT : CHAR_STDERR;
  }
  at = writeAscii(buffer, at, '","timeBase":');
  at = writeInt(buffer, at, timeBase);
  at = writeAscii(buffer, at, ',"timeDelta":"');
  let previousTime = timeBase;
  for (let i = 0; i < count; i++) {
    const time = (entries[i] as LogEntry).time;
    checkTime(time, i);
    at = writeDelta(buffer, at, time - previousTime);
    previousTime = time;
  }
  at = writeAscii(buffer, at, partial ? '","partial":true}' : '"}');
  buffer[at++] = NEWLINE;
  at += textEncoder.encodeInto(body, buffer.subarray(at)).written;
  // Copied out into memory of its own that is not zeroed first (slice() zeroes, then copies):
  // every byte is overwritten at once. Handed out as a plain Uint8Array, whose slice() copies
  // (a Buffer's would not).
  const memory = Buffer.allocUnsafeSlow(at);
  memory.set(buffer.subarray(0, at));
  return new Uint8Array(memory.buffer, memory.byteOffset, at);
}

function encodeWithLineColumn(
  type: string,
  streamId: string,
  n: number,
  entries: readonly LogEntry[],
  timeBase: number,
  lines: string[],
  partial: boolean,
  consecutive: boolean,
): Uint8Array {
  const seq = consecutive
    ? `"firstSeq":${entries[0]?.seq}`
    : `"seq":[${entries.map((entry) => entry.seq).join(",")}]`;
  const timeDelta = encodeTimeDeltas(
    entries.map((entry) => entry.time),
    timeBase,
  );
  let stream = "";
  for (const entry of entries) stream += entry.stream === "stdout" ? "o" : "e";
  return textEncoder.encode(
    `{"type":"${type}","streamId":"${streamId}","n":${n},` +
      `${seq},"stream":"${stream}","timeBase":${timeBase},"timeDelta":"${timeDelta}"` +
      `${partial ? ',"partial":true' : ""},"line":${JSON.stringify(lines)}}`,
  );
}

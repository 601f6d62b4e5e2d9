// How every version's messages come off the wire: size bound, strict UTF-8, JSON, the data
// frame's header-and-body form, and the column checks a schema cannot express. Shared by the v1
// and v2 codecs (their data frames have the same columns under different type names).
import { Buffer, isAscii, isUtf8 } from "node:buffer";
import { BadRequestError, PayloadTooLargeError } from "./errors.js";
import { decodeTimeDeltas } from "./v1/time-deltas.js";

/** The columns of a data frame, of any version; `time` is filled in by checkColumns. */
export interface ColumnFrame {
  stream: string;
  seq?: number[] | undefined;
  firstSeq?: number | undefined;
  timeBase: number;
  timeDelta: string;
  line?: string[] | undefined;
  time: number[];
}

export function checkSize(bytes: Uint8Array, maxBytes: number): void {
  if (bytes.byteLength > maxBytes) {
    throw new PayloadTooLargeError(
      `message of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes} bytes`,
    );
  }
}

/**
 * Strict UTF-8 decoding (invalid input is an error, not U+FFFD). Node checks validity and ASCII
 * with SIMD, and copies ASCII (most log text) straight into a one-byte string: cheaper than a
 * fatal TextDecoder on a frame's body (measured in BENCHMARKS.md, "stream"). A BOM is kept: it is part of the first line.
 */
export function utf8(bytes: Uint8Array): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isAscii(buffer)) return buffer.toString("latin1");
  if (!isUtf8(buffer)) throw new BadRequestError("message is not valid UTF-8");
  return buffer.toString("utf8");
}

export function parseJson(bytes: Uint8Array, maxBytes: number): unknown {
  checkSize(bytes, maxBytes);
  const text = utf8(bytes);
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequestError("message is not valid JSON");
  }
}

const NEWLINE = 0x0a;

/**
 * A frame may be a JSON object followed by a newline and a body: the data frame's lines, joined
 * by newlines. Compact JSON never contains a raw newline, so the first one ends the object. Any
 * other shape (no newline, pretty-printed JSON, a body after something that is not a data frame
 * without `line`) is parsed as one JSON document, as every other message is.
 */
export function parseFrame(bytes: Uint8Array, maxBytes: number, dataType: string): unknown {
  checkSize(bytes, maxBytes);
  const end = bytes.indexOf(NEWLINE);
  if (end > 0) {
    let head: unknown;
    try {
      head = JSON.parse(utf8(bytes.subarray(0, end)));
    } catch {
      head = undefined;
    }
    const frame = head as { type?: unknown; line?: unknown } | undefined;
    if (
      typeof frame === "object" &&
      frame !== null &&
      frame.type === dataType &&
      frame.line === undefined
    ) {
      frame.line = utf8(bytes.subarray(end + 1)).split("\n");
      return frame;
    }
  }
  return parseJson(bytes, maxBytes);
}

export function typeOf(value: unknown): string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new BadRequestError("message is not a JSON object");
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== "string") {
    throw new BadRequestError("message has no string 'type' field");
  }
  return type;
}

// What the schema cannot say: exactly one form of seq and of the lines, the columns line up, seq
// increases strictly within the frame (and stays a safe integer) and timeDelta holds one delta
// per entry, each giving a valid epoch time. The decoded times go in `time`.
export function checkColumns(frame: ColumnFrame, type: string): void {
  const count = frame.stream.length;
  if (frame.line === undefined) {
    throw new BadRequestError(`invalid ${type}: no lines (neither a line column nor a body)`);
  }
  const seq = frame.seq;
  if ((seq === undefined) === (frame.firstSeq === undefined)) {
    throw new BadRequestError(`invalid ${type}: needs exactly one of seq and firstSeq`);
  }
  if (seq !== undefined) {
    if (seq.length !== count) {
      throw new BadRequestError(`invalid ${type}: columns seq and stream differ in length`);
    }
    for (let i = 1; i < count; i++) {
      if ((seq[i] as number) <= (seq[i - 1] as number)) {
        throw new BadRequestError(`invalid ${type}: /seq/${i}: sequence numbers must increase`);
      }
    }
  } else if ((frame.firstSeq as number) > Number.MAX_SAFE_INTEGER - (count - 1)) {
    // Not `firstSeq + count - 1 > MAX`: a sum past 2^53 can round back down into range.
    throw new BadRequestError(`invalid ${type}: /firstSeq: the frame's last seq is out of range`);
  }
  if (frame.line.length !== count) {
    throw new BadRequestError(`invalid ${type}: columns stream and line differ in length`);
  }
  const time = decodeTimeDeltas(frame.timeDelta, frame.timeBase, count);
  if (typeof time === "string") {
    throw new BadRequestError(`invalid ${type}: /timeDelta: ${time}`);
  }
  frame.time = time;
}

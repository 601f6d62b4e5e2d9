// The time column's compact form: capture-time deltas as base64 VLQ text, encoded and decoded.
import { Buffer } from "node:buffer";

/**
 * A data frame's capture times travel as one string, `timeDelta`: each entry's time minus the
 * previous entry's (the first entry's minus `timeBase`), written in base64 VLQ, the encoding of
 * source maps. A delta in -15..15 ms (most lines of a burst share a millisecond or follow
 * closely) is one character. Why not a JSON array of numbers: the requester's JSON.parse of a
 * frame's header costs per number, and one string of deltas parses in about half the time,
 * decoding included (BENCHMARKS.md, "stream", timeDelta).
 *
 * Digits are 6 bits (A-Z a-z 0-9 + /), least significant first; bit 5 says another digit follows.
 * The first digit's bit 0 is the sign and bits 1-4 the low 4 bits of the magnitude; each further
 * digit adds 5 bits: source maps' digits of 2|v| + sign. That number is not exact past 2^52, so
 * the magnitude's bits and the sign are taken apart instead, and every safe integer round-trips.
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const CHAR_CODES = Uint8Array.from(ALPHABET, (char) => char.charCodeAt(0));
/** Char code to digit; -1 for a character outside the alphabet. */
const DIGITS = new Int8Array(128).fill(-1);
for (let digit = 0; digit < 64; digit++) DIGITS[ALPHABET.charCodeAt(digit)] = digit;

const CONTINUE = 32;
/** 4 + 5 * 10 bits hold any safe integer's magnitude (53 bits). */
const MAX_DIGITS = 11;

/** The pattern of a valid `timeDelta` (JSON Schema). */
export const TIME_DELTA_PATTERN = "^[A-Za-z0-9+/]+$";

/** Characters one delta takes. */
export function deltaChars(delta: number): number {
  const magnitude = delta < 0 ? -delta : delta;
  if (magnitude < 16) return 1;
  if (magnitude < 512) return 2;
  if (magnitude < 16_384) return 3;
  let chars = 4;
  for (let rest = Math.floor(magnitude / 16_384); rest >= 32; rest = Math.floor(rest / 32)) chars++;
  return chars;
}

/** Writes one delta's characters at `at` (ASCII bytes); returns the position after them. */
export function writeDelta(buffer: Uint8Array, at: number, delta: number): number {
  const negative = delta < 0;
  const magnitude = negative ? -delta : delta;
  if (magnitude < 16) {
    buffer[at] = CHAR_CODES[magnitude * 2 + (negative ? 1 : 0)] as number;
    return at + 1;
  }
  let rest = Math.floor(magnitude / 16);
  buffer[at++] = CHAR_CODES[CONTINUE | ((magnitude % 16) * 2) | (negative ? 1 : 0)] as number;
  while (rest >= 32) {
    buffer[at++] = CHAR_CODES[CONTINUE | (rest % 32)] as number;
    rest = Math.floor(rest / 32);
  }
  buffer[at++] = CHAR_CODES[rest] as number;
  return at;
}

/**
 * Throws unless `time` is an epoch time in ms as the wire carries it (a safe integer, not
 * negative): writeDelta would write a fractional delta as some other one, so a producer's bad
 * time must fail where it is made rather than reach a requester as a wrong time.
 */
export function checkTime(time: number, index: number): void {
  if (!Number.isSafeInteger(time) || time < 0) {
    throw new RangeError(
      `entry ${index}: time ${time} is not an integer number of ms since the epoch`,
    );
  }
}

/** The `timeDelta` string of these times, from `timeBase`. */
export function encodeTimeDeltas(times: readonly number[], timeBase: number): string {
  const bytes = new Uint8Array(times.length * MAX_DIGITS);
  let at = 0;
  let previous = timeBase;
  for (let i = 0; i < times.length; i++) {
    const time = times[i] as number;
    checkTime(time, i);
    at = writeDelta(bytes, at, time - previous);
    previous = time;
  }
  return Buffer.from(bytes.buffer, 0, at).toString("latin1");
}

/**
 * The capture times a `timeDelta` string gives from `timeBase`; a string (what is wrong with it)
 * when it is not exactly `count` deltas, or when a time leaves 0..2^53-1.
 */
export function decodeTimeDeltas(text: string, timeBase: number, count: number): number[] | string {
  const times = new Array<number>(count);
  let time = timeBase;
  let entry = 0;
  let position = 0;
  const length = text.length;
  while (position < length) {
    if (entry === count) return `more than ${count} deltas`;
    const code = text.charCodeAt(position++);
    const first = code < 128 ? (DIGITS[code] as number) : -1;
    if (first < 0) return `invalid character at ${position - 1}`;
    let magnitude = (first >> 1) & 15;
    if (first & CONTINUE) {
      let scale = 16;
      let digits = 1;
      let digit: number;
      do {
        if (position === length) return "the last delta is cut short";
        if (++digits > MAX_DIGITS) return `delta ${entry} is too long`;
        const next = text.charCodeAt(position++);
        digit = next < 128 ? (DIGITS[next] as number) : -1;
        if (digit < 0) return `invalid character at ${position - 1}`;
        magnitude += (digit & 31) * scale;
        scale *= 32;
      } while (digit & CONTINUE);
    }
    // A sum past 2^53 rounds, but never back below it: the range check still catches it.
    time = first & 1 ? time - magnitude : time + magnitude;
    if (time < 0 || time > Number.MAX_SAFE_INTEGER) return `time ${entry} is out of range`;
    times[entry++] = time;
  }
  return entry === count ? times : `${entry} deltas for ${count} entries`;
}

// The data-frame size model: what each part of a frame costs in the layout the encoder writes, so
// a producer can pack frames under a byte limit without encoding them twice (internal).
import { Buffer } from "node:buffer";
import { MessageType } from "./schemas.js";
import { deltaChars } from "./time-deltas.js";

/**
 * The data frame's size model: what each part of a frame takes on the wire as encodeDataFrame
 * (data-frame-encoder.ts) writes it, so that a producer can pack entries into frames of at most
 * a given size without encoding them first. It lives next to the encoder so that the two change
 * together; it is internal (`@tailwire/protocol/internal`), not part of the public API.
 *
 * The encoder has two layouts. The usual one, the body form, ends the JSON header with a newline
 * and sends the lines after it, joined by newlines, as plain UTF-8. A frame holding a line with
 * a newline in it is sent in the line-column form: the lines as a JSON array of strings in the
 * header. For the same entries the line-column form is never smaller (every character takes at
 * least as many bytes escaped in JSON as in UTF-8, quotes and a comma per line against one
 * newline, and `,"line":[]` on top), so counting in it bounds whichever form the encoder picks.
 *
 * A frame's size is at most `layout.envelopeBytes(streamId)` plus, per entry, `seqBytes(seq)`,
 * `timeDeltaChars(delta)`, `layout.entryBytes` and `layout.lineBytes(line)`. In the body form the
 * bound is tight: it is over only by the numbers' width in the envelope and the seq form not sent.
 */
export interface DataFrameLayout {
  readonly form: "body" | "lineColumn";
  /**
   * What an entry adds besides its line's content, its seq and its time delta: its stream
   * character and its line's separator (a newline in the body form; quotes and a comma in the
   * line column).
   */
  readonly entryBytes: number;
  /**
   * The frame's bytes besides its columns' contents, for the widest frame number, first seq and
   * time base and with `partial`. Both forms of seq are counted (`"firstSeq":N` and `"seq":[]`),
   * so that counting every entry's seq with `seqBytes` bounds either.
   */
  envelopeBytes(streamId: string): number;
  /** The bytes one line's content takes in this layout. */
  lineBytes(line: string): number;
  /**
   * The end index of the longest prefix of `text.slice(start)` whose content takes at most
   * `budget` bytes in this layout, never cutting a surrogate pair. `start` when not even one
   * character fits.
   */
  fitLine(text: string, start: number, budget: number): number;
}

const WIDEST = Number.MAX_SAFE_INTEGER;
const envelope = (streamId: string, lineColumn: string): string =>
  `{"type":"${MessageType.Data}","streamId":"${streamId}","n":${WIDEST},"firstSeq":${WIDEST},"seq":[],"stream":"","timeBase":${WIDEST},"timeDelta":""${lineColumn},"partial":true}`;

/** The usual layout: the header, a newline, the lines joined by newlines (UTF-8). */
export const BODY_LAYOUT: DataFrameLayout = {
  form: "body",
  // The stream character, and the newline before the line (the header's or a separator).
  entryBytes: 2,
  envelopeBytes: (streamId) => envelope(streamId, "").length,
  lineBytes: (line) => Buffer.byteLength(line, "utf8"),
  fitLine: (text, start, budget) => fitPrefix(utf8CharBytes, text, start, budget),
};

/** The layout for a frame with a line holding a newline: the lines as a JSON column. */
export const LINE_COLUMN_LAYOUT: DataFrameLayout = {
  form: "lineColumn",
  // The stream character, the line's quotes and its comma.
  entryBytes: 4,
  envelopeBytes: (streamId) => envelope(streamId, ',"line":[]').length,
  lineBytes: (line) => Buffer.byteLength(JSON.stringify(line), "utf8") - 2,
  fitLine: (text, start, budget) => fitPrefix(jsonCharBytes, text, start, budget),
};

/**
 * The most an entry adds besides its line's content, in either layout: the widest seq (16
 * digits and a comma), the widest time delta (11 characters) and the line-column layout's 4,
 * rounded up.
 */
export const MAX_ENTRY_OVERHEAD_BYTES = 40;

/** What an entry's seq adds to the seq column: its decimal digits and a comma. */
export function seqBytes(seq: number): number {
  return digits(seq) + 1;
}

/** Decimal digits of an integer (with its sign), without building its string. */
function digits(value: number): number {
  if (value < 0) return 1 + digits(-value);
  if (value < 1e4) return value < 10 ? 1 : value < 100 ? 2 : value < 1000 ? 3 : 4;
  if (value < 1e8) return value < 1e5 ? 5 : value < 1e6 ? 6 : value < 1e7 ? 7 : 8;
  let d = 9;
  for (let v = value; v >= 1e9; v = Math.floor(v / 10)) d++;
  return d;
}

export { deltaChars as timeDeltaChars };

type CharBytes = (text: string, i: number) => [bytes: number, units: number];

/**
 * Bytes that one UTF-16 code unit (or surrogate pair, at index i) takes in UTF-8 as the encoder's
 * TextEncoder writes it (a lone surrogate becomes U+FFFD, 3 bytes). Returns [bytes, units].
 */
export function utf8CharBytes(text: string, i: number): [bytes: number, units: number] {
  const c = text.charCodeAt(i);
  if (c < 0x80) return [1, 1];
  if (c < 0x800) return [2, 1];
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return [4, 2];
  }
  return [3, 1];
}

/**
 * Bytes that one UTF-16 code unit (or surrogate pair, at index i) takes inside a JSON string as
 * JSON.stringify writes it, in UTF-8. Returns [bytes, units]. Computing this per character lets
 * a long line be cut exactly, in one pass, instead of re-encoding candidate slices.
 */
export function jsonCharBytes(text: string, i: number): [bytes: number, units: number] {
  const c = text.charCodeAt(i);
  if (c < 0x80) {
    if (c === 0x22 || c === 0x5c) return [2, 1]; // \" and \\
    if (c >= 0x20) return [1, 1];
    // \b \t \n \f \r have short escapes; other control characters become \u00XX.
    return c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? [2, 1] : [6, 1];
  }
  if (c < 0x800) return [2, 1];
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return [4, 2]; // a pair: one 4-byte UTF-8 character
    return [6, 1]; // lone high surrogate: well-formed JSON.stringify writes \udXXX
  }
  if (c >= 0xdc00 && c <= 0xdfff) return [6, 1]; // lone low surrogate
  return [3, 1];
}

function fitPrefix(charBytes: CharBytes, text: string, start: number, budget: number): number {
  let used = 0;
  let i = start;
  while (i < text.length) {
    const [bytes, units] = charBytes(text, i);
    if (used + bytes > budget) break;
    used += bytes;
    i += units;
  }
  return i;
}

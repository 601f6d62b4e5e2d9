// The data frame's size model against the encoder: per character, per line and per frame, in
// both layouts.
import { describe, expect, it } from "vitest";
import { encodeDataFrame } from "./data-frame-encoder.js";
import {
  BODY_LAYOUT,
  type DataFrameLayout,
  jsonCharBytes,
  LINE_COLUMN_LAYOUT,
  seqBytes,
  timeDeltaChars,
  utf8CharBytes,
} from "./data-frame-size.js";
import type { LogEntry } from "./schemas.js";

const jsonBytes = (text: string): number => Buffer.byteLength(JSON.stringify(text)) - 2;
/** What the encoder's TextEncoder writes for a text (a lone surrogate becomes U+FFFD). */
const utf8Bytes = (text: string): number => new TextEncoder().encode(text).byteLength;

function costOf(text: string, charBytes = jsonCharBytes): number {
  let total = 0;
  for (let i = 0; i < text.length; ) {
    const [bytes, units] = charBytes(text, i);
    total += bytes;
    i += units;
  }
  return total;
}

const fitPrefix = (text: string, start: number, budget: number): number =>
  LINE_COLUMN_LAYOUT.fitLine(text, start, budget);

/** Random strings rich in the characters that escape or widen: controls, quotes, multi-byte, surrogates. */
function randomText(length: number, rand: () => number): string {
  const pool = [
    '"',
    "\\",
    "\n",
    "\t",
    "\u0001",
    "\u001f",
    "\u007f",
    "é",
    "€",
    "😀",
    "\u2028",
    "a",
    "\ud800",
    "\udc00",
  ];
  let text = "";
  while (text.length < length) text += pool[Math.floor(rand() * pool.length)];
  return text;
}

function seeded(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x80000000;
  };
}

describe("jsonCharBytes", () => {
  it("matches JSON.stringify byte for byte for every BMP code unit", () => {
    const mismatches: string[] = [];
    for (let c = 0; c < 0x10000; c++) {
      const ch = String.fromCharCode(c);
      if (costOf(ch) !== jsonBytes(ch)) mismatches.push(`U+${c.toString(16)}`);
    }
    expect(mismatches).toEqual([]);
  });

  it("matches JSON.stringify on random mixed strings", () => {
    const rand = seeded(42);
    for (let i = 0; i < 500; i++) {
      const text = randomText(1 + Math.floor(rand() * 200), rand);
      expect(costOf(text)).toBe(jsonBytes(text));
    }
  });
});

describe("fitPrefix", () => {
  it("cuts into pieces that fit, rejoin to the original and never split a surrogate pair", () => {
    const rand = seeded(7);
    for (let i = 0; i < 300; i++) {
      const text = randomText(1 + Math.floor(rand() * 500), rand);
      const budget = 6 + Math.floor(rand() * 60);
      const pieces: string[] = [];
      for (let start = 0; start < text.length; ) {
        const end = fitPrefix(text, start, budget);
        expect(end).toBeGreaterThan(start);
        pieces.push(text.slice(start, end));
        start = end;
      }
      expect(pieces.join("")).toBe(text);
      for (const piece of pieces) expect(jsonBytes(piece)).toBeLessThanOrEqual(budget);
      let cut = 0;
      for (const piece of pieces.slice(0, -1)) {
        cut += piece.length;
        const splitsPair =
          /[\ud800-\udbff]/.test(text[cut - 1]!) && /[\udc00-\udfff]/.test(text[cut]!);
        expect(splitsPair).toBe(false);
      }
    }
  });

  it("returns start when not even one character fits", () => {
    expect(fitPrefix("\u0001", 0, 5)).toBe(0);
    expect(fitPrefix("😀", 0, 3)).toBe(0);
    expect(fitPrefix("😀", 0, 4)).toBe(2);
  });
});

describe("utf8CharBytes and the body layout's lines", () => {
  it("match the encoder's UTF-8 byte for byte for every BMP code unit and on random strings", () => {
    const mismatches: string[] = [];
    for (let c = 0; c < 0x10000; c++) {
      const ch = String.fromCharCode(c);
      if (costOf(ch, utf8CharBytes) !== utf8Bytes(ch)) mismatches.push(`U+${c.toString(16)}`);
    }
    expect(mismatches).toEqual([]);
    const rand = seeded(43);
    for (let i = 0; i < 500; i++) {
      const text = randomText(1 + Math.floor(rand() * 200), rand);
      expect(costOf(text, utf8CharBytes)).toBe(utf8Bytes(text));
      expect(BODY_LAYOUT.lineBytes(text)).toBe(utf8Bytes(text));
      // Never more than the line-column layout's bytes: why counting in that one bounds both.
      expect(BODY_LAYOUT.lineBytes(text)).toBeLessThanOrEqual(LINE_COLUMN_LAYOUT.lineBytes(text));
    }
  });

  it("cuts into pieces whose UTF-8 fits the budget and rejoin to the original", () => {
    const rand = seeded(8);
    for (let i = 0; i < 300; i++) {
      const text = randomText(1 + Math.floor(rand() * 500), rand);
      const budget = 4 + Math.floor(rand() * 60);
      const pieces: string[] = [];
      for (let start = 0; start < text.length; ) {
        const end = BODY_LAYOUT.fitLine(text, start, budget);
        expect(end).toBeGreaterThan(start);
        pieces.push(text.slice(start, end));
        start = end;
      }
      expect(pieces.join("")).toBe(text);
      for (const piece of pieces) expect(utf8Bytes(piece)).toBeLessThanOrEqual(budget);
    }
    expect(BODY_LAYOUT.fitLine("😀", 0, 3)).toBe(0);
    expect(BODY_LAYOUT.fitLine("😀", 0, 4)).toBe(2);
  });
});

describe("a data frame's size as the model counts it", () => {
  /** The model's count for these entries in a layout. */
  function counted(layout: DataFrameLayout, streamId: string, entries: LogEntry[]): number {
    let bytes = layout.envelopeBytes(streamId);
    entries.forEach((entry, i) => {
      const previous = i === 0 ? entry.time : entries[i - 1]!.time;
      bytes +=
        seqBytes(entry.seq) +
        timeDeltaChars(entry.time - previous) +
        layout.entryBytes +
        layout.lineBytes(entry.line);
    });
    return bytes;
  }

  function randomEntries(rand: () => number, newlines: boolean): LogEntry[] {
    const count = 1 + Math.floor(rand() * 40);
    let seq = 1 + Math.floor(rand() * 1e12);
    let time = 1_700_000_000_000;
    return Array.from({ length: count }, () => {
      seq += rand() < 0.1 ? 2 + Math.floor(rand() * 9) : 1;
      time += Math.floor(rand() * 40_000) - 20_000;
      let line = randomText(Math.floor(rand() * 80), rand);
      if (!newlines) line = line.replaceAll("\n", " ");
      return { seq, stream: rand() < 0.5 ? "stdout" : "stderr", time: Math.max(0, time), line };
    });
  }

  it("bounds the body form the encoder writes on its usual path, tightly", () => {
    const rand = seeded(11);
    const streamId = "S".repeat(1 + Math.floor(rand() * 64));
    for (let i = 0; i < 300; i++) {
      const entries = randomEntries(rand, false);
      const frame = encodeDataFrame(streamId, 1 + Math.floor(rand() * 1e6), entries, rand() < 0.5);
      // The body form: the header ends at the first newline, one line follows per entry.
      const text = Buffer.from(frame).toString("utf8");
      expect(text.split("\n")).toHaveLength(entries.length + 1);
      const model = counted(BODY_LAYOUT, streamId, entries);
      expect(frame.byteLength).toBeLessThanOrEqual(model);
      // Over only by the envelope's widest numbers and the seq form not sent.
      const seqColumn = entries.reduce((sum, e) => sum + seqBytes(e.seq), 0);
      expect(model - frame.byteLength).toBeLessThanOrEqual(3 * 16 + 20 + seqColumn);
    }
  });

  it("bounds the line-column form (a line holds a newline), and the body form too", () => {
    const rand = seeded(12);
    const streamId = "A".repeat(22);
    for (let i = 0; i < 300; i++) {
      const entries = randomEntries(rand, true);
      entries[Math.floor(rand() * entries.length)]!.line += "\n";
      const frame = encodeDataFrame(streamId, 7, entries, true);
      expect(frame.byteLength).toBeLessThanOrEqual(counted(LINE_COLUMN_LAYOUT, streamId, entries));
      const plain = entries.map((e) => ({ ...e, line: e.line.replaceAll("\n", " ") }));
      expect(counted(BODY_LAYOUT, streamId, plain)).toBeLessThanOrEqual(
        counted(LINE_COLUMN_LAYOUT, streamId, plain),
      );
    }
  });
});

import { describe, expect, it } from "vitest";
import { fitPrefix, jsonCharBytes } from "./json-size.js";

const jsonBytes = (text: string): number => Buffer.byteLength(JSON.stringify(text)) - 2;

function costOf(text: string): number {
  let total = 0;
  for (let i = 0; i < text.length; ) {
    const [bytes, units] = jsonCharBytes(text, i);
    total += bytes;
    i += units;
  }
  return total;
}

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

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeTimeDeltas, deltaChars, encodeTimeDeltas } from "./time-deltas.js";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * Base64 VLQ as source maps write it (2|v| + sign, then 5 bits per digit), with BigInt so that
 * it is exact for any delta: the encoder must agree with it.
 */
function referenceDeltas(times: readonly number[], timeBase: number): string {
  let text = "";
  let previous = BigInt(timeBase);
  for (const time of times) {
    const delta = BigInt(time) - previous;
    previous = BigInt(time);
    let vlq = delta < 0n ? -delta * 2n + 1n : delta * 2n;
    do {
      let digit = Number(vlq & 31n);
      vlq >>= 5n;
      if (vlq > 0n) digit |= 32;
      text += ALPHABET[digit];
    } while (vlq > 0n);
  }
  return text;
}

const time = fc.oneof(
  fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_100 }),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
);

describe("time deltas (base64 VLQ)", () => {
  it("encodes like the plain BigInt reference and decodes back, for any safe times", () => {
    fc.assert(
      fc.property(fc.array(time, { minLength: 1, maxLength: 50 }), (times) => {
        const timeBase = times[0] as number;
        const text = encodeTimeDeltas(times, timeBase);
        expect(text).toBe(referenceDeltas(times, timeBase));
        expect(decodeTimeDeltas(text, timeBase, times.length)).toEqual(times);
      }),
      { numRuns: 500 },
    );
  });

  it("counts each delta's characters exactly, at every length boundary", () => {
    const boundaries = [0, 15, 16, 511, 512, 16_383, 16_384, 2 ** 19 - 1, 2 ** 19, 2 ** 31];
    for (const magnitude of [...boundaries, Number.MAX_SAFE_INTEGER]) {
      for (const delta of [magnitude, -magnitude]) {
        const base = delta < 0 ? Number.MAX_SAFE_INTEGER : 0;
        expect(deltaChars(delta), `delta ${delta}`).toBe(
          encodeTimeDeltas([base + delta], base).length,
        );
      }
    }
    // One character within ±15 ms, and 11 at most for any safe integer.
    expect(encodeTimeDeltas([10, 25, 10, 26, 10], 10)).toBe("AefgBhB");
    expect(deltaChars(Number.MAX_SAFE_INTEGER)).toBe(11);
  });

  it("names what is wrong with a malformed timeDelta instead of decoding it", () => {
    const cases: [string, number, number, RegExp][] = [
      ["AA=", 0, 3, /invalid character at 2/],
      ["Aé", 0, 2, /invalid character at 1/],
      ['A"', 0, 2, /invalid character at 1/],
      ["Ag", 0, 2, /cut short/],
      ["AAA", 0, 2, /more than 2 deltas/],
      ["A", 0, 2, /1 deltas for 2 entries/],
      [`g${"g".repeat(10)}A`, 0, 1, /delta 0 is too long/],
      // -1 ms from a time base of 0 would be before the epoch.
      ["AD", 0, 2, /time 1 is out of range/],
      // Past 2^53 - 1, even when the sum would round back into range.
      ["AC", Number.MAX_SAFE_INTEGER, 2, /time 1 is out of range/],
      [encodeTimeDeltas([0, Number.MAX_SAFE_INTEGER], 0), 1, 2, /time 1 is out of range/],
    ];
    for (const [text, timeBase, count, problem] of cases) {
      const decoded = decodeTimeDeltas(text, timeBase, count);
      expect(typeof decoded, text).toBe("string");
      expect(decoded, text).toMatch(problem);
    }
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dataFrameEntries, decodeFrame } from "./codec.js";
import { encodeDataFrame } from "./data-frame-encoder.js";
import type { DecodedDataFrame, LogEntry } from "./schemas.js";
import { encodeTimeDeltas } from "./time-deltas.js";

const streamId = "b3JhbmdlLXN0cmVhbS1pZA";

/** What the frame must be, built the plain way: the header as JSON, the lines as the body. */
function reference(n: number, entries: LogEntry[], partial: boolean): string {
  const timeBase = entries[0]?.time ?? 0;
  const header = {
    type: "ExecutionLogs.Data/v1",
    streamId,
    n,
    // Consecutive sequence numbers travel as the first one.
    ...(entries.every((e, i) => e.seq === (entries[0] as LogEntry).seq + i)
      ? { firstSeq: entries[0]?.seq }
      : { seq: entries.map((e) => e.seq) }),
    stream: entries.map((e) => (e.stream === "stdout" ? "o" : "e")).join(""),
    timeBase,
    timeDelta: encodeTimeDeltas(
      entries.map((e) => e.time),
      timeBase,
    ),
    ...(partial ? { partial: true } : {}),
  };
  return `${JSON.stringify(header)}\n${entries.map((e) => e.line).join("\n")}`;
}

/** Log lines without newlines, from plain ASCII to astral characters and lone surrogates' neighbours. */
const line = fc.oneof(
  fc.string({ maxLength: 300 }).map((s) => s.replaceAll("\n", " ")),
  fc.string({ unit: "grapheme", maxLength: 50 }).map((s) => s.replaceAll("\n", " ")),
  fc.constant("x".repeat(70_000)),
);

const entries = fc
  .array(
    fc.record({
      seqStep: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 2 ** 40 })),
      stream: fc.constantFrom("stdout" as const, "stderr" as const),
      time: fc.oneof(
        fc.integer({ min: 1_700_000_000_000, max: 1_700_000_100_000 }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      ),
      line,
    }),
    { minLength: 1, maxLength: 40 },
  )
  .map((rows) => {
    let seq = 0;
    return rows.map(({ seqStep, stream, time, line }) => {
      seq = Math.min(Number.MAX_SAFE_INTEGER, seq + seqStep);
      return { seq, stream, time, line };
    });
  })
  .filter((rows) => new Set(rows.map((r) => r.seq)).size === rows.length);

describe("encodeDataFrame", () => {
  it("writes exactly the bytes of the plain JSON header and line body, for any entries", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        entries,
        fc.boolean(),
        (n, rows, partial) => {
          const frame = encodeDataFrame(streamId, n, rows, partial);
          expect(Buffer.from(frame).toString("utf8")).toBe(reference(n, rows, partial));
          const decoded = decodeFrame(frame) as DecodedDataFrame;
          expect(dataFrameEntries(decoded)).toEqual(rows);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("returns a buffer of its own: a later frame does not change an earlier one", () => {
    const first = encodeDataFrame(streamId, 1, [
      { seq: 1, stream: "stdout", time: 5, line: "first" },
    ]);
    const copy = Uint8Array.from(first);
    encodeDataFrame(streamId, 2, [{ seq: 2, stream: "stderr", time: 6, line: "second!" }]);
    expect(first).toEqual(copy);
    expect(first.byteLength).toBe(first.buffer.byteLength);
  });

  it("throws for a time the wire cannot carry instead of sending it as another time", () => {
    // 1.5 ms would otherwise go out as a delta of -1 (its doubled magnitude, 3, is "D").
    for (const time of [1.5, -1, Number.NaN, 2 ** 53]) {
      for (const line of ["plain", "with\nnewline"]) {
        expect(() =>
          encodeDataFrame(streamId, 1, [
            { seq: 1, stream: "stdout", time: 5, line },
            { seq: 2, stream: "stdout", time, line },
          ]),
        ).toThrow(RangeError);
      }
    }
  });

  it("handles a frame larger than any scratch buffer it keeps", () => {
    const big = "é".repeat(3 * 1024 * 1024); // 6 MiB of UTF-8
    const frame = encodeDataFrame(streamId, 1, [{ seq: 7, stream: "stdout", time: 1, line: big }]);
    expect(dataFrameEntries(decodeFrame(frame) as DecodedDataFrame)[0]?.line).toBe(big);
  });
});

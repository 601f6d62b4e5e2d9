import { describe, expect, it } from "vitest";
import { ProtocolError } from "../errors.js";
import { newStreamId } from "../ids.js";
import { decodeFrame, encodeDataFrame } from "./codec.js";
import { dataFrameEntries, EntryJoiner, joinDataFrames } from "./frame-entries.js";
import type { DecodedDataFrame, LogEntry } from "./schemas.js";

const streamId = newStreamId();
const entry = (seq: number, line: string, stream: LogEntry["stream"] = "stdout"): LogEntry => ({
  seq,
  stream,
  time: 1_700_000_000_000 + seq,
  line,
});
const frame = (n: number, entries: LogEntry[], partial = false): DecodedDataFrame =>
  decodeFrame(encodeDataFrame(streamId, n + 1, entries, partial)) as DecodedDataFrame;

describe("EntryJoiner", () => {
  it("joins a line split over three frames back into one entry, with the first part's time", () => {
    const first = entry(2, "ab");
    const frames = [
      frame(0, [entry(1, "one"), first], true),
      frame(1, [{ ...first, time: first.time + 5, line: "cd" }], true),
      frame(2, [{ ...first, time: first.time + 9, line: "ef" }, entry(3, "three")]),
    ];
    const joiner = new EntryJoiner();
    expect(joiner.entries(frames[0] as DecodedDataFrame)).toEqual([entry(1, "one")]);
    expect(joiner.partialSeq).toBe(2);
    expect(joiner.entries(frames[1] as DecodedDataFrame)).toEqual([]);
    expect(joiner.entries(frames[2] as DecodedDataFrame)).toEqual([
      entry(2, "abcdef"),
      entry(3, "three"),
    ]);
    expect(joiner.partialSeq).toBeUndefined();
    expect(joiner.lastSeq).toBe(3);
    expect(joinDataFrames(frames)).toEqual([
      entry(1, "one"),
      entry(2, "abcdef"),
      entry(3, "three"),
    ]);
  });

  it("rejects seq going back across frames, and from before the accepted afterSeq", () => {
    const joiner = new EntryJoiner();
    joiner.entries(frame(0, [entry(5, "five")]));
    expect(() => joiner.entries(frame(1, [entry(5, "again")]))).toThrow(ProtocolError);
    expect(() => new EntryJoiner(7).entries(frame(0, [entry(7, "seven")]))).toThrow(
      /seq went back: 7 after 7/,
    );
    const skipped = new EntryJoiner(1);
    skipped.skipTo(9); // a notice covered 2..9
    expect(() => skipped.entries(frame(0, [entry(9, "nine")]))).toThrow(ProtocolError);
  });

  it("rejects a continuation under another seq or another output stream", () => {
    const joiner = new EntryJoiner();
    joiner.entries(frame(0, [entry(1, "par")], true));
    expect(() => joiner.entries(frame(1, [entry(2, "tial")]))).toThrow(/partial line 1/);
    const other = new EntryJoiner();
    other.entries(frame(0, [entry(1, "par")], true));
    expect(() => other.entries(frame(1, [entry(1, "tial", "stderr")]))).toThrow(/partial line 1/);
  });

  it("reads the same entries as dataFrameEntries for frames without split lines", () => {
    const entries = [entry(1, "a"), entry(2, "b", "stderr"), entry(4, "d")];
    const decoded = frame(0, entries);
    expect(dataFrameEntries(decoded)).toEqual(entries);
    expect(new EntryJoiner().entries(decoded)).toEqual(entries);
  });
});

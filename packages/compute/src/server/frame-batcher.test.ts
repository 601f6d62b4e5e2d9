import { dataFrameEntries, decodeFrame, type LogEntry } from "@tailwire/protocol";
import { describe, expect, it } from "vitest";
import { FrameBatcher } from "./frame-batcher.js";

const STREAM = "AAAAAAAAAAAAAAAAAAAAAA";

function entry(seq: number, line: string): LogEntry {
  return { seq, stream: seq % 2 ? "stdout" : "stderr", time: 1_700_000_000_000 + seq, line };
}

/** Drains the batcher into encoded frames numbered from 1, as the sender does, and decodes them back. */
function frames(
  batcher: FrameBatcher,
  firstN = 1,
  seal = true,
): { bytes: number; entries: LogEntry[]; partial: boolean }[] {
  if (seal) batcher.seal();
  const out: { bytes: number; entries: LogEntry[]; partial: boolean }[] = [];
  while (batcher.ready.length > 0) {
    const data = batcher.encodeFirst(firstN + out.length);
    batcher.ready.shift();
    const decoded = decodeFrame(data);
    if (decoded.type !== "ExecutionLogs.Data/v1") throw new Error("not a data frame");
    out.push({
      bytes: data.byteLength,
      entries: dataFrameEntries(decoded),
      partial: decoded.partial === true,
    });
  }
  return out;
}

/** Joins partial parts the way a requester does. */
function rejoin(list: ReturnType<typeof frames>): LogEntry[] {
  const out: LogEntry[] = [];
  let carry: LogEntry | undefined;
  for (const frame of list) {
    frame.entries.forEach((e, i) => {
      let current = e;
      if (i === 0 && carry) {
        expect(e.seq).toBe(carry.seq);
        current = { ...e, line: carry.line + e.line };
        carry = undefined;
      }
      if (frame.partial && i === frame.entries.length - 1) carry = current;
      else out.push(current);
    });
  }
  expect(carry).toBeUndefined();
  return out;
}

describe("FrameBatcher", () => {
  it("packs many small entries into few frames, none above the limit", () => {
    const batcher = new FrameBatcher(STREAM, 4096);
    const input = Array.from({ length: 3000 }, (_, i) =>
      entry(i + 1, `line number ${i} "quoted" é`),
    );
    // As the sender does: a reader batch of entries, then the frames it made are sent.
    const list: ReturnType<typeof frames> = [];
    for (let i = 0; i < input.length; i += 100) {
      for (const e of input.slice(i, i + 100)) batcher.add(e);
      list.push(...frames(batcher, list.length + 1, false));
    }
    list.push(...frames(batcher, list.length + 1));
    for (const f of list) expect(f.bytes).toBeLessThanOrEqual(4096);
    // Dense: escapes make the first frame overflow and be re-packed; then frames are > 90% full.
    const full = list.slice(0, -1).filter((f) => f.bytes > 4096 * 0.9);
    expect(full.length).toBeGreaterThanOrEqual(list.length - 3);
    expect(rejoin(list)).toEqual(input);
  });

  it("splits a line too long for a frame; the parts rejoin to the original", () => {
    const batcher = new FrameBatcher(STREAM, 1024);
    const long = 'é😀"\\\n\u0001abc'.repeat(2000);
    const input = [entry(1, "before"), entry(2, long), entry(3, "after")];
    for (const e of input) batcher.add(e);
    const list = frames(batcher);
    expect(list.length).toBeGreaterThan(20);
    for (const f of list) expect(f.bytes).toBeLessThanOrEqual(1024);
    // The first part fills the frame that holds "before"; every frame with a part but the last is partial.
    expect(list[0]!.entries.map((e) => e.seq)).toEqual([1, 2]);
    const withParts = list.filter((f) => f.entries.some((e) => e.seq === 2));
    expect(withParts.filter((f) => f.partial)).toHaveLength(withParts.length - 1);
    expect(list.filter((f) => f.partial)).toHaveLength(withParts.length - 1);
    expect(rejoin(list)).toEqual(input);
  });

  it("refuses a frame size that cannot hold a part of a line", () => {
    expect(() => new FrameBatcher(STREAM, 200)).toThrow(RangeError);
  });

  it("keeps frames within the limit for every size of ASCII line", () => {
    const batcher = new FrameBatcher(STREAM, 1024);
    const input = Array.from({ length: 1500 }, (_, i) => entry(i + 1, "x".repeat(i)));
    for (const e of input) batcher.add(e);
    const list = frames(batcher);
    for (const f of list) expect(f.bytes).toBeLessThanOrEqual(1024);
    expect(rejoin(list)).toEqual(input);
  });
});

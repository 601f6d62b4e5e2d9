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
    // Dense: multi-byte characters make the first frame overflow and be re-packed; then frames are
    // > 90% full.
    const full = list.slice(0, -1).filter((f) => f.bytes > 4096 * 0.9);
    expect(full.length).toBeGreaterThanOrEqual(list.length - 3);
    expect(rejoin(list)).toEqual(input);
  });

  it("counts the seq column only in frames that send it (a gap in seq), staying within the limit", () => {
    // Long runs of consecutive seqs broken by gaps, as a stream filter makes them, with big seqs
    // so that the seq column is a large share of each entry.
    const input: LogEntry[] = [];
    let seq = 1_000_000_000_000;
    for (let i = 0; i < 6000; i++) {
      seq += i % 1000 === 999 ? 7 : 1;
      input.push(entry(seq, `l${i}`));
    }
    const batcher = new FrameBatcher(STREAM, 4096);
    const sent: { bytes: number; consecutive: boolean }[] = [];
    for (const e of input) batcher.add(e);
    batcher.seal();
    const list = frames(batcher);
    for (const [i, f] of list.entries()) {
      const seqs = f.entries.map((e) => e.seq);
      sent.push({ bytes: f.bytes, consecutive: seqs.every((s, j) => s === seqs[0]! + j) });
      expect(f.bytes, `frame ${i}`).toBeLessThanOrEqual(4096);
    }
    // Both forms occur. Frames in the firstSeq form are more than 70 % full (counting 14 seq
    // bytes per entry there would leave them about a third full), but for the last and, at most,
    // one per gap in seq: a frame that cannot take the seq column a gap brings in is sealed as it
    // is.
    const gaps = 5;
    expect(new Set(sent.map((f) => f.consecutive))).toEqual(new Set([true, false]));
    const underFull = sent.filter((f) => f.consecutive && f.bytes <= 4096 * 0.7);
    expect(underFull.length).toBeLessThanOrEqual(gaps + 1);
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

  it("addAll makes the same frames as add for each entry (gaps, long lines, escapes)", () => {
    // A seeded mix: runs of consecutive seqs, gaps, lines from empty to longer than a frame,
    // multi-byte text and escapes (which make a frame overflow and be re-packed).
    let state = 12345;
    const random = (n: number) => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state % n;
    };
    const pieces = ["x", "é", '"', "\\", "😀", "\n", "abc "];
    const input: LogEntry[] = [];
    let seq = 1;
    for (let i = 0; i < 4000; i++) {
      seq += random(20) === 0 ? 2 + random(5) : 1;
      const length = random(50) === 0 ? 1500 + random(3000) : random(120);
      let line = "";
      while (line.length < length) line += pieces[random(pieces.length)];
      input.push({
        seq,
        stream: random(2) ? "stdout" : "stderr",
        time: 1_700_000_000_000 + i * random(3),
        line,
      });
    }
    const one = new FrameBatcher(STREAM, 2048);
    const all = new FrameBatcher(STREAM, 2048);
    const fromOne: ReturnType<typeof frames> = [];
    const fromAll: ReturnType<typeof frames> = [];
    for (let i = 0; i < input.length; ) {
      const batch = input.slice(i, i + 1 + random(300));
      i += batch.length;
      for (const e of batch) one.add(e);
      all.addAll(batch);
      fromOne.push(...frames(one, fromOne.length + 1, false));
      fromAll.push(...frames(all, fromAll.length + 1, false));
    }
    fromOne.push(...frames(one, fromOne.length + 1));
    fromAll.push(...frames(all, fromAll.length + 1));
    expect(fromAll).toEqual(fromOne);
    expect(fromAll.length).toBeGreaterThan(100);
    for (const f of fromAll) expect(f.bytes).toBeLessThanOrEqual(2048);
    expect(rejoin(fromAll)).toEqual(input);
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

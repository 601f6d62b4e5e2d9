import type { LogEntry } from "@tailwire/protocol";
import { describe, expect, it } from "vitest";
import { EntryBuffer } from "./entry-buffer.js";

const entry = (seq: number): LogEntry => ({ seq, stream: "stdout", time: 0, line: `l${seq}` });

describe("EntryBuffer", () => {
  it("releases a frame's bytes when its last entry is taken", () => {
    const released: number[] = [];
    const buffer = new EntryBuffer((bytes) => released.push(bytes));
    buffer.push([entry(1), entry(2)], 100);
    buffer.push([entry(3)], 50);
    expect(buffer.bytes).toBe(150);
    expect((buffer.take() as LogEntry | undefined)?.seq).toBe(1);
    expect(released).toEqual([]);
    expect((buffer.take() as LogEntry | undefined)?.seq).toBe(2);
    expect(released).toEqual([100]);
    expect((buffer.take() as LogEntry | undefined)?.seq).toBe(3);
    expect(released).toEqual([100, 50]);
    expect(buffer.take()).toBeUndefined();
    expect(buffer.isEmpty).toBe(true);
    expect(buffer.bytes).toBe(0);
  });

  it("keeps order over many batches (compaction)", () => {
    const buffer = new EntryBuffer(() => {});
    let next = 1;
    for (let i = 1; i <= 5000; i++) {
      buffer.push([entry(i)], 1);
      if (i % 3 === 0) expect((buffer.take() as LogEntry | undefined)?.seq).toBe(next++);
    }
    for (;;) {
      const e = buffer.take() as LogEntry | undefined;
      if (!e) break;
      expect(e.seq).toBe(next++);
    }
    expect(next).toBe(5001);
  });

  it("takeBatch hands out the rest of the oldest batch and releases its bytes once", () => {
    const released: number[] = [];
    const buffer = new EntryBuffer((bytes) => released.push(bytes));
    buffer.push([entry(1), entry(2), entry(3)], 100);
    buffer.push([entry(4)], 50);
    expect((buffer.take() as LogEntry | undefined)?.seq).toBe(1);
    expect((buffer.takeBatch() as LogEntry[] | undefined)?.map((e) => e.seq)).toEqual([2, 3]);
    expect(released).toEqual([100]);
    expect(buffer.bytes).toBe(50);
    expect((buffer.takeBatch() as LogEntry[] | undefined)?.map((e) => e.seq)).toEqual([4]);
    expect(released).toEqual([100, 50]);
    expect(buffer.takeBatch()).toBeUndefined();
    expect(buffer.isEmpty).toBe(true);
  });

  it("clear drops everything without releasing credit", () => {
    const released: number[] = [];
    const buffer = new EntryBuffer((bytes) => released.push(bytes));
    buffer.push([entry(1)], 10);
    buffer.clear();
    expect(buffer.take()).toBeUndefined();
    expect(released).toEqual([]);
  });

  it("hands out a notice in order between frames, holding no credit", () => {
    const released: number[] = [];
    const buffer = new EntryBuffer((bytes) => released.push(bytes));
    const notice = { kind: "removed", reason: "retention", fromSeq: 2, toSeq: 9 } as const;
    buffer.push([entry(1)], 10);
    buffer.pushNotice(notice);
    buffer.push([entry(10), entry(11)], 20);
    expect(buffer.take()).toEqual(entry(1));
    expect(buffer.take()).toBe(notice);
    expect(released).toEqual([10]);
    expect(buffer.takeBatch()).toEqual([entry(10), entry(11)]);
    buffer.pushNotice(notice);
    expect(buffer.takeBatch()).toBe(notice);
    expect(released).toEqual([10, 20]);
    expect(buffer.bytes).toBe(0);
  });

  it("merges a notice into the unread one before it when their ranges touch, and counts notices", () => {
    const buffer = new EntryBuffer(() => {});
    const removed = (fromSeq: number, toSeq: number) =>
      ({ kind: "removed", reason: "retention", fromSeq, toSeq }) as const;
    buffer.pushNotice(removed(1, 10));
    buffer.pushNotice(removed(11, 20));
    expect(buffer.notices).toBe(1);
    buffer.pushNotice(removed(25, 30)); // not adjacent (24..21 were filtered): kept apart
    expect(buffer.notices).toBe(2);
    buffer.push([entry(31)], 5);
    buffer.pushNotice(removed(32, 40)); // an entry between: kept apart
    expect(buffer.notices).toBe(3);
    expect(buffer.take()).toEqual(removed(1, 20));
    expect(buffer.takeBatch()).toEqual(removed(25, 30));
    expect(buffer.notices).toBe(1);
    expect(buffer.take()).toEqual(entry(31));
    expect(buffer.take()).toEqual(removed(32, 40));
    expect(buffer.notices).toBe(0);
  });
});
